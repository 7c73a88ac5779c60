/**
 * `npm run conformance -- --airflow <airflow executable or command | sim> [--db mysql://…|postgres://…]`:
 * the local cluster (local/cluster.ts) with real Airflow components in place of the simulator, one
 * process per simulated node and component (each its own AIRFLOW_HOME, log-server ports and hostname,
 * through node/airflow_watchdog_hostname.py, and its node's DB proxy, so that the cluster's faults reach
 * it), attached to an existing Airflow database. It injects the fault set (crash, hang, a stall below the
 * threshold, a DB outage, a frozen node SSM cannot reach that comes back, a duplicate started by hand,
 * and on Airflow 3 a dag-processor hang and a triggerer crash), checks each against its stated bound,
 * prints a pass/fail report, writes the timeline (JSON), the picture (SVG) and the report (JSON), and
 * exits 1 on any failed check, 2 on a refusal (bad arguments, unreachable DB, not Airflow's schema,
 * another Airflow heartbeating in it). Every process it started is stopped on success, failure or
 * Ctrl-C. `--airflow sim` runs the same suite against the simulator (test/conformance runs it in
 * `npm test`). docs/conformance.md explains every check.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ComponentName, OtherComponent } from '../functions/core/components.js';
import { repoRoot } from './build.js';
import { DEMO_TIMINGS, defaultNodes, FAST_TIMINGS, LocalCluster, type Timings, type UnitContext } from './cluster.js';
import { AttachError, attachAirflowDatabase, type DbTarget, openSql, parseDbUrl, sampleLiveRows } from './db.js';
import { checkInvariants, formatReport, type InvariantOptions, type InvariantReport, recoveryBound } from './invariants.js';
import { plotHeartbeats, writePictures } from './plot.js';
import { type EventOf, eventsOf, newestPerHost, type Timeline, type TimelineNode } from './timeline.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * Production-like timings for real Airflow, which cannot be time-compressed: Airflow's own defaults
 * (heartbeat 5 s, threshold 30 s), one tick every 10 s, SSM's smallest command timeout (30 s),
 * systemd's RestartSec=5 of the recommended unit, a 20 s TimeoutStopSec.
 */
const PRODUCTION_TIMINGS: Timings = {
  heartbeatSec: 5,
  staleAfterSeconds: 30,
  checkIntervalSeconds: 10,
  commandTimeoutSeconds: 30,
  startupGraceSeconds: 60,
  leaseSeconds: 60,
  stopTimeoutSeconds: 20,
  simStartDelaySec: 1.5,
  restartSec: 5,
};

const TIMING_PRESETS: Readonly<Record<string, Timings>> = { production: PRODUCTION_TIMINGS, demo: DEMO_TIMINGS, fast: FAST_TIMINGS };

/** The part of each bound that is not a configured timing: how long a stop, a process start and the harness's sampling take. */
interface Allowances {
  /** A clean stop (SIGTERM until the process is gone) and the stop command's round trip. */
  readonly stopSeconds: number;
  /** Launch of the process until its row is in the DB (real 3.0.2, three at once on 2 cores: up to 9 s). */
  readonly launchSeconds: number;
  /** Sampling granularity and a tick's own duration. */
  readonly slackSeconds: number;
}

const REAL_ALLOWANCES: Allowances = { stopSeconds: 15, launchSeconds: 10, slackSeconds: 3 };
const SIM_ALLOWANCES = (t: Timings): Allowances => ({ stopSeconds: t.stopTimeoutSeconds + 2, launchSeconds: 2, slackSeconds: 2 });

/** SPEC §4's liveness window, in heartbeats. */
const LIVENESS_HEARTBEATS = 2.25;

interface ConformanceOptions {
  /** `sim`, or the Airflow executable (a path, or a command of words separated by spaces). */
  readonly airflow: string;
  /** The Airflow database (migrated by `airflow db migrate`); required for real Airflow; with `sim`, absent = PGlite. */
  readonly db?: string;
  readonly timings?: Timings;
  /** Which components beside the scheduler: `auto` = Airflow 3's dag-processor and triggerer on 3.x, none on 2.x. */
  readonly components?: 'auto' | 'none' | 'all';
  /** The simulator's flavor with `sim` (default 3.0). */
  readonly simFlavor?: '2.5' | '2.8' | '3.0';
  readonly unit?: 'recommended' | 'bare';
  /** DAGs folder for real Airflow (default: an empty one). */
  readonly dags?: string;
  /** SQLAlchemy driver scheme for real Airflow (default mysql+mysqldb / postgresql+psycopg2). */
  readonly sqlalchemyScheme?: string;
  /** Where to write timeline.json, heartbeats.svg and report.json (default: nothing written). */
  readonly out?: string;
  readonly nodes?: number;
  /** Progress lines as the run goes. */
  readonly log?: (line: string) => void;
  /** An AbortSignal (Ctrl-C): the run stops what it started and rejects. */
  readonly signal?: AbortSignal;
}

interface CheckResult {
  readonly step: string;
  readonly check: string;
  readonly pass: boolean;
  /** Seconds, when the check measures a time. */
  readonly measured?: number;
  readonly bound?: number;
  readonly detail: string;
}

interface StepResult {
  /** Short name, as in the report's table. */
  readonly name: string;
  /** What the step does. */
  readonly title: string;
  readonly startedAt: number;
  readonly seconds: number;
  /** What real Airflow (or the simulator) was seen doing, beyond the checks. */
  readonly observations: string[];
}

interface ConformanceReport {
  readonly airflow: { readonly command: string; readonly version: string; readonly sim: boolean };
  readonly db: { readonly label: string; readonly alembicRevision?: string; readonly releaseHint?: string };
  readonly components: readonly ComponentName[];
  readonly unit: 'recommended' | 'bare';
  readonly timings: Timings;
  readonly allowances: Allowances;
  readonly bounds: { readonly recoverySeconds: Readonly<Partial<Record<ComponentName, number>>>; readonly duplicateSeconds: number; readonly text: string[] };
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly steps: readonly StepResult[];
  readonly checks: readonly CheckResult[];
  readonly ok: boolean;
  readonly files: { readonly timeline?: string; readonly picture?: string; readonly png?: string; readonly report?: string };
  /** Processes still alive after the stop (must be empty). */
  readonly leftovers: readonly number[];
}

/** A refusal before anything ran: bad arguments, no Airflow, unreachable DB, not Airflow's schema. */
class ConformanceRefused extends Error {
  override name = 'ConformanceRefused';
}

