import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from '../../functions/core/config.js';
import { runTick } from '../../functions/core/engine.js';
import { RecordUnavailableError } from '../../functions/core/errors.js';
import { ReadingLog } from '../../functions/core/evidence.js';
import type { DbObservation, SchedulerRow } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { HeartbeatQuery, MetadataDb } from '../../functions/core/ports.js';
import { FakeFleet, ManualClock, MemoryStore } from '../helpers/fakes.js';

/**
 * The engine's liveness evidence (docs/design.md, "Liveness"): what a tick reads before it may call a
 * stale scheduler dead, with fakes whose every DB reading is scripted and counted.
 */

const A = { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'airflow-a' };
const B = { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'airflow-b' };
const config = parseClusterConfig({ clusterName: 'ev', nodes: [A, B] });

/** A DB whose readings follow a script (the last one repeats); `latestHeartbeat` is absolute, so a frozen row keeps it. */
class ScriptedDb implements MetadataDb {
  calls = 0;
  /** Calls (by index) that wait this long before the DB answers them: a reading held up by a black hole. */
  readonly delays = new Map<number, number>();
  constructor(
    private readonly clock: ManualClock,
    private readonly script: readonly ((now: number) => DbObservation)[],
  ) {}
  async observe(_q: HeartbeatQuery): Promise<DbObservation> {
    const step = this.script[Math.min(this.calls, this.script.length - 1)] as (now: number) => DbObservation;
    this.clock.t += this.delays.get(this.calls) ?? 0;
    this.calls += 1;
    return step(this.clock.now());
  }
  async close(): Promise<void> {}
}

const T0 = Date.UTC(2026, 10, 24, 12);
/** A's row with its heartbeat at absolute time `beatAt`, aged by the reading's clock. */
const rowAt = (beatAt: number, now: number, jobId = 7): SchedulerRow => ({
  jobId,
  hostname: A.hostname,
  state: 'running',
  ageSeconds: (now - beatAt) / 1000,
  latestHeartbeat: new Date(beatAt).toISOString(),
  freshRows: now - beatAt <= 30_000 ? 1 : 0,
});
const ok = (row: (now: number) => SchedulerRow) => (now: number): DbObservation => ({ status: 'ok', rows: { [A.hostname]: row(now) }, foreign: [] });
const down = (): DbObservation => ({ status: 'unreachable', reason: 'connection refused', transient: true });

const setup = (script: readonly ((now: number) => DbObservation)[], unitState: 'active' | 'failed' = 'active') => {
  const clock = new ManualClock(T0);
  const db = new ScriptedDb(clock, script);
  const store = new MemoryStore();
  store.item = { clusterName: 'ev', version: 1, ...EMPTY_RECORD_STATE, epoch: 3, active: [A.id], nodes: [A, B] };
  const fleet = new FakeFleet();
  fleet.reach = { [A.id]: 'Online', [B.id]: 'Online' };
  fleet.unitState = () => unitState;
  return { clock, db, store, fleet, deps: { db, store, fleet, clock, owner: 'w' } };
};

const FROZEN = T0 - 44_000;

