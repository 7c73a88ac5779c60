import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../local/cluster.js';
import { sliceTimeline } from '../../local/invariants.js';
import { eventsOf } from '../../local/timeline.js';
import { assertInvariants, type DbKind, E2E_TIMINGS, sleep, startCluster, waitRecovered } from './helpers.js';

/**
 * The faults of `npm run demo`, one after another, on three local clusters at once: embedded PGlite,
 * the PostgreSQL service and the MariaDB service. Each step runs on all three in parallel (the suite
 * mostly waits, so this keeps its wall time to one cluster's) and checks SPEC §10's invariants over
 * that step's slice of each timeline; the last test checks each whole run.
 */

interface Run {
  readonly db: DbKind;
  c: LocalCluster;
  active: string;
  from: number;
}

const DBS: readonly DbKind[] = ['pglite', 'postgres', 'mariadb'];
const runs: Run[] = [];

/** Runs one step on every cluster at once; a failure names the database. */
const each = async (step: (r: Run) => Promise<void>): Promise<void> => {
  const results = await Promise.allSettled(
    runs.map(async (r) => {
      r.from = Date.now();
      try {
        await step(r);
      } catch (err) {
        (err as Error).message = `[${r.db}] ${(err as Error).message}`;
        throw err;
      }
    }),
  );
  const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed.length > 0) throw failed[0]?.reason;
};
const slice = (r: Run) => sliceTimeline(r.c.timeline, r.from, Date.now());

