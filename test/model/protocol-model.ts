/**
 * A deterministic model of the record protocol (SPEC §4.3, §6, §7), explored exhaustively.
 *
 * What is modelled
 * - The record store: one item, written with the SAME conditional rule as the DynamoDB adapter. The model
 *   does not re-implement it: every write goes through `MemoryStore.write` (test/helpers/fakes.ts), whose
 *   rule (version equality, then lease free / own / expired at the writer's clock) the dynalite suite pins
 *   against the real adapter.
 * - A logical clock that moves only by explicit "time passes" steps (`timeStepSeconds`), so lease expiry,
 *   stale heartbeats and the startup grace are all reachable. Watchdog clocks may be skewed.
 * - Nodes: the highest epoch seen (a lower one is refused, as node/airflow-scheduler.sh does), a scheduler
 *   process (`stopped` | `starting` | `up` | `frozen`) and the heartbeat row it leaves in the metadata DB.
 *   A running scheduler heart-beats at every time step; one that crashed or froze leaves its row to go
 *   stale (a frozen one may wake up and heart-beat again); a clean stop ends its row. A start only makes
 *   the process `starting`: its first heartbeat is a separate environment step, which may come late or
 *   never. Commands apply atomically at the node.
 * - Watchdogs run the REAL engine: `runTick` (and `runManual` for the manual failover actor) from
 *   functions/core/engine.ts, with ports that block until the explorer answers them. So the decide(),
 *   planManualFailover(), commit, act, applyOutcome/applySkippedStart and release code under test is the
 *   code that ships, not a hand-written imitation of it.
 * - Faults: a watchdog crash at any step (see below), a scheduler crash or freeze, a node cut off from
 *   SSM (commands time out in delivery; its scheduler keeps heart-beating), a metadata DB outage, a
 *   command that runs but whose answer is lost, and nodes whose `systemctl start` always fails.
 *
 * How the real engine is explored
 * A coroutine cannot be copied, so each watchdog's progress is kept as the log of answers it received
 * (and the clock reading at each answer). The engine is deterministic given that log, so its next
 * requests are found by replaying the log into a fresh `runTick` (cached by log hash). Every port call is
 * one step. The three observe reads (DB, record, SSM reachability) are one step (`observe: 'atomic'`),
 * or one step each in any order with other watchdogs acting in between (`'split'`, as `Promise.all` lets
 * them land; time does not pass in between, the reads are milliseconds apart).
 *
 * Crashes. A crashed watchdog is one that is never scheduled again, keeping whatever lease it holds. The
 * search already contains every continuation in which a watchdog stops moving at any step; what a crash
 * adds is a world in which it never finishes. So instead of a crash transition (which would copy every
 * state), every state is checked as "all watchdogs now mid-tick crashed here": faults heal, a frozen
 * scheduler wakes, and sequential ticks (time passing, leases expiring) must converge (invariant e).
 *
 * The state is the world (clock, record item, nodes, fault budgets), each actor's status and log hash,
 * and the ghost variables the invariants need (nodes started per epoch, actives per epoch). States are
 * identified up to the text written for people (history, reasons, exact stale ages; see behavioural()
 * and answerDigest()), which decide() only appends or compares against thresholds. The explorer is a
 * depth-first search with a visited set of state hashes; every budget (ticks per watchdog, time steps,
 * faults) is finite and every step spends one or moves a log forward, so the state graph is finite and
 * acyclic and the search covers all of it. `maxDepth` and `maxStates` are guards, reported if hit.
 */
import { createHash } from 'node:crypto';
import type { ClusterConfig } from '../../functions/core/config.js';
import { decide } from '../../functions/core/decide.js';
import { planManualFailover } from '../../functions/core/manual.js';
import { type EngineDeps, observe, runManual, runTick, type TickReport } from '../../functions/core/engine.js';
import { RefusedError } from '../../functions/core/errors.js';
import type { CommandOutcome, DbObservation, Observation, Plan, RecordState, SchedulerRow, StoredRecord } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { CommandRequest, LeaseClaim, ReachabilityResult, WriteResult } from '../../functions/core/ports.js';
import { MemoryStore } from '../helpers/fakes.js';

// ---------------------------------------------------------------------------------------------
// World

/** `frozen`: the process lives but writes no heartbeat (VM pause, SIGSTOP, a long stall); it may wake up. */
type Proc = 'stopped' | 'starting' | 'up' | 'frozen';

interface NodeModel {
  readonly id: string;
  readonly hostname: string;
  /** Highest epoch the node has seen (its state file); null = none yet. */
  readonly epoch: number | null;
  readonly proc: Proc;
  /** latest_heartbeat of the node's newest live job row; null = no live row. */
  readonly beatAt: number | null;
  /** Cut off from SSM: commands time out in delivery, reachability says ConnectionLost. */
  readonly partitioned: boolean;
  /** `systemctl start` fails on this node (exit 71). */
  readonly failStart: boolean;
}

