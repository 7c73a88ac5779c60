/**
 * `npm run soak -- --faults N --seed S`: a randomized soak of the watchdog on the local cluster
 * (local/cluster.ts) with compressed time. A seeded PRNG draws a schedule of N faults (`planSoak`, a pure
 * function of the seed), the harness injects them one after another, some overlapping (SSM errors or
 * throttling, a DynamoDB outage, a standby node lost or partitioned, clock skew stay on while the next
 * faults happen), and at the end `checkInvariants` (SPEC §10) reads the whole timeline. The fault
 * schedule is reproducible from the seed; when each fault lands against heartbeats and ticks is not,
 * since real processes run.
 *
 * Usage: npm run soak -- --faults N --seed S [--db mysql://…|postgres://…] [--out DIR] [--verbose]
 * Exit code 0 when no invariant is violated, 1 otherwise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type LocalCluster as Cluster, LocalCluster, type Timings, type WatchdogProcess } from './cluster.js';
import type { EndpointFaults } from './ssm-endpoint.js';
import { checkInvariants, type InvariantReport, type RecoveryMeasure } from './invariants.js';
import { eventsOf, newestPerHost, type Timeline } from './timeline.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// ---- the schedule: a pure function of (faults, seed) ------------------------------------------

const SOAK_FAULT_KINDS = [
  'crash',
  'hang',
  'node-loss',
  'partition',
  'db-outage',
  'dynamodb-outage',
  'ssm-errors',
  'ssm-throttle',
  'manual-failover',
  'clock-skew',
  'watchdog-kill',
] as const;
type SoakFaultKind = (typeof SOAK_FAULT_KINDS)[number];

/** Which node a step hits: the active one, or the k-th standby (in configuration order). */
type Target = { readonly role: 'active' } | { readonly role: 'standby'; readonly index: number };

type SoakStep = { readonly n: number; readonly gapMs: number } & (
  | { readonly kind: 'crash' }
  /** `stallMs` set: a stall shorter than the threshold (a GC pause) that must change nothing; else frozen until replaced. */
  | { readonly kind: 'hang'; readonly stallMs?: number }
  /** On a standby: an overlay, the node returns after `downMs`; on the active: it returns `downMs` after the recovery. */
  | { readonly kind: 'node-loss' | 'partition'; readonly target: Target; readonly downMs: number }
  | { readonly kind: 'db-outage' | 'dynamodb-outage'; readonly durationMs: number }
  | { readonly kind: 'ssm-errors'; readonly probability: number; readonly operations?: readonly string[]; readonly durationMs: number }
  | { readonly kind: 'ssm-throttle'; readonly probability: number; readonly durationMs: number }
  /** The active scheduler crashes; `delayMs` later an operator asks for a failover while the watchdog recovers on its own. */
  | { readonly kind: 'manual-failover'; readonly delayMs: number; readonly to?: Target }
  /** The node's clock is off by `skewSec` from its next scheduler start on (0: fixed again). */
  | { readonly kind: 'clock-skew'; readonly target: Target; readonly skewSec: number }
  /**
   * The active scheduler crashes and the watchdog process is SIGKILLed while it reacts: `delayMs` after it
   * sends its stop, its start, or (`any`) after the crash; a new one starts `restartMs` later.
   */
  | { readonly kind: 'watchdog-kill'; readonly moment: 'stop-sent' | 'start-sent' | 'any'; readonly delayMs: number; readonly restartMs: number }
);

/** Faults that stay on while the next steps run. */
const isOverlay = (s: SoakStep): boolean =>
  s.kind === 'ssm-errors' ||
  s.kind === 'ssm-throttle' ||
  s.kind === 'dynamodb-outage' ||
  s.kind === 'clock-skew' ||
  ((s.kind === 'node-loss' || s.kind === 'partition') && s.target.role === 'standby');

/** Drawn after one step of each kind; the expensive watchdog kill (a lease to wait out) is rarer. */
const WEIGHTS: Readonly<Record<SoakFaultKind, number>> = {
  crash: 12,
  hang: 10,
  'node-loss': 10,
  partition: 9,
  'db-outage': 8,
  'dynamodb-outage': 8,
  'ssm-errors': 9,
  'ssm-throttle': 9,
  'manual-failover': 8,
  'clock-skew': 8,
  'watchdog-kill': 3,
};

