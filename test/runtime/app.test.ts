import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../functions/core/config.js';
import { createApp } from '../../functions/runtime/app.js';
import { captureTelemetry, FakeDb, FakeFleet, ManualClock, MemoryStore, row } from '../helpers/fakes.js';

const settings = parseSettings({
  cluster: {
    clusterName: 'prod',
    nodes: [
      { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
      { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
      { id: 'i-0ccccccccccccccc3', hostname: 'sched-c' },
    ],
  },
  db: { dialect: 'mysql', host: 'db', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/db' },
  aws: { tableName: 'watchdog', startDocument: 'Watchdog-Start', stopDocument: 'Watchdog-Stop', statusDocument: 'Watchdog-Status' },
});

const setup = () => {
  const db = new FakeDb();
  const store = new MemoryStore();
  const fleet = new FakeFleet();
  const clock = new ManualClock();
  const tel = captureTelemetry('prod');
  fleet.reach = { 'i-0aaaaaaaaaaaaaaa1': 'Online', 'i-0bbbbbbbbbbbbbbb2': 'Online', 'i-0ccccccccccccccc3': 'Online' };
  const app = createApp(settings, { db, store, fleet, clock, logger: tel.logger, metrics: tel.metrics });
  let n = 0;
  const ctx = () => ({ awsRequestId: `req-${++n}`, getRemainingTimeInMillis: () => 900_000 });
  return { db, store, fleet, clock, tel, app, ctx };
};

describe('Function: handler app', () => {
  describe('malformed payloads', () => {
    const cases: [string, unknown, string][] = [
      ['null payload', null, 'payload'],
      ['array payload', [], 'payload'],
      ['string payload', 'status', 'payload'],
      ['missing action', { reason: 'x' }, 'action'],
      ['unknown action', { action: 'reboot' }, 'action'],
      ['action of wrong type', { action: 7 }, 'action'],
      ['unknown field on status', { action: 'status', verbose: true }, 'verbose'],
      ['failover without reason', { action: 'failover' }, 'reason'],
      ['failover with empty reason', { action: 'failover', reason: '   ' }, 'reason'],
      ['failover to with shell metacharacters', { action: 'failover', to: 'i-1; rm -rf /', reason: 'x' }, 'to'],
      ['failover force as string', { action: 'failover', reason: 'x', force: 'yes' }, 'force'],
      ['pause without reason', { action: 'pause' }, 'reason'],
      ['pause reason with control characters', { action: 'pause', reason: 'a\u0007b' }, 'reason'],
      ['reconcile dryRun as string', { action: 'reconcile', dryRun: 'true' }, 'dryRun'],
      ['history limit out of range', { action: 'history', limit: 500 }, 'limit'],
      ['resume with unknown field', { action: 'resume', node: 'a' }, 'node'],
    ];
    it.each(cases)('answers InvalidRequest naming the field: %s', async (_name, payload, field) => {
      // Prepare
      const { app, store, fleet, db, ctx } = setup();
      // Act
      const res = await app.handle(payload, ctx());
      // Assess
      expect(res.ok).toBe(false);
      if (res.ok) return;
      expect(res.error.code).toBe('InvalidRequest');
      expect(res.error.field).toBe(field);
      expect(res.error.message).toContain(field);
      expect(store.writes + store.reads).toBe(0);
      expect(fleet.runs).toHaveLength(0);
      expect(fleet.reachCalls).toBe(0);
      expect(db.calls).toBe(0);
    });
  });

  it('status changes nothing and shows nodes, roles and what a tick would do', async () => {
    const { app, store, fleet, db, ctx } = setup();
    db.setRows([row('sched-a', 80, 11)]);
    const res = await app.handle({ action: 'status' }, ctx());
    expect(res.ok).toBe(true);
    expect(store.writes).toBe(0);
    expect(fleet.runs).toHaveLength(0);
    const status = (
      res as unknown as { status: { nodes: { id: string; heartbeatAgeSeconds: number | null }[]; wouldDo: { actions: { kind: string; nodeId: string }[] } } }
    ).status;
    expect(status.nodes.map((n) => n.id)).toEqual(['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'i-0ccccccccccccccc3']);
    expect(status.nodes[0]?.heartbeatAgeSeconds).toBe(80);
    // Empty record, nothing healthy: a tick would start on the first Online node, clearing its stale row first.
    expect(status.wouldDo.actions.map((a) => `${a.kind}:${a.nodeId}`)).toEqual(['stop:i-0aaaaaaaaaaaaaaa1', 'start:i-0aaaaaaaaaaaaaaa1']);
  });

  it('reconcile acts once, writes intent before acting and releases the lease', async () => {
    const { app, store, fleet, ctx } = setup();
    const res = await app.handle({ action: 'reconcile' }, ctx());
    expect(res.ok).toBe(true);
    expect(fleet.runs.map((r) => `${r.kind}:${r.nodeId}:${r.epoch}`)).toEqual(['start:i-0aaaaaaaaaaaaaaa1:1']);
    // commit, the start marked sent once SSM accepted it, one write-back
    expect(store.writes).toBe(3);
    expect(store.item?.leaseOwner).toBeUndefined();
    expect(store.item?.pending.map((p) => p.nodeId)).toEqual(['i-0aaaaaaaaaaaaaaa1']);
    expect(store.item?.pending[0]?.sentAt).toBeTypeOf('number');
  });

  it('reconcile with dryRun plans but neither writes nor acts', async () => {
    const { app, store, fleet, ctx } = setup();
    const res = await app.handle({ action: 'reconcile', dryRun: true }, ctx());
    expect(res.ok).toBe(true);
    expect(store.writes).toBe(0);
    expect(fleet.runs).toHaveLength(0);
    const ticks = (res as unknown as { ticks: { disposition: string; planned: unknown[] }[] }).ticks;
    expect(ticks[0]?.disposition).toBe('dry-run');
    expect(ticks[0]?.planned).toHaveLength(1);
  });

  it('pause records reason and caller; ticks then only observe; resume lifts it', async () => {
    const { app, store, fleet, db, ctx } = setup();
    db.setRows([]);
    const paused = await app.handle({ action: 'pause', reason: 'DB maintenance', caller: 'alice' }, ctx());
    expect(paused.ok).toBe(true);
    expect(store.item?.paused).toMatchObject({ reason: 'DB maintenance', by: 'alice' });
    expect(store.item?.history.at(-1)).toMatchObject({ kind: 'pause', caller: 'alice', reason: 'DB maintenance' });
    const tick = await app.handle({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, ctx());
    expect(tick.ok).toBe(true);
    expect(fleet.runs).toHaveLength(0);
    const again = await app.handle({ action: 'pause', reason: 'twice' }, ctx());
    expect(again).toMatchObject({ ok: false, error: { code: 'Refused' } });
    const resumed = await app.handle({ action: 'resume', caller: 'bob' }, ctx());
    expect(resumed.ok).toBe(true);
    expect(store.item?.paused).toBeUndefined();
    expect(store.item?.history.at(-1)).toMatchObject({ kind: 'resume', caller: 'bob' });
  });

  it('manual failover stops the active node (fencing) and starts the target with epoch + 1', async () => {
    const { app, store, fleet, db, ctx } = setup();
    db.setRows([row('sched-a', 6, 21)]);
    await app.handle({ action: 'reconcile' }, ctx()); // adopts sched-a (epoch 1)
    expect(store.item?.active).toEqual(['i-0aaaaaaaaaaaaaaa1']);
    const res = await app.handle({ action: 'failover', to: 'sched-c', reason: 'kernel patching on a', caller: 'carol' }, ctx());
    expect(res.ok).toBe(true);
    expect(fleet.runs.map((r) => `${r.kind}:${r.nodeId}:${r.epoch}`)).toEqual(['stop:i-0aaaaaaaaaaaaaaa1:2', 'start:i-0ccccccccccccccc3:2']);
    expect(store.item?.epoch).toBe(2);
    expect(store.item?.active).toEqual(['i-0ccccccccccccccc3']);
    expect(store.item?.history.find((e) => e.kind === 'manual-failover')).toMatchObject({ caller: 'carol', node: 'i-0ccccccccccccccc3' });
  });

  it('manual failover is refused while the DB is unreachable unless forced', async () => {
    const { app, store, fleet, db, ctx } = setup();
    db.observation = { status: 'unreachable', reason: 'connect ETIMEDOUT' };
    const refused = await app.handle({ action: 'failover', reason: 'test' }, ctx());
    expect(refused).toMatchObject({ ok: false, error: { code: 'Refused' } });
    expect(store.writes).toBe(0);
    expect(fleet.runs).toHaveLength(0);
    const forced = await app.handle({ action: 'failover', reason: 'test', force: true }, ctx());
    expect(forced.ok).toBe(true);
    expect(fleet.runs.filter((r) => r.kind === 'start')).toHaveLength(1);
  });

  it('history returns the newest events first', async () => {
    const { app, ctx } = setup();
    await app.handle({ action: 'pause', reason: 'one' }, ctx());
    await app.handle({ action: 'resume' }, ctx());
    const res = await app.handle({ action: 'history', limit: 1 }, ctx());
    expect(res).toMatchObject({ ok: true, history: [{ kind: 'resume' }] });
  });

  it('without a tick queue (the local runner), loops ticks over the minute when checkIntervalSeconds < 60 and stops before time runs out', async () => {
    const looped = parseSettings({ ...settings, cluster: { ...settings.cluster, checkIntervalSeconds: 15 } });
    const db = new FakeDb();
    const store = new MemoryStore();
    const fleet = new FakeFleet();
    const clock = new ManualClock();
    const tel = captureTelemetry('prod');
    const app = createApp(looped, { db, store, fleet, clock, logger: tel.logger, metrics: tel.metrics });
    db.setRows([row('sched-a', 6)]);
    const t0 = clock.now();
    await app.handle({ source: 'aws.events' }, { awsRequestId: 'r', getRemainingTimeInMillis: () => 900_000 - (clock.now() - t0) });
    expect(db.calls).toBe(4); // t = 0, 15, 30, 45
    db.calls = 0;
    const t1 = clock.now();
    // Only ~3 min left: the worst-case tick (5+5+3*60+5 s) no longer fits after the first one.
    await app.handle({ source: 'aws.events' }, { awsRequestId: 'r2', getRemainingTimeInMillis: () => 200_000 - (clock.now() - t1) });
    expect(db.calls).toBe(1);
  });

  it('emits one tick log line, with every node’s heartbeat age, and no metric while all is well', async () => {
    const { app, tel, db, ctx } = setup();
    db.setRows([row('sched-a', 7), row('sched-b', 95)]);
    await app.handle({ action: 'reconcile' }, ctx()); // adopts sched-a
    tel.lines.length = 0;
    await app.handle({ source: 'aws.events' }, ctx());
    const lines = tel.json();
    const tick = lines.find((l) => l.message === 'tick');
    expect(tick).toMatchObject({
      verdict: 'healthy',
      clusterName: 'prod',
      components: { scheduler: { desired: 1, healthy: 1 } },
      newestHeartbeatAgeSeconds: 7,
    });
    expect(lines.filter((l) => l.message !== 'tick')).toEqual([]);
    expect(tick?.nodes).toEqual([
      { id: 'i-0aaaaaaaaaaaaaaa1', ageSeconds: 7, healthy: true, reachability: 'Online' },
      { id: 'i-0bbbbbbbbbbbbbbb2', ageSeconds: 95, healthy: false, reachability: 'Online' },
      // No live row: no age.
      { id: 'i-0ccccccccccccccc3', healthy: false, reachability: 'Online' },
    ]);
    expect(lines.filter((l) => '_aws' in l)).toEqual([]);
  });

  type Emf = Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] } };
  const emfOf = (lines: Record<string, unknown>[]) => lines.filter((l): l is Emf => '_aws' in l);
  const series = (e: Emf) => ({
    dimensions: e._aws.CloudWatchMetrics[0]?.Dimensions,
    component: e.Component,
    metrics: Object.fromEntries((e._aws.CloudWatchMetrics[0]?.Metrics ?? []).map((m) => [m.Name, e[m.Name]])),
  });

  it('emits incident metrics only while non-zero: a failover on the cluster series and the scheduler’s', async () => {
    const { app, tel, db, ctx, store } = setup();
    db.setRows([row('sched-a', 6, 21)]);
    await app.handle({ action: 'reconcile' }, ctx()); // active sched-a, epoch 1
    expect(store.item?.active).toEqual(['i-0aaaaaaaaaaaaaaa1']);
    db.setRows([row('sched-a', 80, 21)]);
    await app.handle({ source: 'aws.events' }, ctx()); // restart in place (budget 1)
    db.setRows([row('sched-a', 80, 21)]);
    // The restart did not take: after the grace, fail over.
    store.item = store.item === undefined ? undefined : { ...store.item, pending: store.item.pending.map((p) => ({ ...p, issuedAt: p.issuedAt - 200_000 })) };
    tel.lines.length = 0;
    await app.handle({ source: 'aws.events' }, ctx());
    const emf = emfOf(tel.json()).map(series);
    expect(emf).toEqual([
      { dimensions: [['ClusterName']], component: undefined, metrics: { ComponentsDown: 1, Failovers: 1 } },
      { dimensions: [['ClusterName', 'Component']], component: 'scheduler', metrics: { MissingInstances: 1, Failovers: 1 } },
    ]);
    for (const e of emfOf(tel.json())) expect(e._aws.CloudWatchMetrics[0]?.Namespace).toBe('AirflowSchedulerWatchdog');
  });

  it('counts an unreachable DB as every component down (unknown), and says the DB is unreachable', async () => {
    const { app, tel, db, ctx } = setup();
    db.observation = { status: 'unreachable', reason: 'connect ETIMEDOUT' };
    await app.handle({ source: 'aws.events' }, ctx());
    const emf = emfOf(tel.json()).map(series);
    expect(emf).toEqual([{ dimensions: [['ClusterName']], component: undefined, metrics: { ComponentsDown: 1, MetadataDbUnreachable: 1 } }]);
    expect(tel.json().find((l) => l.message === 'tick')).toMatchObject({ dbReachable: false, components: { scheduler: { desired: 1 } } });
  });

  it('logs a DB outage when the scheduled tick first sees it, before the tick line that ends the watch', async () => {
    const { app, tel, db, ctx } = setup();
    db.observation = { status: 'unreachable', reason: 'connect ECONNREFUSED', transient: true };
    await app.handle({ source: 'aws.events' }, ctx());
    const messages = tel.json().map((l) => l.message);
    const watching = messages.indexOf('metadata DB unreachable, watching it');
    expect(watching).toBeGreaterThanOrEqual(0);
    expect(watching).toBeLessThan(messages.indexOf('tick'));
    const line = tel.json()[watching];
    expect(line).toMatchObject({ level: 'WARN', reason: 'connect ECONNREFUSED', tick: 0 });
    expect(line?.watchSeconds).toBeGreaterThan(10);
    // A configuration error is not an outage: no watch, no such line.
    tel.lines.length = 0;
    db.observation = { status: 'unreachable', reason: 'authentication failed', transient: false };
    await app.handle({ source: 'aws.events' }, ctx());
    expect(tel.json().map((l) => l.message)).not.toContain('metadata DB unreachable, watching it');
  });

  it('names the component of every action in the tick line', async () => {
    const { app, tel, db, ctx } = setup();
    db.setRows([row('sched-a', 6, 21)]);
    await app.handle({ action: 'reconcile' }, ctx());
    db.setRows([row('sched-a', 80, 21)]);
    tel.lines.length = 0;
    await app.handle({ source: 'aws.events' }, ctx());
    const actions = (tel.json().find((l) => l.message === 'tick')?.actions ?? []) as { component?: string }[];
    expect(actions.length).toBeGreaterThan(0);
    for (const a of actions) expect(a.component).toBe('scheduler');
  });

  it('reports recovery blocked while no node can take the scheduler', async () => {
    const { app, tel, db, ctx, fleet } = setup();
    fleet.reach = {};
    db.setRows([]);
    await app.handle({ source: 'aws.events' }, ctx());
    const emf = emfOf(tel.json()).map(series);
    expect(emf).toEqual([
      { dimensions: [['ClusterName']], component: undefined, metrics: { ComponentsDown: 1, RecoveryBlocked: 1 } },
      { dimensions: [['ClusterName', 'Component']], component: 'scheduler', metrics: { MissingInstances: 1, RecoveryBlocked: 1 } },
    ]);
  });

  it('fails a scheduled invocation whose node command failed (the errors alarm reads Lambda errors), after writing the outcome', async () => {
    const { app, store, fleet, ctx, tel } = setup();
    fleet.outcome = () => ({ status: 'failed', commandId: 'cmd-1', exitCode: 1, stderrTail: 'unit not found', durationMs: 5 });
    await expect(app.handle({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event' }, ctx())).rejects.toThrow(
      /scheduled invocation failed: 1 node command\(s\) failed or were skipped/,
    );
    expect(store.item?.history.some((e) => e.kind === 'outcome' && e.reason.includes('failed (exit 1)'))).toBe(true);
    const emf = emfOf(tel.json()).map(series);
    expect(emf.find((e) => e.component === 'scheduler')?.metrics).toMatchObject({ FailedActions: 1 });
    // A manual reconcile reports the same failure to its caller instead of failing.
    fleet.outcome = () => ({ status: 'failed', commandId: 'cmd-2', exitCode: 1, stderrTail: 'unit not found', durationMs: 5 });
    store.item = undefined;
    const manual = await app.handle({ action: 'reconcile' }, ctx());
    expect(manual.ok).toBe(true);
  });
});
