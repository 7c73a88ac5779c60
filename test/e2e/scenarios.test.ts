import { describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../local/cluster.js';
import { sliceTimeline } from '../../local/invariants.js';
import { eventsOf, newestPerHost } from '../../local/timeline.js';
import { assertInvariants, dumpTimeline, E2E_TIMINGS, sleep, startCluster, startSeconds, waitRecovered } from './helpers.js';

/**
 * End-to-end scenarios beyond the demo's faults, each on its own local cluster (the tests run
 * concurrently; they mostly wait). Every test checks SPEC §10's invariants over its recorded timeline.
 */

const withCluster = async (c: LocalCluster, body: (c: LocalCluster) => Promise<void>): Promise<void> => {
  try {
    await body(c);
  } finally {
    await c.stop();
    expect(c.leftoverProcesses()).toEqual([]);
  }
};

describe.concurrent('local cluster scenarios', () => {
  it('five watchdog ticks started at once: exactly one acts (MariaDB)', async () => {
    await withCluster(await startCluster('mariadb', 'e2e_concurrent', { unit: 'bare' }), async (c) => {
      const names = ['w1', 'w2', 'w3', 'w4', 'w5'];
      // Started one after another: five tsx start-ups at once would starve the other scenarios' schedulers.
      for (const n of names) await c.startWatchdog(n, { schedule: false }).ready;
      const burst = async () => {
        const answers = await Promise.all(names.map((n) => c.invoke({ action: 'reconcile', caller: n }, n)));
        return answers.map((a) => {
          const t = ((a.ticks as { disposition: string; verdict: string; reasons: string[] }[] | undefined) ?? [])[0];
          return t === undefined
            ? JSON.stringify(a).slice(0, 300)
            : t.disposition === 'acted'
              ? 'acted'
              : `${t.disposition}/${t.verdict}: ${t.reasons.join('; ')}`;
        });
      };
      // The safety property holds on every burst: at most one of the five acts. A burst where every
      // tick missed the DB (a slow machine: connect timeouts) acts not at all, so it is repeated.
      const burstUntilOneActs = async (what: string): Promise<{ from: number }> => {
        for (let attempt = 1; ; attempt++) {
          const from = Date.now();
          const answers = await burst();
          const acted = answers.filter((d) => d === 'acted');
          expect(acted.length, answers.join('\n')).toBeLessThanOrEqual(1);
          if (acted.length === 1) return { from };
          expect(
            answers.every((d) => d.includes('/unknown')),
            `${what}: no tick acted although the DB was seen:\n${answers.join('\n')}`,
          ).toBe(true);
          if (attempt >= 5) throw new Error(`${what}: the DB was unreachable in ${attempt} bursts`);
          await sleep(500);
        }
      };
      await Promise.all(names.map((n) => c.invoke({ action: 'status' }, n))); // warm: connections, SDK clients
      // Nothing runs yet: every watchdog plans the initial start; one commits it.
      let { from } = await burstUntilOneActs('initial start');
      expect(eventsOf(sliceTimeline(c.timeline, from, Date.now()), 'command').filter((e) => e.phase === 'sent' && e.action === 'start')).toHaveLength(1);
      await c.waitFor('a healthy scheduler', () => c.healthyNodes().length === 1, 15_000);
      await burst(); // settle the pending start
      const active = c.healthyNodes()[0]!;
      // The active one dies: all five see it stale at once; one restarts it.
      c.crash(active, false);
      await c.waitFor('the crash to show', () => c.healthyNodes().length === 0, 15_000);
      ({ from } = await burstUntilOneActs('restart'));
      // Every tick may ask the node's unit state first (liveness evidence, read-only); one of them restarts it.
      const sent = eventsOf(sliceTimeline(c.timeline, from, Date.now()), 'command').filter((e) => e.phase === 'sent' && e.action !== 'status');
      expect(sent.map((e) => e.action)).toEqual(['stop', 'start']);
      await c.waitFor('the restarted scheduler', () => c.healthyNodes().length === 1, 15_000);
      assertInvariants(c.timeline);
    });
  }, 120_000);

  it('partition heal: the old scheduler resumes heartbeating on a failed row and is stopped within one tick (PostgreSQL, Airflow 2.8 behaviour)', async () => {
    // staleAfterSeconds 4: b must look healthy at every tick around the heal, even on a loaded machine.
    await withCluster(await startCluster('postgres', 'e2e_partition', { sim: { SIM_FLAVOR: '2.8' }, timings: { staleAfterSeconds: 4 } }), async (c) => {
      await c.startWatchdog('wd').ready;
      const a = await c.waitForSteady(30_000, { holdMs: 1000 });
      c.partition(a);
      const b = await waitRecovered(c);
      expect(b).not.toBe(a);
      const ha = c.node(a).hostname;
      // b's scheduler marked a's stale row failed at its start (end_date NULL).
      const healAt = Date.now();
      c.heal(a);
      await c.waitFor('the partitioned scheduler to beat again', () => c.healthyNodes().includes(a), 15_000);
      expect(await c.waitForSteady(20_000, { holdMs: 1500 }), dumpTimeline(c.timeline, healAt - 5000)).toBe(b);
      const after = sliceTimeline(c.timeline, healAt, Date.now());
      const failedButFresh = eventsOf(after, 'sample').some((s) => {
        const r = newestPerHost(s.rows).get(ha);
        return r !== undefined && r.state === 'failed' && r.age <= 4;
      });
      expect(failedButFresh, 'the woken scheduler beats on a row marked failed').toBe(true);
      const stops = eventsOf(after, 'tick')
        .flatMap((t) => t.actions)
        .filter((x) => x.kind === 'stop' && x.nodeId === a && x.purpose === 'stop-duplicate');
      expect(stops.length, dumpTimeline(c.timeline, healAt - 5000)).toBeGreaterThanOrEqual(1);
      assertInvariants(c.timeline);
    });
  }, 120_000);

  it('power fence (fenceUnreachable ec2-stop): a partitioned active is powered off before the start elsewhere, so its return makes no duplicate (PGlite)', async () => {
    await withCluster(await startCluster('pglite', 'e2e_power_fence', { cluster: { fenceUnreachable: 'ec2-stop' } }), async (c) => {
      await c.startWatchdog('wd').ready;
      const a = await c.waitForSteady(30_000, { holdMs: 1000 });
      const from = Date.now();
      // The scheduler on a blocks (packets dropped) and would beat again after a heal: without the
      // fence that is the duplicate the partition-heal test sees stopped within a tick.
      c.partition(a);
      const b = await waitRecovered(c);
      expect(b).not.toBe(a);
      const stops = c.ec2.calls.filter((x) => x.action === 'StopInstances');
      expect(stops.map((x) => ({ instanceIds: x.instanceIds, force: x.force }))).toEqual([{ instanceIds: [a], force: true }]);
      const start = eventsOf(sliceTimeline(c.timeline, from, Date.now()), 'command').find((e) => e.phase === 'sent' && e.action === 'start' && e.nodeId === b);
      expect(start, dumpTimeline(c.timeline, from)).toBeDefined();
      expect(stops[0]?.t).toBeLessThan(start?.t ?? 0);
      expect(c.ec2.state(a)).toBe('stopped');
      expect(c.mainPid(a)).toBeUndefined();
      // The instance is started again and boots with its unit enabled: no permit survives a boot, so
      // systemd's start is refused, and nothing runs beside b.
      c.enableUnit(a, true);
      c.restoreNode(a);
      c.rebootNode(a, false);
      await sleep((E2E_TIMINGS.staleAfterSeconds + 3) * 1000);
      expect(c.mainPid(a)).toBeUndefined();
      expect(c.healthyNodes()).toEqual([b]);
      const report = assertInvariants(c.timeline);
      expect(report.duplicateWindows.filter((w) => w.from >= from)).toEqual([]);
    });
  }, 120_000);

  it('clock skew of +10 s and -10 s on the schedulers (PGlite)', async () => {
    const timings = { heartbeatSec: 1, staleAfterSeconds: 15 };
    const c = await startCluster('pglite', 'e2e_skew', { timings, nodes: 2 });
    await withCluster(c, async () => {
      const [a, b] = c.nodes.map((n) => n.id) as [string, string];
      c.setNodeSim(a, { SIM_SKEW_SEC: '10' });
      c.setNodeSim(b, { SIM_SKEW_SEC: '-10' });
      await c.startWatchdog('wd').ready;
      expect(await c.waitForSteady(30_000, { holdMs: 1000 })).toBe(a);
      await sleep(1500);
      expect(eventsOf(c.timeline, 'tick').some((t) => t.alarms.includes('clock-skew'))).toBe(true);
      // Ahead by 10 s: its dead row looks fresh 10 s longer.
      c.crash(a);
      expect(await waitRecovered(c, 60_000)).toBe(a);
      // Behind by 10 s: healthy ages of 10-12 s, under staleAfterSeconds 15: no flapping restarts.
      c.loseNode(a);
      expect(await waitRecovered(c, 60_000)).toBe(b);
      const settled = Date.now();
      await sleep(6000);
      const later = sliceTimeline(c.timeline, settled, Date.now());
      expect(eventsOf(later, 'command').filter((e) => e.phase === 'sent')).toEqual([]);
      expect(c.healthyNodes()).toEqual([b]);
      assertInvariants(c.timeline, { skewSeconds: 10, startSeconds: startSeconds() + 1 });
    });
  }, 150_000);

  it('flapping node: restarts that never come up get it banned, then it fails over (MariaDB)', async () => {
    const c = await startCluster('mariadb', 'e2e_flapping', { unit: 'bare', cluster: { restartInPlaceAttempts: 2, banAfterFailures: 2 } });
    await withCluster(c, async () => {
      await c.startWatchdog('wd').ready;
      const a = await c.waitForSteady(30_000, { holdMs: 1000 });
      c.setNodeSim(a, { SIM_FAIL_AT_START: '1' }, `${c.node(a).hostname}: every new scheduler dies at start`);
      c.crash(a, false);
      await c.waitFor('a failover away from the flapping node', () => c.healthyNodes().length === 1 && c.healthyNodes()[0] !== a, 60_000);
      const b = await c.waitForSteady(20_000, { holdMs: 1000 });
      expect(b).not.toBe(a);
      const status = (await c.invoke({ action: 'status' })).status as {
        nodes: { id: string; role: string; failures: number }[];
        history: { kind: string; node?: string }[];
      };
      expect(status.nodes.find((n) => n.id === a)?.role).toBe('banned');
      expect(status.history.some((h) => h.kind === 'ban' && h.node === a)).toBe(true);
      assertInvariants(c.timeline);
    });
  }, 120_000);

  it('all nodes down: no-candidate alarm and no action; a node coming back is used (PGlite)', async () => {
    await withCluster(await startCluster('pglite', 'e2e_alldown', { unit: 'bare' }), async (c) => {
      await c.startWatchdog('wd').ready;
      const a = await c.waitForSteady(30_000, { holdMs: 1000 });
      for (const n of c.nodes) c.offline(n.id);
      const from = Date.now();
      c.crash(a, false);
      await sleep((E2E_TIMINGS.staleAfterSeconds + 4) * 1000);
      const during = sliceTimeline(c.timeline, from, Date.now());
      expect(eventsOf(during, 'command').filter((e) => e.phase === 'sent')).toEqual([]);
      const ticks = eventsOf(during, 'tick');
      expect(ticks.some((t) => t.verdict === 'no-candidate' && t.alarms.includes('no-candidate'))).toBe(true);
      expect(ticks.every((t) => t.actions.length === 0)).toBe(true);
      const b = c.nodes[1]!.id;
      c.online(b);
      c.fault('other', `${c.node(b).hostname} is a candidate again`, b, true);
      expect(await c.waitForSteady(30_000, { holdMs: 1000 })).toBe(b);
      assertInvariants(c.timeline);
    });
  }, 120_000);

  // Regression (scenario bug-restart-after-db-outage): after a DB outage longer than staleAfterSeconds, the
  // first tick that reaches the DB again sees the running scheduler's heartbeat as old as the outage (its
  // next beat is not in yet; with Airflow 2.5-2.7's lag the first beat even rewrites the stale value).
  // The watchdog holds starts for staleAfterSeconds after the outage, so it must not restart it.
  it('DB outage: the scheduler that kept running is not restarted when the DB comes back (PGlite)', async () => {
    // Heartbeat 1 s with the one-beat lag, one tick per second: the fresh value lands 1-2 s after the DB
    // is back, the first tick comes within 1 s, so it always sees the outage-old heartbeat.
    const timings = { heartbeatSec: 1, staleAfterSeconds: 5 };
    await withCluster(await startCluster('pglite', 'e2e_outage_restart', { timings }), async (c) => {
      await c.startWatchdog('wd').ready;
      const a = await c.waitForSteady(30_000, { holdMs: 1000 });
      const pid = c.mainPid(a);
      // Packets dropped, as in a network partition of the DB: the scheduler blocks and goes on after it
      // (a refused outage makes Airflow exit, research §7-§8; then there is nothing left to keep running).
      c.dbOutage('blackhole');
      await sleep(timings.staleAfterSeconds * 2000);
      const back = Date.now();
      c.dbBack();
      await sleep((timings.staleAfterSeconds + 2) * 1000);
      // A status command (liveness evidence, read-only) may go out; no stop and no start.
      const sent = eventsOf(sliceTimeline(c.timeline, back, Date.now()), 'command').filter((e) => e.phase === 'sent' && e.action !== 'status');
      expect(sent.map((e) => `${e.action} on ${e.nodeId}`)).toEqual([]);
      expect(c.mainPid(a)).toBe(pid);
    });
  }, 90_000);

  it('SSM throttling and command timeouts (PostgreSQL)', async () => {
    await withCluster(await startCluster('postgres', 'e2e_ssm', { unit: 'bare' }), async (c) => {
      await c.startWatchdog('wd').ready;
      let active = await c.waitForSteady(30_000, { holdMs: 1000 });
      // Half of all SSM API calls throttled: adaptive retry absorbs it.
      c.ssmFaults({ throttle: { probability: 0.5 } }, 'SSM throttles half of all API calls');
      let from = Date.now();
      c.crash(active);
      active = await waitRecovered(c, 60_000);
      c.ssmFaults({}, 'SSM healthy again');
      assertInvariants(sliceTimeline(c.timeline, from, Date.now()), { startSeconds: startSeconds() + 6 });
      const throttled = eventsOf(c.timeline, 'tick').length > 0;
      expect(throttled).toBe(true);
      // The active node's agent stops picking up commands: the restart's stop times out (delivery), the
      // start is skipped, then a fencing stop times out too and the failover goes ahead.
      from = Date.now();
      c.ssm.setDeliveryDelay(active, 60_000);
      c.fault('ssm-slow', `${c.node(active).hostname}: SSM agent picks up nothing for 60 s`, active);
      const stuck = active;
      c.crash(active);
      active = await waitRecovered(c, 60_000);
      expect(active).not.toBe(stuck);
      const part = sliceTimeline(c.timeline, from, Date.now());
      const outcomes = eventsOf(part, 'tick')
        .flatMap((t) => t.actions)
        .filter((x) => x.nodeId === stuck && x.kind === 'stop')
        .map((x) => x.outcome);
      expect(outcomes).toContain('timeout');
      const cmds = eventsOf(part, 'command');
      const cancelled = cmds.filter((e) => e.phase === 'finished' && e.status === 'Cancelled').map((e) => e.commandId);
      expect(cancelled.length).toBeGreaterThanOrEqual(1);
      expect(cmds.filter((e) => e.phase === 'started' && cancelled.includes(e.commandId))).toEqual([]);
      c.ssm.setDeliveryDelay(stuck, 0);
      const cmdTimeout = E2E_TIMINGS.commandTimeoutSeconds;
      assertInvariants(part, { startSeconds: startSeconds() + 2 * cmdTimeout + 2 });
      // 5xx answers on a third of the polling and reachability calls: the SDK retries them.
      from = Date.now();
      c.ssmFaults(
        { serverError: { probability: 0.3, operations: ['GetCommandInvocation', 'DescribeInstanceInformation'] } },
        'SSM answers 500 to 30 % of polls',
      );
      c.crash(active);
      active = await waitRecovered(c, 60_000);
      c.ssmFaults({}, 'SSM healthy again');
      assertInvariants(sliceTimeline(c.timeline, from, Date.now()), { startSeconds: startSeconds() + 4 });
    });
  }, 150_000);
});
