import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore } from '../../functions/adapters/record-store.js';
import { type ClusterConfig, parseClusterConfig } from '../../functions/core/config.js';
import { type EngineDeps, runTick, type TickReport } from '../../functions/core/engine.js';
import type { CommandOutcome, DbObservation, RecordState, SchedulerRow, StoredRecord } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { StatusReport } from '../../functions/core/node-protocol.js';
import type { Clock, CommandRequest, Fleet, HeartbeatQuery, MetadataDb, ReachabilityResult, RecordStore, RunOptions } from '../../functions/core/ports.js';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.js';

/**
 * The tick engine against the real conditional-write store on dynalite: the races and crashes that the
 * lease and the version exist for. The DB and SSM are small fakes that count their calls.
 */

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const A = { id: 'i-0aaaaaaaaaaaaaaaa', hostname: 'ip-10-0-1-10.ec2.internal' };
const B = { id: 'i-0bbbbbbbbbbbbbbbb', hostname: 'ip-10-0-1-11.ec2.internal' };

const configFor = (clusterName: string): ClusterConfig =>
  parseClusterConfig({
    clusterName,
    nodes: [A, B],
    mode: 'single',
    staleAfterSeconds: 30,
    startupGraceSeconds: 120,
    restartInPlaceAttempts: 1,
    banAfterFailures: 3,
    maxFailoversPerHour: 3,
    checkIntervalSeconds: 60,
    commandTimeoutSeconds: 60,
    leaseSeconds: 90,
  });

class TestClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

const staleRow = (node: { hostname: string }, ageSeconds: number): SchedulerRow => ({
  jobId: 4711,
  hostname: node.hostname,
  state: 'running',
  ageSeconds,
  latestHeartbeat: new Date(T0 - ageSeconds * 1000).toISOString(),
  freshRows: 0,
});

class FakeDb implements MetadataDb {
  calls = 0;
  constructor(private readonly rows: Record<string, SchedulerRow>) {}
  async observe(_q: HeartbeatQuery): Promise<DbObservation> {
    this.calls += 1;
    return { status: 'ok', rows: this.rows, foreign: [] };
  }
  async close(): Promise<void> {}
}

const success = (durationMs = 1500): CommandOutcome => ({ status: 'success', commandId: 'cmd-ok', output: 'ok', durationMs });

/** Every node Online; `run` behaves as the test says and is counted. */
class FakeFleet implements Fleet {
  readonly runs: CommandRequest[] = [];
  readonly probes: CommandRequest[] = [];
  reachabilityCalls = 0;
  constructor(private readonly behaviour: (req: CommandRequest) => Promise<CommandOutcome> = async () => success()) {}
  async reachability(ids: readonly string[]): Promise<ReachabilityResult> {
    this.reachabilityCalls += 1;
    return { ok: true, nodes: Object.fromEntries(ids.map((id) => [id, 'Online' as const])) };
  }
  async run(req: CommandRequest, options: RunOptions = {}): Promise<CommandOutcome> {
    if (req.kind === 'status') {
      // The liveness probe: the crashed scheduler's unit is reported failed (a unit without Restart=always).
      this.probes.push(req);
      const report: StatusReport = {
        action: 'status',
        result: 'failed',
        unitState: 'failed',
        running: false,
        epoch: null,
        nodeEpoch: req.epoch,
        permitEpoch: req.epoch,
        permitValid: true,
        enabled: 'enabled',
        guard: 'installed',
        processes: 0,
        killed: null,
        problems: [],
        hostname: 'node',
        unit: req.unitName ?? 'airflow-scheduler',
      };
      return { status: 'success', commandId: 'cmd-status', output: `${JSON.stringify(report)}\n`, report, durationMs: 300 };
    }
    this.runs.push(req);
    // SSM accepted the command: the engine marks a start sent before its outcome is known.
    await options.onSent?.(`cmd-${this.runs.length}`);
    return this.behaviour(req);
  }
}

/** Holds every read until all `parties` have read, so the ticks genuinely plan from the same version. */
const readBarrier = (inner: RecordStore, parties: number): RecordStore => {
  let arrived = 0;
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    read: async (cluster) => {
      const r = await inner.read(cluster);
      arrived += 1;
      if (arrived === parties) open();
      await gate;
      return r;
    },
    write: (expected, next, lease) => inner.write(expected, next, lease),
  };
};

