import { describe, expect, it } from 'vitest';
import { allowanceCap, checkInvariants, formatReport } from '../../local/invariants.js';
import { planSoak, planSpares } from '../../local/soak.js';
import type { SampleRow, Timeline, TimelineEvent } from '../../local/timeline.js';

/**
 * The soak's checker on synthetic timelines (pure, fast): the `no-change` invariant must flag a restart
 * after a fault that should change nothing, and a recovery allowance is capped.
 */

const T0 = 1_795_521_600_000;
const A = { id: 'i-00000000000000001', hostname: 'airflow-a.local' };
const B = { id: 'i-00000000000000002', hostname: 'airflow-b.local' };

const config: Timeline['config'] = {
  mode: 'single',
  desiredSchedulers: 1,
  staleAfterSeconds: 3,
  checkIntervalSeconds: 1,
  commandTimeoutSeconds: 6,
  startupGraceSeconds: 6,
  leaseSeconds: 21,
  nodes: [A, B, { id: 'i-00000000000000003', hostname: 'airflow-c.local' }],
};
const OPTS = { startSeconds: 4, stopSeconds: 3, slackSeconds: 2 };

/** Samples every 200 ms from `from` to `to` (seconds after T0), rows by `rowsAt`. */
const samples = (from: number, to: number, rowsAt: (sec: number) => SampleRow[]): TimelineEvent[] => {
  const out: TimelineEvent[] = [];
  for (let ms = from * 1000; ms <= to * 1000; ms += 200) out.push({ t: T0 + ms, type: 'sample', rows: rowsAt(ms / 1000) });
  return out;
};
const row = (jobId: number, hostname: string, age = 0.2): SampleRow => ({ jobId, hostname, state: 'running', age });
const command = (sec: number, action: 'stop' | 'start', nodeId: string): TimelineEvent => ({
  t: T0 + sec * 1000,
  type: 'command',
  phase: 'sent',
  commandId: `c-${action}-${sec}`,
  nodeId,
  document: action,
  action,
  epoch: 1,
  status: 'Pending',
  statusDetails: 'Pending',
});
const stall = (sec: number): TimelineEvent => ({
  t: T0 + sec * 1000,
  type: 'fault',
  kind: 'hang',
  node: A.id,
  detail: 'stall below the threshold',
  expectNoChange: true,
  activeNode: A.id,
  activeJobId: 5,
});
const timeline = (events: TimelineEvent[]): Timeline => ({ config, startedAt: T0, events: [...events].sort((a, b) => a.t - b.t) });