interface Budgets {
  readonly time: number;
  /** Scheduler crashes and freezes, together. */
  readonly schedulerFault: number;
  readonly partition: number;
  readonly dbOutage: number;
  /** Commands that run on the node but whose answer is lost: the watchdog sees an execution timeout. */
  readonly lostReply: number;
}

type Req =
  | { readonly port: 'db' }
  | { readonly port: 'read' }
  | { readonly port: 'reach'; readonly ids: readonly string[] }
  | { readonly port: 'write'; readonly expected: StoredRecord; readonly next: RecordState; readonly lease: LeaseClaim }
  | { readonly port: 'run'; readonly request: CommandRequest };

interface LogEntry {
  readonly call: number;
  readonly time: number;
  readonly response: unknown;
}

/** What an actor planned from its latest complete observation; derived from its log, for the invariants. */
interface PlanView {
  readonly actions: readonly string[];
  /** Hash of the state the engine must commit, up to history text (see behavioural()). */
  readonly next: string;
  /** Pending starts of the state to commit, `node@epoch@issuedAt`. */
  readonly pending: readonly string[];
  readonly dbOk: boolean;
  readonly force: boolean;
  readonly refused: boolean;
  readonly observedAt: number;
  /** Configured nodes the observation showed healthy. */
  readonly healthy: readonly string[];
  /** The record's active node(s) as observed. */
  readonly observedActive: readonly string[];
}

interface Track {
  readonly group: { readonly db?: DbObservation; readonly record?: StoredRecord; readonly reach?: ReachabilityResult };
  readonly phase: 'observing' | 'committed' | 'lost';
  readonly plan?: PlanView;
  readonly nextAction: number;
  readonly lastWriteOk: boolean;
  readonly leaseAtCommit: boolean;
}

interface ActorModel {
  readonly id: string;
  readonly kind: 'tick' | 'manual';
  readonly status: 'idle' | 'running';
  readonly ticksLeft: number;
  readonly tickNo: number;
  readonly log: readonly LogEntry[];
  readonly logHash: string;
  readonly track: Track;
}

interface Ghost {
  /** Nodes that accepted a start carrying each epoch. */
  readonly startsByEpoch: Readonly<Record<string, readonly string[]>>;
  /** Distinct active nodes the record named at each epoch. */
  readonly activeByEpoch: Readonly<Record<string, readonly string[]>>;
  readonly maxEpoch: number;
}

interface World {
  readonly now: number;
  readonly record: StoredRecord | undefined;
  readonly nodes: readonly NodeModel[];
  readonly dbDown: boolean;
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
  readonly watchdogs: number;
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
  /**
   * Negative controls, to show the checks can fail: a store without the conditional rule; a watchdog W1
   * that acts on its plan without committing it; nodes whose `stop` reports success and does nothing.
   */
  readonly brokenStore?: boolean;
  readonly rogueW1?: boolean;
  readonly brokenStop?: boolean;
}

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const CLUSTER = 'model';
const CALLER = 'operator';