/** Largest clock skew ahead that a schedule uses: a dead row of that host looks fresh that much longer. */
const SKEWS = [-1, -0.5, 0, 0.5, 1, 2] as const;
const MAX_SKEW_AHEAD = Math.max(...SKEWS);

/** mulberry32: small, fast, and the same sequence on every platform. */
const prng = (seed: number): (() => number) => {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** The fault schedule: every kind once (shuffled) when N allows, then weighted draws. Same seed, same schedule. */
const planSoak = (faults: number, seed: number, staleAfterSeconds = 3): SoakStep[] => {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const target = (pActive: number): Target => (rnd() < pActive ? { role: 'active' } : { role: 'standby', index: int(0, 1) });
  const kinds: SoakFaultKind[] = [];
  const first = [...SOAK_FAULT_KINDS];
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [first[i], first[j]] = [first[j] as SoakFaultKind, first[i] as SoakFaultKind];
  }
  kinds.push(...first.slice(0, faults));
  const total = SOAK_FAULT_KINDS.reduce((s, k) => s + WEIGHTS[k], 0);
  while (kinds.length < faults) {
    let x = rnd() * total;
    for (const k of SOAK_FAULT_KINDS) {
      x -= WEIGHTS[k];
      if (x < 0) {
        kinds.push(k);
        break;
      }
    }
  }
  const staleMs = staleAfterSeconds * 1000;
  return kinds.map((kind, i): SoakStep => {
    // A random phase against the heartbeat and the tick before every step.
    const base = { n: i + 1, gapMs: int(100, 1000) };
    switch (kind) {
      case 'crash':
        return { ...base, kind };
      case 'hang':
        return rnd() < 0.3 ? { ...base, kind, stallMs: int(200, Math.round(staleMs / 3)) } : { ...base, kind };
      case 'node-loss':
      case 'partition':
        return { ...base, kind, target: target(0.6), downMs: int(1000, 4 * staleMs) };
      case 'db-outage':
      case 'dynamodb-outage':
        return { ...base, kind, durationMs: int(1000, 2 * staleMs) };
      case 'ssm-errors': {
        const operations = pick([undefined, ['SendCommand'], ['GetCommandInvocation', 'DescribeInstanceInformation']] as const);
        return { ...base, kind, probability: 0.1 + 0.3 * rnd(), ...(operations === undefined ? {} : { operations }), durationMs: int(staleMs, 4 * staleMs) };
      }
      case 'ssm-throttle':
        return { ...base, kind, probability: 0.2 + 0.4 * rnd(), durationMs: int(staleMs, 4 * staleMs) };
      case 'manual-failover':
        return { ...base, kind, delayMs: int(0, staleMs + 2000), ...(rnd() < 0.5 ? { to: target(0) } : {}) };
      case 'clock-skew':
        return { ...base, kind, target: target(0.5), skewSec: pick(SKEWS) };
      case 'watchdog-kill': {
        // A stop or start answers within a second here: short delays land the kill inside the action.
        const moment = pick(['stop-sent', 'start-sent', 'any'] as const);
        const delayMs = moment === 'any' ? int(0, staleMs + 1500) : int(0, moment === 'stop-sent' ? 300 : 150);
        return { ...base, kind, moment, delayMs, restartMs: int(300, 1500) };
      }
    }
    throw new Error(`unknown fault kind ${String(kind)}`);
  });
};

