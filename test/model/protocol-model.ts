/**
 * A deterministic model of the record protocol (SPEC §4.3, §6, §7) and of the liveness evidence a tick
 * gathers before it decides, explored exhaustively.
 *
 * What is modelled
 * - The record store: one item, written with the SAME conditional rule as the DynamoDB adapter. The model
 *   does not re-implement it: every write goes through `MemoryStore.write` (test/helpers/fakes.ts), whose
 *   rule (version equality, then lease free / own / expired at the writer's clock) the dynalite suite pins
 *   against the real adapter.
 * - A logical clock that moves only by explicit "time passes" steps (`timeStepSeconds`), so lease expiry,
 *   stale heartbeats, the liveness window and the startup grace are all reachable. Watchdog clocks may be
 *   skewed. `clock.sleep` is a port like any other: it completes only once the logical time has reached
 *   the wake time, so a tick waiting for its second reading lets the world (and every other actor) move.
 * - Nodes: the highest epoch seen (a lower one is refused, as node/airflow-scheduler.sh does), a scheduler
 *   process (`stopped` | `starting` | `restarting` | `up` | `frozen`) and the heartbeat row it leaves in
 *   the metadata DB. A running scheduler heart-beats at every time step while the DB is up; while it is
 *   down nobody can, and once it is back a scheduler that kept running writes its next beat as a separate
 *   step (so a tick can read the DB back and the heartbeat still old). One that crashed or froze leaves
 *   its row to go stale (a frozen one may wake up and heart-beat again); a clean stop ends its row. A
 *   start only makes the process `starting`: its first heartbeat (a new job row) is a separate
 *   environment step, which may come late or never. Commands apply atomically at the node.
 * - The `status` command answers what systemd would report for the node's process, in the script's own
 *   report line (node/airflow-scheduler.sh: `result` is the unit state): `up`, `frozen` and `starting` →
 *   `active`; a crashed scheduler → `failed`, or `activating` while systemd restarts it on a node whose
 *   unit has Restart=always (`restartAlways`); a cleanly stopped or never started one → `inactive`.
 *   `status` neither refuses an epoch nor changes the node.
 * - Watchdogs run the REAL function: each watchdog invocation is `createApp(settings, ports).handle` of a
 *   scheduled event (functions/runtime/app.ts), so the tick loop, its per-invocation ReadingLog, the DB
 *   watch bound (`watchDbUntil`) and the lease owner names are the app's; each tick is the real `runTick`
 *   (observe → gather evidence → decide → commit → act with onSent → write back → release) and the manual
 *   actor is the real handler running `runManual`. Ports block until the explorer answers them, so the
 *   decide(), evidence, commit, act, applyOutcome/markSent and release code under test is the code that
 *   ships, not a hand-written imitation of it.
 * - A start goes out in two steps as the fleet adapter does it: SSM accepts the command (the node acts
 *   then) and the adapter calls the engine's `onSent`, whose conditional write is a step of its own; the
 *   answer comes back after it.
 * - Faults: a watchdog crash at any step (see below), a scheduler crash or freeze, a node cut off from
 *   SSM (commands time out in delivery; its scheduler keeps heart-beating), a metadata DB outage (also one
 *   that begins and ends between two readings), a command that runs but whose answer is lost, a status
 *   answer that cannot be parsed, a SendCommand that SSM refuses, and nodes whose `systemctl start`
 *   always fails.
 *
 * How the real engine is explored
 * A coroutine cannot be copied, so each watchdog's progress is kept as the log of answers it received
 * (and the clock reading at each answer). The function is deterministic given that log, so its next
 * requests are found by replaying the log into a fresh invocation (cached by log hash). Every port call
 * is one step. The three observe reads (DB, record, SSM reachability) are one step (`observe: 'atomic'`),
 * or one step each in any order with other watchdogs acting in between (`'split'`, as `Promise.allSettled`
 * lets them land; time does not pass in between, the reads are milliseconds apart).
 *
 * What a tick must have decided is recomputed by the model from the readings the tick got (the last DB
 * reading, the status answers, and the invocation's earlier readings, of which any with the DB
 * unreachable clears the older ones, as the ReadingLog documents), with the real decide(); the engine's
 * commit and commands are checked against it (invariant c).
 *
 * Crashes. A crashed watchdog is one that is never scheduled again, keeping whatever lease it holds. The
 * search already contains every continuation in which a watchdog stops moving at any step; what a crash
 * adds is a world in which it never finishes. So instead of a crash transition (which would copy every
 * state), every state is checked as "all watchdogs now mid-tick crashed here": faults heal, a frozen
 * scheduler wakes, and sequential ticks (time passing, leases expiring) must converge (invariant e).
 *
 * The state is the world (clock, record item, nodes, fault budgets), each actor's status and log hash,
 * and the ghost variables the invariants need (nodes started per epoch, actives per epoch, starts SSM
 * accepted, which schedulers stayed up since each reading of an invocation). States are identified up to
 * the text written for people (history, reasons; see behavioural() and answerDigest()), which decide()
 * only appends. The explorer is a depth-first search with a visited set of state hashes; every budget
 * (invocations per watchdog, time steps, faults) is finite and every step spends one or moves a log
 * forward, so the state graph is finite and acyclic and the search covers all of it. `maxDepth` and
 * `maxStates` are guards, reported if hit.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { functionTimeout } from '../../infra/lib/sizing.js';
import { type ClusterConfig, parseSettings, type WatchdogSettings } from '../../functions/core/config.js';
import { decide } from '../../functions/core/decide.js';
import { type EngineDeps, observe, runTick, slowReadingMs, type TickReport } from '../../functions/core/engine.js';
import { ReadingLog, unitProbeOf } from '../../functions/core/evidence.js';
import { livenessWindowSeconds } from '../../functions/core/liveness.js';
import { planManualFailover } from '../../functions/core/manual.js';
import type {
  CommandOutcome,
  DbObservation,
  EarlierReading,
  Observation,
  PendingStart,
  Plan,
  RecordState,
  SchedulerRow,
  StoredRecord,
  UnitProbe,
} from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { CommandRequest, LeaseClaim, ReachabilityResult, RunOptions, WriteResult } from '../../functions/core/ports.js';
import { type OkObservation, viewCluster } from '../../functions/core/view.js';
import { RefusedError } from '../../functions/core/errors.js';
import { createApp, type Response, worstCaseTickSeconds } from '../../functions/runtime/app.js';
import { parseNodeReport } from '../../functions/core/node-report.js';
import { MemoryStore } from '../helpers/fakes.js';

// ---------------------------------------------------------------------------------------------
// World

/**
 * `frozen`: the process lives but writes no heartbeat (VM pause, SIGSTOP, a long stall); it may wake up.
 * `restarting`: it crashed and systemd (Restart=always) is starting it again; like `starting` it comes up
 * with its first heartbeat.
 */
type Proc = 'stopped' | 'starting' | 'restarting' | 'up' | 'frozen';

interface NodeModel {
  readonly id: string;
  readonly hostname: string;
  /** Highest epoch the node has seen (its state file); null = none yet. */
  readonly epoch: number | null;
  readonly proc: Proc;
  /** latest_heartbeat of the node's newest live job row; null = no live row. */
  readonly beatAt: number | null;
  /** Job rows written on this node so far: every process that comes up writes a new row (a new job id). */
  readonly jobs: number;
  /** Times the scheduler entered `up` (ghost for invariant h: "up throughout" is "same generation"). */
  readonly upGen: number;
  /** Cut off from SSM: commands time out in delivery, reachability says ConnectionLost. */
  readonly partitioned: boolean;
  /** `systemctl start` fails on this node (exit 71). */
  readonly failStart: boolean;
  /** The unit has Restart=always: a crashed scheduler is restarted by systemd (reported `activating`). */
  readonly restartAlways: boolean;
}

interface Budgets {
  readonly time: number;
  /** Scheduler crashes and freezes, together. */
  readonly schedulerFault: number;
  readonly partition: number;
  readonly dbOutage: number;
  /** Commands that run on the node but whose answer is lost: the watchdog sees an execution timeout. */
  readonly lostReply: number;
  /** Status answers that cannot be parsed (truncated output). */
  readonly badStatus: number;
  /** SendCommand refused (throttled past retries): the command never leaves, the node does nothing. */
  readonly sendFail: number;
}

type Req =
  /** `sentAt`: the function's clock when it sent the query (a slow answer voids earlier evidence). */
  | { readonly port: 'db'; readonly sentAt: number }
  | { readonly port: 'read' }
  | { readonly port: 'reach'; readonly ids: readonly string[] }
  | { readonly port: 'write'; readonly expected: StoredRecord; readonly next: RecordState; readonly lease: LeaseClaim }
  | { readonly port: 'run'; readonly request: CommandRequest; readonly onSent: boolean }
  | { readonly port: 'sleep'; readonly ms: number; readonly wakeAt: number };

interface LogEntry {
  readonly call: number;
  readonly time: number;
  readonly response: unknown;
}

/** What an actor's tick must have decided from its readings; computed by the model, for the invariants. */
interface PlanView {
  readonly actions: readonly { readonly key: string; readonly purpose: string }[];
  /** Hash of the state the engine must commit, up to history text (see behavioural()). */
  readonly next: string;
  /** Pending starts of the state to commit, `node@epoch@issuedAt`. */
  readonly pending: readonly string[];
  /** Whether the tick must write at all (plan.next or actions). */
  readonly acts: boolean;
  readonly dbOk: boolean;
  readonly force: boolean;
  readonly refused: boolean;
  readonly observedAt: number;
  /** Configured nodes the observation showed healthy (fresh, or alive by evidence). */
  readonly healthy: readonly string[];
  /** The record's active node(s) as observed. */
  readonly observedActive: readonly string[];
  /** Single mode: the node the plan keeps (commits) as active. */
  readonly keep: string | undefined;
  /** When the oldest reading the decision rests on was taken (its `earlier` reading, else the last). */
  readonly evidenceAt: number;
}