describe('local cluster faults on PGlite, PostgreSQL and MariaDB', () => {
  beforeAll(async () => {
    // The bare unit (Restart=no, KillMode=process): the watchdog itself must recover a crash, and a crashed
    // scheduler's children outlive it until the next start clears them (test/e2e/components.test.ts covers
    // the recommended unit, where systemd restarts a crash and kills the orphans).
    const started = await Promise.allSettled(DBS.map((db) => startCluster(db, `e2e_faults_${db}`, { sim: { SIM_ORPHANS: '2' }, unit: 'bare' })));
    for (const [i, s] of started.entries()) if (s.status === 'fulfilled') runs.push({ db: DBS[i]!, c: s.value, active: '', from: 0 });
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await Promise.all(runs.map((r) => r.c.startWatchdog('wd').ready));
  }, 90_000);

  afterAll(async () => {
    await Promise.all(runs.map((r) => r.c.stop()));
    for (const r of runs) expect(r.c.leftoverProcesses(), `leftover processes of the ${r.db} cluster`).toEqual([]);
  }, 60_000);

  it('brings a scheduler up where none runs', async () => {
    await each(async (r) => {
      r.active = await r.c.waitForSteady(30_000, { holdMs: 1500 });
      expect(r.active).toBe(r.c.nodes[0]?.id);
      assertInvariants(slice(r));
    });
  }, 45_000);

  it('crash (SIGKILL): restarts in place and clears the orphaned children', async () => {
    await each(async (r) => {
      const pid = r.c.mainPid(r.active)!;
      const children = eventsOf(r.c.timeline, 'sim')
        .filter((e) => e.event === 'child' && e.pid === pid)
        .map((e) => e.childPid!);
      expect(children.length).toBe(2);
      r.c.crash(r.active);
      await sleep(500);
      expect(children.every((p) => r.c.isAlive(p))).toBe(true); // children outlive a SIGKILL, as in Airflow
      expect(await waitRecovered(r.c)).toBe(r.active);
      expect(children.filter((p) => r.c.isAlive(p))).toEqual([]); // the start after a crash cleared them
      expect(assertInvariants(slice(r)).recoveries).toHaveLength(1);
    });
  }, 45_000);

  it('hang (SIGSTOP): the frozen scheduler is stopped and replaced', async () => {
    await each(async (r) => {
      r.c.hang(r.active);
      r.active = await waitRecovered(r.c);
      expect(assertInvariants(slice(r)).recoveries).toHaveLength(1);
    });
  }, 45_000);

  it('node loss: fails over to the next node', async () => {
    await each(async (r) => {
      const lost = r.active;
      r.c.loseNode(lost);
      r.active = await waitRecovered(r.c);
      expect(r.active).not.toBe(lost);
      const rec = eventsOf(slice(r), 'tick')
        .flatMap((t) => t.actions)
        .filter((a) => a.purpose === 'failover-start');
      expect(rec.length).toBeGreaterThanOrEqual(1);
      assertInvariants(slice(r));
      r.c.restoreNode(lost);
    });
  }, 45_000);

  it('duplicate started by hand: stopped within one tick plus a stop', async () => {
    await each(async (r) => {
      const other = r.c.nodes.find((n) => n.id !== r.active)!.id;
      r.c.startByHand(other);
      await r.c.waitFor('two healthy schedulers', () => r.c.healthyNodes().length === 2, 10_000);
      expect(await r.c.waitForSteady(20_000, { holdMs: 1500 })).toBe(r.active);
      const report = assertInvariants(slice(r));
      expect(report.duplicateWindows.length).toBeGreaterThanOrEqual(1);
      const stops = eventsOf(slice(r), 'command').filter((e) => e.phase === 'finished' && e.action === 'stop' && e.nodeId === other);
      expect(stops.map((s) => s.status)).toContain('Success');
    });
  }, 45_000);

  it('DB outage: no action while the DB is unreachable', async () => {
    await each(async (r) => {
      r.c.dbOutage();
      await sleep(E2E_TIMINGS.staleAfterSeconds * 2500);
      const sent = eventsOf(slice(r), 'command').filter((e) => e.phase === 'sent');
      const backAt = Date.now();
      r.c.dbBack();
      // A scheduled tick that finds the DB down watches it until it is back and logs its line then (or at
      // its deadline, with dbReachable false): the outage was seen by a tick that spans it.
      await r.c.waitFor('a tick that watched the outage', () => eventsOf(slice(r), 'tick').some((t) => t.t >= backAt), 15_000);
      const ticks = eventsOf(slice(r), 'tick');
      expect(ticks.some((t) => !t.dbReachable || (t.t >= backAt && t.t - (t.durationMs ?? 0) <= backAt - 1000))).toBe(true);
      expect(ticks.filter((t) => !t.dbReachable && t.actions.length > 0)).toEqual([]);
      expect(sent).toEqual([]);
      r.active = await r.c.waitForSteady(30_000, { holdMs: 1500 });
      assertInvariants(slice(r));
    });
  }, 60_000);

  it('manual failover: stops the active node and starts the next', async () => {
    await each(async (r) => {
      const before = r.active;
      r.c.fault('manual-failover', 'operator failover', undefined, true);
      expect((await r.c.invoke({ action: 'failover', reason: 'e2e', caller: 'e2e' })).ok).toBe(true);
      r.active = await r.c.waitForSteady(30_000, { holdMs: 1500 });
      expect(r.active).not.toBe(before);
      assertInvariants(slice(r));
    });
  }, 45_000);

  it('pause: a crash while paused is only observed; resume recovers', async () => {
    await each(async (r) => {
      expect((await r.c.invoke({ action: 'pause', reason: 'e2e maintenance' })).ok).toBe(true);
      r.c.crash(r.active, false);
      await sleep((E2E_TIMINGS.staleAfterSeconds + 2) * 1000);
      expect(eventsOf(slice(r), 'command').filter((e) => e.phase === 'sent')).toEqual([]);
      expect(eventsOf(slice(r), 'tick').some((t) => t.verdict === 'paused')).toBe(true);
      r.c.fault('resume', 'resume', undefined, true);
      expect((await r.c.invoke({ action: 'resume' })).ok).toBe(true);
      r.active = await r.c.waitForSteady(30_000, { holdMs: 1500 });
      assertInvariants(slice(r));
    });
  }, 45_000);

  it('each whole run keeps every invariant', async () => {
    await each(async (r) => {
      assertInvariants(r.c.timeline);
    });
  });
});