describe('no-change invariant', () => {
  it('passes when the active scheduler is left alone after a stall', () => {
    const r = checkInvariants(timeline([...samples(0, 20, () => [row(5, A.hostname)]), stall(2)]), OPTS);
    expect(r.violations).toEqual([]);
    expect(r.noChangeChecked).toBe(1);
  });

  it('flags a restart of the active scheduler after a stall: the stop, the start and the new job', () => {
    const tl = timeline([
      ...samples(0, 20, (sec) => (sec < 6 ? [row(5, A.hostname)] : sec < 8 ? [] : [row(6, A.hostname)])),
      stall(2),
      command(5, 'stop', A.id),
      command(7, 'start', A.id),
    ]);
    const r = checkInvariants(tl, OPTS);
    expect(r.ok).toBe(false);
    expect(r.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/stop sent to the active node/),
      expect.stringMatching(/job 5 on airflow-a\.local\) is no longer live/),
    ]);
    expect(formatReport(tl, r).join('\n')).toMatch(/VIOLATION no-change/);
  });

  it('flags a start anywhere (a failover away from a node it cannot reach) and a replaced job', () => {
    const failover = timeline([
      ...samples(0, 20, (sec) => (sec < 6 ? [row(5, A.hostname)] : [row(5, A.hostname), row(6, B.hostname)])),
      stall(2),
      command(5, 'start', B.id),
    ]);
    expect(checkInvariants(failover, OPTS).violations.filter((v) => v.invariant === 'no-change').map((v) => v.message)).toEqual([
      expect.stringMatching(/start sent to i-00000000000000002/),
      expect.stringMatching(/a new scheduler \(job 6 on airflow-b\.local\) appeared/),
    ]);
    const replaced = timeline([...samples(0, 20, (sec) => (sec < 6 ? [row(5, A.hostname)] : [row(7, A.hostname)])), stall(2)]);
    expect(checkInvariants(replaced, OPTS).violations.map((v) => v.message)).toEqual([expect.stringMatching(/was replaced by job 7/)]);
  });

  it('flags a scheduler that systemd starts on its own on a fenced standby (a reboot), with no command sent', () => {
    const reboot: TimelineEvent = {
      t: T0 + 2000,
      type: 'fault',
      kind: 'other',
      node: B.id,
      detail: 'airflow-b.local rebooted',
      expectNoChange: true,
      activeNode: A.id,
      activeJobId: 5,
    };
    // The watchdog stops the duplicate within a tick, so only no-change can tell.
    const tl = timeline([...samples(0, 20, (sec) => (sec < 7 || sec > 9 ? [row(5, A.hostname)] : [row(5, A.hostname), row(6, B.hostname)])), reboot]);
    expect(checkInvariants(tl, OPTS).violations.map((v) => v.message)).toEqual([
      'after other on i-00000000000000002 (must change nothing): a new scheduler (job 6 on airflow-b.local) appeared 5.0 s later',
    ]);
    // Unless the fault is that start: an operator's duplicate by hand on that host, which only the active
    // must outlive; a new row elsewhere is still a change.
    const rows = (third: boolean) => (sec: number) =>
      sec < 7 || sec > 9 ? [row(5, A.hostname)] : [row(5, A.hostname), row(6, B.hostname), ...(third ? [row(7, 'airflow-c.local')] : [])];
    const byHand = { ...reboot, kind: 'duplicate' } as TimelineEvent;
    expect(checkInvariants(timeline([...samples(0, 20, rows(false)), byHand]), { ...OPTS, allowDuplicates: [{ from: T0, to: T0 + 20_000 }] }).violations).toEqual([]);
    expect(
      checkInvariants(timeline([...samples(0, 20, rows(true)), byHand]), { ...OPTS, allowDuplicates: [{ from: T0, to: T0 + 20_000 }] }).violations.map((v) => v.message),
    ).toEqual([expect.stringMatching(/a new scheduler \(job 7 on airflow-c\.local\) appeared/)]);
    // No sample before the fault: no baseline, so nothing is called new.
    expect(checkInvariants(timeline([...samples(3, 20, rows(false)), reboot]), OPTS).violations).toEqual([]);
    // A new row of another job type (a task's LocalTaskJob) is not a scheduler.
    const task = timeline([...samples(0, 20, (sec) => [row(5, A.hostname), ...(sec < 7 ? [] : [{ ...row(6, B.hostname), jobType: 'LocalTaskJob' }])]), reboot]);
    expect(checkInvariants(task, OPTS).violations).toEqual([]);
  });

  it('ends at the next fault that expects a recovery', () => {
    const crash: TimelineEvent = { t: T0 + 4000, type: 'fault', kind: 'crash', node: A.id, detail: 'SIGKILL', expectRecovery: true };
    const tl = timeline([
      ...samples(0, 20, (sec) => (sec < 4 ? [row(5, A.hostname)] : sec < 10 ? [row(5, A.hostname, sec - 4)] : [row(6, A.hostname)])),
      stall(2),
      crash,
      command(8, 'stop', A.id),
      command(9, 'start', A.id),
    ]);
    const r = checkInvariants(tl, OPTS);
    expect(r.violations).toEqual([]);
    expect(r.recoveries.map((m) => m.jobId)).toEqual([6]);
  });

  it('a refused-DB outage: the recovery is judged from the DB return; a scheduler that lived through it must be left alone', () => {
    const outage: TimelineEvent = { t: T0 + 4000, type: 'fault', kind: 'db-outage', detail: 'refused' };
    const back = (extra: Partial<Extract<TimelineEvent, { type: 'fault' }>>): TimelineEvent => ({
      t: T0 + 9000,
      type: 'fault',
      kind: 'db-back',
      detail: 'back',
      ...extra,
    });
    // The scheduler died in the outage; systemd's restart registers job 6 two seconds after the return.
    const rows = (sec: number): SampleRow[] => (sec < 4 ? [row(5, A.hostname)] : sec < 11 ? [row(5, A.hostname, sec - 4)] : [row(6, A.hostname)]);
    const ok = checkInvariants(timeline([...samples(0, 20, rows), stall(2), outage, back({ expectRecovery: true })]), OPTS);
    expect(ok.violations).toEqual([]);
    expect(ok.recoveries.map((m) => [m.fault.kind, m.jobId, m.seconds])).toEqual([['db-back', 6, 2]]);
    // A return 9 s before the replacement is over the bound (3 + 1 + 4 + 2 s).
    const late = (sec: number): SampleRow[] => (sec < 21 ? [row(5, A.hostname, Math.max(0.2, sec - 4))] : [row(6, A.hostname)]);
    const slow = checkInvariants(timeline([...samples(0, 24, late), outage, back({ expectRecovery: true })]), OPTS);
    expect(slow.violations.map((v) => v.message)).toEqual([expect.stringMatching(/after db-back: healthy again after 12\.0 s, bound 10\.0 s/)]);
    const survived = back({ expectNoChange: true, activeNode: A.id, activeJobId: 5 });
    const restarted = checkInvariants(timeline([...samples(0, 20, rows), outage, survived, command(10, 'stop', A.id)]), OPTS);
    expect(restarted.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/after db-back \(must change nothing\): stop sent to the active node/),
      expect.stringMatching(/after db-back \(must change nothing\).*was replaced by job 6/),
    ]);
  });
});