interface Track {
  /** Tick number inside the invocation (the lease owner's `#k`); -1 before the first. */
  readonly tick: number;
  /** The latest observe group (three parallel reads) and how many of its reads are answered. */
  readonly group: { readonly db?: DbObservation; readonly record?: StoredRecord; readonly reach?: ReachabilityResult };
  readonly groupAnswered: number;
  /** The tick's latest DB reading and when (the watchdog's clock) it was taken. */
  readonly db?: DbObservation;
  readonly observedAt?: number;
  /** The last DB reading was a watch recheck that found the DB back: the next group belongs to the same tick. */
  readonly recheckOk: boolean;
  readonly units: Readonly<Record<string, UnitProbe>>;
  /** Nodes whose status answer could not be used this tick (invariant j). */
  readonly badProbe: readonly string[];
  readonly phase: 'observing' | 'committed' | 'lost';
  readonly plan?: PlanView;
  readonly nextAction: number;
  readonly lastWriteOk: boolean;
  readonly leaseAtCommit: boolean;
  /** The lease is held (last successful write set an expiry). */
  readonly holdsLease: boolean;
  readonly lastVersion?: number;
  readonly lastWritten?: RecordState;
  /** A start SSM accepted whose onSent write is due. */
  readonly sentStart?: { readonly nodeId: string; readonly epoch: number; readonly at: number };
  /** Commands SSM accepted this tick, per node, not yet charged (invariant i). */
  readonly chargeable: Readonly<Record<string, number>>;
}

/** One DB reading of an invocation (tick actors). */
interface Reading {
  readonly at: number;
  /** Answered later than a healthy DB ever does (engine's slowReadingMs): no earlier reading serves then. */
  readonly slow: boolean;
  readonly db: DbObservation;
  readonly kind: 'observe' | 'recheck' | 'reread';
  /** Nodes whose scheduler was up at this reading, as `id:upGen` (ghost for invariant h). */
  readonly up: string;
}

interface ActorModel {
  readonly id: string;
  readonly kind: 'tick' | 'manual';
  readonly status: 'idle' | 'running';
  readonly ticksLeft: number;
  /** Invocation number (the request id is `${id}.${tickNo}`). */
  readonly tickNo: number;
  readonly log: readonly LogEntry[];
  readonly logHash: string;
  readonly track: Track;
  readonly readings: readonly Reading[];
}

interface Ghost {
  /** Nodes that accepted a start carrying each epoch. */
  readonly startsByEpoch: Readonly<Record<string, readonly string[]>>;
  /** Distinct active nodes the record named at each epoch. */
  readonly activeByEpoch: Readonly<Record<string, readonly string[]>>;
  readonly maxEpoch: number;
  /** Starts SSM accepted, as the pending key `node@epoch@issuedAt` of the intent they carry out. */
  readonly acceptedStarts: readonly string[];
}

interface World {
  readonly now: number;
  readonly record: StoredRecord | undefined;
  readonly nodes: readonly NodeModel[];
  readonly dbDown: boolean;
  /** While the DB is down: whether any actor read it during this outage (coverage of unseen outages). */
  readonly dbDownSeen: boolean;
  readonly budgets: Budgets;
  readonly actors: readonly ActorModel[];
  readonly ghost: Ghost;
}

// ---------------------------------------------------------------------------------------------
// Specification of one exploration

interface ModelSpec {
  readonly name: string;
  readonly config: ClusterConfig;
  /** `steady`: the first node runs the scheduler and is the recorded active at epoch 1; `empty`: no record, nothing runs. */
  readonly initial: 'empty' | 'steady';
  /** Faults already present at the start: schedulers frozen, nodes cut off from SSM. */
  readonly preset?: {
    readonly frozen?: readonly string[];
    readonly partitioned?: readonly string[];
    /** Node epoch files already holding this epoch (a corrupted or forged file, far ahead of the record). */
    readonly epochs?: Readonly<Record<string, number>>;
  };
  readonly watchdogs: number;
  /** Scheduled invocations per watchdog (each loops ticks over a minute when checkIntervalSeconds < 60). */
  readonly ticksPerWatchdog: number;
  readonly manual?: { readonly to?: string; readonly force?: boolean };
  readonly budgets: Budgets;
  readonly timeStepSeconds: number;
  /**
   * `atomic`: a watchdog's three observe reads are answered in one step; `split`: one step each, in any
   * order, with other actors (but not time) interleaved between them.
   */
  readonly observe: 'atomic' | 'split';
  readonly failStart?: readonly string[];
  /** Nodes whose unit has Restart=always. */
  readonly restartAlways?: readonly string[];
  /** Watchdogs whose clock runs ahead (positive) or behind by this many seconds, by actor id (`W1`, `M`). */
  readonly skewSeconds?: Readonly<Record<string, number>>;
  /** Guard against a runaway search; the report says whether any path reached it. */
  readonly maxDepth?: number;
  /** Guard against a state space larger than planned: exploration stops and the report says so. */
  readonly maxStates?: number;
  /** Called every 10,000 states (for tuning budgets by hand). */
  readonly progress?: (states: number, transitions: number) => void;
  /** Sequential ticks (with time passing) run from every quiescent state for the convergence check. */
  readonly settleRounds: number;
  /** Stop once each of these invariants has been violated (negative controls); `[]` = at the first violation. */
  readonly stopAfter?: readonly InvariantId[];
  /**
   * Negative controls, to show the checks can fail: a store without the conditional rule; a watchdog W1
   * that acts on its plan without committing it; nodes whose `stop` reports success and does nothing; a
   * fleet that calls onSent before SSM has accepted the start.
   */
  readonly brokenStore?: boolean;
  readonly rogueW1?: boolean;
  readonly brokenStop?: boolean;
  readonly earlyOnSent?: boolean;
}

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const CLUSTER = 'model';
const CALLER = 'operator';
const UNIT = 'airflow-scheduler';

const INVARIANTS = {
  a: 'single mode: at most one node accepts a start per epoch, and the record names one active node per epoch (a failed fence may only restore the previous one)',
  b: 'the record epoch never decreases; no node holds an epoch above the highest committed one (status commands change no epoch), except a node whose epoch file was corrupted beforehand, whose epoch the record never adopts [new: epoch-jump guard]',
  c: "every start/stop SSM command is an action of the plan its sender committed under its own lease, sent in plan order after a successful write; that plan is the one the model recomputes from the tick's own readings (last DB reading, status answers, the invocation's earlier readings, any reading with the DB unreachable clearing the older ones), and a tick whose plan calls for a change commits it [adapted: evidence]; status commands are read-only, sent only before the commit, to intended-active Online nodes the tick read stale [new]; the only write between a start and its outcome is onSent's, marking that start sent and nothing else [new]; no tick sleeps while it holds the lease [new]",
  d: 'a committed pending start leaves the record only when settled: its node observed healthy (fresh, or alive by evidence [adapted]), its grace expired (sent or never sent [adapted]), a newer epoch superseded it, or its own start was written back',
  e: 'from every state (watchdogs mid-tick, asleep or awaiting an answer taken as crashed), with faults healed, sequential invocations (time passing, sleeps advancing it) converge to at most one scheduler process in single mode, and to exactly one unless the watchdog raised no-candidate or suppressed',
  f: 'no SSM start/stop is planned from an observation in which the metadata DB was unreachable (unless a manual failover was forced), and no status command is sent on one',
  g: 'the function never throws inside an invocation, and every write it makes (commit, onSent, write-back) is conditional on the version it read or last wrote',
  h: "never restart what lives: no stop reaches a scheduler that is up and beating (running, heartbeat fresh at the stop) and has been up since the oldest reading the sender's decision rests on, except a stop-duplicate / cancel-pending / stop-removed in single mode that keeps another healthy node, and a manual failover's stops",
  i: 'no charge without a send: a failure is charged to a node only for a command to it that SSM accepted (a start: its expiry or its outcome; a stop: a start it blocked), and a pending start is marked sent only once SSM accepted it',
  j: 'a node whose status answer cannot be used gets no command in that tick, and in single mode that tick starts nothing',
} as const;
type InvariantId = keyof typeof INVARIANTS;

interface Violation {
  readonly invariant: InvariantId;
  readonly message: string;
  readonly trace: readonly string[];
}

interface ExploreReport {
  readonly name: string;
  /** Transitions taken (edges examined, including those into states already seen). */
  readonly transitions: number;
  readonly distinctStates: number;
  readonly maxDepth: number;
  readonly depthCapHit: boolean;
  readonly stateCapHit: boolean;
  readonly quiescentStates: number;
  readonly convergenceRuns: number;
  readonly checks: Readonly<Record<InvariantId, number>>;
  readonly violations: readonly Violation[];
  readonly replays: number;
  readonly elapsedMs: number;
  /** What the search reached: tick dispositions and verdicts, command outcomes, states with two schedulers. */
  readonly coverage: Readonly<Record<string, number>>;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Canonical JSON: sorted keys, undefined properties dropped. */
const canon = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canon(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canon(o[k])}`).join(',')}}`;
};

const sha = (s: string): string => createHash('sha1').update(s).digest('base64');

/**
 * The part of a record that can change what any watchdog does. History, failure reasons and the alarm's
 * text and time are written for people; decide() and the outcome bookkeeping only ever append to them
 * (and read lastAlarm's kind), so two records that differ only there lead to the same behaviour. States
 * are identified up to that difference, which keeps every interleaving's own history text from making it
 * a state of its own. (Consequence: a replay found in the cache may write another interleaving's history
 * text; no invariant reads it.)
 */
const behavioural = (r: RecordState): unknown => ({
  ...r,
  history: undefined,
  failures: Object.fromEntries(Object.entries(r.failures).map(([id, f]) => [id, { ...f, lastReason: undefined }])),
  lastAlarm: r.lastAlarm?.kind,
});

/** Hash of a value's canonical JSON (records: their behavioural part), cached per object: model values are never mutated. */
const digestCache = new WeakMap<object, string>();
const isRecordLike = (v: object): v is RecordState => 'epoch' in v && 'pending' in v && 'history' in v;
const digest = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return canon(v);
  const hit = digestCache.get(v);
  if (hit !== undefined) return hit;
  const h = sha(canon(isRecordLike(v) ? behavioural(v) : v));
  digestCache.set(v, h);
  return h;
};

/**
 * An answer as far as the function's behaviour depends on it, for the log hash: what a read or write
 * returned up to history text (see behavioural()); a lost write by its reason (the engine reads `current`
 * only for the text of its note). DB rows are kept whole: liveness compares heartbeat values, job ids and
 * ages between readings.
 */
const answerDigest = (response: unknown): string => {
  if (response === null || typeof response !== 'object') return canon(response);
  const o = response as Record<string, unknown>;
  if (o.status === 'ok' && typeof o.rows === 'object' && o.rows !== null) {
    // The model's rows are a function of (heartbeat, job id) and the time of the answer, which the log hash has.
    const rows = Object.values(o.rows as Record<string, SchedulerRow>).map((r) => `${r.hostname}=${r.jobId}@${r.latestHeartbeat}`);
    return `db:${rows.join(',')}|${(o.foreign as unknown[]).length}`;
  }
  if (o.ok === false && typeof o.reason === 'string') return canon({ ok: false, reason: o.reason });
  if (o.ok === true && typeof o.record === 'object' && o.record !== null) return canon({ ok: true, record: digest(o.record) });
  if ('epoch' in o && 'pending' in o && 'history' in o) return digest(response);
  return canon(response);
};

