import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentName } from '../../functions/core/components.js';
import { repoRoot } from '../../local/build.js';
import type { LocalCluster } from '../../local/cluster.js';
import { recoveryBound, sliceTimeline } from '../../local/invariants.js';
import { eventsOf } from '../../local/timeline.js';
import { assertInvariants, dumpTimeline, E2E_TIMINGS, sleep, startCluster, startSeconds } from './helpers.js';

/**
 * Airflow 3's control plane on the local cluster: the scheduler, the dag-processor and the triggerer,
 * each its own systemd unit (the fake systemctl's per-unit command line) and simulator process on every
 * node, supervised by the watchdog as `cluster.components`. Each component is SIGKILLed and SIGSTOPped
 * and must be replaced within its bound: staleAfterSeconds + checkIntervalSeconds + start time + the
 * liveness window (2.25 heartbeats), under the compressed timings (E2E_TIMINGS). With the bare unit
 * (Restart=no) the watchdog must act on a crash; with the recommended one systemd restarts a crashed
 * process itself and the watchdog sends nothing. Components can live on different nodes, and a node
 * banned for one component still runs the others.
 */

const ALL: readonly ComponentName[] = ['scheduler', 'dagProcessor', 'triggerer'];
const NOUN: Record<ComponentName, string> = { scheduler: 'scheduler', dagProcessor: 'dag-processor', triggerer: 'triggerer' };
const LIVENESS = 2.25;
const check = (c: LocalCluster, from: number) => assertInvariants(sliceTimeline(c.timeline, from, Date.now()), { livenessHeartbeats: LIVENESS });

/** Commands sent to a component's unit since `from` (SSM's view). */
const sentTo = (c: LocalCluster, from: number, component: ComponentName) =>
  eventsOf(c.timeline, 'command').filter((e) => e.t >= from && e.phase === 'sent' && e.unit === c.unitOf(component));