const describeStep = (s: SoakStep): string => {
  const tgt = (t: Target): string => (t.role === 'active' ? 'the active node' : `standby ${t.index + 1}`);
  const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  switch (s.kind) {
    case 'crash':
      return 'SIGKILL the active scheduler';
    case 'hang':
      return s.stallMs === undefined ? 'SIGSTOP the active scheduler until replaced' : `stall the active scheduler for ${sec(s.stallMs)} (below the threshold)`;
    case 'node-loss':
      return `lose ${tgt(s.target)} for ${sec(s.downMs)}${s.target.role === 'active' ? ' after the recovery' : ''}`;
    case 'partition':
      return `partition ${tgt(s.target)} for ${sec(s.downMs)}${s.target.role === 'active' ? ' after the recovery' : ''}`;
    case 'db-outage':
      return `metadata DB outage of ${sec(s.durationMs)}`;
    case 'dynamodb-outage':
      return `DynamoDB outage of ${sec(s.durationMs)}`;
    case 'ssm-errors':
      return `SSM 5xx on ${Math.round(s.probability * 100)} % of ${s.operations?.join('/') ?? 'all'} calls for ${sec(s.durationMs)}`;
    case 'ssm-throttle':
      return `SSM throttles ${Math.round(s.probability * 100)} % of calls for ${sec(s.durationMs)}`;
    case 'manual-failover':
      return `crash, then a manual failover to ${s.to === undefined ? 'the next candidate' : tgt(s.to)} ${sec(s.delayMs)} later`;
    case 'clock-skew':
      return `clock of ${tgt(s.target)} ${s.skewSec === 0 ? 'fixed' : `${s.skewSec > 0 ? '+' : ''}${s.skewSec} s`} from its next start`;
    case 'watchdog-kill':
      return `crash, then SIGKILL the watchdog ${sec(s.delayMs)} after ${s.moment === 'any' ? 'the crash' : `its ${s.moment === 'stop-sent' ? 'stop' : 'start'} is sent`}; a new one ${sec(s.restartMs)} later`;
  }
};

// ---- running it --------------------------------------------------------------------------------

/** Like test/e2e: generous enough not to flake on a loaded two-core machine. */
const SOAK_TIMINGS: Timings = {
  heartbeatSec: 0.5,
  staleAfterSeconds: 3,
  checkIntervalSeconds: 1,
  commandTimeoutSeconds: 6,
  startupGraceSeconds: 6,
  leaseSeconds: 21,
  stopTimeoutSeconds: 1,
  simStartDelaySec: 0.1,
};

interface SoakOptions {
  readonly faults: number;
  readonly seed: number;
  /** mysql://… or postgres://…; default embedded PGlite. */
  readonly db?: string;
  readonly timings?: Partial<Timings>;
  /** One line per step and diagnostics. */
  readonly log?: (line: string) => void;
  /** Writes the timeline as JSON here (always when given; the CLI also writes it on a failing run). */
  readonly outDir?: string;
}

interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

interface SoakReport {
  readonly faults: number;
  readonly seed: number;
  readonly dbLabel: string;
  readonly timings: Timings;
  readonly schedule: readonly SoakStep[];
  /** Injected faults by kind (a step that found nothing to hit, e.g. no active scheduler, is skipped). */
  readonly injected: Readonly<Record<SoakFaultKind, number>>;
  readonly injectedTotal: number;
  readonly skipped: readonly string[];
  readonly recoveries: {
    readonly expected: number;
    readonly measured: number;
    /** Recovery time ÷ staleAfterSeconds, every measured recovery. */
    readonly ratio: Percentiles;
    /** Same, only faults with no delay stacked on purpose (a killed watchdog, DynamoDB down, SSM faults, an operator's failover). */
    readonly plainRatio: Percentiles;
    readonly seconds: Percentiles;
  };
  readonly watchdogKills: { readonly killed: number; readonly whileHoldingLease: number };
  readonly duplicateWindows: { readonly count: number; readonly longestSeconds: number };
  readonly ticks: number;
  readonly invariants: InvariantReport;
  readonly violations: readonly { readonly atSeconds: number; readonly invariant: string; readonly message: string }[];
  readonly leftoverProcesses: readonly number[];
  readonly wallSeconds: number;
  readonly command: string;
  readonly timeline: Timeline;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (pos - lo);
};
const percentiles = (xs: readonly number[]): Percentiles => ({ n: xs.length, p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: xs.length === 0 ? Number.NaN : Math.max(...xs) });

const commandOf = (faults: number, seed: number, db?: string): string => `npm run soak -- --faults ${faults} --seed ${seed}${db === undefined ? '' : ` --db '${db.replace(/:[^:@/]*@/, ':***@')}'`}`;

/** The state of one soak run: the cluster, the current watchdog, overlays still on. */
class Soak {
  readonly c: Cluster;
  readonly t: Timings;
  wd: WatchdogProcess;
  #wdSeq = 1;
  /** Restorations under way (a node coming back, a window closing): awaited before conflicting steps and at the end. */
  #nodeBack: Promise<void>[] = [];
  #windows: Promise<void>[] = [];
  #ssm: { throttle?: { until: number; fault: EndpointFaults['throttle'] }; serverError?: { until: number; fault: EndpointFaults['serverError'] } } = {};
  #dynamoUntil = 0;
  injected = Object.fromEntries(SOAK_FAULT_KINDS.map((k) => [k, 0])) as Record<SoakFaultKind, number>;
  skipped: string[] = [];
  kills: { at: number; holdingLease: boolean }[] = [];
  /** When a watchdog was killed or DynamoDB came back: a lease may be left over from then. */
  interruptions: number[] = [];