const INVARIANTS = {
  a: 'single mode: at most one node accepts a start per epoch, and the record names one active node per epoch (a failed fence may only restore the previous one)',
  b: 'the record epoch never decreases; no node holds an epoch above the highest committed one',
  c: 'every SSM command is an action of the plan whose state its sender committed under its own lease, sent in plan order after a successful write',
  d: 'a committed pending start leaves the record only when settled: its node observed healthy, its grace expired, a newer epoch superseded it, or its own start was written back',
  e: 'from every quiescent state (no watchdog mid-tick), sequential ticks converge to at most one scheduler process in single mode, and to exactly one unless the watchdog raised no-candidate or suppressed',
  f: 'no SSM command is planned from an observation in which the metadata DB was unreachable (unless a manual failover was forced)',
  g: 'the engine never throws inside a tick, and every write it makes is conditional on the version it read',
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
 * An answer as far as the engine's behaviour depends on it, for the log hash: what a read or write
 * returned up to history text (see behavioural()); a heartbeat row as absent / fresh / stale (decide()
 * uses the age only against staleAfterSeconds, and in the text of reasons); a lost write by its reason
 * (the engine reads `current` only for the text of its note).
 */
const answerDigest = (response: unknown, config: ClusterConfig): string => {
  if (response === null || typeof response !== 'object') return canon(response);
  const o = response as Record<string, unknown>;
  if (o.status === 'ok' && typeof o.rows === 'object' && o.rows !== null) {
    const rows = o.rows as Record<string, SchedulerRow>;
    return canon({
      db: 'ok',
      rows: Object.fromEntries(
        Object.entries(rows).map(([h, r]) => [h, [r.ageSeconds <= config.staleAfterSeconds ? 'fresh' : 'stale', r.ageSeconds < 0, r.freshRows, r.jobId]]),
      ),
      foreign: (o.foreign as unknown[]).length,
    });
  }
  if (o.ok === false && typeof o.reason === 'string') return canon({ ok: false, reason: o.reason });
  if (o.ok === true && typeof o.record === 'object' && o.record !== null) return canon({ ok: true, record: digest(o.record) });
  return digest(response);
};

const stripStored = (r: StoredRecord): RecordState => {
  const { clusterName: _c, version: _v, leaseOwner: _o, leaseExpiresAt: _e, ...state } = r;
  return state;
};

const emptyRecord = (): StoredRecord => ({ clusterName: CLUSTER, version: 0, ...EMPTY_RECORD_STATE });

const actionKey = (a: { kind: string; nodeId: string; epoch: number }): string => `${a.kind} ${a.nodeId} ${a.epoch}`;
const pendingKey = (p: { nodeId: string; epoch: number; issuedAt: number }): string => `${p.nodeId}@${p.epoch}@${p.issuedAt}`;

const ownerOf = (a: ActorModel): string => `${a.id}#${a.tickNo}`;

const freshTrack = (): Track => ({ group: {}, phase: 'observing', nextAction: 0, lastWriteOk: false, leaseAtCommit: false });

// ---------------------------------------------------------------------------------------------
// Port semantics on the world (pure: world in, world and answer out)

const dbObservation = (w: World, config: ClusterConfig): DbObservation => {
  if (w.dbDown) return { status: 'unreachable', reason: 'model: metadata DB down' };
  const rows: Record<string, SchedulerRow> = {};
  w.nodes.forEach((n, i) => {
    if (n.beatAt === null) return;
    const ageSeconds = (w.now - n.beatAt) / 1000;
    rows[n.hostname] = {
      jobId: 100 + i,
      hostname: n.hostname,
      state: 'running',
      ageSeconds,
      latestHeartbeat: new Date(n.beatAt).toISOString(),
      freshRows: ageSeconds <= config.staleAfterSeconds ? 1 : 0,
    };
  });
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

const runCommand = (w: World, req: CommandRequest, brokenStop = false): { world: World; outcome: CommandOutcome; applied: boolean } => {
  const node = w.nodes.find((n) => n.id === req.nodeId);
  if (node === undefined) return { world: w, outcome: { status: 'undeliverable', detail: 'model: unknown node', durationMs: 0 }, applied: false };
  if (node.partitioned) {
    return { world: w, outcome: { status: 'timeout', phase: 'delivery', detail: 'model: node cut off from SSM', durationMs: 0 }, applied: false };
  }
  if (node.epoch !== null && req.epoch < node.epoch) {
    return {
      world: w,
      outcome: { status: 'stale-epoch', nodeEpoch: node.epoch, detail: `STALE_EPOCH node=${node.epoch} command=${req.epoch}`, durationMs: 0 },
      applied: false,
    };
  }
  const epoch = Math.max(node.epoch ?? 0, req.epoch);
  if (req.kind === 'stop' && brokenStop) {
    return { world: replaceNode(w, { ...node, epoch }), outcome: { status: 'success', commandId: 'model', output: 'stopped', durationMs: 0 }, applied: true };
  }
  if (req.kind === 'stop') {
    // A clean stop ends the scheduler's own row; a crashed one's stale row stays live, and so does a frozen
    // one's (it cannot handle SIGTERM; the script's SIGKILL ends it without a goodbye).
    const next: NodeModel = { ...node, epoch, proc: 'stopped', beatAt: node.proc === 'up' ? null : node.beatAt };
    return { world: replaceNode(w, next), outcome: { status: 'success', commandId: 'model', output: 'stopped', durationMs: 0 }, applied: true };
  }
  if (req.kind === 'start') {
    if (node.failStart) {
      return {
        world: replaceNode(w, { ...node, epoch, proc: 'stopped' }),
        outcome: { status: 'failed', commandId: 'model', exitCode: 71, stderrTail: 'START_FAILED unit did not become active', durationMs: 0 },
        applied: true,
      };
    }
    const next: NodeModel = { ...node, epoch, proc: node.proc === 'stopped' ? 'starting' : node.proc };
    return { world: replaceNode(w, next), outcome: { status: 'success', commandId: 'model', output: 'started', durationMs: 0 }, applied: true };
  }
  return { world: w, outcome: { status: 'success', commandId: 'model', output: 'status', durationMs: 0 }, applied: false };
};

const passTime = (w: World, seconds: number): World => {
  const now = w.now + seconds * 1000;
  return { ...w, now, nodes: w.nodes.map((n) => (n.proc === 'up' ? { ...n, beatAt: now } : n)) };
};

const comeUp = (w: World, id: string): World => replaceNode(w, { ...(w.nodes.find((n) => n.id === id) as NodeModel), proc: 'up', beatAt: w.now });

// ---------------------------------------------------------------------------------------------
// Replaying the real engine

type Program = (deps: EngineDeps) => Promise<unknown>;

interface Open {
  readonly call: number;
  readonly req: Req;
}

type ReplayResult =
  | { readonly done: false; readonly open: readonly Open[] }
  | { readonly done: true; readonly ok: true; readonly value: unknown }
  | { readonly done: true; readonly ok: false; readonly error: unknown };

const replay = async (program: Program, owner: string, log: readonly LogEntry[], skewMs: number): Promise<ReplayResult> => {
  const open = new Map<number, { req: Req; resolve: (v: unknown) => void }>();
  let calls = 0;
  let now = log[0]?.time ?? T0;
  const issue = <T>(req: Req): Promise<T> =>
    new Promise<T>((resolve) => {
      open.set(calls++, { req, resolve: resolve as (v: unknown) => void });
    });
  const deps: EngineDeps = {
    owner,
    clock: {
      now: () => now + skewMs,
      sleep: async () => {
        throw new Error('model: the engine does not sleep inside a tick');
      },
    },
    db: { observe: () => issue<DbObservation>({ port: 'db' }), close: async () => undefined },
    store: {
      read: () => issue<StoredRecord>({ port: 'read' }),
      write: (expected, next, lease) => issue<WriteResult>({ port: 'write', expected, next, lease }),
    },
    fleet: {
      reachability: (ids) => issue<ReachabilityResult>({ port: 'reach', ids: [...ids] }),
      run: (request) => issue<CommandOutcome>({ port: 'run', request }),
    },
  };
  let result: ReplayResult | undefined;
  // Waits (microtask by microtask, so nothing is left scheduled behind) until the program issued a request
  // or finished; a program waiting on anything else (a timer, real I/O) is a model error.
  const progress = async (): Promise<void> => {
    for (let hops = 0; result === undefined && open.size === 0; hops++) {
      if (hops > 10_000) throw new Error('model: the engine waits on something other than a port');
      await null;
    }
  };
  void program(deps).then(
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
    if (slot === undefined) throw new Error(`model: replay diverged at call ${e.call} (${owner})`);
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

class Explorer {
  readonly #spec: ModelSpec;
  readonly #config: ClusterConfig;
  readonly #replays = new Map<string, ReplayResult>();
  readonly #convergence = new Map<string, string | null>();
  readonly #settleKeys = new WeakMap<StoredRecord, string>();
  #replayCount = 0;
  readonly #coverage: Record<string, number> = {};
  #cover(what: string): void {
    this.#coverage[what] = (this.#coverage[what] ?? 0) + 1;
  }
  #violations: Violation[] = [];
  #trace: readonly string[] = [];
  readonly #checks: Record<InvariantId, number> = { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0, g: 0 };

  constructor(spec: ModelSpec) {
    this.#spec = spec;
    this.#config = spec.config;
  }

  initialWorld(): World {
    const { config, initial } = this.#spec;
    const nodes: NodeModel[] = config.nodes.map((n, i) => ({
      id: n.id,
      hostname: n.hostname,
      epoch: initial === 'steady' && i === 0 ? 1 : null,
      proc: initial === 'steady' && i === 0 ? 'up' : 'stopped',
      beatAt: initial === 'steady' && i === 0 ? T0 : null,
      partitioned: false,
      failStart: this.#spec.failStart?.includes(n.id) ?? false,
    }));
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
    for (let i = 1; i <= this.#spec.watchdogs; i++) {
      actors.push({ id: `W${i}`, kind: 'tick', status: 'idle', ticksLeft: this.#spec.ticksPerWatchdog, tickNo: 0, log: [], logHash: '', track: freshTrack() });
    }
    if (this.#spec.manual !== undefined) {
      actors.push({ id: 'M', kind: 'manual', status: 'idle', ticksLeft: 1, tickNo: 0, log: [], logHash: '', track: freshTrack() });
    }
    const ghost: Ghost = {
      startsByEpoch: {},
      activeByEpoch: record === undefined ? {} : { '1': [...record.active] },
      maxEpoch: record?.epoch ?? 0,
    };
    return { now: T0, record, nodes, dbDown: false, budgets: this.#spec.budgets, actors, ghost };
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
        budgets: w.budgets,
        ghost: w.ghost,
        actors: w.actors.map((a) => [a.id, a.status, a.ticksLeft, a.tickNo, a.logHash]),
      }),
    );
  }

  #violate(invariant: InvariantId, message: string, label: string): void {
    if (this.#violations.length < 20) this.#violations.push({ invariant, message, trace: [...this.#trace, label] });
  }

  #program(a: ActorModel): Program {
    if (a.kind === 'tick' && a.id === 'W1' && this.#spec.rogueW1 === true) {
      return async (deps) => {
        const o = await observe(deps, this.#config);
        const plan = decide(o.observation, stripStored(o.record), this.#config, o.observedAt);
        for (const x of plan.actions) await deps.fleet.run({ kind: x.kind, nodeId: x.nodeId, epoch: x.epoch, comment: 'rogue' });
        return { plan, observed: o, disposition: 'acted', executed: [], durationMs: 0 } satisfies TickReport;
      };
    }
    if (a.kind === 'tick') return (deps) => runTick(deps, this.#config);
    const manual = this.#spec.manual ?? {};
    return (deps) =>
      runManual(
        deps,
        this.#config,
        {
          action: 'failover',
          reason: 'model: operator moves the scheduler',
          ...(manual.to === undefined ? {} : { to: manual.to }),
          ...(manual.force === undefined ? {} : { force: manual.force }),
        },
        CALLER,
      );
  }

  #skewMs(a: ActorModel): number {
    return (this.#spec.skewSeconds?.[a.id] ?? 0) * 1000;
  }

  async #next(a: ActorModel): Promise<ReplayResult> {
    const key = `${ownerOf(a)}|${a.logHash}`;
    const cached = this.#replays.get(key);
    if (cached !== undefined) return cached;
    this.#replayCount += 1;
    const r = await replay(this.#program(a), ownerOf(a), a.log, this.#skewMs(a));
    if (this.#replays.size >= 50_000) this.#replays.clear();
    this.#replays.set(key, r);
    return r;
  }

  readonly #plans = new Map<string, PlanView>();

  /** The plan the engine must have made from the actor's complete observation (cached: decide() is pure). */
  #planOf(a: ActorModel, group: Track['group'], at: number): PlanView {
    const key = `${a.kind}|${at}|${answerDigest(group.db, this.#config)}|${digest(group.record)}|${canon(group.reach)}`;
    const hit = this.#plans.get(key);
    if (hit !== undefined) return hit;
    if (this.#plans.size >= 100_000) this.#plans.clear();
    const view = this.#computePlan(a, group, at);
    this.#plans.set(key, view);
    return view;
  }

  #computePlan(a: ActorModel, group: Track['group'], at: number): PlanView {
    const record = group.record as StoredRecord;
    const reach = group.reach as ReachabilityResult;
    const db = group.db as DbObservation;
    const obs: Observation = { db, reachability: reach.ok ? { ...reach.nodes } : {} };
    const state = stripStored(record);
    let plan: Plan | undefined;
    let refused = false;
    if (a.kind === 'tick') plan = decide(obs, state, this.#config, at);
    else {
      const m = this.#spec.manual ?? {};
      try {
        plan = planManualFailover(
          obs,
          state,
          this.#config,
          { to: m.to, reason: 'model: operator moves the scheduler', force: m.force ?? false, caller: CALLER },
          at,
        );
      } catch (err) {
        if (!(err instanceof RefusedError)) throw err;
        refused = true;
      }
    }
    const next = plan?.next ?? state;
    // Compared up to history text (see behavioural()).
    const healthy =
      db.status === 'ok'
        ? this.#config.nodes.filter((n) => (db.rows[n.hostname]?.ageSeconds ?? Number.POSITIVE_INFINITY) <= this.#config.staleAfterSeconds).map((n) => n.id)
        : [];
    return {
      actions: (plan?.actions ?? []).map(actionKey),
      next: digest(next),
      pending: next.pending.map(pendingKey),
      dbOk: db.status === 'ok',
      force: a.kind === 'manual' && (this.#spec.manual?.force ?? false),
      refused,
      observedAt: at,
      healthy,
      observedActive: record.active,
    };
  }

  /** Answers one open request of an actor: the world's answer, the invariant checks, the actor's new log. */
  async #answer(w: World, a: ActorModel, open: Open, label: string, lostReply = false): Promise<World> {
    const req = open.req;
    let world = w;
    let response: unknown;
    let track: Track = a.status === 'idle' ? freshTrack() : a.track;
    const owner = ownerOf(a);
    const cfg = this.#config;

    const observed = (part: 'db' | 'record' | 'reach', value: unknown): void => {
      const group = track.phase === 'observing' ? track.group : {};
      const g = { ...group, [part]: value } as Track['group'];
      track = { ...freshTrack(), group: g };
      if (g.db !== undefined && g.record !== undefined && g.reach !== undefined) track = { ...track, plan: this.#planOf(a, g, w.now + this.#skewMs(a)) };
    };

    switch (req.port) {
      case 'db':
        response = dbObservation(w, cfg);
        observed('db', response);
        break;
      case 'read':
        response = w.record ?? emptyRecord();
        observed('record', response);
        break;
      case 'reach':
        response = reachability(w, req.ids);
        observed('reach', response);
        break;
      case 'write': {
        this.#checks.g += 1;
        const plan = track.plan;
        const before = w.record;
        if (track.phase === 'observing') {
          // The commit of intent.
          this.#checks.c += 1;
          if (plan === undefined) this.#violate('c', `${owner} writes before its observation is complete`, label);
          else {
            if (plan.refused) this.#violate('c', `${owner} writes although its manual request was refused`, label);
            if (digest(req.next) !== plan.next) this.#violate('c', `${owner} commits a state that is not its plan's`, label);
            if ((req.lease.expiresAt !== undefined) !== plan.actions.length > 0) {
              this.#violate('c', `${owner} commits ${plan.actions.length} action(s) with lease expiry ${String(req.lease.expiresAt)}`, label);
            }
          }
          if (req.expected.version !== track.group.record?.version)
            this.#violate('g', `${owner} commits against version ${req.expected.version}, read ${track.group.record?.version}`, label);
        } else if (track.phase === 'lost' || !track.lastWriteOk) {
          this.#violate('c', `${owner} writes after a lost race or lost lease`, label);
        }
        if (req.lease.owner !== owner) this.#violate('c', `${owner} writes with lease owner ${req.lease.owner}`, label);
        const { world: after, result } = await storeWrite(w, req.expected, req.next, req.lease, this.#spec.brokenStore === true);
        world = after;
        response = result;
        if (result.ok) {
          world = this.#onCommitted(world, before, result.record, a, track, label);
          if (track.phase === 'observing') {
            track = {
              ...track,
              phase: 'committed',
              lastWriteOk: true,
              leaseAtCommit: result.record.leaseOwner === owner && result.record.leaseExpiresAt !== undefined,
            };
          } else track = { ...track, lastWriteOk: true };
        } else track = { ...track, phase: 'lost', lastWriteOk: false };
        break;
      }
      case 'run': {
        const r = req.request;
        const key = actionKey(r);
        const plan = track.plan;
        this.#checks.c += 1;
        this.#checks.f += 1;
        if (track.phase !== 'committed' || !track.lastWriteOk || plan === undefined) {
          this.#violate('c', `${owner} sends ${key} without a committed intent (phase ${track.phase})`, label);
        } else {
          const j = plan.actions.indexOf(key, track.nextAction);
          if (j < 0) this.#violate('c', `${owner} sends ${key}, not a remaining action of its committed plan [${plan.actions.join('; ')}]`, label);
          else track = { ...track, nextAction: j + 1 };
          if (!track.leaseAtCommit) this.#violate('c', `${owner} sends ${key} but did not hold the lease when it committed`, label);
          if (r.kind === 'start' && !plan.pending.includes(`${r.nodeId}@${r.epoch}@${plan.observedAt}`)) {
            this.#violate('c', `${owner} sends ${key} without its own pending start in the committed state`, label);
          }
          if (!plan.dbOk && !plan.force) this.#violate('f', `${owner} sends ${key} planned while the metadata DB was unreachable`, label);
        }
        const { world: after, outcome, applied } = runCommand(w, r, this.#spec.brokenStop === true);
        world = after;
        response = lostReply
          ? ({
              status: 'timeout',
              commandId: 'model',
              phase: 'execution',
              detail: 'model: the answer was lost; the node did act',
              durationMs: 0,
            } satisfies CommandOutcome)
          : outcome;
        if (lostReply) world = { ...world, budgets: { ...world.budgets, lostReply: world.budgets.lostReply - 1 } };
        if (applied && r.kind === 'start') world = this.#onStart(world, r, label);
        this.#cover(`${r.kind} ${lostReply ? 'answer lost' : outcome.status}`);
        break;
      }
    }

    const entry: LogEntry = { call: open.call, time: w.now, response };
    const log = [...a.log, entry];
    let actor: ActorModel = { ...a, status: 'running', log, logHash: sha(`${a.logHash}|${open.call}|${w.now}|${answerDigest(response, cfg)}`), track };
    const after = await this.#next(actor);
    if (after.done) {
      this.#checks.g += 1;
      if (after.ok && a.kind === 'tick') {
        const report = after.value as TickReport;
        this.#cover(`tick ${report.disposition}`);
        this.#cover(`verdict ${report.plan.verdict}`);
      } else if (a.kind === 'manual') this.#cover(`manual ${after.ok ? 'done' : 'refused'}`);
      if (!after.ok && !(actor.kind === 'manual' && after.error instanceof RefusedError)) {
        this.#violate('g', `${owner} threw: ${after.error instanceof Error ? after.error.stack : String(after.error)}`, label);
      }
      actor = { ...actor, status: 'idle', ticksLeft: actor.ticksLeft - 1, tickNo: actor.tickNo + 1, log: [], logHash: '', track: freshTrack() };
    }
    return { ...world, actors: world.actors.map((x) => (x.id === a.id ? actor : x)) };
  }

  #onStart(w: World, r: CommandRequest, label: string): World {
    const e = String(r.epoch);
    const nodes = new Set(w.ghost.startsByEpoch[e] ?? []);
    nodes.add(r.nodeId);
    this.#checks.a += 1;
    if (this.#config.mode === 'single' && nodes.size > 1) this.#violate('a', `epoch ${e} started on ${[...nodes].join(' and ')}`, label);
    return { ...w, ghost: { ...w.ghost, startsByEpoch: { ...w.ghost.startsByEpoch, [e]: [...nodes].sort() } } };
  }

  /** Checks on every successful write: epochs, actives per epoch, pending starts. */
  #onCommitted(w: World, before: StoredRecord | undefined, rec: StoredRecord, a: ActorModel, track: Track, label: string): World {
    const owner = ownerOf(a);
    const oldEpoch = before?.epoch ?? 0;
    this.#checks.b += 1;
    if (rec.epoch < oldEpoch) this.#violate('b', `${owner} lowers the record epoch ${oldEpoch} → ${rec.epoch}`, label);
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
    for (const p of before?.pending ?? []) {
      this.#checks.d += 1;
      if (kept.has(pendingKey(p))) continue;
      const plan = track.plan;
      const at = plan?.observedAt ?? w.now;
      const healthy = plan?.healthy.includes(p.nodeId) === true || (plan?.healthy.length ?? 0) > 0;
      const expired = at - p.issuedAt >= this.#config.startupGraceSeconds * 1000;
      const superseded = rec.epoch > p.epoch;
      const ownStart = track.phase === 'committed' && plan?.observedAt === p.issuedAt && plan.actions.some((x) => x.startsWith(`start ${p.nodeId} `));
      if (!(healthy || expired || superseded || ownStart)) {
        this.#violate('d', `${owner} drops the pending start ${pendingKey(p)} unsettled (issued ${(at - p.issuedAt) / 1000} s before its observation)`, label);
      }
    }
    return { ...w, ghost };
  }

  async successors(w: World): Promise<Successor[]> {
    const out: Successor[] = [];
    for (const a of w.actors) {
      if (a.status === 'idle' && a.ticksLeft <= 0) continue;
      const r = await this.#next(a);
      if (r.done) throw new Error(`model: ${ownerOf(a)} is done but not finalised`);
      const reads = r.open.filter((o) => o.req.port === 'db' || o.req.port === 'read' || o.req.port === 'reach');
      if (this.#spec.observe === 'atomic' && reads.length > 1) {
        const label = `${ownerOf(a)} ← observe (${reads.map((o) => describeReq(o.req)).join(', ')})`;
        let cur = w;
        let actor = a;
        for (const o of reads) {
          cur = await this.#answer(cur, actor, o, label);
          actor = cur.actors.find((x) => x.id === a.id) as ActorModel;
        }
        out.push({ label, world: cur });
        continue;
      }
      for (const o of r.open) {
        const label = `${ownerOf(a)} ← ${describeReq(o.req)}`;
        out.push({ label, world: await this.#answer(w, a, o, label) });
        if (o.req.port === 'run' && w.budgets.lostReply > 0) {
          const lost = `${label} (runs, answer lost)`;
          out.push({ label: lost, world: await this.#answer(w, a, o, lost, true) });
        }
      }
    }
    // Time does not pass in the middle of an observation (the reads run in parallel, milliseconds apart).
    const midObserve = w.actors.some((a) => a.status === 'running' && a.track.phase === 'observing');
    if (w.budgets.time > 0 && !midObserve)
      out.push({
        label: `time +${this.#spec.timeStepSeconds} s`,
        world: { ...passTime(w, this.#spec.timeStepSeconds), budgets: { ...w.budgets, time: w.budgets.time - 1 } },
      });
    for (const n of w.nodes) {
      if (n.proc === 'starting') out.push({ label: `scheduler on ${n.id} writes its first heartbeat`, world: comeUp(w, n.id) });
      if (n.proc !== 'stopped' && w.budgets.schedulerFault > 0) {
        const budgets = { ...w.budgets, schedulerFault: w.budgets.schedulerFault - 1 };
        out.push({ label: `scheduler on ${n.id} crashes`, world: { ...replaceNode(w, { ...n, proc: 'stopped' }), budgets } });
        if (n.proc === 'up') out.push({ label: `scheduler on ${n.id} freezes`, world: { ...replaceNode(w, { ...n, proc: 'frozen' }), budgets } });
      }
      if (n.proc === 'frozen') out.push({ label: `scheduler on ${n.id} wakes up and heart-beats again`, world: comeUp(w, n.id) });
      if (!n.partitioned && w.budgets.partition > 0) {
        out.push({
          label: `${n.id} cut off from SSM`,
          world: { ...replaceNode(w, { ...n, partitioned: true }), budgets: { ...w.budgets, partition: w.budgets.partition - 1 } },
        });
      }
      if (n.partitioned) out.push({ label: `${n.id} reachable again`, world: replaceNode(w, { ...n, partitioned: false }) });
    }
    if (!w.dbDown && w.budgets.dbOutage > 0)
      out.push({ label: 'metadata DB down', world: { ...w, dbDown: true, budgets: { ...w.budgets, dbOutage: w.budgets.dbOutage - 1 } } });
    if (w.dbDown) out.push({ label: 'metadata DB back', world: { ...w, dbDown: false } });
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // (e) convergence from quiescent states

  /** A tick run to completion on its own (no interleaving), ports answered straight from the world. */
  async #sequentialTick(w: World, owner: string): Promise<{ world: World; report: TickReport }> {
    let cur = w;
    const cfg = this.#config;
    const deps: EngineDeps = {
      owner,
      clock: { now: () => cur.now, sleep: async () => undefined },
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
        run: async (request) => {
          const r = runCommand(cur, request, this.#spec.brokenStop === true);
          cur = r.world;
          return r.outcome;
        },
      },
    };
    const report = await runTick(deps, cfg);
    return { world: cur, report };
  }

  /** Returns a reason when sequential ticks do not converge, null when they do. */
  async #converges(w: World): Promise<string | null> {
    const rec = w.record;
    // The version does not matter to sequential ticks; the rest of the record up to history text does.
    let recKey = rec === undefined ? 'none' : this.#settleKeys.get(rec);
    if (recKey === undefined && rec !== undefined) {
      recKey = sha(canon({ ...(behavioural(rec) as object), version: undefined }));
      this.#settleKeys.set(rec, recKey);
    }
    const keyOf = `${w.now}|${recKey}|${JSON.stringify(w.nodes.map((n) => [n.id, n.epoch, n.proc, n.beatAt, n.failStart]))}`;
    const cached = this.#convergence.get(keyOf);
    if (cached !== undefined) return cached;
    // Faults heal; a frozen scheduler wakes up (the worst case: asleep it schedules nothing).
    let cur: World = {
      ...w,
      dbDown: false,
      nodes: w.nodes.map((n) => ({ ...n, partitioned: false, ...(n.proc === 'frozen' ? { proc: 'up' as const, beatAt: w.now } : {}) })),
    };
    let last: TickReport | undefined;
    const timeline: string[] = [];
    for (let round = 0; round < this.#spec.settleRounds; round++) {
      for (const n of cur.nodes) if (n.proc === 'starting') cur = comeUp(cur, n.id);
      const r = await this.#sequentialTick(cur, `settle#${round}`);
      cur = r.world;
      last = r.report;
      timeline.push(
        `${r.report.plan.verdict}/${r.report.disposition}[${r.report.executed.map((e) => `${actionKey(e.action)}=${e.outcome?.status ?? 'skipped'}`).join(', ')}]`,
      );
      cur = passTime(cur, this.#spec.timeStepSeconds);
    }
    for (const n of cur.nodes) if (n.proc === 'starting') cur = comeUp(cur, n.id);
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
    this.#convergence.set(keyOf, problem);
    return problem;
  }

  async #checkState(w: World, label: string): Promise<boolean> {
    this.#checks.b += 1;
    const alive = w.nodes.filter((n) => n.proc !== 'stopped').length;
    if (alive > 1) this.#cover('states with 2+ scheduler processes');
    for (const n of w.nodes) {
      if (n.epoch !== null && n.epoch > w.ghost.maxEpoch)
        this.#violate('b', `node ${n.id} holds epoch ${n.epoch} above the highest committed ${w.ghost.maxEpoch}`, label);
    }
    // Every state is also the state after all watchdogs now mid-tick crashed: from it, sequential ticks
    // must converge. (A crashed watchdog is one never scheduled again, so the search itself already
    // covers everything the others do after the crash; only this check needs the crash made explicit.)
    this.#checks.e += 1;
    const problem = await this.#converges(w);
    if (problem !== null) {
      const crashed = w.actors.filter((a) => a.status === 'running').map(ownerOf);
      this.#violate('e', `${crashed.length > 0 ? `if ${crashed.join(' and ')} crashed here: ` : ''}${problem}`, label);
    }
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
      // Free the parent's list once consumed? Kept: frames are few (depth), successors small.
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

const describeReq = (r: Req): string => {
  switch (r.port) {
    case 'db':
      return 'metadata DB read';
    case 'read':
      return 'record read';
    case 'reach':
      return 'SSM reachability';
    case 'write':
      return `record write v${r.expected.version}→ epoch ${r.next.epoch} active [${r.next.active.join(',')}] pending [${r.next.pending.map((p) => p.nodeId).join(',')}] lease ${r.lease.expiresAt === undefined ? 'released' : 'held'}`;
    case 'run':
      return `SSM ${r.request.kind} ${r.request.nodeId} epoch ${r.request.epoch}`;
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