const stripStored = (r: StoredRecord): RecordState => {
  const { clusterName: _c, version: _v, leaseOwner: _o, leaseExpiresAt: _e, ...state } = r;
  return state;
};

const emptyRecord = (): StoredRecord => ({ clusterName: CLUSTER, version: 0, ...EMPTY_RECORD_STATE });

const actionKey = (a: { kind: string; nodeId: string; epoch: number }): string => `${a.kind} ${a.nodeId} ${a.epoch}`;
const pendingKey = (p: { nodeId: string; epoch: number; issuedAt: number }): string => `${p.nodeId}@${p.epoch}@${p.issuedAt}`;

const requestIdOf = (a: ActorModel): string => `${a.id}.${a.tickNo}`;
/** The lease owner the app gives tick `tick` of this invocation (`${awsRequestId}#${k}`, or `#manual`). */
const ownerOf = (a: ActorModel, tick = a.track.tick): string => `${requestIdOf(a)}#${a.kind === 'manual' ? 'manual' : Math.max(0, tick)}`;

const freshTrack = (tick: number): Track => ({
  tick,
  group: {},
  groupAnswered: 0,
  recheckOk: false,
  units: {},
  badProbe: [],
  phase: 'observing',
  nextAction: 0,
  lastWriteOk: false,
  leaseAtCommit: false,
  holdsLease: false,
  chargeable: {},
});

/** The record state once the start on `nodeId` at `epoch` is marked sent: the model's own reading of onSent. */
const markedSent = (s: RecordState, nodeId: string, epoch: number, at: number): RecordState => ({
  ...s,
  pending: s.pending.map((p) => (p.nodeId === nodeId && p.epoch === epoch && p.sentAt === undefined ? { ...p, sentAt: at } : p)),
});

const upSnapshot = (w: World): string =>
  w.nodes
    .filter((n) => n.proc === 'up')
    .map((n) => `${n.id}:${n.upGen}`)
    .join(',');

// ---------------------------------------------------------------------------------------------
// Port semantics on the world (pure: world in, world and answer out)

const jobIdOf = (w: World, n: NodeModel): number => 100 * (w.nodes.indexOf(n) + 1) + n.jobs;

const dbObservation = (w: World, config: ClusterConfig): DbObservation => {
  if (w.dbDown) return { status: 'unreachable', reason: 'model: metadata DB down (connection refused)', transient: true };
  const rows: Record<string, SchedulerRow> = {};
  for (const n of w.nodes) {
    if (n.beatAt === null) continue;
    const ageSeconds = (w.now - n.beatAt) / 1000;
    rows[n.hostname] = {
      jobId: jobIdOf(w, n),
      hostname: n.hostname,
      state: 'running',
      ageSeconds,
      latestHeartbeat: new Date(n.beatAt).toISOString(),
      freshRows: ageSeconds <= config.staleAfterSeconds ? 1 : 0,
    };
  }
  return { status: 'ok', rows, foreign: [] };
};

const reachability = (w: World, ids: readonly string[]): ReachabilityResult => ({
  ok: true,
  nodes: Object.fromEntries(
    ids.map((id) => {
      const n = w.nodes.find((x) => x.id === id);
      return [id, n === undefined ? 'absent' : n.partitioned ? 'ConnectionLost' : 'Online'];
    }),
  ),
});

const storeWrite = async (
  w: World,
  expected: StoredRecord,
  next: RecordState,
  lease: LeaseClaim,
  broken: boolean,
): Promise<{ world: World; result: WriteResult }> => {
  if (broken) {
    // Negative control: last writer wins, no version or lease condition.
    const record: StoredRecord = {
      ...next,
      clusterName: expected.clusterName,
      version: (w.record?.version ?? 0) + 1,
      ...(lease.expiresAt === undefined ? {} : { leaseOwner: lease.owner, leaseExpiresAt: lease.expiresAt }),
    };
    return { world: { ...w, record }, result: { ok: true, record } };
  }
  const store = new MemoryStore();
  store.item = w.record;
  const result = await store.write(expected, next, lease);
  return { world: result.ok ? { ...w, record: result.record } : w, result };
};

const replaceNode = (w: World, node: NodeModel): World => ({ ...w, nodes: w.nodes.map((n) => (n.id === node.id ? node : n)) });

/** What `systemctl is-active` says about the node's scheduler unit. */
const unitStateOf = (n: NodeModel): string => {
  switch (n.proc) {
    case 'up':
    case 'frozen':
    case 'starting':
      return 'active';
    case 'restarting':
      return 'activating';
    case 'stopped':
      // A crashed process leaves its live row behind (and the unit failed); a clean stop ends the row.
      return n.beatAt !== null ? 'failed' : 'inactive';
  }
};

interface RunResult {
  readonly world: World;
  readonly outcome: CommandOutcome;
  /** The node acted on it. */
  readonly applied: boolean;
  /** SSM accepted it (it has a command id). */
  readonly sent: boolean;
}

const runCommand = (w: World, req: CommandRequest, brokenStop = false): RunResult => {
  const node = w.nodes.find((n) => n.id === req.nodeId);
  if (node === undefined) return { world: w, outcome: { status: 'undeliverable', detail: 'model: unknown node', durationMs: 0 }, applied: false, sent: false };
  if (node.partitioned) {
    return {
      world: w,
      outcome: { status: 'timeout', commandId: 'model', phase: 'delivery', detail: 'model: node cut off from SSM', durationMs: 0 },
      applied: false,
      sent: true,
    };
  }
  if (req.kind === 'status') {
    // node/airflow-scheduler.sh do_status: reads only, refuses no epoch, reports the unit state as its result word.
    const unitState = unitStateOf(node);
    const running = unitState === 'active';
    const line = {
      action: 'status',
      result: unitState,
      epoch: req.epoch,
      nodeEpoch: node.epoch,
      running,
      hostname: node.hostname,
      unit: UNIT,
      unitState,
      enabled: 'disabled',
      permitEpoch: null,
      permitValid: false,
      guard: 'installed',
      processes: running ? 1 : 0,
      killed: null,
      problems: [],
    };
    return { world: w, outcome: withParsedReport(`${JSON.stringify(line)}\n`), applied: true, sent: true };
  }
  if (node.epoch !== null && req.epoch < node.epoch) {
    return {
      world: w,
      outcome: { status: 'stale-epoch', commandId: 'model', nodeEpoch: node.epoch, detail: `STALE_EPOCH node=${node.epoch} command=${req.epoch}`, durationMs: 0 },
      applied: false,
      sent: true,
    };
  }
  const epoch = Math.max(node.epoch ?? 0, req.epoch);
  const ok: CommandOutcome = { status: 'success', commandId: 'model', output: req.kind === 'stop' ? 'stopped' : 'started', durationMs: 0 };
  if (req.kind === 'stop' && brokenStop) return { world: replaceNode(w, { ...node, epoch }), outcome: ok, applied: true, sent: true };
  if (req.kind === 'stop') {
    // A clean stop ends the scheduler's own row; a crashed one's stale row stays live, and so does a frozen
    // one's (it cannot handle SIGTERM; the script's SIGKILL ends it without a goodbye).
    const next: NodeModel = { ...node, epoch, proc: 'stopped', beatAt: node.proc === 'up' ? null : node.beatAt };
    return { world: replaceNode(w, next), outcome: ok, applied: true, sent: true };
  }
  if (node.failStart) {
    return {
      world: replaceNode(w, { ...node, epoch, proc: 'stopped' }),
      outcome: { status: 'failed', commandId: 'model', exitCode: 71, stderrTail: 'START_FAILED unit did not become active', durationMs: 0 },
      applied: true,
      sent: true,
    };
  }
  const next: NodeModel = { ...node, epoch, proc: node.proc === 'stopped' ? 'starting' : node.proc };
  return { world: replaceNode(w, next), outcome: ok, applied: true, sent: true };
};

/** Time passes; schedulers that run heart-beat, unless the DB is down. */
const passTime = (w: World, ms: number): World => {
  const now = w.now + ms;
  return { ...w, now, nodes: w.dbDown ? w.nodes : w.nodes.map((n) => (n.proc === 'up' ? { ...n, beatAt: now } : n)) };
};

/** A started (or systemd-restarted) scheduler writes its first heartbeat: a new job row. */
const comeUp = (w: World, id: string): World => {
  const n = w.nodes.find((x) => x.id === id) as NodeModel;
  return replaceNode(w, { ...n, proc: 'up', beatAt: w.now, jobs: n.jobs + 1, upGen: n.upGen + 1 });
};

/** A frozen scheduler runs again: same process and row; it beats at once if it can reach the DB. */
const wake = (w: World, id: string): World => {
  const n = w.nodes.find((x) => x.id === id) as NodeModel;
  return replaceNode(w, { ...n, proc: 'up', beatAt: w.dbDown ? n.beatAt : w.now, upGen: n.upGen + 1 });
};

/** The app's deliberate failure of a scheduled invocation whose node commands failed (and nothing else). */
const nodeCommandsFailedOnly = (e: unknown): boolean => {
  const m = /^scheduled invocation failed: (.*)$/s.exec(e instanceof Error ? e.message : '');
  const part = '\\d+ node command\\(s\\) failed or were skipped \\(verdict [a-z-]+; see the tick line\\)';
  return m !== null && new RegExp(`^${part}(; ${part})*$`).test(m[1] ?? '');
};

/** A status command's success as the fleet adapter hands it over: the output parsed by the node-report parser. */
const withParsedReport = (output: string): CommandOutcome => {
  const parsed = parseNodeReport(output);
  return { status: 'success', commandId: 'model', output, ...(parsed.ok ? { report: parsed.report } : { reportError: parsed.error }), durationMs: 0 };
};

const malformed = (o: CommandOutcome): CommandOutcome => (o.status === 'success' ? withParsedReport(`${o.output.slice(0, 27)}`) : o);

const lostAnswer: CommandOutcome = { status: 'timeout', commandId: 'model', phase: 'execution', detail: 'model: the answer was lost; the node did act', durationMs: 0 };
const sendRefused: CommandOutcome = {
  status: 'failed',
  exitCode: null,
  stderrTail: 'SendCommand failed: ThrottlingException: Rate exceeded (model)',
  durationMs: 0,
};

// ---------------------------------------------------------------------------------------------
// Running the real function

const SILENT_METRICS = { addMetric: () => undefined, addDimension: () => undefined, publishStoredMetrics: () => undefined } as unknown as Metrics;