  constructor(
    c: Cluster,
    wd: WatchdogProcess,
    private readonly log: (line: string) => void,
  ) {
    this.c = c;
    this.t = c.timings;
    this.wd = wd;
  }

  /** Active node: the healthy one the record names, else the only healthy one, else the record's. */
  active(): string | undefined {
    const healthy = this.c.healthyNodes();
    const rec = eventsOf(this.c.timeline, 'record').at(-1);
    const a = rec?.active[0];
    if (a !== undefined && healthy.includes(a)) return a;
    return healthy.length === 1 ? healthy[0] : undefined;
  }

  node(t: Target): string | undefined {
    const active = this.active();
    if (t.role === 'active') return active;
    const standbys = this.c.nodes.map((n) => n.id).filter((id) => id !== active);
    return standbys[t.index % standbys.length];
  }

  /** Extra recovery time the harness itself causes right now (stacked on the SPEC bound, per fault). */
  extraNow(): number {
    const now = Date.now();
    let extra = 0;
    // SDK retries with backoff, and a command lost to an error is retried by the next tick.
    if ((this.#ssm.throttle?.until ?? 0) > now || (this.#ssm.serverError?.until ?? 0) > now) extra += this.t.commandTimeoutSeconds;
    // No tick can commit while DynamoDB is down; one cut mid-action keeps its lease until it expires.
    if (this.#dynamoUntil > now) extra += (this.#dynamoUntil - now) / 1000 + this.t.leaseSeconds + 2;
    // A tick interrupted mid-action (its process killed, DynamoDB gone before its last write) leaves its
    // lease behind: nobody may act until it expires, at most leaseSeconds after its last command was sent.
    // That outlives the fault's own recovery when the interrupted start still came up node-side.
    const sent = eventsOf(this.c.timeline, 'command').filter((e) => e.phase === 'sent');
    let stuckUntil = 0;
    for (const cut of this.interruptions) {
      const last = sent.filter((e) => e.t <= cut).at(-1);
      if (last !== undefined) stuckUntil = Math.max(stuckUntil, last.t + this.t.leaseSeconds * 1000);
    }
    if (stuckUntil > now && this.#dynamoUntil <= now) extra += (stuckUntil - now) / 1000 + 2;
    return extra;
  }

  maxJobId(): number {
    return this.c.maxJobId();
  }

  /** A job newer than `seen` healthy on a configured node, then one steady scheduler. */
  async waitRecovered(seen: number, timeoutMs: number): Promise<boolean> {
    const hosts = new Set(this.c.nodes.map((n) => n.hostname));
    const stale = this.t.staleAfterSeconds;
    try {
      await this.c.waitFor(
        `a new scheduler (job id > ${seen})`,
        () => {
          const s = this.c.latestSample();
          return s !== undefined && [...newestPerHost(s.rows).values()].some((r) => r.jobId > seen && hosts.has(r.hostname) && r.age <= stale);
        },
        timeoutMs,
      );
      return await this.steady(timeoutMs);
    } catch (err) {
      this.c.note(`soak: ${(err as Error).message}`);
      this.log(`    ! ${(err as Error).message}`);
      return false;
    }
  }

  async steady(timeoutMs = 30_000): Promise<boolean> {
    try {
      await this.c.waitForSteady(timeoutMs, { holdMs: 500 });
      return true;
    } catch (err) {
      this.c.note(`soak: ${(err as Error).message}`);
      this.log(`    ! ${(err as Error).message}`);
      return false;
    }
  }

  async settleNodes(): Promise<void> {
    await Promise.all(this.#nodeBack);
    this.#nodeBack = [];
  }

  async settleAll(): Promise<void> {
    await Promise.all([...this.#nodeBack, ...this.#windows]);
    this.#nodeBack = [];
    this.#windows = [];
  }

  #applySsm(): void {
    const now = Date.now();
    const faults: EndpointFaults = {};
    if (this.#ssm.throttle !== undefined && this.#ssm.throttle.until > now) faults.throttle = this.#ssm.throttle.fault;
    else delete this.#ssm.throttle;
    if (this.#ssm.serverError !== undefined && this.#ssm.serverError.until > now) faults.serverError = this.#ssm.serverError.fault;
    else delete this.#ssm.serverError;
    this.c.ssm.faults = faults;
  }

  #later(ms: number, what: 'node' | 'window', fn: () => void): void {
    const p = sleep(ms).then(fn);
    if (what === 'node') this.#nodeBack.push(p);
    else this.#windows.push(p);
  }

  count(kind: SoakFaultKind): void {
    this.injected[kind] += 1;
  }

  async startWatchdog(): Promise<void> {
    this.#wdSeq += 1;
    this.wd = this.c.startWatchdog(`watchdog-${this.#wdSeq}`);
    await this.wd.ready;
  }

  /** Runs one step; resolves when the next step may begin. */
  async run(s: SoakStep): Promise<void> {
    const c = this.c;
    const stale = this.t.staleAfterSeconds;
    const recoverMs = 90_000;
    const skip = (why: string): void => {
      this.skipped.push(`#${s.n} ${s.kind}: ${why}`);
      c.note(`soak: step ${s.n} (${s.kind}) skipped: ${why}`);
      this.log(`    skipped: ${why}`);
    };
    const hostOf = (id: string): string => c.node(id).hostname;
    switch (s.kind) {
      case 'crash': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const seen = this.maxJobId();
        c.crash(a, true, this.extraNow());
        this.count(s.kind);
        await this.waitRecovered(seen, recoverMs);
        return;
      }
      case 'hang': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        if (s.stallMs !== undefined) {
          c.hang(a, false);
          this.count(s.kind);
          await sleep(s.stallMs);
          c.unhang(a);
          await this.steady();
          return;
        }
        const seen = this.maxJobId();
        c.hang(a, true, this.extraNow());
        this.count(s.kind);
        await this.waitRecovered(seen, recoverMs);
        c.unhang(a); // the frozen process was SIGKILLed by the stop: a no-op unless something went wrong
        return;
      }
      case 'node-loss':
      case 'partition': {
        await this.settleNodes(); // never more than one node away: a candidate always exists
        const id = this.node(s.target);
        if (id === undefined) return skip('no active scheduler');
        const down = s.kind === 'node-loss' ? (x: string, e: boolean, extra?: number) => c.loseNode(x, e, extra) : (x: string, e: boolean, extra?: number) => c.partition(x, e, extra);
        const back = s.kind === 'node-loss' ? (x: string) => c.restoreNode(x) : (x: string) => c.heal(x);
        if (s.target.role === 'standby') {
          down(id, false);
          this.count(s.kind);
          this.#later(s.downMs, 'node', () => back(id));
          return;
        }
        const seen = this.maxJobId();
        const at = Date.now();
        down(id, true, this.extraNow());
        this.count(s.kind);
        await this.waitRecovered(seen, recoverMs);
        if (s.kind === 'node-loss') {
          // A rebooted host comes back with an empty process table: nothing to settle, the next steps go on.
          this.#later(Math.max(0, at + s.downMs - Date.now()), 'node', () => back(id));
          return;
        }
        await sleep(Math.max(0, at + s.downMs - Date.now()));
        back(id);
        // The healed node's scheduler beats again: a duplicate the watchdog must stop within a tick. Settled
        // before the next fault, or that one's recovery could be the old scheduler coming back.
        await sleep(1500);
        await this.steady();
        return;
      }
      case 'db-outage': {
        await this.settleNodes(); // dbBack reopens every node's DB link, which would heal a partition early
        c.dbOutage();
        this.count(s.kind);
        await sleep(s.durationMs);
        c.dbBack();
        // After an outage nothing is started for staleAfterSeconds (SPEC §4.2, bug-restart-after-db-outage).
        await sleep(stale * 1000 + 500);
        await this.steady();
        return;
      }
      case 'dynamodb-outage': {
        const until = Date.now() + s.durationMs;
        const fresh = this.#dynamoUntil <= Date.now();
        this.#dynamoUntil = Math.max(this.#dynamoUntil, until);
        if (fresh) c.dynamodbOutage();
        else c.fault('dynamodb-outage', `DynamoDB outage extended by ${(s.durationMs / 1000).toFixed(1)} s`);
        this.count(s.kind);
        this.#later(s.durationMs, 'window', () => {
          if (this.#dynamoUntil <= Date.now() + 5) {
            c.dynamodbBack();
            this.interruptions.push(Date.now());
          }
        });
        return;
      }
      case 'ssm-errors':
      case 'ssm-throttle': {
        const until = Date.now() + s.durationMs;
        const fault = { probability: s.probability, ...(s.kind === 'ssm-errors' && s.operations !== undefined ? { operations: s.operations } : {}) };
        if (s.kind === 'ssm-errors') this.#ssm.serverError = { until, fault };
        else this.#ssm.throttle = { until, fault };
        this.#applySsm();
        c.fault(s.kind, `SSM: ${describeStep(s)}`);
        this.count(s.kind);
        this.#later(s.durationMs, 'window', () => {
          this.#applySsm();
          const key = s.kind === 'ssm-errors' ? 'serverError' : 'throttle';
          if (this.#ssm[key] === undefined) c.fault('ssm-ok', `SSM ${s.kind === 'ssm-errors' ? 'errors' : 'throttling'} over`);
        });
        return;
      }
      case 'clock-skew': {
        const id = this.node(s.target) ?? c.nodes[0]?.id;
        if (id === undefined) return skip('no node');
        c.setNodeSim(id, { SIM_SKEW_SEC: s.skewSec === 0 ? undefined : String(s.skewSec) });
        c.fault('clock-skew', `${hostOf(id)}: clock ${s.skewSec === 0 ? 'fixed' : `off by ${s.skewSec > 0 ? '+' : ''}${s.skewSec} s`} from its next scheduler start`, id);
        this.count(s.kind);
        return;
      }
      case 'manual-failover': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const to = s.to === undefined ? undefined : this.node(s.to);
        const seen = this.maxJobId();
        // The operator may stop a scheduler the watchdog just brought up and start another: one more stop and start.
        c.crash(a, true, this.extraNow() + this.t.stopTimeoutSeconds + 2);
        this.count(s.kind);
        const manual = sleep(s.delayMs).then(async () => {
          c.fault('manual-failover', `operator asks for a failover${to === undefined ? '' : ` to ${hostOf(to)}`} while the watchdog recovers`, to);
          try {
            const res = await c.invoke({ action: 'failover', ...(to === undefined ? {} : { to }), reason: `soak step ${s.n}`, caller: 'soak operator' }, 'operator');
            this.log(`    manual failover: ${res.ok === true ? 'accepted' : `refused (${(res.error as { message?: string } | undefined)?.message ?? '?'})`}`);
          } catch (err) {
            this.log(`    manual failover: ${(err as Error).message}`);
          }
        });
        await this.waitRecovered(seen, recoverMs);
        await manual;
        await this.steady();
        return;
      }
      case 'watchdog-kill': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const seen = this.maxJobId();
        const from = Date.now();
        // The new watchdog waits out the dead one's lease (leaseSeconds) and starts within a few seconds.
        c.crash(a, true, this.extraNow() + this.t.leaseSeconds + 5);
        this.count(s.kind);
        if (s.moment !== 'any') {
          const action = s.moment === 'stop-sent' ? 'stop' : 'start';
          await c
            .waitFor(`the watchdog's ${action}`, () => eventsOf(c.timeline, 'command').some((e) => e.t >= from && e.phase === 'sent' && e.action === action), 30_000)
            .catch((err: unknown) => this.log(`    ! ${(err as Error).message}`));
        }
        await sleep(s.delayMs);
        const dead = this.wd;
        dead.child.kill('SIGKILL');
        // Holding the lease = it had committed a plan with actions and not written its last outcome.
        const killedAt = Date.now();
        const lastSent = eventsOf(c.timeline, 'command').filter((e) => e.t >= from && e.phase === 'sent').at(-1)?.t ?? 0;
        const lastActed = eventsOf(c.timeline, 'tick').filter((e) => e.watchdog === dead.name && e.actions.length > 0).at(-1)?.t ?? 0;
        const holding = lastSent > lastActed;
        this.kills.push({ at: killedAt, holdingLease: holding });
        this.interruptions.push(killedAt);
        c.fault('watchdog-killed', `SIGKILL to watchdog ${dead.name} (pid ${dead.child.pid ?? '?'}) ${holding ? 'in the middle of its actions' : 'between actions'}`);
        await sleep(s.restartMs);
        await this.startWatchdog();
        await this.waitRecovered(seen, recoverMs + this.t.leaseSeconds * 1000);
        return;
      }
    }
  }
}