describe('runTick: liveness evidence', () => {
  it('a unit reported failed is evidence enough: restart at once, no second reading', async () => {
    const s = setup([ok((now) => rowAt(FROZEN, now))], 'failed');
    const report = await runTick(s.deps, config);
    expect(s.db.calls).toBe(1);
    expect(s.fleet.probes.map((p) => p.nodeId)).toEqual([A.id]);
    expect(report.plan.actions.map((a) => a.purpose)).toEqual(['restart-stop', 'restart-start']);
  });

  it('an active unit whose heartbeat stays frozen over the window is dead: the window is polled, then restart', async () => {
    const s = setup([ok((now) => rowAt(FROZEN, now))]);
    const report = await runTick(s.deps, config);
    // First reading, polls every 2 s (half a 5 s heartbeat) through the 11.25 s window, then the second reading.
    expect(s.clock.t - T0).toBeGreaterThanOrEqual(11_250);
    expect(s.db.calls).toBeGreaterThanOrEqual(6);
    expect(report.plan.actions.map((a) => a.purpose)).toEqual(['restart-stop', 'restart-start']);
    expect(report.plan.reasons.join(' ')).toContain('heartbeat unchanged over');
  });

  it('readings answered by the DB at nearly the same moment but delivered late are no window: nothing is done', async () => {
    // Every reading was executed by the DB within 0.2 s of the first (same age), whatever the watchdog's
    // clock says when it arrives: a queue behind a recovering network, not 11.25 s of a frozen heartbeat.
    const s = setup([ok(() => rowAt(FROZEN, T0 + 200))]);
    const report = await runTick(s.deps, config);
    expect(s.clock.t - T0).toBeGreaterThanOrEqual(11_250);
    expect(report.plan.actions).toEqual([]);
    expect(report.plan.reasons.join(' ')).toContain('not proven dead');
  });

  it('a poll held up inside the window (answered only when a black hole ended) voids the evidence before it', async () => {
    const s = setup([ok((now) => rowAt(FROZEN, now))]);
    // The second reading (the first poll) waits 3 s for its answer: the DB answers it, but a survivor
    // blocked on the same path has had no time yet to write.
    s.db.delays.set(1, 3000);
    const report = await runTick(s.deps, config);
    expect(report.plan.actions).toEqual([]);
    expect(report.plan.reasons.join(' ')).toContain('not proven dead');
    // The readings after the slow one are what a later tick of this invocation may use.
    expect(report.observed.observation.earlier?.observedAt ?? Number.NaN).toBeGreaterThanOrEqual(T0 + 2000 + 3000);
  });

  it('an outage inside the window (a failed poll) voids the evidence: nothing is done', async () => {
    const frozen = ok((now) => rowAt(FROZEN, now));
    const s = setup([frozen, frozen, down, frozen]);
    const report = await runTick(s.deps, config);
    expect(report.plan.actions).toEqual([]);
    expect(report.plan.verdict).toBe('recovering');
    expect(report.plan.reasons.join(' ')).toContain('not proven dead');
  });

  it('a heartbeat that advances but stays old is a live scheduler behind the DB clock: no action, clock-skew', async () => {
    const s = setup([ok((now) => rowAt(now - 45_000, now))]);
    const report = await runTick(s.deps, config);
    expect(report.plan.actions).toEqual([]);
    expect(report.plan.alarms).toContain('clock-skew');
  });

  it('after a watched outage, no reading from before it serves as evidence (F1 of the interleaving model)', async () => {
    const s = setup([down, down, ok((now) => rowAt(FROZEN, now))]);
    const readings = new ReadingLog();
    // A reading from before the outage with the same frozen heartbeat, old enough to serve.
    readings.add({ status: 'ok', rows: { [A.hostname]: rowAt(FROZEN, T0 - 20_000) }, foreign: [] }, T0 - 20_000);
    // The scheduler can only be judged on readings after the DB is back: a fresh window of its own.
    const report = await runTick(s.deps, config, { readings, watchDbUntil: T0 + 50_000 });
    expect(report.observed.observation.earlier?.observedAt ?? Number.POSITIVE_INFINITY).toBeGreaterThan(T0);
    // And those readings, within staleAfterSeconds of the return, prove nothing yet (the next test).
    expect(report.plan.actions).toEqual([]);
  });

  it('a survivor of a watched outage whose heartbeat has not moved yet is left alone until staleAfterSeconds after the return', async () => {
    const s = setup([down, down, ok((now) => rowAt(FROZEN, now))]);
    const readings = new ReadingLog();
    const report = await runTick(s.deps, config, { readings, watchDbUntil: T0 + 50_000 });
    const back = readings.dbBackAt ?? Number.NaN;
    expect(report.observed.observation.dbBackAt).toBe(back);
    // No liveness window is waited for: within the survivor's 30 s a second reading could prove nothing.
    expect(report.observed.observedAt - back).toBeLessThan(11_250);
    expect(report.plan.actions).toEqual([]);
    expect(report.plan.reasons.join(' ')).toContain('came back');
    // The return is written down for the invocations that follow, which have none of these readings.
    expect(s.store.item?.dbOutageSeen).toEqual({ downAt: T0, backAt: back });
    // A later invocation (a fresh log) 15 s after the return: the record's memory still holds it back.
    s.clock.t = back + 15_000;
    const next = await runTick(s.deps, config, { readings: new ReadingLog() });
    expect(next.plan.actions).toEqual([]);
    // Nor does it wait a window for a reading that could prove nothing yet.
    expect(s.clock.t - (back + 15_000)).toBeLessThan(11_250);
    // Past the grace, in yet another invocation: still frozen over the window, now that is evidence.
    s.clock.t = back + 31_000;
    const later = await runTick(s.deps, config, { readings: new ReadingLog() });
    expect(later.plan.actions.map((a) => a.purpose)).toEqual(['restart-stop', 'restart-start']);
  });

  it('a scheduler that exited in a watched outage (unit failed) is restarted as soon as the DB answers', async () => {
    const s = setup([down, down, ok((now) => rowAt(FROZEN, now))], 'failed');
    const report = await runTick(s.deps, config, { readings: new ReadingLog(), watchDbUntil: T0 + 50_000 });
    expect(report.plan.actions.map((a) => a.purpose)).toEqual(['restart-stop', 'restart-start']);
    // No liveness window waited for: decided on the first readings after the return.
    expect(s.clock.t - (report.observed.observation.dbBackAt ?? Number.NaN)).toBeLessThan(11_250);
  });

  it('a DB that stays down through the watch: no action, verdict unknown, the watch ends in time', async () => {
    const s = setup([down]);
    const report = await runTick(s.deps, config, { watchDbUntil: T0 + 20_000 });
    expect(report.plan.verdict).toBe('unknown');
    expect(s.clock.t).toBeLessThanOrEqual(T0 + 20_000);
    expect(s.db.calls).toBeGreaterThan(5);
    expect(s.fleet.runs).toEqual([]);
  });

  it('a failed record read keeps the DB reading: the error carries it and the log holds it for the next tick', async () => {
    const s = setup([ok((now) => rowAt(FROZEN, now))]);
    s.store.read = async () => {
      throw new Error('DynamoDB unavailable');
    };
    const readings = new ReadingLog();
    const err = await runTick(s.deps, config, { readings }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordUnavailableError);
    expect((err as RecordUnavailableError).observation.db.status).toBe('ok');
    expect(readings.size).toBe(1);
  });
});
