import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DynamoRecordStore } from '../functions/adapters/record-store.js';
import { type ComponentName, NOUN, type OtherComponent } from '../functions/core/components.js';
import { type ClusterConfigInput, componentsOf, parseSettings, type WatchdogSettingsInput } from '../functions/core/config.js';
import type { StoredRecord } from '../functions/core/model.js';
import { readNodeScript } from '../infra/lib/node-script.js';
import { buildCommandDocuments, type NodeAction } from '../infra/lib/ssm-documents.js';
import { type DynaliteHandle, startDynalite } from './dynalite.js';
import { buildSimScheduler, repoRoot } from './build.js';
import {
  type AirflowDbInfo,
  attachAirflowDatabase,
  type DbBackend,
  type DbTarget,
  openSql,
  parseDbUrl,
  prepareAirflowDatabase,
  type SqlClient,
  sampleLiveRows,
  startPglite,
  TcpProxy,
  urlOf,
  watchdogDbConfig,
} from './db.js';
import { type Ec2Endpoint, startEc2Endpoint } from './ec2-endpoint.js';
import { type EndpointFaults, type SsmEndpoint, type SsmEvent, startSsmEndpoint } from './ssm-endpoint.js';
import type { EventOf, FaultKind, Timeline, TimelineComponent, TimelineConfig, TimelineEvent, TimelineNode } from './timeline.js';
import { componentOfUnit, eventsOf, healthyHosts, newestPerHost, timelineComponent, timelineComponents } from './timeline.js';

/**
 * A local cluster (SPEC §9): the metadata DB (PGlite or a real server), dynalite as DynamoDB, the local
 * SSM endpoint running the project's own SSM documents on N simulated nodes (each with a working
 * directory, a PATH-shimmed `systemctl` (node/testing/fake-systemctl) and the scheduler simulator as
 * the unit's process), and watchdogs: local runners (local/runner.ts) running the real Lambda handler
 * as child processes. Everything is recorded on a timeline (local/timeline.ts); faults are injected
 * through the methods below. `stop()` leaves no process behind; the simulated schedulers and runners
 * also exit on their own when this process disappears (owner-pid checks, stdin closing).
 *
 * Components (Airflow 3): with `components`, every node can also run `airflow-dag-processor` and
 * `airflow-triggerer`, each its own unit (the fake systemctl's FAKE_SYSTEMCTL_EXEC_<unit>) with its own
 * simulator process (SIM_JOB_TYPE) and rows, and the watchdog supervises them (`cluster.components`).
 * Fault methods take the component they hit (default the scheduler). `processCommand` replaces the
 * simulator by any command line (the conformance run starts real Airflow there), and `attach` uses an
 * existing Airflow database as it is.
 */

interface Timings {
  /** scheduler_heartbeat_sec of the simulated schedulers. */
  readonly heartbeatSec: number;
  readonly staleAfterSeconds: number;
  readonly checkIntervalSeconds: number;
  readonly commandTimeoutSeconds: number;
  readonly startupGraceSeconds: number;
  readonly leaseSeconds: number;
  /** systemd's TimeoutStopSec on the nodes (whole seconds): SIGTERM → SIGKILL. */
  readonly stopTimeoutSeconds: number;
  /** Simulated import time before a scheduler inserts its row. */
  readonly simStartDelaySec: number;
  /**
   * systemd's RestartSec of the recommended unit on the nodes (fractions allowed). Production pairs
   * RestartSec=5 with staleAfterSeconds 30: about staleAfterSeconds / 6, kept so here.
   */
  readonly restartSec: number;
}

const DEMO_TIMINGS: Timings = {
  heartbeatSec: 1,
  staleAfterSeconds: 5,
  checkIntervalSeconds: 1,
  commandTimeoutSeconds: 8,
  startupGraceSeconds: 8,
  leaseSeconds: 23,
  stopTimeoutSeconds: 2,
  simStartDelaySec: 0.2,
  restartSec: 0.8,
};

/**
 * Heartbeat 0.5 s, staleAfterSeconds 3, one tick per second: recovery in a few seconds, yet generous
 * enough not to flake on a loaded two-core machine (end-to-end tests, soak, recovery benchmark).
 */
const FAST_TIMINGS: Timings = {
  heartbeatSec: 0.5,
  staleAfterSeconds: 3,
  checkIntervalSeconds: 1,
  commandTimeoutSeconds: 6,
  startupGraceSeconds: 6,
  leaseSeconds: 21,
  stopTimeoutSeconds: 1,
  simStartDelaySec: 0.1,
  restartSec: 0.5,
};

/** What a unit's command line is built from (ClusterOptions.processCommand). */
interface UnitContext {
  readonly node: TimelineNode;
  /** The node's position in the node list (0, 1, …). */
  readonly index: number;
  /** The node's working directory (the command may keep its files under it). */
  readonly dir: string;
  readonly component: ComponentName;
  readonly unit: string;
  readonly jobType: string;
  /** The metadata DB as this node reaches it: through its own proxy (so the cluster's faults reach it). */
  readonly db: DbTarget;
  /** `postgres://…` / `mysql://…` of `db`. */
  readonly dbUrl: string;
}

interface ClusterOptions {
  /** mysql://… or postgres://… ; default: embedded PGlite. */
  readonly db?: string;
  /**
   * Use the database named by `db` as it is: an existing Airflow metadata database (migrated by `airflow
   * db migrate`), checked to hold Airflow's schema and then never created, altered or dropped (the
   * conformance run). Without it, the harness creates its own database and refuses one it did not create.
   */
  readonly attach?: boolean;
  /**
   * Airflow 3 components run besides the scheduler: their units on every node (or `cluster.components.X.nodes`),
   * their simulators (SIM_JOB_TYPE) and the watchdog's `cluster.components`. Default none: a scheduler-only cluster.
   */
  readonly components?: readonly OtherComponent[];
  /**
   * The command line (run with `bash -c` by the fake systemd as the unit's main process) of each unit on
   * each node, instead of the simulator: e.g. a real `airflow scheduler`. Its environment is the node's.
   */
  readonly processCommand?: (unit: UnitContext) => string;
  /** Database name on a real server (each test file its own); overrides the URL's. */
  readonly database?: string;
  /**
   * Drop and recreate that database even if this harness did not create it (tests that own their
   * database names). Without it, a database holding other tables is refused, never dropped.
   */
  readonly resetDatabase?: boolean;
  readonly nodes?: readonly TimelineNode[] | number;
  readonly timings?: Partial<Timings>;
  /** More cluster configuration (banAfterFailures, mode, …). */
  readonly cluster?: Partial<ClusterConfigInput>;
  /** Extra SIM_* environment of every node's scheduler (flavor, lag, orphans…). */
  readonly sim?: Readonly<Record<string, string>>;
  /**
   * The nodes' systemd unit: `recommended` (the README's: Restart=always, RestartSec = timings.restartSec,
   * KillMode=control-group) or `bare` (Restart=no, KillMode=process: crash orphans stay, the unit goes failed).
   * @default 'recommended'
   */
  readonly unit?: 'recommended' | 'bare';
  readonly clusterName?: string;
  /** Sampling period of the ground-truth reader. */
  readonly sampleMs?: number;
  /** Keep the working directory after stop (for debugging). */
  readonly keepDir?: boolean;
  /** Called for every timeline event as it is recorded (the demo prints from here). */
  readonly onEvent?: (e: TimelineEvent) => void;
  /** Runner stderr and other diagnostics. */
  readonly log?: (line: string) => void;
}