const runSoak = async (opts: SoakOptions): Promise<SoakReport> => {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const timings: Timings = { ...SOAK_TIMINGS, ...opts.timings };
  const schedule = planSoak(opts.faults, opts.seed, timings.staleAfterSeconds);
  const c = await LocalCluster.start({
    ...(opts.db === undefined ? {} : { db: opts.db }),
    timings,
    sampleMs: 200,
    // Far more faults per hour than a real fleet sees: the rate limit and long bans (covered by the
    // decision scenarios) would otherwise stop recoveries the soak measures. Bans still happen, and expire.
    cluster: { maxFailoversPerHour: 100_000, failureResetSeconds: 10 * timings.staleAfterSeconds },
    log: (l) => {
      if (!l.includes('"tick failed"') && !l.includes('invocation-error')) log(`    ${l.slice(0, 300)}`);
    },
  });
  let soak: Soak | undefined;
  try {
    const operator = c.startWatchdog('operator', { schedule: false });
    const wd = c.startWatchdog('watchdog-1');
    await Promise.all([operator.ready, wd.ready]);
    soak = new Soak(c, wd, log);
    log(`  bring-up: ${(await soak.steady(60_000)) ? `steady on ${c.healthyNodes().map((id) => c.node(id).hostname).join(', ')}` : 'NOT steady'}`);
    for (const step of schedule) {
      await sleep(step.gapMs);
      const at = ((Date.now() - c.timeline.startedAt) / 1000).toFixed(1);
      log(`  +${at.padStart(6)} s  #${String(step.n).padStart(3)} ${step.kind.padEnd(15)} ${describeStep(step)}${isOverlay(step) ? ' [overlay]' : ''}`);
      await soak.run(step);
    }
    await soak.settleAll();
    // The end: every fault lifted, one scheduler steady, so the last recovery is judged too.
    c.ssm.faults = {};
    await soak.steady(60_000);
    await sleep(2000);
  } finally {
    await c.stop();
  }
  const tl = c.timeline;
  const t = timings;
  const invariants = checkInvariants(tl, {
    startSeconds: t.stopTimeoutSeconds + 3,
    stopSeconds: t.stopTimeoutSeconds + 2,
    slackSeconds: 2,
    skewSeconds: schedule.some((s) => s.kind === 'clock-skew' && s.skewSec > 0) ? MAX_SKEW_AHEAD : 0,
  });
  const measured = invariants.recoveries.filter((r): r is RecoveryMeasure & { seconds: number } => r.seconds !== undefined);
  const stale = t.staleAfterSeconds;
  const windows = invariants.duplicateWindows;
  const s = soak;
  return {
    faults: opts.faults,
    seed: opts.seed,
    dbLabel: c.dbLabel,
    timings: t,
    schedule,
    injected: s?.injected ?? (Object.fromEntries(SOAK_FAULT_KINDS.map((k) => [k, 0])) as Record<SoakFaultKind, number>),
    injectedTotal: Object.values(s?.injected ?? {}).reduce((a, b) => a + b, 0),
    skipped: s?.skipped ?? [],
    recoveries: {
      expected: invariants.recoveries.length,
      measured: measured.length,
      ratio: percentiles(measured.map((r) => r.seconds / stale)),
      plainRatio: percentiles(measured.filter((r) => (r.fault.recoveryExtraSeconds ?? 0) === 0).map((r) => r.seconds / stale)),
      seconds: percentiles(measured.map((r) => r.seconds)),
    },
    watchdogKills: { killed: s?.kills.length ?? 0, whileHoldingLease: s?.kills.filter((k) => k.holdingLease).length ?? 0 },
    duplicateWindows: { count: windows.length, longestSeconds: windows.reduce((m, w) => Math.max(m, (w.to - w.from) / 1000), 0) },
    ticks: eventsOf(tl, 'tick').length,
    invariants,
    violations: invariants.violations.map((v) => ({ atSeconds: (v.at - tl.startedAt) / 1000, invariant: v.invariant, message: v.message })),
    leftoverProcesses: c.leftoverProcesses(),
    wallSeconds: (Date.now() - started) / 1000,
    command: commandOf(opts.faults, opts.seed, opts.db),
    timeline: tl,
  };
};