describe('fake systemctl: one command line per unit', () => {
  it('runs FAKE_SYSTEMCTL_EXEC_<unit> for that unit and FAKE_SYSTEMCTL_EXEC for the others', () => {
    const root = mkdtempSync(join(tmpdir(), 'fake-units-'));
    try {
      const bin = join(root, 'bin');
      mkdirSync(bin);
      symlinkSync(join(repoRoot, 'node', 'testing', 'fake-systemctl'), join(bin, 'systemctl'));
      const env = {
        PATH: `${bin}:${process.env.PATH}`,
        FAKE_SYSTEMCTL_DIR: join(root, 'fake'),
        FAKE_SYSTEMCTL_RESTART: 'no',
        FAKE_SYSTEMCTL_STOP_TIMEOUT: '2',
        SIM_OWNER_PID: String(process.pid),
        FAKE_SYSTEMCTL_EXEC: `echo generic >"${root}/$0"; exec sleep 30`,
        FAKE_SYSTEMCTL_EXEC_airflow_dag_processor: `echo dag-processor >"${root}/dp"; exec sleep 30`,
        FAKE_SYSTEMCTL_EXEC_airflow_triggerer: `echo triggerer >"${root}/tr"; exec sleep 30`,
      };
      const run = (...args: string[]) => spawnSync('systemctl', args, { env, encoding: 'utf8', timeout: 30_000 });
      for (const unit of ['airflow-dag-processor', 'airflow-triggerer.service', 'airflow-scheduler']) expect(run('start', unit).status).toBe(0);
      expect(readFileSync(join(root, 'dp'), 'utf8').trim()).toBe('dag-processor');
      expect(readFileSync(join(root, 'tr'), 'utf8').trim()).toBe('triggerer');
      expect(readFileSync(join(root, 'bash'), 'utf8').trim()).toBe('generic'); // the scheduler: the fallback
      expect(run('status', 'airflow-triggerer').stdout).toContain('echo triggerer');
      for (const unit of ['airflow-dag-processor', 'airflow-triggerer', 'airflow-scheduler']) expect(run('is-active', unit).stdout.trim()).toBe('active');
      expect(run('fake-kill-all').status).toBe(0);
      for (const unit of ['airflow-dag-processor', 'airflow-triggerer', 'airflow-scheduler']) expect(run('is-active', unit).stdout.trim()).not.toBe('active');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('three components, bare unit (Restart=no): the watchdog replaces each one killed or frozen (PGlite)', () => {
  let c: LocalCluster;
  let on: Record<ComponentName, string>;

  beforeAll(async () => {
    c = await startCluster('pglite', '', { components: ['dagProcessor', 'triggerer'], unit: 'bare', sim: { SIM_FLAVOR: '3.0' } });
    await c.startWatchdog('wd').ready;
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
    expect(c?.leftoverProcesses()).toEqual([]);
  }, 60_000);

  it('brings up the scheduler, the dag-processor and the triggerer, each on the first node, each its own unit and rows', async () => {
    on = await c.waitForAllSteady(40_000, { holdMs: 1500 });
    expect(on).toEqual({ scheduler: c.nodes[0]!.id, dagProcessor: c.nodes[0]!.id, triggerer: c.nodes[0]!.id });
    const pids = ALL.map((k) => c.mainPid(on[k], k));
    expect(new Set(pids).size).toBe(3);
    const sample = c.latestSample()!;
    expect(new Set(sample.rows.map((r) => r.jobType))).toEqual(new Set(['SchedulerJob', 'DagProcessorJob', 'TriggererJob']));
    expect(new Set(eventsOf(c.timeline, 'command').map((e) => e.unit))).toEqual(new Set(ALL.map((k) => c.unitOf(k))));
    check(c, c.timeline.startedAt);
  }, 60_000);

  for (const component of ALL) {
    for (const fault of ['crash', 'hang'] as const) {
      it(`${fault === 'crash' ? 'SIGKILL' : 'SIGSTOP'} of the ${NOUN[component]}: replaced within its bound, the others untouched`, async () => {
        const from = Date.now();
        const node = on[component];
        const others = ALL.filter((k) => k !== component).map((k) => [k, c.mainPid(on[k], k)] as const);
        if (fault === 'crash') c.crash(node, true, component);
        else c.hang(node, true, component);
        await c.waitForReplacement(40_000, { component, holdMs: 1000 });
        on = await c.waitForAllSteady(30_000, { holdMs: 1000 });
        const slice = sliceTimeline(c.timeline, from, Date.now());
        const report = check(c, from);
        const recovery = report.recoveries.filter((r) => r.component === component);
        expect(recovery, dumpTimeline(slice)).toHaveLength(1);
        expect(recovery[0]!.seconds).toBeLessThanOrEqual(
          recoveryBound(slice, { startSeconds: startSeconds(), slackSeconds: 2, livenessHeartbeats: LIVENESS }, component),
        );
        // The watchdog acted on this component's unit (a restart: stop, then start), and on no other.
        expect(sentTo(c, from, component).map((e) => e.action)).toContain('start');
        for (const [k, pid] of others) {
          expect(sentTo(c, from, k).filter((e) => e.action !== 'status')).toEqual([]);
          expect(c.mainPid(on[k], k)).toBe(pid);
        }
      }, 90_000);
    }
  }

  it('the whole run keeps every invariant, per component', () => {
    const report = assertInvariants(c.timeline, { livenessHeartbeats: LIVENESS });
    expect(new Set(report.recoveries.map((r) => r.component))).toEqual(new Set(ALL));
  });
});

describe('three components, recommended unit (Restart=always): systemd restarts a killed one, a frozen one needs the watchdog (PostgreSQL)', () => {
  let c: LocalCluster;
  let on: Record<ComponentName, string>;

  beforeAll(async () => {
    c = await startCluster('postgres', 'e2e_components', { components: ['dagProcessor', 'triggerer'], sim: { SIM_FLAVOR: '3.0', SIM_ORPHANS: '1' } });
    await c.startWatchdog('wd').ready;
    on = await c.waitForAllSteady(40_000, { holdMs: 1500 });
  }, 90_000);

  afterAll(async () => {
    await c?.stop();
    expect(c?.leftoverProcesses()).toEqual([]);
  }, 60_000);

  for (const component of ALL) {
    it(`SIGKILL of the ${NOUN[component]}: back within its bound with no watchdog start, its orphans killed (KillMode=control-group)`, async () => {
      const from = Date.now();
      const node = on[component];
      const before = c.unitProcesses(node, component);
      expect(before.length).toBeGreaterThanOrEqual(2); // the main process and its orphan-to-be
      c.crash(node, true, component);
      await c.waitForReplacement(30_000, { component, holdMs: 1000 });
      on = await c.waitForAllSteady(30_000, { holdMs: 1000 });
      expect(on[component]).toBe(node);
      expect(sentTo(c, from, component).filter((e) => e.action === 'start')).toEqual([]);
      expect(before.filter((p) => c.isAlive(p))).toEqual([]);
      const report = check(c, from);
      expect(report.recoveries.filter((r) => r.component === component)).toHaveLength(1);
    }, 60_000);
  }

  it('SIGSTOP of the triggerer: systemd sees it running; the watchdog stops and restarts it', async () => {
    const from = Date.now();
    c.hang(on.triggerer, true, 'triggerer');
    await c.waitForReplacement(40_000, { component: 'triggerer', holdMs: 1000 });
    on = await c.waitForAllSteady(30_000, { holdMs: 1000 });
    expect(sentTo(c, from, 'triggerer').map((e) => e.action)).toEqual(expect.arrayContaining(['stop', 'start']));
    check(c, from);
  }, 60_000);
});

describe('components on different nodes; a node banned for one component runs the others (MariaDB)', () => {
  let c: LocalCluster;
  let a: string;
  let b: string;
  let cc: string;

  beforeAll(async () => {
    c = await startCluster('mariadb', 'e2e_components_nodes', {
      components: ['dagProcessor', 'triggerer'],
      unit: 'bare',
      sim: { SIM_FLAVOR: '3.0' },
      cluster: {
        components: {
          scheduler: { nodes: ['airflow-b.local', 'airflow-a.local'] },
          dagProcessor: { nodes: ['airflow-b.local', 'airflow-c.local'], banAfterFailures: 1, restartInPlaceAttempts: 1 },
          triggerer: { nodes: ['airflow-c.local', 'airflow-a.local'] },
        },
      },
    });
    [a, b, cc] = c.nodes.map((n) => n.id) as [string, string, string];
    await c.startWatchdog('wd').ready;
  }, 90_000);

  afterAll(async () => {
    await c?.stop();
    expect(c?.leftoverProcesses()).toEqual([]);
  }, 60_000);

  it('each component starts on the first of its own nodes', async () => {
    const on = await c.waitForAllSteady(40_000, { holdMs: 1500 });
    expect(on).toEqual({ scheduler: b, dagProcessor: b, triggerer: cc });
    // Nothing of the dag-processor or the triggerer ever went to a node outside its list.
    const outside = eventsOf(c.timeline, 'command').filter(
      (e) => (e.unit === c.unitOf('dagProcessor') && e.nodeId === a) || (e.unit === c.unitOf('triggerer') && e.nodeId === b),
    );
    expect(outside).toEqual([]);
    expect(c.mainPid(a, 'scheduler')).toBeUndefined();
    check(c, c.timeline.startedAt);
  }, 60_000);

  it('the dag-processor fails to start on b: b is banned for it, it moves to c, the scheduler stays on b', async () => {
    const from = Date.now();
    const schedulerPid = c.mainPid(b, 'scheduler');
    c.setUnitSim(b, 'dagProcessor', { SIM_FAIL_AT_START: '1' }, 'the dag-processor on b exits at start from now on (a broken install of it)');
    c.crash(b, false, 'dagProcessor');
    const moved = await c.waitForReplacement(60_000, { component: 'dagProcessor', holdMs: 1000 });
    expect(moved).toBe(cc);
    const record = await c.readRecord();
    const failures = record.components?.dagProcessor?.failures[b];
    expect(failures?.bannedUntil, JSON.stringify(record.components?.dagProcessor)).toBeGreaterThan(Date.now());
    expect(record.failures[b]).toBeUndefined(); // not banned for the scheduler
    expect(record.active).toEqual([b]);
    expect(c.mainPid(b, 'scheduler')).toBe(schedulerPid);
    expect(sentTo(c, from, 'scheduler').filter((e) => e.action !== 'status')).toEqual([]);
    expect(eventsOf(c.timeline, 'record').at(-1)?.components?.dagProcessor?.active).toEqual([cc]);
    check(c, from);
  }, 90_000);

  it('b still runs the scheduler: frozen there, it is restarted there', async () => {
    const from = Date.now();
    c.hang(b, true, 'scheduler');
    expect(await c.waitForReplacement(40_000, { holdMs: 1000 })).toBe(b);
    expect(
      sentTo(c, from, 'scheduler')
        .filter((e) => e.action === 'start')
        .map((e) => e.nodeId),
    ).toEqual([b]);
    // The dag-processor stays away from b while the ban lasts.
    await sleep(E2E_TIMINGS.checkIntervalSeconds * 2000);
    expect(sentTo(c, from, 'dagProcessor').filter((e) => e.nodeId === b && e.action === 'start')).toEqual([]);
    check(c, from);
  }, 60_000);
});