/** A logger that keeps the errors the app logs (a failed tick), so invariant g can show them. */
const errorLogger = (errors: unknown[]): Logger =>
  ({
    info: () => undefined,
    warn: () => undefined,
    debug: () => undefined,
    error: (_msg: string, extra?: { error?: unknown }) => {
      errors.push(extra?.error ?? _msg);
    },
  }) as unknown as Logger;

interface ProgramResult {
  readonly response?: Response;
  readonly reports?: readonly TickReport[];
  readonly errors: readonly unknown[];
}

type Program = (deps: EngineDeps, errors: unknown[], requestId: string, remainingMs: () => number) => Promise<ProgramResult>;

interface Open {
  readonly call: number;
  readonly req: Req;
}

type ReplayResult =
  | { readonly done: false; readonly open: readonly Open[] }
  | { readonly done: true; readonly ok: true; readonly value: ProgramResult }
  | { readonly done: true; readonly ok: false; readonly error: unknown };

const replay = async (program: Program, requestId: string, log: readonly LogEntry[], skewMs: number, timeoutMs: number, earlyOnSent: boolean): Promise<ReplayResult> => {
  const open = new Map<number, { req: Req; resolve: (v: unknown) => void }>();
  let calls = 0;
  let now = log[0]?.time ?? T0;
  const startedAt = now;
  const issue = <T>(req: Req): Promise<T> =>
    new Promise<T>((resolve) => {
      open.set(calls++, { req, resolve: resolve as (v: unknown) => void });
    });
  const deps: EngineDeps = {
    owner: 'set by the app',
    clock: { now: () => now + skewMs, sleep: (ms) => issue<void>({ port: 'sleep', ms, wakeAt: now + ms }) },
    db: { observe: () => issue<DbObservation>({ port: 'db', sentAt: now + skewMs }), close: async () => undefined },
    store: {
      read: () => issue<StoredRecord>({ port: 'read' }),
      write: (expected, next, lease) => issue<WriteResult>({ port: 'write', expected, next, lease }),
    },
    fleet: {
      reachability: (ids) => issue<ReachabilityResult>({ port: 'reach', ids: [...ids] }),
      // As the fleet adapter: SendCommand, then onSent once SSM has a command id, then the outcome.
      run: async (request, options: RunOptions = {}) => {
        const onSent = options.onSent;
        if (onSent === undefined) return issue<CommandOutcome>({ port: 'run', request, onSent: false });
        if (earlyOnSent) await onSent('model-early');
        const r = await issue<{ sent: boolean; outcome: CommandOutcome }>({ port: 'run', request, onSent: true });
        if (r.sent && !earlyOnSent) await onSent('model');
        return r.outcome;
      },
    },
  };
  const errors: unknown[] = [];
  let result: ReplayResult | undefined;
  // Waits (microtask by microtask, so nothing is left scheduled behind) until the program issued a request
  // or finished; a program waiting on anything else (a timer, real I/O) is a model error.
  const progress = async (): Promise<void> => {
    for (let hops = 0; result === undefined && open.size === 0; hops++) {
      if (hops > 10_000) throw new Error('model: the function waits on something other than a port');
      await null;
    }
  };
  void program(deps, errors, requestId, () => timeoutMs - (now - startedAt)).then(
    (value) => {
      result = { done: true, ok: true, value };
    },
    (error: unknown) => {
      result = { done: true, ok: false, error };
    },
  );
  await progress();
  for (const e of log) {
    const slot = open.get(e.call);
    if (slot === undefined) throw new Error(`model: replay diverged at call ${e.call} (${requestId})`);
    open.delete(e.call);
    now = e.time;
    slot.resolve(e.response);
    // Only the last answer of a Promise.all lets the engine move on.
    if (open.size === 0) await progress();
  }
  // Let a program that just got its final answer run to completion.
  if (result === undefined && open.size === 0) await progress();
  if (result !== undefined) return result;
  return { done: false, open: [...open].map(([call, s]) => ({ call, req: s.req })) };
};

// ---------------------------------------------------------------------------------------------
// The explorer

interface Successor {
  readonly label: string;
  readonly world: World;
}

type Variant = 'normal' | 'lost' | 'malformed' | 'sendFail';

const EXEMPT_STOPS = new Set(['stop-duplicate', 'cancel-pending', 'stop-removed']);

/** The invocation log's outage marks, as the engine puts them on the observation. */
type OutageMarks = Pick<Observation, 'dbBackAt' | 'dbDownAt'>;