const fmt = (p: Percentiles, digits = 2): string =>
  p.n === 0 ? 'none' : `p50 ${p.p50.toFixed(digits)}, p95 ${p.p95.toFixed(digits)}, max ${p.max.toFixed(digits)} (n = ${p.n})`;

/** The summary the CLI prints (and docs/soak.md quotes). */
const formatSoakReport = (r: SoakReport): string[] => {
  const t = r.timings;
  return [
    `Soak: ${r.faults} faults, seed ${r.seed}; DB ${r.dbLabel}; ${r.timeline.config.nodes.length} nodes`,
    `Timings: heartbeat ${t.heartbeatSec} s (Airflow 2.5 one-beat lag), staleAfterSeconds ${t.staleAfterSeconds}, checkIntervalSeconds ${t.checkIntervalSeconds}, commandTimeoutSeconds ${t.commandTimeoutSeconds}, leaseSeconds ${t.leaseSeconds}, node stop timeout ${t.stopTimeoutSeconds} s`,
    `Faults injected: ${r.injectedTotal} — ${SOAK_FAULT_KINDS.map((k) => `${k} ${r.injected[k]}`).join(', ')}`,
    ...(r.skipped.length === 0 ? [] : [`Steps skipped: ${r.skipped.length} (${r.skipped.join('; ')})`]),
    `Watchdog kills: ${r.watchdogKills.killed} (${r.watchdogKills.whileHoldingLease} while it held the lease mid-action)`,
    `Recoveries measured: ${r.recoveries.measured} of ${r.recoveries.expected} expected`,
    `Recovery ÷ staleAfterSeconds (${t.staleAfterSeconds} s): ${fmt(r.recoveries.ratio)}`,
    `  faults with no delay stacked on purpose (a killed watchdog, DynamoDB down, SSM faults, an operator's failover): ${fmt(r.recoveries.plainRatio)}`,
    `  in seconds: ${fmt(r.recoveries.seconds, 1)}`,
    `Duplicate windows (two healthy schedulers): ${r.duplicateWindows.count}, longest ${r.duplicateWindows.longestSeconds.toFixed(1)} s`,
    `Watchdog ticks: ${r.ticks}`,
    `Invariant violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  VIOLATION ${v.invariant} at +${v.atSeconds.toFixed(1)} s: ${v.message}`),
    `Leftover processes: ${r.leftoverProcesses.length === 0 ? 'none' : r.leftoverProcesses.join(', ')}`,
    `Wall time: ${r.wallSeconds.toFixed(0)} s`,
    `Reproduce: ${r.command}`,
  ];
};