interface SimNodeHandle extends TimelineNode {
  readonly dir: string;
  env: Record<string, string>;
  readonly proxy: TcpProxy;
  /** Environment of one unit only (setUnitSim), on top of `env`. */
  readonly unitEnv: Partial<Record<ComponentName, Record<string, string>>>;
}

interface WatchdogProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  invoke(payload: unknown, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

const UNIT = 'airflow-scheduler';

/** The fake systemctl's variable for one unit's command line (node/testing/fake-systemctl). */
const execVariable = (unit: string): string => `FAKE_SYSTEMCTL_EXEC_${unit.replace(/[^A-Za-z0-9_]/g, '_')}`;

const shellQuote = (v: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`);
const DOC_NAMES: Record<NodeAction, string> = {
  start: 'Local-AirflowScheduler-Start',
  stop: 'Local-AirflowScheduler-Stop',
  status: 'Local-AirflowScheduler-Status',
};
const ACTION_OF_DOC: Record<string, NodeAction> = Object.fromEntries(Object.entries(DOC_NAMES).map(([a, d]) => [d, a as NodeAction]));

const defaultNodes = (n: number): TimelineNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `i-${(i + 1).toString(16).padStart(17, '0')}`, hostname: `airflow-${String.fromCharCode(97 + i)}.local` }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const lastJsonLine = (s: string): Record<string, unknown> | undefined => {
  const lines = s.split('\n').filter((l) => l.trim().startsWith('{'));
  try {
    return JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** The process exists and is not a zombie waiting to be reaped. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
};

/** Field of /proc/<pid>/stat after the command (0 = state), or undefined when the process is gone. */
const statFields = (pid: number): string[] | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
};

const livePids = (): number[] =>
  readdirSync('/proc')
    .filter((d) => /^[0-9]+$/.test(d))
    .map(Number)
    .filter((p) => p !== process.pid);

/** Live (non-zombie) processes whose session is one of `sessions` (a unit's cgroup, as the fake systemd models it). */
const sessionMembers = (sessions: ReadonlySet<number>): number[] => {
  if (sessions.size === 0) return [];
  return livePids().filter((p) => {
    const f = statFields(p);
    return f !== undefined && f[0] !== 'Z' && f[0] !== 'X' && sessions.has(Number(f[3]));
  });
};

/** Live processes whose environment holds `LOCAL_CLUSTER_RUN=<token>`: everything a node started, at any depth. */
const processesWithToken = (token: string): number[] => {
  const needle = Buffer.from(`\0LOCAL_CLUSTER_RUN=${token}\0`);
  return livePids().filter((p) => {
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${p}/environ`);
    } catch {
      return false;
    }
    const f = statFields(p);
    return f !== undefined && f[0] !== 'Z' && f[0] !== 'X' && Buffer.concat([Buffer.from([0]), env]).includes(needle);
  });
};

class LocalCluster {
  readonly timeline: Timeline;
  readonly nodes: SimNodeHandle[];
  readonly settings: WatchdogSettingsInput;
  readonly timings: Timings;
  readonly dbLabel: string;
  readonly watchdogs = new Map<string, WatchdogProcess>();
  /** The attached Airflow database's schema revision (`attach` only). */
  airflowDb: AirflowDbInfo | undefined;
  /** Every supervised component, the scheduler first, with its unit and job type. */
  readonly components: readonly TimelineComponent[];
  /** A token in every node process's environment (LOCAL_CLUSTER_RUN), to find whatever they left. */
  readonly runToken: string;
  #simPids = new Set<number>();
  #unitPids = new Map<string, number | null>();
  #simPath = '';
  #simOffsets = new Map<string, number>();
  #sampler: NodeJS.Timeout | undefined;
  #sampling = false;
  #stopped = false;
  #lastRecordVersion = -1;
  #manualSeq = 0;
  #hung = new Map<string, number>();
  /** The harness's own view of the record (sampler, soak), past the watchdogs' DynamoDB proxy. */
  readonly #store: DynamoRecordStore;

  private constructor(
    private readonly opts: ClusterOptions,
    readonly root: string,
    readonly backend: DbBackend | undefined,
    readonly target: DbTarget,
    private readonly sampler: SqlClient,
    readonly watchdogProxy: TcpProxy,
    readonly dynamo: DynaliteHandle,
    readonly dynamoProxy: TcpProxy,
    readonly ssm: SsmEndpoint,
    /** The local EC2 endpoint: the power fence (fenceUnreachable `ec2-stop`) powers a node off through it. */
    readonly ec2: Ec2Endpoint,
    nodes: SimNodeHandle[],
    settings: WatchdogSettingsInput,
    timings: Timings,
    timelineConfig: TimelineConfig,
  ) {
    this.#store = new DynamoRecordStore({ client: dynamo.client, tableName: dynamo.tableName });
    this.nodes = nodes;
    this.settings = settings;
    this.timings = timings;
    this.timeline = { config: timelineConfig, startedAt: Date.now(), events: [] };
    this.components = timelineComponents(timelineConfig);
    this.runToken = root.split('/').pop() ?? root;
    this.dbLabel = backend?.label ?? `${target.dialect === 'mysql' ? 'MySQL/MariaDB' : 'PostgreSQL'} at ${target.host}:${target.port}/${target.database}`;
  }