const deferred = <T = void>() => {
  let resolve: (v: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

let dyn: DynaliteHandle;
let store: DynamoRecordStore;

/** Writes the starting record as a previous watchdog would have left it (lease released). */
const seed = async (cluster: string, state: RecordState): Promise<StoredRecord> => {
  const w = await store.write(await store.read(cluster), state, { owner: 'seed', expiresAt: undefined, now: T0 - 60_000 });
  if (!w.ok) throw new Error(`seeding ${cluster} failed: ${w.reason}`);
  return w.record;
};

const activeOnA: RecordState = { ...EMPTY_RECORD_STATE, epoch: 3, active: [A.id], nodes: [A, B] };

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoRecordStore({ client: dyn.client, tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn?.close();
});

describe('runTick on dynalite', () => {
  it('of 6 ticks started at once on a crashed scheduler, exactly one commits and acts (5 rounds)', async () => {
    const ticks = 6;
    for (let round = 0; round < 5; round++) {
      const config = configFor(`race-${round}`);
      const seeded = await seed(config.clusterName, activeOnA);
      const shared = readBarrier(store, ticks);
      const fleets = Array.from({ length: ticks }, () => new FakeFleet());
      const dbs = Array.from({ length: ticks }, () => new FakeDb({ [A.hostname]: staleRow(A, 95) }));
      const reports = await Promise.all(
        fleets.map((fleet, i) => runTick({ db: dbs[i] as FakeDb, store: shared, fleet, clock: new TestClock(T0 + i), owner: `tick-${round}-${i}` }, config)),
      );

      // Every tick saw the same version and planned the same restart in place.
      for (const r of reports) {
        expect(r.observed.record.version).toBe(seeded.version);
        expect(r.plan.actions.map((a) => `${a.kind} ${a.nodeId} ${a.purpose}`)).toEqual([`stop ${A.id} restart-stop`, `start ${A.id} restart-start`]);
      }
      const acted = reports.flatMap((r, i) => (r.disposition === 'acted' ? [i] : []));
      expect(acted, `round ${round}: ${reports.map((r) => r.disposition).join(', ')}`).toHaveLength(1);
      const winner = acted[0] as number;
      reports.forEach((r, i) => {
        if (i === winner) return;
        expect(r.disposition).toBe('lost-race');
        expect(r.executed).toEqual([]);
        // The loser re-reads after the winner's commit, possibly after its write-backs too.
        const seen = /record changed since it was read \(version (\d+) → (\d+)\)/.exec(r.note ?? '');
        expect(seen?.slice(1).map(Number)).toEqual([seeded.version, expect.any(Number)]);
        expect(Number(seen?.[2])).toBeGreaterThan(seeded.version);
      });
      // Only the winner touched SSM, and exactly once per planned action.
      expect(fleets.map((f) => f.runs.length)).toEqual(fleets.map((_, i) => (i === winner ? 2 : 0)));
      expect(fleets[winner]?.runs.map((r) => `${r.kind} ${r.nodeId} epoch ${r.epoch}`)).toEqual([`stop ${A.id} epoch 3`, `start ${A.id} epoch 3`]);
      expect(dbs.every((d) => d.calls === 1)).toBe(true);

      const after = await store.read(config.clusterName);
      // Commit, the start marked sent once SSM accepted it, one write-back per action (the last releases the lease).
      expect(after.version).toBe(seeded.version + 4);
      expect(after.leaseOwner).toBeUndefined();
      expect(after.pending).toEqual([{ nodeId: A.id, epoch: 3, issuedAt: T0 + winner, sentAt: T0 + winner }]);
      expect(after.restartAttempts).toBe(1);
      expect(after.history.map((e) => e.kind)).toEqual(['restart', 'outcome', 'outcome']);
    }
  });

  it('a tick whose lease expires mid-action and is taken over loses its write-back (lease-lost)', async () => {
    const config = configFor('expiry');
    const seeded = await seed(config.clusterName, activeOnA);
    const clock = new TestClock(T0);
    const db = new FakeDb({ [A.hostname]: staleRow(A, 95) });
    const fleetB = new FakeFleet();
    let reportB: TickReport | undefined;
    // A's first command hangs past its lease and past the start's grace; meanwhile B runs a whole tick.
    const fleetA = new FakeFleet(async () => {
      clock.t += 130_000;
      reportB = await runTick({ db, store, fleet: fleetB, clock, owner: 'tick-B' }, config);
      return success(130_000);
    });
    const reportA = await runTick({ db, store, fleet: fleetA, clock, owner: 'tick-A' }, config);

    expect(reportA.disposition).toBe('lease-lost');
    expect(reportA.note).toMatch(new RegExp(`lost the lease after stop on ${A.id} \\(version\\)`));
    // A's restart-start was abandoned: only its stop reached SSM.
    expect(fleetA.runs.map((r) => `${r.kind} ${r.nodeId}`)).toEqual([`stop ${A.id}`]);
    expect(reportA.executed).toHaveLength(1);

    // B saw A's expired lease and expired pending start, and failed over to B.
    expect(reportB?.observed.record).toMatchObject({ version: seeded.version + 1, leaseOwner: 'tick-A', leaseExpiresAt: T0 + 90_000 });
    expect(reportB?.disposition).toBe('acted');
    expect(fleetB.runs.map((r) => `${r.kind} ${r.nodeId} epoch ${r.epoch}`)).toEqual([`stop ${A.id} epoch 4`, `start ${B.id} epoch 4`]);

    const after = await store.read(config.clusterName);
    expect(after).toMatchObject({ version: seeded.version + 5, epoch: 4, active: [B.id], restartAttempts: 0 });
    expect(after.leaseOwner).toBeUndefined();
    expect(after.pending).toEqual([{ nodeId: B.id, epoch: 4, issuedAt: T0 + 130_000, sentAt: T0 + 130_000 }]);
    // A's restart-start was never sent (its lease was lost first): its expiry charges A nothing.
    expect(after.failures[A.id]).toBeUndefined();
    expect(reportB?.plan.reasons.join(' ')).toContain(`start on ${A.id} (${A.hostname}) planned 130 s ago was never sent: dropped, not charged to the node`);
    // Nothing of A's stale write-back made it into the record.
    expect(after.history.filter((e) => e.reason.includes('(restart-stop)'))).toEqual([]);
    expect(after.history.map((e) => e.kind)).toEqual(['restart', 'failover', 'outcome', 'outcome']);
  });

  it('a tick whose lease expires mid-action but is not taken over still finishes and releases', async () => {
    const config = configFor('expiry-alone');
    const seeded = await seed(config.clusterName, activeOnA);
    const clock = new TestClock(T0);
    const fleet = new FakeFleet(async (req) => {
      if (req.kind === 'stop') clock.t += 100_000;
      return success();
    });
    const report = await runTick({ db: new FakeDb({ [A.hostname]: staleRow(A, 95) }), store, fleet, clock, owner: 'tick-slow' }, config);
    expect(report.disposition).toBe('acted');
    expect(fleet.runs).toHaveLength(2);
    const after = await store.read(config.clusterName);
    expect(after.version).toBe(seeded.version + 4);
    expect(after.leaseOwner).toBeUndefined();
  });

  it('a watchdog killed after its commit leaves a pending start the next ticks honour', async () => {
    const config = configFor('killed');
    const clock = new TestClock(T0);
    const db = new FakeDb({});
    const reached = deferred();
    // fleet.run never resolves: the invocation was killed mid-command. Its tick is abandoned.
    const hung = new FakeFleet(() => {
      reached.resolve();
      return new Promise<CommandOutcome>(() => {});
    });
    void runTick({ db, store, fleet: hung, clock, owner: 'tick-killed' }, config);
    await reached.promise;
    expect(hung.runs.map((r) => `${r.kind} ${r.nodeId} epoch ${r.epoch}`)).toEqual([`start ${A.id} epoch 1`]);

    // Killed after SSM accepted the start: the commit, then the start marked sent.
    await expect.poll(async () => (await store.read(config.clusterName)).version).toBe(2);
    const committed = await store.read(config.clusterName);
    expect(committed).toMatchObject({
      version: 2,
      epoch: 1,
      active: [A.id],
      pending: [{ nodeId: A.id, epoch: 1, issuedAt: T0, sentAt: T0 }],
      leaseOwner: 'tick-killed',
      leaseExpiresAt: T0 + 90_000,
    });

    const tickAt = async (offsetMs: number, owner: string) => {
      const fleet = new FakeFleet();
      const deps: EngineDeps = { db, store, fleet, clock: new TestClock(T0 + offsetMs), owner };
      return { report: await runTick(deps, config), fleet };
    };

    // While its lease is live, and after it expired but within startupGraceSeconds: wait, do not start again.
    for (const [offset, owner] of [
      [30_000, 'tick-next-1'],
      [100_000, 'tick-next-2'],
    ] as const) {
      const { report, fleet } = await tickAt(offset, owner);
      expect(report.disposition).toBe('no-change');
      expect(report.plan.verdict).toBe('recovering');
      expect(report.plan.actions).toEqual([]);
      expect(report.plan.reasons.join(' ')).toMatch(new RegExp(`waiting for the start on ${A.id} .* issued ${offset / 1000} s ago`));
      expect(fleet.runs).toEqual([]);
      expect(await store.read(config.clusterName)).toStrictEqual(committed);
    }

    // Past the grace the lost start counts as a failure and exactly one tick acts on it.
    const { report, fleet } = await tickAt(125_000, 'tick-next-3');
    expect(report.disposition).toBe('acted');
    expect(fleet.runs.map((r) => `${r.kind} ${r.nodeId}`)).toEqual([`stop ${A.id}`, `start ${A.id}`]);
    const after = await store.read(config.clusterName);
    expect(after).toMatchObject({ version: 6, restartAttempts: 1, pending: [{ nodeId: A.id, epoch: 1, issuedAt: T0 + 125_000, sentAt: T0 + 125_000 }] });
    expect(after.failures[A.id]?.count).toBe(1);
    expect(after.leaseOwner).toBeUndefined();
  });
});