const NOUN: Readonly<Record<ComponentName, string>> = { scheduler: 'scheduler', dagProcessor: 'dag-processor', triggerer: 'triggerer' };
const CLI_VERB: Readonly<Record<ComponentName, string>> = { scheduler: 'scheduler', dagProcessor: 'dag-processor', triggerer: 'triggerer' };

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('interrupted'));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('interrupted'));
      },
      { once: true },
    );
  });

const shq = (v: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`);
const secs = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(1)} s`);
const redact = (url: string): string => url.replace(/(\/\/[^:/@]*):[^@]*@/, '$1:***@');

/** A free TCP port on 127.0.0.1 (for a log server). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });

/** `<airflow> version`, in a scratch AIRFLOW_HOME: the version string, or a refusal naming what failed. */
const airflowVersion = async (argv: readonly string[], signal?: AbortSignal): Promise<string> => {
  const home = mkdtempSync(join(tmpdir(), 'airflow-conformance-version-'));
  try {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>((resolve) => {
      const child = spawn(argv[0] as string, [...argv.slice(1), 'version'], {
        env: { ...process.env, AIRFLOW_HOME: home, AIRFLOW__CORE__LOAD_EXAMPLES: 'False' },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(signal === undefined ? {} : { signal }),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr, error });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    const version = out.stdout
      .split('\n')
      .map((l) => l.trim())
      .reverse()
      .find((l) => /^\d+\.\d+\.\d+\S*$/.test(l));
    if (out.error !== undefined || out.code !== 0 || version === undefined) {
      const why = out.error?.message ?? `exit ${out.code}: ${(out.stderr || out.stdout).trim().split('\n').slice(-3).join(' | ')}`;
      throw new ConformanceRefused(`--airflow ${argv.join(' ')}: \`version\` did not answer a version (${why})`);
    }
    return version;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
};

/** Fresh control-plane rows in the database: another Airflow heartbeats there, so a run would not be alone. */
const foreignLiveRows = async (t: DbTarget, staleAfterSeconds: number): Promise<string[]> => {
  const c = await openSql(t, { timeoutMs: 10_000 });
  try {
    const rows = await sampleLiveRows(c, t.dialect, 3600);
    return rows.filter((r) => r.age <= staleAfterSeconds).map((r) => `${r.jobType} on ${r.hostname} (job ${r.jobId}, ${r.age.toFixed(0)} s old)`);
  } finally {
    await c.close();
  }
};

/** The SQLAlchemy URL of a node's DB proxy, for AIRFLOW__DATABASE__SQL_ALCHEMY_CONN. */
const sqlalchemyUrl = (db: DbTarget, scheme?: string): string => {
  const auth = `${encodeURIComponent(db.user)}${db.password === undefined ? '' : `:${encodeURIComponent(db.password)}`}`;
  const s = scheme ?? (db.dialect === 'mysql' ? 'mysql+mysqldb' : 'postgresql+psycopg2');
  return `${s}://${auth}@${db.host}:${db.port}/${encodeURIComponent(db.database)}`;
};

interface NodePorts {
  readonly worker: number;
  readonly trigger: number;
}

/**
 * The unit's command line for real Airflow: `airflow scheduler|dag-processor|triggerer` with its own
 * AIRFLOW_HOME under the node's directory, the node's DB proxy, its hostname pinned by the hostname
 * callable in node/, and the node's own log-server ports (two components on one machine must not share
 * one; research §7–§8).
 */
const airflowCommand = (argv: readonly string[], u: UnitContext, ports: NodePorts, t: Timings, o: ConformanceOptions, dags: string): string => {
  const env: Record<string, string> = {
    AIRFLOW_HOME: join(u.dir, `airflow-home-${u.component}`),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: sqlalchemyUrl(u.db, o.sqlalchemyScheme),
    AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
    AIRFLOW__CORE__PARALLELISM: '4',
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__DAGS_FOLDER: dags,
    AIRFLOW__CORE__HOSTNAME_CALLABLE: 'airflow_watchdog_hostname.get_hostname',
    AIRFLOW_WATCHDOG_HOSTNAME: u.node.hostname,
    PYTHONPATH: join(repoRoot, 'node'),
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT: String(ports.worker),
    AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT: String(ports.trigger),
    AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC: String(t.heartbeatSec),
    AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC: String(t.heartbeatSec),
    AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC: String(t.heartbeatSec),
    AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD: String(t.staleAfterSeconds),
    AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD: String(t.staleAfterSeconds),
  };
  const assignments = Object.entries(env)
    .map(([k, v]) => `${k}=${shq(v)}`)
    .join(' ');
  return `${assignments} exec ${argv.map(shq).join(' ')} ${CLI_VERB[u.component]}`;
};

// ---------------------------------------------------------------------------------------------

/** Runs the fault set against a started cluster; collects checks. */
class Suite {
  readonly checks: CheckResult[] = [];
  readonly steps: StepResult[] = [];
  readonly invariantOptions: InvariantOptions;
  #step = '';
  #notes: string[] = [];

  constructor(
    readonly c: LocalCluster,
    readonly t: Timings,
    readonly a: Allowances,
    readonly log: (line: string) => void,
    readonly signal?: AbortSignal,
  ) {
    this.invariantOptions = {
      startSeconds: a.stopSeconds + a.launchSeconds,
      stopSeconds: a.stopSeconds,
      slackSeconds: a.slackSeconds,
      livenessHeartbeats: LIVENESS_HEARTBEATS,
    };
  }

  get components(): ComponentName[] {
    return this.c.components.map((k) => k.name);
  }

  bound(component: ComponentName = 'scheduler'): number {
    return recoveryBound(this.c.timeline, this.invariantOptions, component);
  }

  get duplicateBound(): number {
    return this.t.checkIntervalSeconds + this.a.stopSeconds + this.a.slackSeconds;
  }

  /** How long to wait for something the bounds promise, before calling it failed. */
  get patienceMs(): number {
    return Math.max(...this.components.map((k) => this.bound(k))) * 2000 + this.t.commandTimeoutSeconds * 1000;
  }

  get holdMs(): number {
    return Math.round(this.t.heartbeatSec * 2000);
  }

  check(check: string, pass: boolean, detail: string, measured?: number, bound?: number): void {
    this.checks.push({ step: this.#step, check, pass, detail, ...(measured === undefined ? {} : { measured }), ...(bound === undefined ? {} : { bound }) });
    this.log(`  ${pass ? 'PASS' : 'FAIL'}  ${check}: ${detail}`);
  }

  observe(text: string): void {
    this.#notes.push(text);
    this.log(`  seen  ${text}`);
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms, this.signal);
  }

  async step(name: string, title: string, body: () => Promise<void>): Promise<void> {
    if (this.signal?.aborted) throw new Error('interrupted');
    this.#step = name;
    this.#notes = [];
    const from = Date.now();
    this.log(`\n── ${name}: ${title}`);
    this.c.note(`conformance step ${name}: ${title}`);
    try {
      await body();
    } catch (err) {
      if (this.signal?.aborted) throw err;
      this.check('step completed', false, `${(err as Error).message}`);
      // Whatever happened, the next step starts from a steady cluster if one comes back.
      await this.c.waitForAllSteady(this.patienceMs, { holdMs: this.holdMs }).catch(() => undefined);
    }
    const report = checkInvariants(this.c.timeline, this.invariantOptions);
    const mine = report.violations.filter((v) => v.at >= from && v.invariant !== 'recovery');
    this.check(
      'SPEC §10 invariants (duplicates, no action while the DB is down, epochs, no change)',
      mine.length === 0,
      mine.length === 0 ? 'all hold over the step' : mine.map((v) => `${v.invariant}: ${v.message}`).join('; '),
    );
    this.steps.push({ name, title, startedAt: from, seconds: (Date.now() - from) / 1000, observations: this.#notes });
  }

  /** The recovery measures of faults recorded since `from`, one check each. */
  recoveries(from: number, what = 'back'): InvariantReport['recoveries'] {
    const report = checkInvariants(this.c.timeline, this.invariantOptions);
    const found = report.recoveries.filter((r) => r.fault.t >= from);
    for (const r of found) {
      const pass = r.seconds !== undefined && r.seconds <= r.boundSeconds;
      const where = r.hostname === undefined ? '' : ` on ${r.hostname} (job ${r.jobId})`;
      const allowance = r.allowanceSeconds > 0 ? `, allowance ${secs(r.allowanceSeconds)} (${r.fault.recoveryExtraReason ?? ''})` : '';
      this.check(
        `${NOUN[r.component]} ${what} within its bound`,
        pass,
        r.seconds === undefined ? `no new healthy ${NOUN[r.component]}` : `${secs(r.seconds)}${where} ≤ ${secs(r.boundSeconds)}${allowance}`,
        r.seconds,
        r.boundSeconds,
      );
    }
    return found;
  }

  steady(): Promise<Record<ComponentName, string>> {
    return this.c.waitForAllSteady(this.patienceMs, { holdMs: this.holdMs });
  }

  host(id: string): string {
    return this.c.node(id).hostname;
  }

  /** The live row of a component on a node in the latest sample. */
  row(nodeId: string, component: ComponentName): { jobId: number; age: number; state: string | null } | undefined {
    const s = this.c.latestSample();
    return s === undefined ? undefined : newestPerHost(s.rows, this.c.component(component).jobType).get(this.host(nodeId));
  }

  /** SSM start/stop commands to a component's unit since `from`. */
  commands(from: number, component: ComponentName, node?: string): EventOf<'command'>[] {
    const unit = this.c.unitOf(component);
    return eventsOf(this.c.timeline, 'command').filter(
      (e) => e.t >= from && e.phase === 'sent' && e.unit === unit && (e.action === 'start' || e.action === 'stop') && (node === undefined || e.nodeId === node),
    );
  }

  /** When a unit's main process `pid` was last seen gone (the unit watcher's events), if it was. */
  goneAt(node: string, component: ComponentName, pid: number): number | undefined {
    return eventsOf(this.c.timeline, 'unit').find((e) => e.node === node && e.component === component && e.previous === pid)?.t;
  }

  /** Peak heartbeat age of a job between two times, by the samples. */
  peakAge(jobId: number, from: number, to: number): number {
    let peak = 0;
    for (const s of eventsOf(this.c.timeline, 'sample'))
      if (s.t >= from && s.t <= to) for (const r of s.rows) if (r.jobId === jobId) peak = Math.max(peak, r.age);
    return peak;
  }
}

// ---- the fault set ---------------------------------------------------------------------------

const bringUp = async (s: Suite): Promise<Record<ComponentName, string>> => {
  let on: Record<ComponentName, string> = {} as Record<ComponentName, string>;
  await s.step('bring-up', 'nothing runs; the watchdog starts every component', async () => {
    const from = s.c.timeline.startedAt;
    on = await s.steady();
    const first = s.c.nodes[0]?.id;
    const took = (Date.now() - from) / 1000;
    const bound = s.t.checkIntervalSeconds + s.t.startupGraceSeconds + s.a.slackSeconds;
    s.check(
      'every component healthy on the first node',
      s.components.every((k) => on[k] === first),
      `${s.components.map((k) => `${NOUN[k]} on ${s.host(on[k])}`).join(', ')}`,
    );
    s.check(
      'up within checkInterval + startupGrace (+ the hold)',
      took <= bound + s.holdMs / 1000,
      `${secs(took)}, with a ${secs(s.holdMs / 1000)} steady hold, ≤ ${secs(bound + s.holdMs / 1000)}`,
      took,
      bound + s.holdMs / 1000,
    );
    // Healthy heartbeat ages over a quiet stretch: Airflow's one-beat-old value shows as ages up to two beats.
    const quiet = Date.now();
    await s.sleep(Math.max(3 * s.t.heartbeatSec * 1000, 2000));
    for (const k of s.components) {
      const r = s.row(on[k], k);
      if (r === undefined) continue;
      const ages = eventsOf(s.c.timeline, 'sample')
        .filter((e) => e.t >= quiet)
        .flatMap((e) => e.rows.filter((x) => x.jobId === r.jobId).map((x) => x.age));
      s.observe(
        `${NOUN[k]} (job ${r.jobId}) healthy age ${Math.min(...ages).toFixed(1)}–${Math.max(...ages).toFixed(1)} s over ${ages.length} samples (heartbeat ${s.t.heartbeatSec} s)`,
      );
    }
  });
  return on;
};

/** SIGKILL of a component's main process. */
const crashStep = async (s: Suite, on: Record<ComponentName, string>, component: ComponentName): Promise<void> => {
  await s.step(`crash (${NOUN[component]})`, `SIGKILL of the ${NOUN[component]}'s main process`, async () => {
    const node = on[component];
    const pid = s.c.mainPid(node, component);
    if (pid === undefined) throw new Error(`no ${NOUN[component]} process on ${s.host(node)}`);
    const others = s.c.unitProcesses(node, component).filter((p) => p !== pid);
    const oldJob = s.row(node, component)?.jobId;
    const from = Date.now();
    s.c.crash(node, true, component);
    await s.c.waitForReplacement(s.patienceMs, { component, holdMs: s.holdMs, seen: s.c.maxJobId() });
    s.recoveries(from);
    const starts = s.commands(from, component).filter((e) => e.action === 'start');
    s.observe(
      starts.length === 0
        ? `restarted by systemd (Restart=always), no watchdog command`
        : `restarted by the watchdog: ${s
            .commands(from, component)
            .map((e) => `${e.action} on ${s.host(e.nodeId)} +${secs((e.t - from) / 1000)}`)
            .join(', ')}`,
    );
    const left = others.filter((p) => s.c.isAlive(p));
    s.check(
      "the killed process's children are gone",
      left.length === 0,
      `${others.length} other process(es) in its unit at the kill (its children: log server, executor, workers…), ${left.length} still alive after the recovery${left.length === 0 ? '' : `: ${left.join(', ')}`}`,
    );
    if (oldJob !== undefined) {
      const old = eventsOf(s.c.timeline, 'sample')
        .at(-1)
        ?.rows.find((r) => r.jobId === oldJob);
      s.observe(
        `the killed ${NOUN[component]}'s row (job ${oldJob}) is now ${old === undefined ? 'no longer live (marked failed or success)' : `'${old.state}', ${old.age.toFixed(0)} s old`}`,
      );
    }
  });
};

/** SIGSTOP of a component's main process until the watchdog replaces it. */
const hangStep = async (s: Suite, on: Record<ComponentName, string>, component: ComponentName): Promise<void> => {
  await s.step(`hang (${NOUN[component]})`, `SIGSTOP of the ${NOUN[component]}'s main process until it is replaced`, async () => {
    const node = on[component];
    const pid = s.c.mainPid(node, component);
    if (pid === undefined) throw new Error(`no ${NOUN[component]} process on ${s.host(node)}`);
    const untouched = s.components.filter((k) => k !== component).map((k) => [k, on[k], s.c.mainPid(on[k], k)] as const);
    const from = Date.now();
    s.c.hang(node, true, component);
    await s.c.waitForReplacement(s.patienceMs, { component, holdMs: s.holdMs, seen: s.c.maxJobId() });
    s.recoveries(from);
    const cmds = s.commands(from, component);
    const first = cmds[0];
    s.check(
      'the watchdog stopped the frozen process and started a new one',
      cmds.some((e) => e.action === 'stop') && cmds.some((e) => e.action === 'start'),
      cmds.map((e) => `${e.action} on ${s.host(e.nodeId)} +${secs((e.t - from) / 1000)}`).join(', ') || 'no command',
      first === undefined ? undefined : (first.t - from) / 1000,
    );
    const gone = s.goneAt(node, component, pid);
    s.check(
      'the frozen process is gone',
      !s.c.isAlive(pid),
      gone === undefined ? `pid ${pid}: ${s.c.isAlive(pid) ? 'alive' : 'gone'}` : `pid ${pid} gone +${secs((gone - from) / 1000)}`,
    );
    for (const [k, n, p] of untouched) {
      const same = s.c.mainPid(n, k) === p && s.commands(from, k).length === 0;
      s.check(
        `the ${NOUN[k]} untouched`,
        same,
        same ? `same process, no command` : `process ${p} → ${s.c.mainPid(n, k) ?? 'none'}, ${s.commands(from, k).length} command(s)`,
      );
    }
  });
};

/** SIGSTOP below the threshold, then SIGCONT: must change nothing. */
const stallStep = async (s: Suite, on: Record<ComponentName, string>): Promise<void> => {
  const stall = 0.4 * s.t.staleAfterSeconds;
  await s.step('stall', `SIGSTOP of the scheduler for ${secs(stall)} (0.4 × staleAfterSeconds), then SIGCONT: must change nothing`, async () => {
    const node = on.scheduler;
    const row = s.row(node, 'scheduler');
    if (row === undefined) throw new Error('no scheduler row');
    const from = Date.now();
    s.c.hang(node, false, 'scheduler');
    const f = s.c.lastFault();
    if (f !== undefined) s.c.amendFault(f, { expectNoChange: true, activeJobs: { scheduler: { node, jobId: row.jobId } } });
    await s.sleep(stall * 1000);
    s.c.unhang(node, 'scheduler');
    // Watch the threshold's length after it: a restart would come by then.
    await s.sleep((s.t.staleAfterSeconds + s.t.checkIntervalSeconds) * 1000);
    const peak = s.peakAge(row.jobId, from, Date.now());
    s.observe(`peak heartbeat age of job ${row.jobId} ${secs(peak)} (stale after ${s.t.staleAfterSeconds} s)`);
    const cmds = eventsOf(s.c.timeline, 'command').filter((e) => e.t >= from && e.phase === 'sent' && (e.action === 'start' || e.action === 'stop'));
    const still = s.row(node, 'scheduler')?.jobId === row.jobId;
    // Close the must-change-nothing window here (a fault that asks nothing of anyone).
    s.c.fault('other', 'conformance: end of the stall window');
    const closing = s.c.lastFault();
    if (closing !== undefined) s.c.amendFault(closing, { expectNoChange: true });
    s.check(
      'nothing stopped or started; the same scheduler runs',
      cmds.length === 0 && still,
      `${cmds.length} start/stop command(s); job ${row.jobId} ${still ? 'still the live row' : 'replaced'}`,
      peak,
      s.t.staleAfterSeconds,
    );
  });
};

/** The metadata DB refuses everyone for twice staleAfterSeconds. */
const dbOutageStep = async (s: Suite, on: Record<ComponentName, string>): Promise<void> => {
  const outage = 2 * s.t.staleAfterSeconds;
  await s.step('DB outage', `connections to the metadata DB refused and cut for ${secs(outage)} (2 × staleAfterSeconds), for everyone`, async () => {
    const pids = s.components.map((k) => [k, on[k], s.c.mainPid(on[k], k)] as const);
    const from = Date.now();
    s.c.dbOutage('refuse');
    await s.sleep(outage * 1000);
    const backAt = Date.now();
    s.c.dbBack();
    for (const [k, n, pid] of pids) {
      const gone = pid === undefined ? undefined : s.goneAt(n, k, pid);
      s.observe(
        `${NOUN[k]} ${gone === undefined || gone > backAt ? 'kept running through the outage' : `exited ${secs((gone - from) / 1000)} into the outage`}`,
      );
    }
    const during = eventsOf(s.c.timeline, 'command').filter(
      (e) => e.t > from + (s.t.checkIntervalSeconds + 2) * 1000 && e.t <= backAt && e.phase === 'sent' && (e.action === 'start' || e.action === 'stop'),
    );
    const unknownTicks = eventsOf(s.c.timeline, 'tick').filter((e) => e.t >= from && !e.dbReachable);
    s.check(
      'no start or stop while the DB was unreachable',
      during.length === 0 && unknownTicks.every((e) => e.actions.length === 0),
      `${during.length} command(s) sent inside the outage (after one tick's grace); ${unknownTicks.length} tick(s) logged the DB unreachable, ${unknownTicks.filter((e) => e.actions.length > 0).length} with actions`,
    );
    // Back: every component healthy again within its bound from the DB's return (+ RestartSec: systemd's next try).
    const bound = Math.max(...s.components.map((k) => s.bound(k))) + s.t.restartSec;
    let healthyAt: number | undefined;
    await s.c
      .waitFor(
        'every component healthy after the outage',
        () => {
          const ok = s.components.every((k) => s.c.healthyNodes(k).length >= 1);
          if (ok) healthyAt = Date.now();
          return ok;
        },
        s.patienceMs,
      )
      .catch(() => undefined);
    const took = healthyAt === undefined ? undefined : (healthyAt - backAt) / 1000;
    s.check(
      'every component healthy again after the DB is back',
      took !== undefined && took <= bound,
      `${secs(took)} after the DB was back ≤ ${secs(bound)}`,
      took,
      bound,
    );
    const after = eventsOf(s.c.timeline, 'command').filter((e) => e.t > backAt && e.phase === 'sent' && (e.action === 'start' || e.action === 'stop'));
    s.observe(
      after.length === 0
        ? 'after the outage: no watchdog command (systemd restarted what had exited)'
        : `after the outage: ${after.map((e) => `${e.action} ${e.unit ?? ''} on ${s.host(e.nodeId)} +${secs((e.t - backAt) / 1000)}`).join(', ')}`,
    );
    await s.steady();
  });
};

/** The active node freezes and SSM loses it; after the failover it comes back and its processes resume. */
const frozenNodeStep = async (s: Suite, on: Record<ComponentName, string>): Promise<Record<ComponentName, string>> => {
  let next = on;
  await s.step(
    'frozen node',
    'every component on the active node SIGSTOPped and its SSM agent ConnectionLost; back (SSM Online, SIGCONT) after the failover',
    async () => {
      const node = on.scheduler;
      const hit = s.components.filter((k) => on[k] === node);
      const pids = new Map(hit.map((k) => [k, s.c.mainPid(node, k)]));
      const jobs = new Map(hit.map((k) => [k, s.row(node, k)?.jobId]));
      const seen = s.c.maxJobId();
      const from = Date.now();
      s.c.offline(node);
      for (const k of hit) {
        s.c.hang(node, true, k);
        const f = s.c.lastFault();
        // Fencing first: the stop to a node SSM cannot reach ends only at its delivery timeout.
        if (f !== undefined) {
          s.c.amendFault(f, {
            recoveryExtraSeconds: s.t.commandTimeoutSeconds,
            recoveryExtraReason: "the fencing stop to a node SSM cannot reach waits for SSM's delivery timeout (commandTimeoutSeconds)",
          });
        }
      }
      for (const k of hit) await s.c.waitForReplacement(s.patienceMs, { component: k, holdMs: 0, seen });
      next = await s.steady();
      s.recoveries(from, 'failed over');
      for (const k of hit) s.check(`the ${NOUN[k]} moved to another node`, next[k] !== node, `${s.host(node)} → ${s.host(next[k])}`);
      // The node comes back: SSM first reaches it again, then its processes resume.
      const backAt = Date.now();
      s.c.online(node);
      for (const k of hit) s.c.unhang(node, k);
      const resumed = new Map<ComponentName, number>();
      const seenUntil = Date.now() + (s.t.staleAfterSeconds + 2 * s.t.checkIntervalSeconds) * 1000;
      await s.c
        .waitFor(
          'the resumed processes to be handled',
          () => {
            for (const k of hit) {
              const job = jobs.get(k);
              const r = job === undefined ? undefined : s.row(node, k);
              if (r?.jobId === job && r !== undefined && r.age <= s.c.component(k).staleAfterSeconds && !resumed.has(k)) resumed.set(k, Date.now());
            }
            return Date.now() > seenUntil;
          },
          (s.t.staleAfterSeconds + 3 * s.t.checkIntervalSeconds) * 1000,
        )
        .catch(() => undefined);
      next = await s.steady();
      for (const k of hit) {
        const pid = pids.get(k);
        const at = resumed.get(k);
        s.observe(
          `${NOUN[k]} job ${jobs.get(k)} on ${s.host(node)}: ${at === undefined ? 'never healthy again after SIGCONT' : `healthy again +${secs((at - backAt) / 1000)} after SIGCONT (a duplicate)`}; process ${pid} ${pid !== undefined && s.c.isAlive(pid) ? 'still alive' : 'gone'}`,
        );
        s.check(
          `the resumed ${NOUN[k]} does not stay`,
          pid === undefined || !s.c.isAlive(pid),
          `pid ${pid} ${pid !== undefined && s.c.isAlive(pid) ? 'alive' : 'stopped'}`,
        );
        s.check(`the new ${NOUN[k]} kept`, next[k] !== node, `active ${s.host(next[k])}`);
      }
      const windows = checkInvariants(s.c.timeline, s.invariantOptions).duplicateWindows.filter((w) => w.from >= backAt);
      const longest = Math.max(0, ...windows.map((w) => (w.to - w.from) / 1000));
      s.check(
        'duplicates after the comeback stopped within one tick plus a stop',
        longest <= s.duplicateBound,
        `${windows.length} window(s) with two healthy instances, longest ${secs(longest)} ≤ ${secs(s.duplicateBound)}`,
        longest,
        s.duplicateBound,
      );
    },
  );
  return next;
};

/** An operator starts the scheduler by hand on a standby. */
const duplicateStep = async (s: Suite, on: Record<ComponentName, string>): Promise<void> => {
  await s.step('duplicate', 'an operator runs "systemctl start airflow-scheduler" on a standby', async () => {
    const active = on.scheduler;
    // A node that never ran it has no permit guard yet (the drop-in the node script installs): there a
    // start by hand runs. On a guarded node without a permit, systemd skips it (checked too, if that is all there is).
    const guarded = (id: string): boolean => s.c.permitGuarded(id);
    const standbys = s.c.nodes.filter((n) => n.id !== active).map((n) => n.id);
    const standby = standbys.find((id) => !guarded(id)) ?? (standbys[0] as string);
    const guard = guarded(standby);
    const row = s.row(active, 'scheduler');
    const from = Date.now();
    s.c.startByHand(standby, 'scheduler');
    const f = s.c.lastFault();
    if (f !== undefined && row !== undefined) s.c.amendFault(f, { expectNoChange: true, activeJobs: { scheduler: { node: active, jobId: row.jobId } } });
    await s.c
      .waitFor('the duplicate to show', () => s.c.healthyNodes('scheduler').length >= 2, (s.a.launchSeconds + s.t.checkIntervalSeconds) * 1000)
      .catch(() => undefined);
    const seen = s.c.healthyNodes('scheduler').includes(standby);
    if (guard) {
      const running = s.c.mainPid(standby, 'scheduler') !== undefined;
      s.check(
        'the permit guard refused the start by hand',
        !running && !seen,
        `${s.host(standby)} has the permit drop-in and no permit: ${running ? 'it runs anyway' : 'systemd skipped the start'}`,
      );
    }
    await s.steady();
    const windows = checkInvariants(s.c.timeline, s.invariantOptions).duplicateWindows.filter((w) => w.from >= from && w.component === 'scheduler');
    const longest = Math.max(0, ...windows.map((w) => (w.to - w.from) / 1000));
    const stops = s.commands(from, 'scheduler', standby).filter((e) => e.action === 'stop');
    s.check(
      'the duplicate stopped within one tick plus a stop',
      longest <= s.duplicateBound && stops.length >= (seen ? 1 : 0),
      `${seen ? 'seen healthy' : 'never seen healthy'}; stop to ${s.host(standby)} ${stops[0] === undefined ? 'not sent' : `+${secs((stops[0].t - from) / 1000)}`}; duplicate window ${secs(longest)} ≤ ${secs(s.duplicateBound)}`,
      longest,
      s.duplicateBound,
    );
    const same = s.row(active, 'scheduler')?.jobId === row?.jobId;
    s.check(
      'the active scheduler kept',
      same && s.commands(from, 'scheduler', active).length === 0,
      `job ${row?.jobId} on ${s.host(active)} ${same ? 'still live' : 'replaced'}`,
    );
  });
};

/** The whole fault set, in order; returns nothing (the suite holds the results). */
const runFaultSet = async (s: Suite): Promise<void> => {
  let on = await bringUp(s);
  await crashStep(s, on, 'scheduler');
  on = await s.steady();
  await hangStep(s, on, 'scheduler');
  on = await s.steady();
  await stallStep(s, on);
  on = await s.steady();
  await dbOutageStep(s, on);
  on = await s.steady();
  on = await frozenNodeStep(s, on);
  await duplicateStep(s, on);
  on = await s.steady();
  if (s.components.includes('dagProcessor')) {
    await hangStep(s, on, 'dagProcessor');
    on = await s.steady();
  }
  if (s.components.includes('triggerer')) {
    await crashStep(s, on, 'triggerer');
    on = await s.steady();
  }
};

// ---- the run ---------------------------------------------------------------------------------

const nodeNames = (n: number, token: string): TimelineNode[] =>
  defaultNodes(n).map((x, i) => ({ id: x.id, hostname: `conformance-${String.fromCharCode(97 + i)}-${token}` }));

/** The whole conformance run: refuses early (ConformanceRefused) or returns the report. */
const runConformance = async (o: ConformanceOptions): Promise<ConformanceReport> => {
  const log = o.log ?? (() => {});
  const sim = o.airflow === 'sim';
  const timings = o.timings ?? (sim ? FAST_TIMINGS : PRODUCTION_TIMINGS);
  const allowances = sim ? SIM_ALLOWANCES(timings) : REAL_ALLOWANCES;
  const unit = o.unit ?? 'recommended';
  const started = Date.now();
  if (!sim && o.db === undefined)
    throw new ConformanceRefused('--db is required with real Airflow: mysql://user:pw@host:3306/db or postgres://user:pw@host:5432/db');
  let target: DbTarget | undefined;
  try {
    target = o.db === undefined ? undefined : parseDbUrl(o.db);
  } catch (err) {
    throw new ConformanceRefused((err as Error).message);
  }
  // 1. Airflow and its version.
  const argv = sim ? [] : o.airflow.trim().split(/\s+/);
  const version = sim ? `simulator, flavor ${o.simFlavor ?? '3.0'}` : await airflowVersion(argv, o.signal);
  const major = sim ? Number((o.simFlavor ?? '3.0').split('.')[0]) : Number(version.split('.')[0]);
  const others: OtherComponent[] = o.components === 'all' || ((o.components ?? 'auto') === 'auto' && major >= 3) ? ['dagProcessor', 'triggerer'] : [];
  log(`Airflow: ${sim ? 'the simulator' : argv.join(' ')} → ${version}; components: scheduler${others.map((k) => `, ${NOUN[k]}`).join('')}`);
  // 2. The database: Airflow's, reachable, and nobody else's right now.
  let info: Awaited<ReturnType<typeof attachAirflowDatabase>> | undefined;
  if (target !== undefined) {
    try {
      info = await attachAirflowDatabase(target);
    } catch (err) {
      if (err instanceof AttachError) throw new ConformanceRefused(err.message);
      throw err;
    }
    const foreign = await foreignLiveRows(target, timings.staleAfterSeconds);
    if (foreign.length > 0) {
      throw new ConformanceRefused(
        `another Airflow is heartbeating in ${target.database} (${foreign.slice(0, 4).join('; ')}): a conformance run needs the database to itself; stop it or wait ${timings.staleAfterSeconds} s after it stopped`,
      );
    }
    log(
      `DB: ${redact(o.db ?? '')}: alembic ${info.alembicRevision}${info.releaseHint === undefined ? '' : ` (${info.releaseHint})`}, ${info.tableCount} tables`,
    );
  }
  // 3. The cluster, with real Airflow (or the simulator) as every unit's process.
  const token = Math.random().toString(16).slice(2, 8);
  const nodes = nodeNames(o.nodes ?? 3, token);
  const ports = new Map<number, NodePorts>();
  for (let i = 0; i < nodes.length; i++) ports.set(i, { worker: await freePort(), trigger: await freePort() });
  const dags = o.dags ?? mkdtempSync(join(tmpdir(), 'airflow-conformance-dags-'));
  let cluster: LocalCluster | undefined;
  let stopped: Promise<number[]> | undefined;
  const stopCluster = async (): Promise<number[]> => {
    if (cluster === undefined) return [];
    const c = cluster;
    for (const w of c.watchdogs.values()) await w.stop();
    await c.stopUnits(); // clean exits: Airflow writes `success` for its rows
    await c.stop();
    return c.leftoverProcesses();
  };
  const stopAll = (): Promise<number[]> => {
    stopped ??= stopCluster();
    return stopped;
  };
  const onAbort = (): void => {
    log('interrupted: stopping every process this run started…');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const suiteChecks: CheckResult[] = [];
  let suite: Suite | undefined;
  let leftovers: number[] = [];
  let timeline: Timeline | undefined;
  try {
    cluster = await LocalCluster.start({
      ...(o.db === undefined ? {} : { db: o.db, attach: true }),
      nodes,
      components: others,
      unit,
      timings,
      sampleMs: sim ? 250 : 500,
      ...(sim ? {} : { cluster: { compressedTimings: false } }),
      ...(sim ? { sim: { SIM_FLAVOR: o.simFlavor ?? '3.0', SIM_ORPHANS: '2' } } : {}),
      ...(sim
        ? {}
        : {
            processCommand: (u: UnitContext) => airflowCommand(argv, u, ports.get(u.index) ?? { worker: 8793, trigger: 8794 }, timings, o, resolve(dags)),
          }),
      log: (line) => {
        if (/ERROR|invocation-error/.test(line)) log(`    ${line.slice(0, 300)}`);
      },
    });
    const c = cluster;
    if (sim) {
      // Each simulated scheduler and triggerer holds a log-server port of its node, as the real ones do.
      c.nodes.forEach((n, i) => {
        const p = ports.get(i);
        if (p === undefined) return;
        c.setUnitSim(n.id, 'scheduler', { SIM_LOG_SERVER_PORT: String(p.worker) });
        if (others.includes('triggerer')) c.setUnitSim(n.id, 'triggerer', { SIM_LOG_SERVER_PORT: String(p.trigger) });
      });
    }
    timeline = c.timeline;
    log(`Nodes: ${c.nodes.map((n) => `${n.hostname} (${n.id})`).join(', ')}`);
    const wd = c.startWatchdog('watchdog');
    await wd.ready;
    suite = new Suite(c, timings, allowances, log, o.signal);
    await runFaultSet(suite);
    // The whole run, every invariant at once.
    const whole = checkInvariants(c.timeline, suite.invariantOptions);
    const bad = whole.violations;
    suiteChecks.push({
      step: 'whole run',
      check: 'SPEC §10 invariants over the whole timeline',
      pass: bad.length === 0,
      detail:
        bad.length === 0
          ? `all hold (${whole.recoveries.length} recoveries measured, ${whole.noChangeChecked} must-change-nothing faults)`
          : formatReport(c.timeline, whole)
              .filter((l) => l.startsWith('VIOLATION'))
              .join('; '),
    });
  } catch (err) {
    if (o.signal?.aborted) {
      await stopAll().catch(() => []);
      throw err;
    }
    suiteChecks.push({ step: 'run', check: 'the run completed', pass: false, detail: (err as Error).stack ?? String(err) });
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    leftovers = await stopAll().catch((err: unknown) => {
      suiteChecks.push({ step: 'teardown', check: 'stopped', pass: false, detail: String(err) });
      return [];
    });
    if (o.dags === undefined) rmSync(dags, { recursive: true, force: true });
  }
  suiteChecks.push({
    step: 'teardown',
    check: 'every process it started is gone',
    pass: leftovers.length === 0,
    detail: leftovers.length === 0 ? 'none left' : `still alive: ${leftovers.join(', ')}`,
  });
  const checks = [...(suite?.checks ?? []), ...suiteChecks];
  const comps: ComponentName[] = ['scheduler', ...others];
  const inv = suite?.invariantOptions;
  const tl = timeline;
  const recovery = Object.fromEntries(comps.map((k) => [k, tl === undefined || inv === undefined ? Number.NaN : recoveryBound(tl, inv, k)]));
  const dup = timings.checkIntervalSeconds + allowances.stopSeconds + allowances.slackSeconds;
  const bounds = {
    recoverySeconds: recovery,
    duplicateSeconds: dup,
    text: [
      `recovery = staleAfterSeconds ${timings.staleAfterSeconds} + checkIntervalSeconds ${timings.checkIntervalSeconds} + start time ${allowances.stopSeconds + allowances.launchSeconds} (stop ${allowances.stopSeconds} + launch to row ${allowances.launchSeconds}) + liveness window ${LIVENESS_HEARTBEATS} × ${timings.heartbeatSec} + slack ${allowances.slackSeconds} = ${secs(recovery.scheduler)}`,
      'frozen node unreachable by SSM: + commandTimeoutSeconds (the fencing stop waits for its delivery timeout)',
      `DB outage: every component healthy within the recovery bound + RestartSec ${timings.restartSec} after the DB is back; no start or stop inside the outage after one tick (${timings.checkIntervalSeconds} s + 2 s)`,
      `duplicates: at most checkIntervalSeconds ${timings.checkIntervalSeconds} + stop ${allowances.stopSeconds} + slack ${allowances.slackSeconds} = ${secs(dup)}`,
      `stall: ${secs(0.4 * timings.staleAfterSeconds)} (0.4 × staleAfterSeconds), then staleAfterSeconds + checkIntervalSeconds watched: no start, no stop`,
    ],
  };
  const files: { timeline?: string; picture?: string; png?: string; report?: string } = {};
  const report: ConformanceReport = {
    airflow: { command: sim ? 'sim' : argv.join(' '), version, sim },
    db: {
      label: cluster?.dbLabel ?? (o.db === undefined ? 'PGlite' : redact(o.db)),
      ...(info === undefined ? {} : { alembicRevision: info.alembicRevision, ...(info.releaseHint === undefined ? {} : { releaseHint: info.releaseHint }) }),
    },
    components: comps,
    unit,
    timings,
    allowances,
    bounds,
    startedAt: new Date(started).toISOString(),
    wallSeconds: (Date.now() - started) / 1000,
    steps: suite?.steps ?? [],
    checks,
    ok: checks.length > 0 && checks.every((x) => x.pass),
    files,
    leftovers,
  };
  if (o.out !== undefined && tl !== undefined) {
    mkdirSync(o.out, { recursive: true });
    files.timeline = join(o.out, 'timeline.json');
    files.report = join(o.out, 'report.json');
    writeFileSync(files.timeline, JSON.stringify(tl));
    const pictures = writePictures(o.out, 'heartbeats', plotHeartbeats(tl, { title: `Conformance: Airflow ${version}, ${report.db.label}` }));
    files.picture = pictures.svg;
    files.png = pictures.png;
    writeFileSync(files.report, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
};

/** The report as text: header, bounds, one line per check, observations, the verdict. */
const formatConformanceReport = (r: ConformanceReport): string[] => {
  const t = r.timings;
  const lines = [
    `Conformance run: Airflow ${r.airflow.version}${r.airflow.sim ? '' : ` (${r.airflow.command})`} on ${r.db.label}${r.db.alembicRevision === undefined ? '' : ` (alembic ${r.db.alembicRevision}${r.db.releaseHint === undefined ? '' : `, ${r.db.releaseHint}`})`}`,
    `Started ${r.startedAt}; wall time ${Math.floor(r.wallSeconds / 60)} min ${Math.round(r.wallSeconds % 60)} s; components: ${r.components.map((k) => NOUN[k]).join(', ')}; unit: ${r.unit === 'recommended' ? `recommended (Restart=always, RestartSec=${t.restartSec} s, KillMode=control-group, TimeoutStopSec=${t.stopTimeoutSeconds} s)` : 'bare (Restart=no, KillMode=process)'}`,
    `Timings: heartbeat ${t.heartbeatSec} s, staleAfterSeconds ${t.staleAfterSeconds}, checkIntervalSeconds ${t.checkIntervalSeconds}, commandTimeoutSeconds ${t.commandTimeoutSeconds}, startupGraceSeconds ${t.startupGraceSeconds}, leaseSeconds ${t.leaseSeconds}`,
    'Bounds:',
    ...r.bounds.text.map((x) => `  ${x}`),
    'Steps:',
    ...r.steps.map((x) => `  ${x.name}: ${x.title} (${secs(x.seconds)})`),
    '',
  ];
  const w1 = Math.max(...r.checks.map((c) => c.step.length), 4);
  const w2 = Math.max(...r.checks.map((c) => c.check.length), 5);
  lines.push(`${'STEP'.padEnd(w1)}  ${'CHECK'.padEnd(w2)}  ${'MEASURED'.padStart(9)}  ${'BOUND'.padStart(9)}  RESULT`);
  for (const c of r.checks) {
    lines.push(
      `${c.step.padEnd(w1)}  ${c.check.padEnd(w2)}  ${secs(c.measured).padStart(9)}  ${secs(c.bound).padStart(9)}  ${c.pass ? 'PASS' : 'FAIL'}  ${c.detail}`,
    );
  }
  const seen = r.steps.filter((s) => s.observations.length > 0);
  if (seen.length > 0) {
    lines.push('', 'Observed:');
    for (const s of seen) for (const o of s.observations) lines.push(`  ${s.name}: ${o}`);
  }
  const failed = r.checks.filter((c) => !c.pass).length;
  lines.push('', `Result: ${failed === 0 ? 'PASS' : 'FAIL'}, ${r.checks.length - failed} of ${r.checks.length} checks passed`);
  if (r.files.report !== undefined) {
    lines.push(
      `Report: ${r.files.report}`,
      `Timeline: ${r.files.timeline}`,
      `Picture: ${r.files.picture}${r.files.png === undefined ? '' : ` (and ${r.files.png})`}`,
    );
  }
  return lines;
};

// ---- CLI -------------------------------------------------------------------------------------

const USAGE = `usage: npm run conformance -- --airflow <airflow executable or command | sim> [--db mysql://…|postgres://…]
         [--timings production|demo|fast] [--components auto|none|all] [--unit recommended|bare]
         [--flavor 2.5|2.8|3.0 (sim)] [--dags DIR] [--sqlalchemy-scheme SCHEME] [--nodes N] [--out DIR] [--json]
Exit 0: every check passed; 1: a check failed; 2: refused (arguments, Airflow, database).`;

const main = async (): Promise<number> => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        airflow: { type: 'string' },
        db: { type: 'string' },
        timings: { type: 'string' },
        components: { type: 'string' },
        unit: { type: 'string' },
        flavor: { type: 'string' },
        dags: { type: 'string' },
        'sqlalchemy-scheme': { type: 'string' },
        nodes: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const refuse = (msg: string): number => {
    process.stderr.write(`conformance: refused: ${msg}\n`);
    return 2;
  };
  const airflow = values.airflow as string | undefined;
  if (airflow === undefined || airflow.trim() === '') return refuse(`--airflow is required\n${USAGE}`);
  const timingsName = (values.timings as string | undefined) ?? (airflow === 'sim' ? 'fast' : 'production');
  const timings = TIMING_PRESETS[timingsName];
  if (timings === undefined) return refuse(`--timings must be production, demo or fast (got ${timingsName})`);
  const components = (values.components as string | undefined) ?? 'auto';
  if (!['auto', 'none', 'all'].includes(components)) return refuse('--components must be auto, none or all');
  const unit = (values.unit as string | undefined) ?? 'recommended';
  if (unit !== 'recommended' && unit !== 'bare') return refuse('--unit must be recommended or bare');
  const flavor = values.flavor as string | undefined;
  if (flavor !== undefined && !['2.5', '2.8', '3.0'].includes(flavor)) return refuse('--flavor must be 2.5, 2.8 or 3.0');
  const nodes = values.nodes === undefined ? 3 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 6) return refuse('--nodes must be 2 to 6');
  const out = resolve((values.out as string | undefined) ?? join('.local', 'conformance', airflow === 'sim' ? 'sim' : 'airflow'));
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runConformance({
      airflow,
      ...(values.db === undefined ? {} : { db: values.db as string }),
      timings,
      components: components as 'auto' | 'none' | 'all',
      unit,
      ...(flavor === undefined ? {} : { simFlavor: flavor as '2.5' | '2.8' | '3.0' }),
      ...(values.dags === undefined ? {} : { dags: resolve(values.dags as string) }),
      ...(values['sqlalchemy-scheme'] === undefined ? {} : { sqlalchemyScheme: values['sqlalchemy-scheme'] as string }),
      nodes,
      out,
      log: (line) => process.stderr.write(`${line}\n`),
      signal: controller.signal,
    });
    process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatConformanceReport(report).join('\n')}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof ConformanceRefused) return refuse(err.message);
    if (interrupted) {
      process.stderr.write('conformance: interrupted; every process it started was stopped\n');
      return 130;
    }
    process.stderr.write(`conformance: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`conformance: ${String(err)}\n`);
      process.exit(1);
    },
  );
}

export type { CheckResult, ConformanceOptions, ConformanceReport, StepResult };
export { ConformanceRefused, formatConformanceReport, PRODUCTION_TIMINGS, runConformance };