  static async start(opts: ClusterOptions = {}): Promise<LocalCluster> {
    const timings: Timings = { ...DEMO_TIMINGS, ...opts.timings };
    const nodesSpec = typeof opts.nodes === 'number' || opts.nodes === undefined ? defaultNodes(typeof opts.nodes === 'number' ? opts.nodes : 3) : opts.nodes;
    const clusterName = opts.clusterName ?? 'local';
    const root = mkdtempSync(join(tmpdir(), 'airflow-watchdog-local-'));
    const cleanups: (() => Promise<void> | void)[] = [() => rmSync(root, { recursive: true, force: true })];
    const undo = async (): Promise<void> => {
      for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
    };
    try {
      const simPath = await buildSimScheduler();
      let backend: DbBackend | undefined;
      let target: DbTarget;
      if (opts.db === undefined) {
        backend = await startPglite();
        cleanups.push(() => backend?.close());
        target = backend.target;
      } else {
        const parsed = parseDbUrl(opts.db);
        target = opts.database === undefined ? parsed : { ...parsed, database: opts.database };
      }
      let airflowDb: AirflowDbInfo | undefined;
      if (opts.attach === true) {
        if (backend !== undefined) throw new Error('attach: needs a database URL (db), not the embedded PGlite');
        airflowDb = await attachAirflowDatabase(target);
      } else {
        await prepareAirflowDatabase(target, { embedded: backend !== undefined, reset: opts.resetDatabase === true });
      }
      const sampler = await openSql(target);
      cleanups.push(() => sampler.close());
      const watchdogProxy = new TcpProxy('watchdog', target);
      await watchdogProxy.listen();
      cleanups.push(() => watchdogProxy.close());
      const dynamo = await startDynalite({ tableName: 'airflow-watchdog-local' });
      cleanups.push(() => dynamo.close());
      // The watchdogs reach dynalite through a proxy (a DynamoDB outage cuts it); the sampler goes direct.
      const dynamoProxy = new TcpProxy('dynamodb', { host: '127.0.0.1', port: Number(new URL(dynamo.endpoint).port) });
      await dynamoProxy.listen();
      cleanups.push(() => dynamoProxy.close());

      const { components: extraComponents, ...extraCluster } = opts.cluster ?? {};
      const wanted = opts.components ?? [];
      const components: NonNullable<ClusterConfigInput['components']> = {
        ...(extraComponents?.scheduler === undefined ? {} : { scheduler: extraComponents.scheduler }),
      };
      for (const name of wanted) {
        // The same compressed timings as the scheduler's, unless the caller says otherwise.
        components[name] = {
          staleAfterSeconds: timings.staleAfterSeconds,
          heartbeatSeconds: timings.heartbeatSec,
          startupGraceSeconds: timings.startupGraceSeconds,
          ...extraComponents?.[name],
        };
      }
      const cluster: ClusterConfigInput = {
        clusterName,
        nodes: nodesSpec.map((n) => ({ id: n.id, hostname: n.hostname })),
        staleAfterSeconds: timings.staleAfterSeconds,
        heartbeatSeconds: timings.heartbeatSec,
        checkIntervalSeconds: timings.checkIntervalSeconds,
        commandTimeoutSeconds: timings.commandTimeoutSeconds,
        startupGraceSeconds: timings.startupGraceSeconds,
        leaseSeconds: timings.leaseSeconds,
        compressedTimings: true,
        ...extraCluster,
        ...(Object.keys(components).length === 0 ? {} : { components }),
      };
      const settingsInput: WatchdogSettingsInput = {
        cluster,
        db: watchdogDbConfig(target, watchdogProxy.port),
        aws: { tableName: dynamo.tableName, startDocument: DOC_NAMES.start, stopDocument: DOC_NAMES.stop, statusDocument: DOC_NAMES.status, unitName: UNIT },
      };
      const settings = parseSettings(settingsInput); // fails early, naming the field
      const specs = componentsOf(settings.cluster);
      const runToken = root.split('/').pop() ?? root;

      const bin = join(root, 'bin');
      mkdirSync(bin);
      symlinkSync(join(repoRoot, 'node', 'testing', 'fake-systemctl'), join(bin, 'systemctl'));
      const nodes: SimNodeHandle[] = [];
      for (const n of nodesSpec) {
        const dir = join(root, 'nodes', n.id);
        mkdirSync(join(dir, 'state'), { recursive: true });
        const proxy = new TcpProxy(n.id, target);
        await proxy.listen();
        cleanups.push(() => proxy.close());
        const env: Record<string, string> = {
          PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          HOME: dir,
          LANG: 'C.UTF-8',
          FAKE_SYSTEMCTL_DIR: join(dir, 'systemd'),
          FAKE_SYSTEMCTL_EXEC: `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(simPath)}`,
          LOCAL_CLUSTER_RUN: runToken,
          FAKE_SYSTEMCTL_STOP_TIMEOUT: String(Math.max(1, Math.round(timings.stopTimeoutSeconds))),
          ...(opts.unit === 'bare'
            ? { FAKE_SYSTEMCTL_RESTART: 'no', FAKE_SYSTEMCTL_KILL_MODE: 'process' }
            : {
                FAKE_SYSTEMCTL_RESTART: 'always',
                FAKE_SYSTEMCTL_KILL_MODE: 'control-group',
                FAKE_SYSTEMCTL_RESTART_SEC: String(Math.max(0, Math.round(timings.restartSec * 1000) / 1000)),
              }),
          WATCHDOG_STATE_DIR: join(dir, 'state'),
          // The node's /run (permits; fake-reboot clears it), its /etc/systemd/system (the permit drop-in,
          // which the fake systemctl reads) and the fake's cgroup tree (process counts).
          WATCHDOG_RUN_DIR: join(dir, 'run'),
          WATCHDOG_SYSTEMD_DIR: join(dir, 'etc-systemd'),
          WATCHDOG_CGROUP_ROOT: join(dir, 'systemd', 'cgroup'),
          WATCHDOG_STOP_TIMEOUT_SECONDS: String(Math.max(1, Math.round(timings.stopTimeoutSeconds)) + 2),
          WATCHDOG_START_TIMEOUT_SECONDS: '10',
          WATCHDOG_LOCK_TIMEOUT_SECONDS: String(Math.max(1, Math.floor(timings.commandTimeoutSeconds / 2))),
          WATCHDOG_KILL_WAIT_SECONDS: '2',
          WATCHDOG_HOSTNAME_OVERRIDE: n.hostname,
          SIM_DB_URL: urlOf(target, proxy.port),
          SIM_HOSTNAME: n.hostname,
          SIM_CLOCK_FILE: join(dir, 'clock-offset'),
          SIM_HEARTBEAT_SEC: String(timings.heartbeatSec),
          SIM_HEALTH_THRESHOLD_SEC: String(timings.staleAfterSeconds),
          // Airflow's orphan check runs every 300 s at a 5 s heartbeat: keep that ratio under compressed time.
          SIM_ORPHAN_CHECK_SEC: String(timings.heartbeatSec * 60),
          SIM_START_DELAY_SEC: String(timings.simStartDelaySec),
          SIM_EVENTS_FILE: join(dir, 'sim-events.jsonl'),
          SIM_OWNER_PID: String(process.pid),
          ...opts.sim,
        };
        nodes.push({ ...n, dir, env, proxy, unitEnv: {} });
      }
      const docs = buildCommandDocuments({ script: readNodeScript(), executionTimeoutSeconds: Math.max(1, Math.ceil(timings.commandTimeoutSeconds)) });
      // Filled in right after construction; events only flow once commands are sent.
      let self: LocalCluster | undefined;
      const ssm = await startSsmEndpoint({
        nodes: nodes.map((n) => ({ id: n.id, hostname: n.hostname, dir: n.dir, env: n.env })),
        documents: { [DOC_NAMES.start]: docs.start, [DOC_NAMES.stop]: docs.stop, [DOC_NAMES.status]: docs.status },
        onEvent: (e) => self?.onSsmEvent(e),
      });
      cleanups.push(() => ssm.close());
      const ec2 = await startEc2Endpoint({ instanceIds: nodes.map((n) => n.id), onStop: (id, force) => self?.powerOff(id, force) });
      cleanups.push(() => ec2.close());
      const tlComponents: TimelineComponent[] = specs.map((k) => ({
        name: k.name,
        jobType: k.jobType,
        unitName: k.unitName,
        mode: k.mode,
        desired: k.desired,
        staleAfterSeconds: k.staleAfterSeconds,
        heartbeatSeconds: k.heartbeatSeconds,
        nodes: k.nodes.map((n) => ({ id: n.id, hostname: n.hostname })),
      }));
      const tlConfig: TimelineConfig = {
        mode: settings.cluster.mode,
        desiredSchedulers: settings.cluster.desiredSchedulers,
        staleAfterSeconds: settings.cluster.staleAfterSeconds,
        checkIntervalSeconds: settings.cluster.checkIntervalSeconds,
        commandTimeoutSeconds: settings.cluster.commandTimeoutSeconds,
        startupGraceSeconds: settings.cluster.startupGraceSeconds,
        leaseSeconds: settings.cluster.leaseSeconds,
        heartbeatSeconds: settings.cluster.heartbeatSeconds,
        nodes: nodesSpec.map((n) => ({ id: n.id, hostname: n.hostname })),
        // A scheduler-only cluster's timeline stays as it was (the scheduler is read from the fields above).
        ...(tlComponents.length > 1 || settings.cluster.components?.scheduler !== undefined ? { components: tlComponents } : {}),
      };
      self = new LocalCluster(opts, root, backend, target, sampler, watchdogProxy, dynamo, dynamoProxy, ssm, ec2, nodes, settingsInput, timings, tlConfig);
      self.airflowDb = airflowDb;
      self.#simPath = simPath;
      for (const n of nodes) self.#writeUnitExecs(n);
      self.#startSampler();
      return self;
    } catch (err) {
      await undo();
      throw err;
    }
  }