// ---- CLI ---------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('usage: npm run soak -- --faults N --seed S [--db mysql://…|postgres://…] [--out DIR] [--verbose]\n');
    return;
  }
  const faults = Number(flag('--faults') ?? 50);
  const seed = Number(flag('--seed') ?? Date.now() % 100_000);
  if (!Number.isInteger(faults) || faults < 1 || !Number.isInteger(seed)) {
    process.stderr.write('--faults must be a positive integer and --seed an integer\n');
    process.exitCode = 2;
    return;
  }
  const db = flag('--db');
  const out = resolve(flag('--out') ?? join('.local', 'soak'));
  const verbose = args.includes('--verbose');
  process.stdout.write(`${commandOf(faults, seed, db)}\n`);
  const report = await runSoak({
    faults,
    seed,
    ...(db === undefined ? {} : { db }),
    log: (line) => {
      if (verbose || !line.startsWith('    [')) process.stdout.write(`${line}\n`);
    },
  });
  process.stdout.write(`\n${formatSoakReport(report).join('\n')}\n`);
  if (report.violations.length > 0 || args.includes('--out')) {
    mkdirSync(out, { recursive: true });
    const file = join(out, `timeline-seed-${seed}.json`);
    writeFileSync(file, JSON.stringify(report.timeline));
    process.stdout.write(`Timeline (JSON, for local/plot.ts or a closer look): ${file}\n`);
  }
  process.exitCode = report.violations.length === 0 ? 0 : 1;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}

export type { SoakFaultKind, SoakOptions, SoakReport, SoakStep };
export { formatSoakReport, planSoak, runSoak, SOAK_FAULT_KINDS, SOAK_TIMINGS };