describe('recovery allowances', () => {
  const crashWith = (extra: number): TimelineEvent => ({
    t: T0 + 2000,
    type: 'fault',
    kind: 'crash',
    node: A.id,
    detail: 'SIGKILL',
    expectRecovery: true,
    recoveryExtraSeconds: extra,
    recoveryExtraReason: 'test',
  });
  const recoversAt = (sec: number): TimelineEvent[] => samples(0, sec + 2, (t) => (t < sec ? [row(5, A.hostname, Math.max(0.2, t - 2))] : [row(6, B.hostname)]));

  it('adds the allowance to the bound and reports it', () => {
    const r = checkInvariants(timeline([...recoversAt(27), crashWith(20)]), OPTS);
    expect(r.violations).toEqual([]);
    expect(r.allowances).toEqual({ count: 1, maxSeconds: 20, capSeconds: 32 });
  });

  it('caps the allowance (leaseSeconds + commandTimeoutSeconds + 5), so a harness bug cannot hide a slow recovery', () => {
    const tl = timeline([...recoversAt(60), crashWith(1000)]);
    expect(allowanceCap(tl)).toBe(32);
    const r = checkInvariants(tl, OPTS);
    expect(r.violations.map((v) => v.message)).toEqual([expect.stringMatching(/bound 42\.0 s \(allowance 1000\.0 s capped at 32\.0 s\)/)]);
    expect(r.recoveries[0]).toMatchObject({ allowanceSeconds: 32, allowanceCapped: true });
  });
});

describe('soak schedule', () => {
  it('spare steps are a pure function of the seed, numbered after the schedule, and leave the schedule as it was', () => {
    expect(planSpares(50, 7)).toEqual(planSpares(50, 7));
    expect(planSpares(50, 7).map((s) => s.n)).toEqual(Array.from({ length: 10 }, (_, i) => 51 + i));
    expect(planSpares(500, 2026)).toHaveLength(100);
    expect(planSpares(50, 8)).not.toEqual(planSpares(50, 7));
    expect(planSoak(50, 7)).toHaveLength(50);
  });
});