  // ---- recording ----------------------------------------------------------------------------

  record(e: TimelineEvent): void {
    this.timeline.events.push(e);
    this.opts.onEvent?.(e);
  }

  note(text: string): void {
    this.record({ t: Date.now(), type: 'note', text });
  }

  // ---- units --------------------------------------------------------------------------------

  /** A supervised component (the scheduler when not given). */
  component(name: ComponentName = 'scheduler'): TimelineComponent {
    const k = this.components.find((c) => c.name === name);
    if (k === undefined) throw new Error(`this cluster does not run the ${NOUN[name]} (ClusterOptions.components)`);
    return k;
  }

  /** The systemd unit of a component on the nodes. */
  unitOf(name: ComponentName = 'scheduler'): string {
    return this.component(name).unitName;
  }

  /** What a unit's command line is built from. */
  unitContext(n: SimNodeHandle, name: ComponentName): UnitContext {
    const k = this.component(name);
    return {
      node: { id: n.id, hostname: n.hostname },
      index: this.nodes.indexOf(n),
      dir: n.dir,
      component: name,
      unit: k.unitName,
      jobType: k.jobType,
      db: { ...this.target, host: '127.0.0.1', port: n.proxy.port },
      dbUrl: urlOf(this.target, n.proxy.port),
    };
  }