class Explorer {
  readonly #spec: ModelSpec;
  readonly #config: ClusterConfig;
  readonly #settings: WatchdogSettings;
  readonly #timeoutMs: number;
  readonly #windowMs: number;
  readonly #replays = new Map<string, ReplayResult>();
  readonly #convergence = new Map<string, { e: string | null; h: string | null }>();
  readonly #settleKeys = new WeakMap<StoredRecord, string>();
  #replayCount = 0;
  readonly #coverage: Record<string, number> = {};
  #cover(what: string): void {
    this.#coverage[what] = (this.#coverage[what] ?? 0) + 1;
  }
  #violations: Violation[] = [];
  #trace: readonly string[] = [];
  readonly #checks: Record<InvariantId, number> = { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0, g: 0, h: 0, i: 0, j: 0 };

  constructor(spec: ModelSpec) {
    this.#spec = spec;
    this.#config = spec.config;
    this.#settings = parseSettings({
      cluster: spec.config,
      db: { dialect: 'postgres', host: 'db.model', database: 'airflow', user: 'watchdog', passwordParameterName: '/model/db' },
      aws: { tableName: 'watchdog', startDocument: 'Watchdog-Start', stopDocument: 'Watchdog-Stop', statusDocument: 'Watchdog-Status' },
    });
    this.#timeoutMs = functionTimeout(this.#settings).timeoutSeconds * 1000;
    this.#windowMs = livenessWindowSeconds(spec.config.heartbeatSeconds) * 1000;
  }

  initialWorld(): World {
    const { config, initial } = this.#spec;
    const frozen = new Set(this.#spec.preset?.frozen ?? []);
    const cut = new Set(this.#spec.preset?.partitioned ?? []);
    const nodes: NodeModel[] = config.nodes.map((n, i) => {
      const runs = initial === 'steady' && i === 0;
      return {
        id: n.id,
        hostname: n.hostname,
        epoch: this.#spec.preset?.epochs?.[n.id] ?? (runs ? 1 : null),
        proc: runs ? (frozen.has(n.id) ? 'frozen' : 'up') : 'stopped',
        beatAt: runs ? T0 : null,
        jobs: runs ? 1 : 0,
        upGen: runs ? 1 : 0,
        partitioned: cut.has(n.id),
        failStart: this.#spec.failStart?.includes(n.id) ?? false,
        restartAlways: this.#spec.restartAlways?.includes(n.id) ?? false,
      };
    });
    const first = config.nodes[0];
    const record: StoredRecord | undefined =
      initial === 'steady' && first !== undefined
        ? {
            clusterName: CLUSTER,
            version: 1,
            ...EMPTY_RECORD_STATE,
            epoch: 1,
            active: [first.id],
            nodes: config.nodes.map(({ id, hostname }) => ({ id, hostname })),
          }
        : undefined;
    const actors: ActorModel[] = [];
    const idle = (id: string, kind: ActorModel['kind'], ticksLeft: number): ActorModel => ({
      id,
      kind,
      status: 'idle',
      ticksLeft,
      tickNo: 0,
      log: [],
      logHash: '',
      track: freshTrack(-1),
      readings: [],
    });
    for (let i = 1; i <= this.#spec.watchdogs; i++) actors.push(idle(`W${i}`, 'tick', this.#spec.ticksPerWatchdog));
    if (this.#spec.manual !== undefined) actors.push(idle('M', 'manual', 1));
    const ghost: Ghost = {
      startsByEpoch: {},
      activeByEpoch: record === undefined ? {} : { '1': [...record.active] },
      maxEpoch: record?.epoch ?? 0,
      acceptedStarts: [],
    };
    return { now: T0, record, nodes, dbDown: false, dbDownSeen: false, budgets: this.#spec.budgets, actors, ghost };
  }

  stateKey(w: World): string {
    // Plain JSON is canonical here: nodes, budgets and actors are always built with the same key order,
    // and the ghost maps have integer keys, which JavaScript enumerates in ascending order.
    return sha(
      JSON.stringify({
        now: w.now,
        record: digest(w.record ?? null),
        nodes: w.nodes,
        dbDown: w.dbDown,
        dbDownSeen: w.dbDown && w.dbDownSeen,
        budgets: w.budgets,
        ghost: w.ghost,
        actors: w.actors.map((a) => [a.id, a.status, a.ticksLeft, a.tickNo, a.logHash, a.readings.map((r) => r.up).join('|')]),
      }),
    );
  }

  #violate(invariant: InvariantId, message: string, label: string): void {
    if (this.#violations.length < 20) this.#violations.push({ invariant, message, trace: [...this.#trace, label] });
  }

  #program(a: ActorModel): Program {
    const cfg = this.#config;
    if (a.kind === 'tick' && a.id === 'W1' && this.#spec.rogueW1 === true) {
      return async (deps, _errors, requestId) => {
        const d = { ...deps, owner: `${requestId}#0` };
        const o = await observe(d, cfg);
        const plan = decide(o.observation, stripStored(o.record), cfg, o.observedAt);
        for (const x of plan.actions) await d.fleet.run({ kind: x.kind, nodeId: x.nodeId, epoch: x.epoch, comment: 'rogue' });
        return { errors: [], reports: [{ plan, observed: o, disposition: 'acted', executed: [], durationMs: 0 }] };
      };
    }
    const event: unknown =
      a.kind === 'tick'
        ? { source: 'aws.events', 'detail-type': 'Scheduled Event' }
        : {
            action: 'failover',
            reason: 'model: operator moves the scheduler',
            caller: CALLER,
            ...(this.#spec.manual?.to === undefined ? {} : { to: this.#spec.manual.to }),
            ...(this.#spec.manual?.force === undefined ? {} : { force: this.#spec.manual.force }),
          };
    return async (deps, errors, requestId, remainingMs) => {
      const app = createApp(this.#settings, { db: deps.db, store: deps.store, fleet: deps.fleet, clock: deps.clock, logger: errorLogger(errors), metrics: SILENT_METRICS });
      try {
        const response = await app.handle(event, { awsRequestId: requestId, getRemainingTimeInMillis: remainingMs });
        return { response, errors };
      } catch (err) {
        // A scheduled invocation with a failed tick throws after the loop; the tick's own error was logged.
        return { errors: [...errors, err] };
      }
    };
  }

  #skewMs(a: ActorModel): number {
    return (this.#spec.skewSeconds?.[a.id] ?? 0) * 1000;
  }

  async #next(a: ActorModel): Promise<ReplayResult> {
    const key = `${requestIdOf(a)}|${a.logHash}`;
    const cached = this.#replays.get(key);
    if (cached !== undefined) return cached;
    this.#replayCount += 1;
    const r = await replay(this.#program(a), requestIdOf(a), a.log, this.#skewMs(a), this.#timeoutMs, this.#spec.earlyOnSent === true);
    if (this.#replays.size >= 50_000) this.#replays.clear();
    this.#replays.set(key, r);
    return r;
  }

  readonly #plans = new Map<string, PlanView>();

  /**
   * The plan the tick must have made from its readings (cached: decide() is pure). The invocation's
   * earlier readings are those the ReadingLog documents: every reading a decision was taken on or that
   * was taken as evidence, and a reading with the DB unreachable (a watch recheck included) clears them.
   */
  #planOf(a: ActorModel, t: Track, readings: readonly Reading[]): PlanView {
    const at = t.observedAt as number;
    let earlier: EarlierReading | undefined;
    let outage: OutageMarks = {};
    const record = t.group.record as StoredRecord;
    if (a.kind === 'tick' && record.paused === undefined && this.#config.enforcement !== 'observe') {
      const log = new ReadingLog();
      for (const r of readings) if (!(r.kind === 'recheck' && r.db.status === 'ok')) log.add(r.db, r.at, r.slow);
      earlier = log.before(at, this.#windowMs);
      // When the invocation saw the DB go and come back: liveness gives survivors time after the return.
      outage = { ...(log.dbBackAt === undefined ? {} : { dbBackAt: log.dbBackAt }), ...(log.dbDownAt === undefined ? {} : { dbDownAt: log.dbDownAt }) };
    }
    const key = [
      a.kind,
      at,
      answerDigest(t.db),
      digest(record),
      canon(t.group.reach),
      earlier === undefined ? '-' : `${earlier.observedAt}:${answerDigest({ status: 'ok', rows: earlier.rows, foreign: [] })}`,
      canon(t.units),
      `${outage.dbDownAt ?? '-'}:${outage.dbBackAt ?? '-'}`,
    ].join('|');
    const hit = this.#plans.get(key);
    if (hit !== undefined) return hit;
    if (this.#plans.size >= 100_000) this.#plans.clear();
    const view = this.#computePlan(a, t, earlier, at, outage);
    this.#plans.set(key, view);
    return view;
  }

  #computePlan(a: ActorModel, t: Track, earlier: EarlierReading | undefined, at: number, outage: OutageMarks = {}): PlanView {
    const record = t.group.record as StoredRecord;
    const reach = t.group.reach as ReachabilityResult;
    const db = t.db as DbObservation;
    const base: Observation = { db, reachability: reach.ok ? { ...reach.nodes } : {} };
    const obs: Observation =
      a.kind === 'tick'
        ? { ...base, ...(earlier === undefined ? {} : { earlier }), ...outage, ...(Object.keys(t.units).length === 0 ? {} : { units: t.units }) }
        : base;
    const state = stripStored(record);
    let plan: Plan | undefined;
    let refused = false;
    if (a.kind === 'tick') plan = decide(obs, state, this.#config, at);
    else {
      const m = this.#spec.manual ?? {};
      try {
        plan = planManualFailover(obs, state, this.#config, { to: m.to, reason: 'model: operator moves the scheduler', force: m.force ?? false, caller: CALLER }, at);
      } catch (err) {
        if (!(err instanceof RefusedError)) throw err;
        refused = true;
      }
    }
    const next = plan?.next ?? state;
    let healthy: string[] = [];
    if (db.status === 'ok') {
      const view = viewCluster(obs as OkObservation, state, this.#config, at);
      healthy = view.healthy.map((n) => n.id);
      for (const n of this.#config.nodes) {
        const l = view.liveness.get(n.id);
        if (l !== undefined && l.kind !== 'fresh' && l.kind !== 'absent') this.#cover(`liveness ${l.kind}${l.kind === 'dead' ? (l.evidence.startsWith('the node') ? ' (unit)' : ' (unchanged heartbeat)') : ''}`);
      }
    }
    for (const alarm of plan?.alarms ?? []) this.#cover(`alarm ${alarm}`);
    const actions = (plan?.actions ?? []).map((x) => ({ key: actionKey(x), purpose: x.purpose }));
    return {
      actions,
      next: digest(next),
      pending: next.pending.map(pendingKey),
      acts: plan !== undefined && (plan.next !== undefined || plan.actions.length > 0),
      dbOk: db.status === 'ok',
      force: a.kind === 'manual' && (this.#spec.manual?.force ?? false),
      refused,
      observedAt: at,
      healthy,
      observedActive: record.active,
      keep: next.active[0],
      evidenceAt: earlier?.observedAt ?? at,
    };
  }

  /** A tick that ended without writing: its plan must not have called for a change (invariant c). */
  #endTick(a: ActorModel, t: Track, label: string): void {
    if (a.kind !== 'tick' || t.tick < 0 || t.phase !== 'observing' || (this.#spec.rogueW1 === true && a.id === 'W1')) return;
    if (t.group.record === undefined || t.group.reach === undefined || t.db === undefined || t.observedAt === undefined) return;
    this.#checks.c += 1;
    const plan = this.#planOf(a, t, a.readings);
    if (plan.acts) {
      this.#violate('c', `${ownerOf(a, t.tick)} ends its tick without committing the plan its readings call for [${plan.actions.map((x) => x.key).join('; ')}]`, label);
    }
  }

  /** Answers one open request of an actor: the world's answer, the invariant checks, the actor's new log. */
  async #answer(w: World, a0: ActorModel, open: Open, siblings: readonly Open[], label: string, variant: Variant = 'normal'): Promise<World> {
    const req = open.req;
    let world = w;
    let response: unknown;
    const cfg = this.#config;
    const skew = this.#skewMs(a0);
    const a: ActorModel = a0.status === 'idle' ? { ...a0, status: 'running', track: freshTrack(-1), readings: [] } : a0;
    let track = a.track;
    let readings = a.readings;

    const isGroupRead = req.port === 'read' || req.port === 'reach' || (req.port === 'db' && (siblings.some((o) => o.req.port === 'read' || o.req.port === 'reach') || (track.groupAnswered > 0 && track.groupAnswered < 3)));
    if (isGroupRead && (track.groupAnswered === 0 || track.groupAnswered >= 3)) {
      // A new observe group: a new tick, unless it is the DB watch's observe after the DB came back.
      if (a.kind === 'manual') track = freshTrack(0);
      else if (!track.recheckOk) {
        this.#endTick(a, track, label);
        track = freshTrack(track.tick + 1);
      } else track = { ...track, group: {}, groupAnswered: 0, recheckOk: false };
    }
    const owner = ownerOf(a, track.tick);

    const groupPart = (part: 'db' | 'record' | 'reach', value: unknown): void => {
      const group = { ...track.group, [part]: value } as Track['group'];
      const answered = track.groupAnswered + 1;
      track = { ...track, group, groupAnswered: answered };
      if (answered === 3) track = { ...track, db: group.db, observedAt: w.now + skew, units: {}, badProbe: [] };
    };

    switch (req.port) {
      case 'db': {
        const db = dbObservation(w, cfg);
        response = db;
        if (w.dbDown) world = { ...world, dbDownSeen: true };
        const kind: Reading['kind'] = isGroupRead ? 'observe' : track.db?.status === 'unreachable' ? 'recheck' : 'reread';
        const slow = w.now + skew - req.sentAt > slowReadingMs(cfg);
        if (a.kind === 'tick') readings = [...readings, { at: w.now + skew, slow, db, kind, up: upSnapshot(w) }];
        if (isGroupRead) groupPart('db', db);
        else {
          this.#cover(kind === 'recheck' ? `DB watch recheck (${db.status})` : `evidence re-read (${db.status})`);
          track = kind === 'recheck' ? { ...track, recheckOk: db.status === 'ok' } : { ...track, db, observedAt: w.now + skew };
          if (kind === 'recheck' && db.status !== 'ok') track = { ...track, db };
        }
        break;
      }
      case 'read':
        response = w.record ?? emptyRecord();
        groupPart('record', response);
        break;
      case 'reach':
        response = reachability(w, req.ids);
        groupPart('reach', response);
        break;
      case 'sleep':
        response = undefined;
        this.#cover('sleep');
        this.#checks.c += 1;
        if (track.holdsLease && a.kind === 'tick') this.#violate('c', `${owner} sleeps ${req.ms} ms while it holds the lease`, label);
        break;
      case 'write': {
        this.#checks.g += 1;
        const before = w.record;
        const commit = track.phase === 'observing';
        let onSentWrite = false;
        if (commit) {
          // The commit of intent.
          this.#checks.c += 1;
          const complete = track.group.record !== undefined && track.group.reach !== undefined && track.db !== undefined && track.observedAt !== undefined;
          if (!complete) this.#violate('c', `${owner} writes before its observation is complete`, label);
          else {
            const plan = this.#planOf(a, track, readings);
            track = { ...track, plan };
            if (plan.refused) this.#violate('c', `${owner} writes although its manual request was refused`, label);
            if (digest(req.next) !== plan.next) this.#violate('c', `${owner} commits a state that is not the plan of its readings [${plan.actions.map((x) => x.key).join('; ')}]`, label);
            if ((req.lease.expiresAt !== undefined) !== plan.actions.length > 0) {
              this.#violate('c', `${owner} commits ${plan.actions.length} action(s) with lease expiry ${String(req.lease.expiresAt)}`, label);
            }
          }
          if (req.expected.version !== track.group.record?.version)
            this.#violate('g', `${owner} commits against version ${req.expected.version}, read ${track.group.record?.version}`, label);
        } else {
          if (track.phase === 'lost' || !track.lastWriteOk) this.#violate('c', `${owner} writes after a lost race or lost lease`, label);
          if (req.expected.version !== track.lastVersion) this.#violate('g', `${owner} writes against version ${req.expected.version}, last wrote ${track.lastVersion}`, label);
          const s = track.sentStart;
          if (s !== undefined) {
            this.#checks.c += 1;
            const want = track.lastWritten === undefined ? undefined : markedSent(track.lastWritten, s.nodeId, s.epoch, s.at);
            if (want === undefined || digest(req.next) !== digest(want)) this.#violate('c', `${owner}'s onSent write for the start on ${s.nodeId} changes more than its sentAt`, label);
            track = { ...track, sentStart: undefined };
            onSentWrite = true;
          }
        }
        if (req.lease.owner !== owner) this.#violate('c', `${owner} writes with lease owner ${req.lease.owner}`, label);
        const { world: after, result } = await storeWrite(world, req.expected, req.next, req.lease, this.#spec.brokenStore === true);
        world = after;
        response = result;
        if (onSentWrite) this.#cover(`onSent write ${result.ok ? 'ok' : `lost (${result.reason})`}`);
        if (result.ok) {
          const r = this.#onCommitted(world, before, result.record, a, track, commit, label);
          world = r.world;
          track = {
            ...r.track,
            ...(commit ? { phase: 'committed' as const, leaseAtCommit: result.record.leaseOwner === owner && result.record.leaseExpiresAt !== undefined } : {}),
            lastWriteOk: true,
            lastVersion: result.record.version,
            lastWritten: req.next,
            holdsLease: req.lease.expiresAt !== undefined,
          };
        } else track = { ...track, phase: 'lost', lastWriteOk: false, holdsLease: false };
        break;
      }
      case 'run': {
        const r = req.request;
        if (r.kind === 'status') {
          // A liveness probe: read-only, before the commit, to a stale intended-active node that was Online.
          this.#checks.c += 1;
          this.#checks.f += 1;
          const rec = track.group.record;
          const row = track.db?.status === 'ok' ? track.db.rows[cfg.nodes.find((n) => n.id === r.nodeId)?.hostname ?? ''] : undefined;
          if (track.phase !== 'observing') this.#violate('c', `${owner} sends a status command after its commit`, label);
          if (rec === undefined || !rec.active.includes(r.nodeId)) this.#violate('c', `${owner} asks the status of ${r.nodeId}, not an intended-active node of the record it read`, label);
          if (track.group.reach?.ok === true && track.group.reach.nodes[r.nodeId] !== 'Online') this.#violate('c', `${owner} asks the status of ${r.nodeId}, not Online when it observed`, label);
          if (track.db?.status !== 'ok') this.#violate('f', `${owner} asks the status of ${r.nodeId} on a reading with the DB unreachable`, label);
          else if (row === undefined || row.ageSeconds <= cfg.staleAfterSeconds) this.#violate('c', `${owner} asks the status of ${r.nodeId}, whose heartbeat it read fresh or absent`, label);
          const base = variant === 'sendFail' ? { world, outcome: sendRefused, applied: false, sent: false } : runCommand(world, r);
          const outcome = variant === 'lost' ? lostAnswer : variant === 'malformed' ? malformed(base.outcome) : base.outcome;
          if (variant === 'lost') world = { ...world, budgets: { ...world.budgets, lostReply: world.budgets.lostReply - 1 } };
          if (variant === 'malformed') world = { ...world, budgets: { ...world.budgets, badStatus: world.budgets.badStatus - 1 } };
          if (variant === 'sendFail') world = { ...world, budgets: { ...world.budgets, sendFail: world.budgets.sendFail - 1 } };
          response = outcome;
          const probe = unitProbeOf(outcome);
          if (probe !== undefined) track = { ...track, units: { ...track.units, [r.nodeId]: probe } };
          if (probe?.ok === false) track = { ...track, badProbe: [...track.badProbe, r.nodeId] };
          const node = w.nodes.find((n) => n.id === r.nodeId);
          this.#cover(
            `status ${variant === 'normal' ? (probe === undefined ? outcome.status : probe.ok ? probe.report.unitState : 'unusable') : variant}${node?.proc === 'frozen' ? ' (frozen)' : ''}`,
          );
          break;
        }
        const key = actionKey(r);
        const plan = track.plan;
        this.#checks.c += 1;
        this.#checks.f += 1;
        let purpose: string | undefined;
        if (track.phase !== 'committed' || !track.lastWriteOk || plan === undefined) {
          this.#violate('c', `${owner} sends ${key} without a committed intent (phase ${track.phase})`, label);
        } else {
          const j = plan.actions.findIndex((x, i) => i >= track.nextAction && x.key === key);
          if (j < 0) this.#violate('c', `${owner} sends ${key}, not a remaining action of its committed plan [${plan.actions.map((x) => x.key).join('; ')}]`, label);
          else {
            purpose = plan.actions[j]?.purpose;
            track = { ...track, nextAction: j + 1 };
          }
          if (!track.leaseAtCommit) this.#violate('c', `${owner} sends ${key} but did not hold the lease when it committed`, label);
          if (r.kind === 'start' && !plan.pending.includes(`${r.nodeId}@${r.epoch}@${plan.observedAt}`)) {
            this.#violate('c', `${owner} sends ${key} without its own pending start in the committed state`, label);
          }
          if (!plan.dbOk && !plan.force) this.#violate('f', `${owner} sends ${key} planned while the metadata DB was unreachable`, label);
        }
        // (j) nothing is done to a node whose status answer was unusable, and single mode starts nothing then.
        this.#checks.j += 1;
        if (track.badProbe.includes(r.nodeId)) this.#violate('j', `${owner} sends ${key} in the tick in which ${r.nodeId}'s status answer was unusable`, label);
        else if (cfg.mode === 'single' && r.kind === 'start' && track.badProbe.length > 0) this.#violate('j', `${owner} sends ${key} in a tick with an unusable status answer (${track.badProbe.join(', ')})`, label);
        if (r.kind === 'stop') this.#checkLiveStop(w, a, plan, purpose, r.nodeId, owner, label);

        const base: RunResult = variant === 'sendFail' ? { world, outcome: sendRefused, applied: false, sent: false } : runCommand(world, r, this.#spec.brokenStop === true);
        world = base.world;
        const outcome = variant === 'lost' ? lostAnswer : base.outcome;
        if (variant === 'lost') world = { ...world, budgets: { ...world.budgets, lostReply: world.budgets.lostReply - 1 } };
        if (variant === 'sendFail') world = { ...world, budgets: { ...world.budgets, sendFail: world.budgets.sendFail - 1 } };
        if (base.sent) {
          track = { ...track, chargeable: { ...track.chargeable, [r.nodeId]: (track.chargeable[r.nodeId] ?? 0) + 1 } };
          if (r.kind === 'start' && plan !== undefined) {
            const k = `${r.nodeId}@${r.epoch}@${plan.observedAt}`;
            if (!world.ghost.acceptedStarts.includes(k)) world = { ...world, ghost: { ...world.ghost, acceptedStarts: [...world.ghost.acceptedStarts, k].sort() } };
          }
          if (req.onSent) track = { ...track, sentStart: { nodeId: r.nodeId, epoch: r.epoch, at: w.now + skew } };
        }
        response = req.onSent ? { sent: base.sent, outcome } : outcome;
        if (base.applied && r.kind === 'start') world = this.#onStart(world, r, label);
        this.#cover(`${r.kind} ${variant === 'normal' ? outcome.status : variant === 'lost' ? 'answer lost' : 'never sent'}`);
        if (outcome.status === 'stale-epoch' && outcome.nodeEpoch !== null && outcome.nodeEpoch > r.epoch + 1000) this.#cover(`${r.kind} refused: epoch jump`);
        if (r.kind === 'stop' && purpose !== undefined) this.#cover(`stop ${purpose}`);
        break;
      }
    }

    const entry: LogEntry = { call: open.call, time: w.now, response };
    const log = [...a.log, entry];
    let actor: ActorModel = { ...a, status: 'running', log, logHash: sha(`${a.logHash}|${open.call}|${w.now}|${answerDigest(response)}`), track, readings };
    const after = await this.#next(actor);
    if (after.done) {
      this.#endTick(actor, track, label);
      this.#checks.g += 1;
      if (after.ok) {
        const v = after.value;
        // A scheduled invocation whose node commands failed fails by design (the errors alarm), nothing else may.
        const errors = v.errors.filter((e) => !nodeCommandsFailedOnly(e));
        if (errors.length < v.errors.length) this.#cover('invocation failed for node commands');
        const failed = errors.length > 0 || (v.response !== undefined && !v.response.ok && actor.kind === 'tick');
        if (failed) {
          const e = errors[0];
          this.#violate('g', `${requestIdOf(actor)} failed: ${e instanceof Error ? e.stack : JSON.stringify(v.response ?? e)}`, label);
        }
        const ticks = v.reports?.map((r) => ({ verdict: r.plan.verdict, disposition: r.disposition })) ??
          ((v.response?.ok === true ? (v.response as { ticks?: { verdict: string; disposition: string }[] }).ticks : undefined) ?? []);
        for (const t of ticks) {
          this.#cover(`tick ${t.disposition}`);
          this.#cover(`verdict ${t.verdict}`);
        }
        if (actor.kind === 'manual') this.#cover(`manual ${v.response?.ok === true ? 'done' : 'refused'}`);
        if (actor.kind === 'manual' && v.response !== undefined && !v.response.ok && v.response.error.code !== 'Refused') {
          this.#violate('g', `${requestIdOf(actor)} failed: ${v.response.error.message}`, label);
        }
      } else if (!nodeCommandsFailedOnly(after.error)) {
        this.#violate('g', `${requestIdOf(actor)} threw: ${after.error instanceof Error ? after.error.stack : String(after.error)}`, label);
      } else {
        // By design: a scheduled invocation whose node commands failed fails, so the errors alarm fires.
        this.#cover('invocation failed for node commands');
      }
      actor = { ...actor, status: 'idle', ticksLeft: actor.ticksLeft - 1, tickNo: actor.tickNo + 1, log: [], logHash: '', track: freshTrack(-1), readings: [] };
    }
    return { ...world, actors: world.actors.map((x) => (x.id === a.id ? actor : x)) };
  }

  /** (h) A stop must not reach a scheduler that lives and has lived since the sender's evidence was taken. */
  #checkLiveStop(w: World, a: ActorModel, plan: PlanView | undefined, purpose: string | undefined, nodeId: string, owner: string, label: string): void {
    this.#checks.h += 1;
    if (a.kind === 'manual' || plan === undefined) return;
    const n = w.nodes.find((x) => x.id === nodeId);
    if (n === undefined || n.proc !== 'up' || n.beatAt === null || (w.now - n.beatAt) / 1000 > this.#config.staleAfterSeconds) return;
    const exempt =
      this.#config.mode === 'single' &&
      purpose !== undefined &&
      EXEMPT_STOPS.has(purpose) &&
      plan.keep !== undefined &&
      plan.keep !== nodeId &&
      plan.healthy.includes(plan.keep);
    if (exempt) return;
    let reading: Reading | undefined;
    for (const r of a.readings) if (r.kind !== 'recheck' && r.at === plan.evidenceAt) reading = r;
    if (reading === undefined) return;
    if (reading.up.split(',').includes(`${n.id}:${n.upGen}`)) {
      this.#violate(
        'h',
        `${owner} sends a ${purpose ?? 'stop'} to ${nodeId}, whose scheduler is up and beating (heartbeat ${(w.now - n.beatAt) / 1000} s old) and has been up since the reading at +${(reading.at - T0) / 1000} s its decision rests on`,
        label,
      );
    }
  }

  #onStart(w: World, r: CommandRequest, label: string): World {
    const e = String(r.epoch);
    const nodes = new Set(w.ghost.startsByEpoch[e] ?? []);
    nodes.add(r.nodeId);
    this.#checks.a += 1;
    if (this.#config.mode === 'single' && nodes.size > 1) this.#violate('a', `epoch ${e} started on ${[...nodes].join(' and ')}`, label);
    return { ...w, ghost: { ...w.ghost, startsByEpoch: { ...w.ghost.startsByEpoch, [e]: [...nodes].sort() } } };
  }

  /** Checks on every successful write: epochs, actives per epoch, pending starts, charges. */
  #onCommitted(w: World, before: StoredRecord | undefined, rec: StoredRecord, a: ActorModel, track: Track, commit: boolean, label: string): { world: World; track: Track } {
    const owner = ownerOf(a, track.tick);
    const oldEpoch = before?.epoch ?? 0;
    this.#checks.b += 1;
    if (rec.epoch < oldEpoch) this.#violate('b', `${owner} lowers the record epoch ${oldEpoch} → ${rec.epoch}`, label);
    for (const [id, e] of Object.entries(this.#spec.preset?.epochs ?? {})) {
      if (rec.epoch >= e) this.#violate('b', `${owner} adopts epoch ${rec.epoch} from ${id}'s corrupted epoch file (${e})`, label);
    }
    let ghost: Ghost = { ...w.ghost, maxEpoch: Math.max(w.ghost.maxEpoch, rec.epoch) };

    if (this.#config.mode === 'single' && rec.active.length > 0) {
      this.#checks.a += 1;
      if (rec.active.length > 1) this.#violate('a', `record names ${rec.active.length} active nodes in single mode`, label);
      const e = String(rec.epoch);
      const seen = ghost.activeByEpoch[e] ?? [];
      const act = rec.active[0] as string;
      if (!seen.includes(act)) {
        if (seen.length > 0) {
          // Allowed only as the write-back of a failover whose fencing stop failed: the previous active is restored.
          const restore = track.phase === 'committed' && track.plan?.observedActive.includes(act) === true;
          const abandoned = seen.filter((n) => n !== act);
          const startedAbandoned = abandoned.some((n) => (ghost.startsByEpoch[e] ?? []).includes(n));
          if (!restore || startedAbandoned) this.#violate('a', `epoch ${e} names active ${seen.join(', ')} and then ${act}`, label);
        }
        ghost = { ...ghost, activeByEpoch: { ...ghost.activeByEpoch, [e]: [...seen, act] } };
      }
    }

    // (d) pending starts leave only when settled.
    const kept = new Set(rec.pending.map(pendingKey));
    const plan = track.plan;
    for (const p of before?.pending ?? []) {
      this.#checks.d += 1;
      if (kept.has(pendingKey(p))) continue;
      const at = plan?.observedAt ?? w.now;
      const healthy = plan?.healthy.includes(p.nodeId) === true || (plan?.healthy.length ?? 0) > 0;
      const expired = at - p.issuedAt >= this.#config.startupGraceSeconds * 1000;
      const superseded = rec.epoch > p.epoch;
      const ownStart = track.phase === 'committed' && plan?.observedAt === p.issuedAt && plan.actions.some((x) => x.key.startsWith(`start ${p.nodeId} `));
      if (expired && !healthy && commit) this.#cover(`pending start expired ${p.sentAt === undefined ? 'unsent (dropped)' : 'sent'}`);
      if (!(healthy || expired || superseded || ownStart)) {
        this.#violate('d', `${owner} drops the pending start ${pendingKey(p)} unsettled (issued ${(at - p.issuedAt) / 1000} s before its observation)`, label);
      }
    }

    // (i) no charge without a send; sentAt only for a start SSM accepted.
    let chargeable = track.chargeable;
    for (const p of rec.pending) {
      this.#checks.i += 1;
      if (p.sentAt !== undefined && !ghost.acceptedStarts.includes(pendingKey(p))) {
        this.#violate('i', `${owner} marks the start ${pendingKey(p)} sent, but SSM never accepted it`, label);
      }
    }
    const ids = new Set([...Object.keys(rec.failures), ...Object.keys(before?.failures ?? {})]);
    for (const id of ids) {
      const delta = (rec.failures[id]?.count ?? 0) - (before?.failures[id]?.count ?? 0);
      if (delta <= 0) continue;
      this.#checks.i += 1;
      this.#cover('failure charged');
      const expiredSent = (before?.pending ?? []).filter((p: PendingStart) => p.nodeId === id && !kept.has(pendingKey(p)) && ghost.acceptedStarts.includes(pendingKey(p))).length;
      const allowed = commit ? expiredSent : (chargeable[id] ?? 0);
      if (delta > allowed) {
        this.#violate('i', `${owner} charges ${id} ${delta} failure(s) with ${allowed} command(s) to it that SSM accepted and were not charged yet`, label);
      } else if (!commit) chargeable = { ...chargeable, [id]: allowed - delta };
    }
    return { world: { ...w, ghost }, track: { ...track, chargeable } };
  }

  async successors(w: World): Promise<Successor[]> {
    const out: Successor[] = [];
    for (const a of w.actors) {
      if (a.status === 'idle' && a.ticksLeft <= 0) continue;
      const r = await this.#next(a);
      if (r.done) throw new Error(`model: ${requestIdOf(a)} is done but not finalised`);
      const reads = r.open.filter((o) => o.req.port === 'read' || o.req.port === 'reach' || o.req.port === 'db');
      if (this.#spec.observe === 'atomic' && reads.length > 1) {
        const label = `${ownerOf(a)} ← observe (${reads.map((o) => describeReq(o.req)).join(', ')})`;
        let cur = w;
        let actor = a;
        for (const o of reads) {
          cur = await this.#answer(cur, actor, o, r.open, label);
          actor = cur.actors.find((x) => x.id === a.id) as ActorModel;
        }
        out.push({ label, world: cur });
        continue;
      }
      for (const o of r.open) {
        if (o.req.port === 'sleep' && w.now < o.req.wakeAt) continue;
        const label = `${a.status === 'idle' ? `${requestIdOf(a)} (new invocation)` : ownerOf(a)} ← ${describeReq(o.req, w)}`;
        out.push({ label, world: await this.#answer(w, a, o, r.open, label) });
        const req = o.req;
        if (req.port !== 'run') continue;
        const node = w.nodes.find((n) => n.id === req.request.nodeId);
        const reachable = node !== undefined && !node.partitioned;
        if (w.budgets.lostReply > 0 && reachable) out.push({ label: `${label} (runs, answer lost)`, world: await this.#answer(w, a, o, r.open, `${label} (runs, answer lost)`, 'lost') });
        if (req.request.kind === 'status' && w.budgets.badStatus > 0 && reachable) {
          out.push({ label: `${label} (answer unusable)`, world: await this.#answer(w, a, o, r.open, `${label} (answer unusable)`, 'malformed') });
        }
        if (w.budgets.sendFail > 0) out.push({ label: `${label} (SendCommand refused)`, world: await this.#answer(w, a, o, r.open, `${label} (SendCommand refused)`, 'sendFail') });
      }
    }
    // Time does not pass in the middle of an observation (the reads run in parallel, milliseconds apart).
    const midObserve = w.actors.some((a) => a.status === 'running' && a.track.groupAnswered > 0 && a.track.groupAnswered < 3);
    if (w.budgets.time > 0 && !midObserve)
      out.push({
        label: `time +${this.#spec.timeStepSeconds} s`,
        world: { ...passTime(w, this.#spec.timeStepSeconds * 1000), budgets: { ...w.budgets, time: w.budgets.time - 1 } },
      });
    for (const n of w.nodes) {
      if ((n.proc === 'starting' || n.proc === 'restarting') && !w.dbDown) out.push({ label: `scheduler on ${n.id} writes its first heartbeat`, world: comeUp(w, n.id) });
      if ((n.proc === 'up' || n.proc === 'frozen' || n.proc === 'starting') && w.budgets.schedulerFault > 0) {
        const budgets = { ...w.budgets, schedulerFault: w.budgets.schedulerFault - 1 };
        out.push({
          label: `scheduler on ${n.id} crashes${n.restartAlways ? ' (systemd restarts it)' : ''}`,
          world: { ...replaceNode(w, { ...n, proc: n.restartAlways ? 'restarting' : 'stopped' }), budgets },
        });
        if (n.proc === 'up') out.push({ label: `scheduler on ${n.id} freezes`, world: { ...replaceNode(w, { ...n, proc: 'frozen' }), budgets } });
      }
      if (n.proc === 'frozen') out.push({ label: `scheduler on ${n.id} wakes up${w.dbDown ? ' (DB down: no heartbeat yet)' : ' and heart-beats again'}`, world: wake(w, n.id) });
      if (n.proc === 'up' && !w.dbDown && n.beatAt !== w.now) out.push({ label: `scheduler on ${n.id} heart-beats (DB back)`, world: replaceNode(w, { ...n, beatAt: w.now }) });
      if (!n.partitioned && w.budgets.partition > 0) {
        out.push({
          label: `${n.id} cut off from SSM`,
          world: { ...replaceNode(w, { ...n, partitioned: true }), budgets: { ...w.budgets, partition: w.budgets.partition - 1 } },
        });
      }
      if (n.partitioned) out.push({ label: `${n.id} reachable again`, world: replaceNode(w, { ...n, partitioned: false }) });
    }
    if (!w.dbDown && w.budgets.dbOutage > 0)
      out.push({ label: 'metadata DB down', world: { ...w, dbDown: true, dbDownSeen: false, budgets: { ...w.budgets, dbOutage: w.budgets.dbOutage - 1 } } });
    if (w.dbDown) {
      if (!w.dbDownSeen) this.#cover('DB outage no reading saw');
      out.push({ label: `metadata DB back${w.dbDownSeen ? '' : ' (no reading saw the outage)'}`, world: { ...w, dbDown: false, dbDownSeen: false } });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // (e) convergence from quiescent states

  /** One scheduled invocation run to completion on its own (no interleaving), ports answered straight from the world. */
  async #sequentialTick(w: World, requestId: string): Promise<{ world: World; reports: TickReport[] }> {
    let cur = w;
    const cfg = this.#config;
    const brokenStop = this.#spec.brokenStop === true;
    const reports: TickReport[] = [];
    const deps: EngineDeps = {
      owner: requestId,
      clock: {
        now: () => cur.now,
        sleep: async (ms) => {
          cur = passTime(cur, ms);
        },
      },
      db: { observe: async () => dbObservation(cur, cfg), close: async () => undefined },
      store: {
        read: async () => cur.record ?? emptyRecord(),
        write: async (expected, next, lease) => {
          const r = await storeWrite(cur, expected, next, lease, false);
          cur = r.world;
          return r.result;
        },
      },
      fleet: {
        reachability: async (ids) => reachability(cur, ids),
        run: async (request, options: RunOptions = {}) => {
          const r = runCommand(cur, request, brokenStop);
          cur = r.world;
          if (r.sent && options.onSent !== undefined) await options.onSent('settle');
          return r.outcome;
        },
      },
    };
    // Same options as the app gives a scheduled invocation of one tick: its own ReadingLog, a DB watch.
    const readings = new ReadingLog();
    const start = cur.now;
    const watchDbUntil = Math.min(start + 55_000, start + this.#timeoutMs - worstCaseTickSeconds(this.#settings) * 1000);
    reports.push(await runTick({ ...deps, owner: `${requestId}#0` }, cfg, { readings, watchDbUntil }));
    return { world: cur, reports };
  }

  /** Returns a reason when sequential ticks do not converge (e) or stop a live scheduler (h), null when fine. */
  async #converges(w: World): Promise<{ e: string | null; h: string | null }> {
    const rec = w.record;
    // The version does not matter to sequential ticks; the rest of the record up to history text does.
    let recKey = rec === undefined ? 'none' : this.#settleKeys.get(rec);
    if (recKey === undefined && rec !== undefined) {
      recKey = sha(canon({ ...(behavioural(rec) as object), version: undefined }));
      this.#settleKeys.set(rec, recKey);
    }
    const keyOf = `${w.now}|${recKey}|${JSON.stringify(w.nodes.map((n) => [n.id, n.epoch, n.proc, n.beatAt, n.jobs, n.failStart]))}`;
    const cached = this.#convergence.get(keyOf);
    if (cached !== undefined) return cached;
    // Faults heal; a frozen scheduler wakes up (the worst case: asleep it schedules nothing).
    let cur: World = {
      ...w,
      dbDown: false,
      nodes: w.nodes.map((n) => ({ ...n, partitioned: false, ...(n.proc === 'frozen' ? { proc: 'up' as const, beatAt: w.now, upGen: n.upGen + 1 } : {}) })),
    };
    let last: TickReport | undefined;
    let liveStop: string | null = null;
    const timeline: string[] = [];
    for (let round = 0; round < this.#spec.settleRounds; round++) {
      for (const n of cur.nodes) if (n.proc === 'starting' || n.proc === 'restarting') cur = comeUp(cur, n.id);
      const beating = new Set(cur.nodes.filter((n) => n.proc === 'up' && n.beatAt !== null && (cur.now - n.beatAt) / 1000 <= this.#config.staleAfterSeconds).map((n) => n.id));
      const r = await this.#sequentialTick(cur, `settle.${round}`);
      cur = r.world;
      for (const report of r.reports) {
        last = report;
        timeline.push(`${report.plan.verdict}/${report.disposition}[${report.executed.map((e) => `${actionKey(e.action)}=${e.outcome?.status ?? 'skipped'}`).join(', ')}]`);
        for (const e of report.executed) {
          if (e.action.kind !== 'stop' || !beating.has(e.action.nodeId) || e.outcome?.status !== 'success') continue;
          if (this.#config.mode === 'single' && EXEMPT_STOPS.has(e.action.purpose)) continue;
          liveStop ??= `sequential tick ${round} sends ${e.action.purpose} to ${e.action.nodeId}, whose scheduler was up and beating: ${timeline.join(' → ')}`;
        }
      }
      cur = passTime(cur, this.#spec.timeStepSeconds * 1000);
    }
    for (const n of cur.nodes) if (n.proc === 'starting' || n.proc === 'restarting') cur = comeUp(cur, n.id);
    const running = cur.nodes.filter((n) => n.proc !== 'stopped').map((n) => n.id);
    let problem: string | null = null;
    if (this.#config.mode === 'single') {
      const gaveUp = last !== undefined && (last.plan.alarms.includes('no-candidate') || last.plan.alarms.includes('suppressed'));
      if (running.length > 1)
        problem = `${running.length} schedulers still run after ${this.#spec.settleRounds} sequential ticks (${running.join(', ')}): ${timeline.join(' → ')}`;
      else if (running.length === 0 && !gaveUp)
        problem = `no scheduler runs after ${this.#spec.settleRounds} sequential ticks and no alarm: ${timeline.join(' → ')}`;
    } else if (running.length < this.#config.desiredSchedulers && !(last?.plan.alarms.includes('no-candidate') ?? false)) {
      problem = `${running.length} of ${this.#config.desiredSchedulers} schedulers after ${this.#spec.settleRounds} sequential ticks: ${timeline.join(' → ')}`;
    }
    const result = { e: problem, h: liveStop };
    this.#convergence.set(keyOf, result);
    return result;
  }

  async #checkState(w: World, label: string): Promise<boolean> {
    this.#checks.b += 1;
    const alive = w.nodes.filter((n) => n.proc !== 'stopped').length;
    if (alive > 1) this.#cover('states with 2+ scheduler processes');
    const forged = this.#spec.preset?.epochs ?? {};
    for (const n of w.nodes) {
      if (n.epoch !== null && n.epoch > w.ghost.maxEpoch && n.epoch !== forged[n.id])
        this.#violate('b', `node ${n.id} holds epoch ${n.epoch} above the highest committed ${w.ghost.maxEpoch}`, label);
    }
    // Every state is also the state after all watchdogs now mid-tick crashed: from it, sequential ticks
    // must converge. (A crashed watchdog is one never scheduled again, so the search itself already
    // covers everything the others do after the crash; only this check needs the crash made explicit.)
    this.#checks.e += 1;
    const { e, h } = await this.#converges(w);
    const crashed = w.actors.filter((a) => a.status === 'running').map((a) => ownerOf(a));
    const prefix = crashed.length > 0 ? `if ${crashed.join(' and ')} crashed here: ` : '';
    if (e !== null) this.#violate('e', `${prefix}${e}`, label);
    this.#checks.h += 1;
    if (h !== null) this.#violate('h', `${prefix}${h}`, label);
    return w.actors.every((a) => a.status !== 'running');
  }

  async explore(): Promise<ExploreReport> {
    const started = Date.now();
    const maxDepth = this.#spec.maxDepth ?? 200;
    const root = this.initialWorld();
    const seen = new Set<string>([this.stateKey(root)]);
    let transitions = 0;
    let deepest = 0;
    let capHit = false;
    let stateCapHit = false;
    let quiescent = 0;
    interface Frame {
      readonly world: World;
      readonly label: string;
      succ?: Successor[];
      i: number;
    }
    this.#trace = [];
    if (await this.#checkState(root, 'initial state')) quiescent += 1;
    const stack: Frame[] = [{ world: root, label: 'initial state', i: 0 }];
    while (stack.length > 0) {
      const stopAfter = this.#spec.stopAfter;
      if (stopAfter !== undefined && this.#violations.length > 0 && stopAfter.every((k) => this.#violations.some((v) => v.invariant === k))) break;
      const top = stack[stack.length - 1] as Frame;
      this.#trace = stack.map((f) => f.label);
      if (top.succ === undefined) {
        if (stack.length - 1 >= maxDepth) {
          capHit = true;
          top.succ = [];
        } else top.succ = await this.successors(top.world);
      }
      const next = top.succ[top.i];
      if (next === undefined) {
        stack.pop();
        continue;
      }
      top.i += 1;
      transitions += 1;
      const key = this.stateKey(next.world);
      if (seen.has(key)) continue;
      seen.add(key);
      if (seen.size % 10_000 === 0) this.#spec.progress?.(seen.size, transitions);
      if (seen.size >= (this.#spec.maxStates ?? Number.POSITIVE_INFINITY)) {
        stateCapHit = true;
        break;
      }
      if (await this.#checkState(next.world, next.label)) quiescent += 1;
      stack.push({ world: next.world, label: next.label, i: 0 });
      deepest = Math.max(deepest, stack.length - 1);
    }
    return {
      name: this.#spec.name,
      transitions,
      distinctStates: seen.size,
      maxDepth: deepest,
      depthCapHit: capHit,
      stateCapHit,
      quiescentStates: quiescent,
      convergenceRuns: this.#convergence.size,
      checks: { ...this.#checks },
      violations: this.#violations,
      replays: this.#replayCount,
      coverage: Object.fromEntries(Object.entries(this.#coverage).sort(([x], [y]) => x.localeCompare(y))),
      elapsedMs: Date.now() - started,
    };
  }
}

const describeReq = (r: Req, w?: World): string => {
  switch (r.port) {
    case 'db':
      return 'metadata DB read';
    case 'read':
      return 'record read';
    case 'reach':
      return 'SSM reachability';
    case 'write':
      return `record write v${r.expected.version}→ epoch ${r.next.epoch} active [${r.next.active.join(',')}] pending [${r.next.pending.map((p) => `${p.nodeId}${p.sentAt === undefined ? '' : ' sent'}`).join(',')}] lease ${r.lease.expiresAt === undefined ? 'released' : 'held'}`;
    case 'run':
      return `SSM ${r.request.kind} ${r.request.nodeId} epoch ${r.request.epoch}${r.onSent ? ' (accepted; onSent follows)' : ''}`;
    case 'sleep':
      return `sleep ${r.ms} ms, wakes at +${(r.wakeAt - T0) / 1000} s${w === undefined ? '' : ` (now +${(w.now - T0) / 1000} s)`}`;
  }
};

const exploreModel = (spec: ModelSpec): Promise<ExploreReport> => new Explorer(spec).explore();

const formatReport = (r: ExploreReport): string =>
  [
    `interleaving model "${r.name}": ${r.distinctStates} distinct states, ${r.transitions} transitions explored, max depth ${r.maxDepth}${r.stateCapHit ? ' (STATE CAP HIT: incomplete)' : r.depthCapHit ? ' (depth cap hit)' : ' (exhaustive: every path ends within the budgets)'}`,
    `  quiescent states ${r.quiescentStates} (convergence checked on ${r.convergenceRuns} distinct worlds), engine replays ${r.replays}, ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `  reached: ${Object.entries(r.coverage)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  invariant checks: ${(Object.keys(r.checks) as InvariantId[]).map((k) => `(${k}) ${r.checks[k]}`).join(', ')}`,
    ...r.violations.slice(0, 3).map((v) => `  VIOLATION (${v.invariant}) ${v.message}\n    ${v.trace.join('\n    ')}`),
  ].join('\n');

export { exploreModel, formatReport, INVARIANTS, T0 };
export type { Budgets, ExploreReport, InvariantId, ModelSpec, Violation };