  /**
   * Sets each unit's command line on a node (FAKE_SYSTEMCTL_EXEC_<unit>): the simulator with its job type
   * (or `processCommand`'s), preceded by the unit's own environment (setUnitSim). The scheduler's unit of a
   * scheduler-only cluster keeps the generic FAKE_SYSTEMCTL_EXEC, as before components.
   */
  #writeUnitExecs(n: SimNodeHandle): void {
    for (const k of this.components) {
      const own = { ...(k.name === 'scheduler' || this.opts.processCommand !== undefined ? {} : { SIM_JOB_TYPE: k.jobType }), ...n.unitEnv[k.name] };
      const assignments = Object.entries(own).map(([key, v]) => `${key}=${shellQuote(v)} `);
      const variable = execVariable(k.unitName);
      if (this.opts.processCommand !== undefined) {
        n.env[variable] = `${assignments.join('')}${this.opts.processCommand(this.unitContext(n, k.name))}`;
      } else if (assignments.length === 0 && k.unitName === UNIT) {
        delete n.env[variable];
      } else {
        n.env[variable] = `${assignments.join('')}exec ${shellQuote(process.execPath)} ${shellQuote(this.#simPath)}`;
      }
    }
    this.ssm.node(n.id).spec.env = n.env;
  }

  /**
   * Environment changes of one unit's future starts on a node (e.g. SIM_FAIL_AT_START for the
   * dag-processor only); `setNodeSim` changes every unit's.
   */
  setUnitSim(nodeId: string, component: ComponentName, patch: Readonly<Record<string, string | undefined>>, detail?: string): void {
    const n = this.node(nodeId);
    const own = { ...n.unitEnv[component] };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete own[k];
      else own[k] = v;
    }
    n.unitEnv[component] = own;
    this.#writeUnitExecs(n);
    if (detail !== undefined) this.fault('flapping', detail, nodeId, undefined, [component]);
  }

  /** Stops every component's unit on every node (`systemctl stop`: SIGTERM, clean exits), in parallel. */
  async stopUnits(): Promise<void> {
    await Promise.all(
      this.nodes.flatMap((n) =>
        this.components.map(
          (k) =>
            new Promise<void>((resolve) => {
              const child = spawn(join(this.root, 'bin', 'systemctl'), ['stop', k.unitName], { cwd: n.dir, env: n.env, stdio: 'ignore' });
              const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
              child.on('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.on('error', () => resolve());
            }),
        ),
      ),
    );
  }

  private onSsmEvent(e: SsmEvent): void {
    if (e.type !== 'command') return;
    const epochText = e.parameters.Epoch;
    const report = e.phase === 'finished' ? lastJsonLine(e.stdoutTail ?? '') : undefined;
    const unit = e.parameters.UnitName;
    const component = componentOfUnit(this.timeline.config, unit);
    this.record({
      t: e.t,
      type: 'command',
      phase: e.phase,
      commandId: e.commandId,
      nodeId: e.nodeId,
      document: e.document,
      action: ACTION_OF_DOC[e.document] ?? e.document,
      ...(unit === undefined ? {} : { unit }),
      ...(component === 'scheduler' ? {} : { component }),
      epoch: epochText === undefined ? null : Number(epochText),
      status: e.status,
      statusDetails: e.statusDetails,
      ...(e.responseCode === undefined ? {} : { responseCode: e.responseCode }),
      ...(typeof report?.result === 'string' ? { result: report.result } : {}),
    });
  }

  #startSampler(): void {
    const period = this.opts.sampleMs ?? 250;
    const store = this.#store;
    const clusterName = String(this.settings.cluster.clusterName);
    const tick = async (): Promise<void> => {
      if (this.#sampling || this.#stopped) return;
      this.#sampling = true;
      try {
        this.#readSimEvents();
        this.#watchUnits();
        const t = Date.now();
        try {
          const rows = await sampleLiveRows(this.sampler, this.target.dialect);
          this.record({ t, type: 'sample', rows });
        } catch (err) {
          this.record({ t, type: 'sample', rows: [], error: (err as Error).message });
        }
        try {
          const rec = await store.read(clusterName);
          if (rec.version !== this.#lastRecordVersion) {
            this.#lastRecordVersion = rec.version;
            const others = Object.entries(rec.components ?? {}).filter(([, c]) => c !== undefined);
            this.record({
              t: Date.now(),
              type: 'record',
              version: rec.version,
              epoch: rec.epoch,
              active: rec.active,
              paused: rec.paused !== undefined,
              ...(others.length === 0 ? {} : { components: Object.fromEntries(others.map(([name, c]) => [name, { epoch: c!.epoch, active: c!.active }])) }),
            });
          }
        } catch {
          // dynalite is in this process; a failed read is only a missed sample
        }
      } finally {
        this.#sampling = false;
      }
    };
    this.#sampler = setInterval(() => void tick(), period);
  }

  /** Records each unit's main process when it changes (real Airflow writes no simulator events). */
  #watchUnits(): void {
    for (const n of this.nodes) {
      for (const k of this.components) {
        const key = `${n.id} ${k.name}`;
        const pid = this.mainPid(n.id, k.name) ?? null;
        const previous = this.#unitPids.get(key) ?? null;
        if (pid === previous) continue;
        this.#unitPids.set(key, pid);
        if (pid !== null) this.#simPids.add(pid);
        this.record({ t: Date.now(), type: 'unit', node: n.id, component: k.name, pid, previous });
      }
    }
  }

  #readSimEvents(): void {
    for (const n of this.nodes) {
      const file = n.env.SIM_EVENTS_FILE ?? join(n.dir, 'sim-events.jsonl');
      if (!existsSync(file)) continue;
      const size = statSync(file).size;
      const from = this.#simOffsets.get(n.id) ?? 0;
      if (size <= from) continue;
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      closeSync(fd);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n');
      if (end < 0) continue;
      this.#simOffsets.set(n.id, from + Buffer.byteLength(text.slice(0, end + 1)));
      for (const line of text.slice(0, end).split('\n')) {
        try {
          const e = JSON.parse(line) as { t: number; pid: number; event: string; jobType?: string; jobId?: number; childPid?: number };
          this.#simPids.add(e.pid);
          if (e.childPid !== undefined) this.#simPids.add(e.childPid);
          if (e.event === 'beat') continue; // the samples carry the heartbeats
          this.record({
            t: e.t,
            type: 'sim',
            node: n.id,
            pid: e.pid,
            event: e.event,
            ...(e.jobType === undefined || e.jobType === 'SchedulerJob' ? {} : { jobType: e.jobType }),
            ...(e.jobId === undefined ? {} : { jobId: e.jobId }),
            ...(e.childPid === undefined ? {} : { childPid: e.childPid }),
          });
        } catch {
          // partial line
        }
      }
    }
  }

  // ---- watchdogs ----------------------------------------------------------------------------

  /** Environment of a local runner: the function's configuration and the SDK's endpoint variables. */
  runnerEnv(name: string, settings: WatchdogSettingsInput = this.settings): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_OPTIONS: process.env.NODE_OPTIONS,
      WATCHDOG_CONFIG: JSON.stringify(settings),
      AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${this.dynamoProxy.port}`,
      AWS_ENDPOINT_URL_SSM: this.ssm.url,
      AWS_ENDPOINT_URL_EC2: this.ec2.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_SERVICE_NAME: 'airflow-scheduler-watchdog',
      POWERTOOLS_METRICS_NAMESPACE: 'AirflowSchedulerWatchdog',
      RUNNER_NAME: name,
      RUNNER_OWNER_PID: String(process.pid),
    };
  }

  /**
   * Starts a watchdog: a local runner process with the real handler. `schedule: false` starts it idle
   * (manual invocations only); `every` sends reconcile payloads instead of scheduled events.
   */
  startWatchdog(
    name = `watchdog-${this.watchdogs.size + 1}`,
    opts: { schedule?: boolean; every?: number; settings?: WatchdogSettingsInput } = {},
  ): WatchdogProcess {
    const args = ['--import', 'tsx', join(repoRoot, 'local', 'runner.ts')];
    if (opts.schedule === false) args.push('--no-schedule');
    if (opts.every !== undefined) args.push('--every', String(opts.every));
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: this.runnerEnv(name, opts.settings), stdio: ['pipe', 'pipe', 'pipe'] });
    const waiting = new Map<string, (r: Record<string, unknown>) => void>();
    let markReady: () => void = () => {};
    let failReady: (e: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.#onRunnerLine(name, line, waiting, markReady));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (!line.includes('NodeVersionSupportWarning') && line.trim() !== '') this.opts.log?.(`[${name}] ${line}`);
    });
    child.on('exit', (code, signal) => {
      failReady(new Error(`watchdog ${name} exited (${code ?? signal}) before it was ready`));
      if (!this.#stopped) this.note(`watchdog ${name} exited (${code ?? signal})`);
    });
    const wd: WatchdogProcess = {
      name,
      child,
      ready,
      invoke: async (payload, timeoutMs = 60_000) => {
        await ready;
        const id = `m${++this.#manualSeq}`;
        const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiting.delete(id);
            reject(new Error(`watchdog ${name}: no answer to ${JSON.stringify(payload)} within ${timeoutMs} ms`));
          }, timeoutMs);
          waiting.set(id, (r) => {
            clearTimeout(timer);
            resolve(r);
          });
        });
        child.stdin!.write(`${JSON.stringify({ id, payload })}\n`);
        return answer;
      },
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      },
    };
    this.watchdogs.set(name, wd);
    return wd;
  }

  #onRunnerLine(name: string, line: string, waiting: Map<string, (r: Record<string, unknown>) => void>, markReady: () => void): void {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (line.trim() !== '') this.opts.log?.(`[${name}] ${line}`);
      return;
    }
    if (obj.runner === 'ready') {
      markReady();
      return;
    }
    if (obj.runner === 'response') {
      const cb = waiting.get(String(obj.id));
      waiting.delete(String(obj.id));
      cb?.((obj.response ?? {}) as Record<string, unknown>);
      return;
    }
    if (obj.message === 'tick') {
      const t = typeof obj.timestamp === 'string' ? Date.parse(obj.timestamp) : Date.now();
      this.record({
        t,
        type: 'tick',
        watchdog: name,
        verdict: String(obj.verdict),
        disposition: String(obj.disposition),
        epoch: Number(obj.epoch),
        dbReachable: obj.dbReachable === true,
        actions: (obj.actions ?? []) as EventOf<'tick'>['actions'],
        reasons: (obj.reasons ?? []) as string[],
        alarms: (obj.alarms ?? []) as string[],
        ...(typeof obj.note === 'string' ? { note: obj.note } : {}),
        ...(typeof obj.durationMs === 'number' ? { durationMs: obj.durationMs } : {}),
      });
      return;
    }
    if (obj.level === 'ERROR' || obj.level === 'WARN' || obj.runner === 'invocation-error') this.opts.log?.(`[${name}] ${line}`);
  }

  /** A manual invocation (like `aws lambda invoke`), recorded on the timeline. */
  async invoke(payload: Record<string, unknown>, watchdog?: string): Promise<Record<string, unknown>> {
    const wd = watchdog === undefined ? [...this.watchdogs.values()][0] : this.watchdogs.get(watchdog);
    if (wd === undefined) throw new Error('no watchdog running');
    const res = await wd.invoke(payload);
    const err = res.error as { message?: string } | undefined;
    this.record({
      t: Date.now(),
      type: 'manual',
      payload,
      ok: res.ok === true,
      summary: res.ok === true ? `${String(payload.action)} accepted` : `refused: ${err?.message ?? 'unknown'}`,
    });
    return res;
  }

  // ---- faults -------------------------------------------------------------------------------

  /** Records a fault; `components`: those it hits (absent = the scheduler). */
  fault(kind: FaultKind, detail: string, node?: string, expectRecovery?: boolean, components?: readonly ComponentName[]): void {
    const hits = components === undefined || (components.length === 1 && components[0] === 'scheduler') ? undefined : components;
    this.record({
      t: Date.now(),
      type: 'fault',
      kind,
      detail,
      ...(node === undefined ? {} : { node }),
      ...(hits === undefined ? {} : { components: hits }),
      ...(expectRecovery === undefined ? {} : { expectRecovery }),
    });
  }

  /** The components with a healthy instance on a node in the latest sample (what losing the node hits). */
  componentsOn(nodeId: string): ComponentName[] {
    return this.components.filter((k) => this.healthyNodes(k.name).includes(nodeId)).map((k) => k.name);
  }

  /** For a node-wide fault: the components it hits, or undefined (the scheduler) in a scheduler-only cluster. */
  #hitOnNode(nodeId: string): ComponentName[] | undefined {
    if (this.components.length === 1) return undefined;
    const on = this.componentsOn(nodeId);
    return on.length === 0 ? ['scheduler'] : on;
  }

  /** How the timeline names a component's process in fault details. */
  #noun(component: ComponentName): string {
    return NOUN[component];
  }

  /**
   * Replaces a recorded fault event by an amended copy: the harness learns some allowances only after
   * the fault (a lease left by a tick cut later is read from the record then). Returns the new event.
   */
  amendFault(e: EventOf<'fault'>, patch: Partial<Omit<EventOf<'fault'>, 't' | 'type' | 'kind'>>): EventOf<'fault'> {
    const i = this.timeline.events.lastIndexOf(e);
    if (i < 0) throw new Error(`amendFault: no such fault event (${e.kind} at ${e.t})`);
    // An undefined value in the patch removes that field (the event stays plain JSON).
    const next = Object.fromEntries(Object.entries({ ...e, ...patch }).filter(([, v]) => v !== undefined)) as EventOf<'fault'>;
    this.timeline.events[i] = next;
    return next;
  }

  /** The fault event recorded last (the one a fault method just wrote). */
  lastFault(): EventOf<'fault'> | undefined {
    for (let i = this.timeline.events.length - 1; i >= 0; i--) {
      const e = this.timeline.events[i];
      if (e?.type === 'fault') return e;
    }
    return undefined;
  }

  /** The record as DynamoDB holds it, read directly (never through the watchdogs' proxy, so during an outage too). */
  readRecord(): Promise<StoredRecord> {
    return this.#store.read(String(this.settings.cluster.clusterName));
  }

  node(idOrHost: string): SimNodeHandle {
    const n = this.nodes.find((x) => x.id === idOrHost || x.hostname === idOrHost);
    if (n === undefined) throw new Error(`unknown node ${idOrHost}`);
    return n;
  }

  /**
   * Whether the node has the permit guard (the systemd drop-in the node script installs the first time a
   * watchdog command runs there): without it, a start by hand or at boot runs unchecked.
   */
  permitGuarded(nodeId: string, component: ComponentName = 'scheduler'): boolean {
    return existsSync(join(this.node(nodeId).env.WATCHDOG_SYSTEMD_DIR ?? '', `${this.unitOf(component)}.service.d`, '50-airflow-watchdog-permit.conf'));
  }

  /** A unit's main process on a node (the component's process started by systemctl; default the scheduler), if it lives. */
  mainPid(nodeId: string, component: ComponentName = 'scheduler'): number | undefined {
    const file = join(this.node(nodeId).env.FAKE_SYSTEMCTL_DIR ?? '', this.unitOf(component), 'main');
    if (!existsSync(file)) return undefined;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined; // replaced under us
    }
    const pid = Number(text.split(/\s+/)[0]);
    return pid > 0 && alive(pid) ? pid : undefined;
  }

  /** Every live process of a unit on a node (its sessions in the fake systemd: main process, children, orphans). */
  unitProcesses(nodeId: string, component: ComponentName = 'scheduler'): number[] {
    const file = join(this.node(nodeId).env.FAKE_SYSTEMCTL_DIR ?? '', this.unitOf(component), 'sessions');
    let sessions: Set<number>;
    try {
      sessions = new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number));
    } catch {
      return [];
    }
    return sessionMembers(sessions);
  }

  /** SIGKILL of a component's main process (default the scheduler): its children stay (orphans), its row stays `running`. */
  crash(nodeId: string, expectRecovery = true, component: ComponentName = 'scheduler'): void {
    const pid = this.mainPid(nodeId, component);
    if (pid === undefined) throw new Error(`crash: no ${this.#noun(component)} runs on ${nodeId}`);
    process.kill(pid, 'SIGKILL');
    this.fault('crash', `SIGKILL to the ${this.#noun(component)} on ${this.node(nodeId).hostname} (pid ${pid})`, nodeId, expectRecovery, [component]);
  }

  /** SIGSTOP of a component's main process (default the scheduler): alive, but no heartbeat. */
  hang(nodeId: string, expectRecovery = true, component: ComponentName = 'scheduler'): void {
    const pid = this.mainPid(nodeId, component);
    if (pid === undefined) throw new Error(`hang: no ${this.#noun(component)} runs on ${nodeId}`);
    process.kill(pid, 'SIGSTOP');
    this.#hung.set(`${nodeId} ${component}`, pid);
    this.fault('hang', `SIGSTOP to the ${this.#noun(component)} on ${this.node(nodeId).hostname} (pid ${pid})`, nodeId, expectRecovery, [component]);
  }

  unhang(nodeId: string, component: ComponentName = 'scheduler'): void {
    const pid = this.#hung.get(`${nodeId} ${component}`);
    this.#hung.delete(`${nodeId} ${component}`);
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGCONT');
    this.fault('unhang', `SIGCONT to pid ${pid ?? '?'} on ${this.node(nodeId).hostname}`, nodeId, undefined, [component]);
  }

  /** The host is gone: absent from SSM, every process on it killed, its DB connections cut. */
  loseNode(nodeId: string, expectRecovery = true): void {
    const n = this.node(nodeId);
    const hits = this.#hitOnNode(nodeId);
    this.ssm.setReachability(nodeId, 'lost');
    n.proxy.setMode('refuse');
    this.#systemctl(n, ['fake-kill-all']);
    this.fault('node-lost', `${n.hostname} is gone (host terminated)`, nodeId, expectRecovery, hits);
  }

  /**
   * EC2 StopInstances from a watchdog (its power fence): the instance is off, as a lost host is (every
   * process killed, absent from SSM, DB link cut); a note, not a fault, since the watchdog did it.
   */
  powerOff(nodeId: string, force: boolean): void {
    const n = this.node(nodeId);
    this.ssm.setReachability(nodeId, 'lost');
    n.proxy.setMode('refuse');
    this.#systemctl(n, ['fake-kill-all']);
    this.note(`${n.hostname}: EC2 StopInstances${force ? ' (Force)' : ''} from a watchdog, host powered off`);
  }

  /** The host is back (rebooted): empty process table, same disk. */
  restoreNode(nodeId: string): void {
    const n = this.node(nodeId);
    this.ec2.start(nodeId);
    n.proxy.setMode('open');
    this.ssm.setReachability(nodeId, 'online');
    this.fault('node-back', `${n.hostname} is back in SSM`, nodeId);
  }

  /** SSM agent lost its connection (PingStatus ConnectionLost); the scheduler on it goes on. */
  offline(nodeId: string): void {
    this.ssm.setReachability(nodeId, 'offline');
    this.fault('node-offline', `${this.node(nodeId).hostname}: SSM ConnectionLost`, nodeId);
  }

  online(nodeId: string): void {
    this.ssm.setReachability(nodeId, 'online');
    this.fault('node-online', `${this.node(nodeId).hostname}: SSM Online`, nodeId);
  }

  /**
   * Network partition of one node: neither the DB nor SSM reach it. Packets are dropped, not refused (a
   * black hole), so its scheduler blocks rather than exits, and beats again after the heal.
   */
  partition(nodeId: string, expectRecovery = true): void {
    const n = this.node(nodeId);
    const hits = this.#hitOnNode(nodeId);
    n.proxy.setMode('blackhole');
    this.ssm.setReachability(nodeId, 'offline');
    this.fault('partition', `${n.hostname} partitioned from the DB and SSM`, nodeId, expectRecovery, hits);
  }

  heal(nodeId: string): void {
    const n = this.node(nodeId);
    n.proxy.setMode('open');
    this.ssm.setReachability(nodeId, 'online');
    this.fault('heal', `${n.hostname} reconnected`, nodeId);
  }

  /**
   * The host reboots: every process on it is gone, /run (the permits) is cleared, and systemd starts the
   * enabled units through their ExecCondition (the watchdog's permit check), so nothing starts unless the
   * node has a permit, which a reboot has just removed. SSM and DB reachability are unchanged.
   */
  rebootNode(nodeId: string, expectRecovery = true): void {
    const n = this.node(nodeId);
    const hits = this.#hitOnNode(nodeId);
    const r = this.#systemctl(n, ['fake-reboot']);
    const booted = r.stderr.includes('.service started') ? ', enabled unit started at boot' : '';
    this.fault('other', `${n.hostname} rebooted${booted}${r.status === 0 ? '' : ` (fake-reboot exit ${r.status})`}`, nodeId, expectRecovery, hits);
  }

  /** `systemctl enable|disable <unit>` on a node (whether a reboot starts it, through the guard); default the scheduler's. */
  enableUnit(nodeId: string, enabled: boolean, component: ComponentName = 'scheduler'): void {
    const n = this.node(nodeId);
    const unit = this.unitOf(component);
    const r = this.#systemctl(n, [enabled ? 'enable' : 'disable', unit]);
    this.note(`${n.hostname}: systemctl ${enabled ? 'enable' : 'disable'} ${unit}${r.status === 0 ? '' : ` (exit ${r.status})`}`);
  }

  /** An operator runs `systemctl start <unit>` on a node by hand (default the scheduler's unit). */
  startByHand(nodeId: string, component: ComponentName = 'scheduler'): void {
    const n = this.node(nodeId);
    const unit = this.unitOf(component);
    const r = this.#systemctl(n, ['start', unit]);
    this.fault('duplicate', `operator ran "systemctl start ${unit}" on ${n.hostname}${r.status === 0 ? '' : ` (exit ${r.status})`}`, nodeId, undefined, [
      component,
    ]);
  }

  /**
   * The metadata DB is unreachable for everyone (watchdog and schedulers). `refuse` (connections refused
   * and cut, as a stopped or failing-over server does): a real scheduler exits at once. `blackhole`
   * (packets dropped): it blocks and resumes when the DB returns.
   */
  dbOutage(mode: 'refuse' | 'blackhole' = 'refuse'): void {
    this.watchdogProxy.setMode(mode);
    for (const n of this.nodes) n.proxy.setMode(mode);
    this.fault('db-outage', `metadata DB unreachable for the watchdog and every scheduler (${mode === 'refuse' ? 'connections refused' : 'packets dropped'})`);
  }

  /** `expectRecovery`: the scheduler died in the outage, so its replacement is judged from here. */
  dbBack(expectRecovery?: boolean): void {
    this.watchdogProxy.setMode('open');
    for (const n of this.nodes) if (this.ssm.node(n.id).reachability !== 'lost') n.proxy.setMode('open');
    this.fault('db-back', 'metadata DB reachable again', undefined, expectRecovery);
  }

  /** DynamoDB is unreachable for the watchdogs (connections cut and refused); the harness's own reads go direct. */
  dynamodbOutage(): void {
    this.dynamoProxy.setMode('refuse');
    this.fault('dynamodb-outage', 'DynamoDB unreachable for every watchdog');
  }

  dynamodbBack(): void {
    this.dynamoProxy.setMode('open');
    this.fault('dynamodb-back', 'DynamoDB reachable again');
  }

  ssmFaults(faults: EndpointFaults, detail: string): void {
    this.ssm.faults = faults;
    const kind =
      faults.throttle !== undefined ? 'ssm-throttle' : faults.latencyMs !== undefined ? 'ssm-slow' : faults.serverError !== undefined ? 'ssm-errors' : 'ssm-ok';
    this.fault(kind, detail);
  }

  /**
   * Steps the node's clock while its processes run (`undefined`: back to the configured skew): every
   * simulator on it reads the offset at each timestamp (SIM_CLOCK_FILE).
   */
  stepClock(nodeId: string, offsetSec: number | undefined): void {
    const n = this.node(nodeId);
    const file = n.env.SIM_CLOCK_FILE;
    if (file === undefined) throw new Error(`stepClock: ${n.hostname} has no SIM_CLOCK_FILE`);
    if (offsetSec === undefined) rmSync(file, { force: true });
    else {
      // Renamed into place, so a simulator never reads a half-written file.
      writeFileSync(`${file}.new`, String(offsetSec));
      renameSync(`${file}.new`, file);
    }
    this.fault(
      'clock-skew',
      `${n.hostname}: clock ${offsetSec === undefined ? 'set right again' : `stepped to ${offsetSec > 0 ? '+' : ''}${offsetSec} s from the DB's`} while running`,
      nodeId,
    );
  }

  /** Environment changes of a node's future scheduler starts (e.g. SIM_CRASH_AFTER_SEC for a flapping node). */
  setNodeSim(nodeId: string, patch: Readonly<Record<string, string | undefined>>, detail?: string): void {
    const n = this.node(nodeId);
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete n.env[k];
      else n.env[k] = v;
    }
    this.ssm.node(nodeId).spec.env = n.env;
    if (detail !== undefined) this.fault('flapping', detail, nodeId);
  }

  #systemctl(n: SimNodeHandle, args: string[]): { status: number | null; stderr: string } {
    const r = spawnSync(join(this.root, 'bin', 'systemctl'), args, { cwd: n.dir, env: n.env, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stderr: r.stderr ?? '' };
  }

  // ---- queries ------------------------------------------------------------------------------

  latestSample(): Extract<TimelineEvent, { type: 'sample' }> | undefined {
    const samples = eventsOf(this.timeline, 'sample');
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i]?.error === undefined) return samples[i];
    return undefined;
  }

  /** Node ids with a healthy scheduler (or `component`) in the latest sample. */
  healthyNodes(component: ComponentName = 'scheduler'): string[] {
    const s = this.latestSample();
    if (s === undefined) return [];
    const hosts = new Set(healthyHosts(s, this.timeline.config, component));
    return this.nodes.filter((n) => hosts.has(n.hostname)).map((n) => n.id);
  }

  /** The record's active nodes of a component, as last sampled. */
  activeNodes(component: ComponentName = 'scheduler'): readonly string[] | undefined {
    const rec = eventsOf(this.timeline, 'record').at(-1);
    if (rec === undefined) return undefined;
    return component === 'scheduler' ? rec.active : (rec.components?.[component]?.active ?? []);
  }

  /** Exactly one healthy instance of the component, on the node the record names active: that node. */
  #steadyNode(component: ComponentName): string | undefined {
    const h = this.healthyNodes(component);
    const active = this.activeNodes(component);
    return h.length === 1 && active !== undefined && active.length === 1 && active[0] === h[0] ? h[0] : undefined;
  }

  /** Waits until `cond` holds (checked every 100 ms). */
  async waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      if (cond()) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(100);
    }
  }

  /**
   * Waits until exactly one eligible node has a healthy scheduler (or `component`) and the record names it
   * active, held `holdMs`; returns its id.
   */
  async waitForSteady(timeoutMs: number, opts: { holdMs?: number; component?: ComponentName } = {}): Promise<string> {
    const hold = opts.holdMs ?? 0;
    const component = opts.component ?? 'scheduler';
    let since: number | undefined;
    let node: string | undefined;
    await this.waitFor(
      `exactly one healthy ${NOUN[component]}`,
      () => {
        const steady = this.#steadyNode(component);
        if (steady === undefined || steady !== node) {
          since = steady === undefined ? undefined : Date.now();
          node = steady;
        }
        return steady !== undefined && since !== undefined && Date.now() - since >= hold;
      },
      timeoutMs,
    );
    return node!;
  }

  /** Every component steady at once (see waitForSteady), held `holdMs`; returns each one's node. */
  async waitForAllSteady(timeoutMs: number, opts: { holdMs?: number } = {}): Promise<Record<ComponentName, string>> {
    const hold = opts.holdMs ?? 0;
    let since: number | undefined;
    let key = '';
    let nodes: Partial<Record<ComponentName, string>> = {};
    await this.waitFor(
      `one healthy ${this.components.map((k) => NOUN[k.name]).join(', ')} each`,
      () => {
        const now = Object.fromEntries(this.components.map((k) => [k.name, this.#steadyNode(k.name)]));
        const ok = Object.values(now).every((v) => v !== undefined);
        const k = JSON.stringify(now);
        if (!ok || k !== key) {
          since = ok ? Date.now() : undefined;
          key = k;
          nodes = now;
        }
        return ok && since !== undefined && Date.now() - since >= hold;
      },
      timeoutMs,
    );
    return nodes as Record<ComponentName, string>;
  }

  isAlive(pid: number): boolean {
    return alive(pid);
  }

  /** The highest job id the samples have shown so far. */
  maxJobId(): number {
    let max = 0;
    for (const e of eventsOf(this.timeline, 'sample')) for (const r of e.rows) max = Math.max(max, r.jobId);
    return max;
  }

  /**
   * After a fault: waits until a scheduler (or `component`) row newer than any seen before the call is
   * healthy on an eligible node, then for one steady healthy instance (held `holdMs`); returns its node id.
   */
  async waitForReplacement(timeoutMs: number, opts: { holdMs?: number; component?: ComponentName; seen?: number } = {}): Promise<string> {
    const seen = opts.seen ?? this.maxJobId();
    const k = timelineComponent(this.timeline.config, opts.component);
    const hosts = new Set(k.nodes.map((n) => n.hostname));
    const started = Date.now();
    await this.waitFor(
      `a new ${NOUN[k.name]} (job id > ${seen}) to be healthy`,
      () => {
        const s = this.latestSample();
        if (s === undefined) return false;
        return [...newestPerHost(s.rows, k.jobType).values()].some((r) => r.jobId > seen && hosts.has(r.hostname) && r.age <= k.staleAfterSeconds);
      },
      timeoutMs,
    );
    return this.waitForSteady(Math.max(1000, timeoutMs - (Date.now() - started)), { ...opts, component: k.name });
  }

  /**
   * Processes started by the cluster's nodes that are still alive: the simulators and their children
   * (their events), the units' main processes, and anything else carrying this run's LOCAL_CLUSTER_RUN
   * in its environment (real Airflow's children, a supervisor, an SSM script).
   */
  leftoverProcesses(): number[] {
    this.#readSimEvents();
    return [...new Set([...[...this.#simPids].filter(alive), ...processesWithToken(this.runToken)])];
  }

  // ---- teardown -----------------------------------------------------------------------------

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#sampler !== undefined) clearInterval(this.#sampler);
    await Promise.all([...this.watchdogs.values()].map((w) => w.stop()));
    for (const [, pid] of this.#hung) if (alive(pid)) process.kill(pid, 'SIGCONT');
    this.#hung.clear();
    await this.ssm.close();
    for (const n of this.nodes) this.#systemctl(n, ['fake-kill-all']);
    this.#readSimEvents();
    for (const pid of [...this.#simPids, ...processesWithToken(this.runToken)]) {
      if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (let i = 0; i < 20 && this.leftoverProcesses().length > 0; i++) await sleep(50);
    const steps: (() => Promise<void> | void)[] = [
      () => this.sampler.close(),
      () => this.watchdogProxy.close(),
      () => this.dynamoProxy.close(),
      ...this.nodes.map((n) => () => n.proxy.close()),
      () => this.dynamo.close(),
      () => this.backend?.close(),
    ];
    for (const step of steps) await Promise.resolve(step()).catch(() => {});
    if (!this.opts.keepDir) rmSync(this.root, { recursive: true, force: true });
  }
}

export type { ClusterOptions, SimNodeHandle, Timings, UnitContext, WatchdogProcess };
export { DEMO_TIMINGS, defaultNodes, FAST_TIMINGS, LocalCluster, UNIT };
