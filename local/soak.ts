/**
 * `npm run soak -- --faults N --seed S`: a randomized soak of the watchdog on the local cluster
 * (local/cluster.ts) with compressed time. A seeded PRNG draws a schedule of N faults (`planSoak`, a pure
 * function of the seed), the harness injects them one after another, some overlapping (SSM errors or
 * throttling, a DynamoDB outage, a standby node lost or partitioned, clock skew stay on while the next
 * faults happen), and at the end `checkInvariants` (SPEC §10) reads the whole timeline. A step that
 * finds nothing to hit is replaced by a spare step (`planSpares`, also from the seed), so N faults are
 * injected. Each fault is marked for the checker: expecting a recovery (with an allowance only for the
 * time the harness kept the watchdogs from acting, read from the record), or expecting no change at all.
 * The fault schedule is reproducible from the seed; when each fault lands against heartbeats and ticks
 * is not, since real processes run.
 *
 * Usage: npm run soak -- --faults N --seed S [--db mysql://…|postgres://…] [--out DIR] [--verbose]
 * Exit code 0 when no invariant is violated and N faults were injected, 1 otherwise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot } from './build.js';
import { type LocalCluster as Cluster, FAST_TIMINGS, LocalCluster, type Timings, type WatchdogProcess } from './cluster.js';
import type { EndpointFaults } from './ssm-endpoint.js';
import { plotHeartbeats, writePictures } from './plot.js';
import { checkInvariants, formatAllowances, type InvariantReport, quantile, type RecoveryMeasure, recoveredAt } from './invariants.js';
import { type EventOf, eventsOf, newestPerHost, type Timeline } from './timeline.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// ---- the schedule: a pure function of (faults, seed) ------------------------------------------

const SOAK_FAULT_KINDS = [
  'crash',
  'hang',
  'node-loss',
  'partition',
  'db-outage',
  'db-blackhole',
  'db-dynamodb-outage',
  'db-outage-unseen',
  'dynamodb-outage',
  'ssm-errors',
  'ssm-throttle',
  'manual-failover',
  'clock-skew',
  'clock-behind',
  'fenced-reboot',
  'watchdog-kill',
] as const;
type SoakFaultKind = (typeof SOAK_FAULT_KINDS)[number];

/** Which node a step hits: the active one, or the k-th standby (in configuration order). */
type Target = { readonly role: 'active' } | { readonly role: 'standby'; readonly index: number };

type SoakStep = { readonly n: number; readonly gapMs: number } & (
  | { readonly kind: 'crash' }
  /** `stallMs` set: a stall shorter than the threshold (a GC pause) that must change nothing; else frozen until replaced. */
  | { readonly kind: 'hang'; readonly stallMs?: number }
  /**
   * The node returns `downMs` after the fault. On a standby: an overlay. On the active: the step waits for
   * the recovery first, so if that takes longer the node returns right after it.
   */
  | { readonly kind: 'node-loss' | 'partition'; readonly target: Target; readonly downMs: number }
  /**
   * `db-outage`: connections refused and cut (a stopped or failing-over server); a real scheduler exits
   * (research §7), so what is judged is the recovery from the DB's return. `db-blackhole`: packets
   * dropped; the scheduler blocks and lives on, and must not be touched. `db-dynamodb-outage`: a refused
   * DB and DynamoDB at once (the case where observe used to throw the DB reading away).
   */
  | { readonly kind: 'db-outage' | 'db-blackhole' | 'db-dynamodb-outage' | 'dynamodb-outage'; readonly durationMs: number }
  /**
   * A black-holed DB for longer than staleAfterSeconds while the watchdog is frozen (SIGSTOP), so no tick
   * sees it: the first tick after finds a live scheduler's heartbeat stale (an outage between two ticks).
   */
  | { readonly kind: 'db-outage-unseen'; readonly durationMs: number }
  /** The active node's clock steps `behindSec` behind the DB's (more than staleAfterSeconds) for `holdMs`, then back. */
  | { readonly kind: 'clock-behind'; readonly behindSec: number; readonly holdMs: number }
  /** A standby (a fenced node: no permit) with its unit enabled reboots: systemd must not start it. */
  | { readonly kind: 'fenced-reboot'; readonly index: number }
  | { readonly kind: 'ssm-errors'; readonly probability: number; readonly operations?: readonly string[]; readonly durationMs: number }
  | { readonly kind: 'ssm-throttle'; readonly probability: number; readonly durationMs: number }
  /** The active scheduler crashes; `delayMs` later an operator asks for a failover while the watchdog recovers on its own. */
  | { readonly kind: 'manual-failover'; readonly delayMs: number; readonly to?: Target }
  /** The node's clock is off by `skewSec` from its next scheduler start on (0: fixed again). */
  | { readonly kind: 'clock-skew'; readonly target: Target; readonly skewSec: number }
  /**
   * The active scheduler hangs and the watchdog process is SIGKILLed while it reacts: `delayMs` after it
   * sends its stop, its start, or (`any`) after the hang; a new one starts `restartMs` later.
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
  'db-outage': 6,
  'db-blackhole': 4,
  'db-dynamodb-outage': 3,
  'dynamodb-outage': 8,
  'ssm-errors': 9,
  'ssm-throttle': 9,
  'manual-failover': 8,
  'db-outage-unseen': 4,
  'clock-skew': 8,
  'clock-behind': 4,
  'fenced-reboot': 4,
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

/** One weighted draw of a kind. */
const drawKind = (rnd: () => number): SoakFaultKind => {
  const total = SOAK_FAULT_KINDS.reduce((s, k) => s + WEIGHTS[k], 0);
  let x = rnd() * total;
  for (const k of SOAK_FAULT_KINDS) {
    x -= WEIGHTS[k];
    if (x < 0) return k;
  }
  return SOAK_FAULT_KINDS[SOAK_FAULT_KINDS.length - 1] as SoakFaultKind;
};

/** The parameters of step `n` of `kind`. */
const drawStep = (kind: SoakFaultKind, n: number, rnd: () => number, staleMs: number): SoakStep => {
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const target = (pActive: number): Target => (rnd() < pActive ? { role: 'active' } : { role: 'standby', index: int(0, 1) });
  // A random phase against the heartbeat and the tick before every step.
  const base = { n, gapMs: int(100, 1000) };
  switch (kind) {
    case 'crash':
      return { ...base, kind };
    case 'hang':
      return rnd() < 0.3 ? { ...base, kind, stallMs: int(200, Math.round(staleMs / 3)) } : { ...base, kind };
    case 'node-loss':
    case 'partition':
      return { ...base, kind, target: target(0.6), downMs: int(1000, 4 * staleMs) };
    case 'db-outage':
    case 'db-blackhole':
    case 'db-dynamodb-outage':
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
    case 'db-outage-unseen':
      return { ...base, kind, durationMs: int(staleMs + 500, 2 * staleMs) };
    case 'clock-skew':
      return { ...base, kind, target: target(0.5), skewSec: pick(SKEWS) };
    case 'clock-behind':
      return { ...base, kind, behindSec: staleMs / 1000 + pick([1, 1.5, 3]), holdMs: int(2 * staleMs, 4 * staleMs) };
    case 'fenced-reboot':
      return { ...base, kind, index: int(0, 1) };
    case 'watchdog-kill': {
      // A stop or start answers within a second here: short delays land the kill inside the action.
      const moment = pick(['stop-sent', 'start-sent', 'any'] as const);
      const delayMs = moment === 'any' ? int(0, staleMs + 1500) : int(0, moment === 'stop-sent' ? 300 : 150);
      return { ...base, kind, moment, delayMs, restartMs: int(300, 1500) };
    }
  }
  throw new Error(`unknown fault kind ${String(kind)}`);
};

/** The fault schedule: every kind once (shuffled) when N allows, then weighted draws. Same seed, same schedule. */
const planSoak = (faults: number, seed: number, staleAfterSeconds = 3): SoakStep[] => {
  const rnd = prng(seed);
  const kinds: SoakFaultKind[] = [];
  const first = [...SOAK_FAULT_KINDS];
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [first[i], first[j]] = [first[j] as SoakFaultKind, first[i] as SoakFaultKind];
  }
  kinds.push(...first.slice(0, faults));
  while (kinds.length < faults) kinds.push(drawKind(rnd));
  return kinds.map((kind, i) => drawStep(kind, i + 1, rnd, staleAfterSeconds * 1000));
};

/** How many spare steps a run of N faults plans: a skipped step is replaced by the next spare. */
const spareCount = (faults: number): number => Math.max(10, Math.ceil(faults / 5));

/**
 * Spare steps, numbered after the schedule (N + 1, N + 2, …): weighted draws from a second stream of the
 * same seed, so they are a pure function of the seed too and do not change the schedule itself.
 */
const planSpares = (faults: number, seed: number, staleAfterSeconds = 3, count = spareCount(faults)): SoakStep[] => {
  const rnd = prng((seed ^ 0x5bd1e995) | 0);
  return Array.from({ length: count }, (_, i) => drawStep(drawKind(rnd), faults + i + 1, rnd, staleAfterSeconds * 1000));
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
      return `lose ${tgt(s.target)} for ${sec(s.downMs)}${s.target.role === 'active' ? ' (at least until the recovery)' : ''}`;
    case 'partition':
      return `partition ${tgt(s.target)} for ${sec(s.downMs)}${s.target.role === 'active' ? ' (at least until the recovery)' : ''}`;
    case 'db-outage':
      return `metadata DB refuses connections for ${sec(s.durationMs)}`;
    case 'db-blackhole':
      return `metadata DB drops packets for ${sec(s.durationMs)}`;
    case 'db-dynamodb-outage':
      return `metadata DB refuses connections and DynamoDB is unreachable for ${sec(s.durationMs)}`;
    case 'dynamodb-outage':
      return `DynamoDB outage of ${sec(s.durationMs)}`;
    case 'ssm-errors':
      return `SSM 5xx on ${Math.round(s.probability * 100)} % of ${s.operations?.join('/') ?? 'all'} calls for ${sec(s.durationMs)}`;
    case 'ssm-throttle':
      return `SSM throttles ${Math.round(s.probability * 100)} % of calls for ${sec(s.durationMs)}`;
    case 'manual-failover':
      return `crash, then a manual failover to ${s.to === undefined ? 'the next candidate' : tgt(s.to)} ${sec(s.delayMs)} later`;
    case 'db-outage-unseen':
      return `watchdog frozen while the metadata DB drops packets for ${sec(s.durationMs)}`;
    case 'clock-behind':
      return `clock of the active node stepped ${s.behindSec} s behind the DB's for ${sec(s.holdMs)}`;
    case 'fenced-reboot':
      return `standby ${s.index + 1} reboots with its unit enabled`;
    case 'clock-skew':
      return `clock of ${tgt(s.target)} ${s.skewSec === 0 ? 'fixed' : `${s.skewSec > 0 ? '+' : ''}${s.skewSec} s`} from its next start`;
    case 'watchdog-kill':
      return `hang, then SIGKILL the watchdog ${sec(s.delayMs)} after ${s.moment === 'any' ? 'the hang' : `its ${s.moment === 'stop-sent' ? 'stop' : 'start'} is sent`}; a new one ${sec(s.restartMs)} later`;
  }
};

// ---- running it --------------------------------------------------------------------------------


interface SoakOptions {
  readonly faults: number;
  readonly seed: number;
  /** mysql://… or postgres://…; default embedded PGlite. */
  readonly db?: string;
  readonly timings?: Partial<Timings>;
  /** One line per step and diagnostics. */
  readonly log?: (line: string) => void;
  /** Where the timeline JSON goes (default .local/soak in the repository, gitignored). */
  readonly outDir?: string;
  /** When to write it: on a failing run (a violation, fewer faults injected than asked, a leftover process; the default), always, or never. */
  readonly saveTimeline?: 'on-failure' | 'always' | 'never';
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
  /** Spare steps run in place of skipped ones (numbered after the schedule). */
  readonly sparesRun: readonly SoakStep[];
  /** Injected faults by kind (a step that found nothing to hit, e.g. no active scheduler, is skipped and replaced by a spare). */
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
  /** The timeline as JSON, when it was written. */
  readonly timelineFile?: string;
}

/** Gitignored (.local/), in the repository whatever the working directory. */
const DEFAULT_OUT_DIR = join(repoRoot, '.local', 'soak');

/** Writes the timeline as JSON, and its heartbeat picture beside it as SVG and PNG (same name). */
const saveTimeline = (tl: Timeline, dir: string, name: string): string => {
  mkdirSync(dir, { recursive: true });
  const file = join(resolve(dir), name);
  writeFileSync(file, JSON.stringify(tl));
  writePictures(resolve(dir), name.replace(/\.json$/, ''), plotHeartbeats(tl, { title: `Soak: heartbeat age per node (${name.replace(/\.json$/, '')})` }));
  return file;
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const percentiles = (xs: readonly number[]): Percentiles => ({ n: xs.length, p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: xs.length === 0 ? Number.NaN : Math.max(...xs) });

const commandOf = (faults: number, seed: number, db?: string): string => `npm run soak -- --faults ${faults} --seed ${seed}${db === undefined ? '' : ` --db '${db.replace(/:[^:@/]*@/, ':***@')}'`}`;

/**
 * A time in which no watchdog could act on a recovery: DynamoDB down, no runner running, or a lease left
 * on the record by a tick that was cut (its runner killed, DynamoDB gone before its last write).
 */
interface Blocker {
  readonly from: number;
  until: number;
  /** Added once it ends: the first tick after it (for a lease, also the cut tick's work that is redone). */
  readonly marginSeconds: number;
  readonly why: string;
  /** The recovery faults it delays. */
  readonly affects: Set<Tracked>;
}

/** A fault expecting a recovery, with the allowance parts known when it was injected. */
interface Tracked {
  event: EventOf<'fault'>;
  /** SSM faults on, an operator's failover racing the recovery. */
  readonly fixedSeconds: number;
  readonly fixedWhy: readonly string[];
}

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
  #dynamoBlocker: Blocker | undefined;
  #blockers: Blocker[] = [];
  #tracked: Tracked[] = [];
  injected = Object.fromEntries(SOAK_FAULT_KINDS.map((k) => [k, 0])) as Record<SoakFaultKind, number>;
  skipped: string[] = [];
  /** `holdingLease`: read from the record once the runner was dead, not guessed from its commands. */
  kills: { at: number; holdingLease: boolean }[] = [];

  constructor(
    c: Cluster,
    wd: WatchdogProcess,
    private readonly log: (line: string) => void,
  ) {
    this.c = c;
    this.t = c.timings;
    this.wd = wd;
  }

  get injectedTotal(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
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

  // ---- allowances: only for delays the harness itself causes, each from what actually happened ----

  /** SDK retries with backoff, and a command lost to an error is retried by the next tick. */
  #ssmNow(): { seconds: number; why: string[] } {
    const now = Date.now();
    const on = (this.#ssm.throttle?.until ?? 0) > now || (this.#ssm.serverError?.until ?? 0) > now;
    return on ? { seconds: this.t.commandTimeoutSeconds, why: [`SSM faults on ${this.t.commandTimeoutSeconds} s`] } : { seconds: 0, why: [] };
  }

  /** Writes a tracked fault's allowance: its fixed part plus the longest blocker on it (after the fault). */
  #amend(f: Tracked): void {
    let blocked = 0;
    let why = '';
    for (const b of this.#blockers) {
      if (!b.affects.has(f)) continue;
      const sec = Math.max(0, b.until - Math.max(f.event.t, b.from)) / 1000 + b.marginSeconds;
      if (sec > blocked) {
        blocked = sec;
        why = b.why;
      }
    }
    const total = Math.round((f.fixedSeconds + blocked) * 10) / 10;
    const reasons = [...f.fixedWhy, ...(blocked > 0 ? [`${why} ${blocked.toFixed(1)} s`] : [])];
    f.event = this.c.amendFault(f.event, {
      recoveryExtraSeconds: total > 0 ? total : undefined,
      recoveryExtraReason: reasons.length > 0 ? reasons.join('; ') : undefined,
    });
  }

  /** Registers the recovery fault just recorded, with the allowance parts known now and the blockers on now. */
  #track(fixed: { seconds: number; why: string[] }): void {
    const e = this.c.lastFault();
    if (e === undefined || e.expectRecovery !== true) return;
    const f: Tracked = { event: e, fixedSeconds: fixed.seconds, fixedWhy: fixed.why };
    this.#tracked.push(f);
    for (const b of this.#blockers) if (b.from <= e.t && b.until > e.t) b.affects.add(f);
    this.#amend(f);
  }

  /**
   * The watchdogs could not act from `from` to `until`: raises the allowance of every fault injected in
   * that time, and of an earlier one not yet recovered by `from` (its recovery tick was the one cut).
   */
  #block(from: number, until: number, marginSeconds: number, why: string): Blocker {
    const b: Blocker = { from, until, marginSeconds, why, affects: new Set() };
    for (const f of this.#tracked) {
      if (f.event.t >= until) continue;
      // Steps wait for their recovery (at most ~2 min): an older fault is no longer waiting for a tick.
      if (f.event.t < from && (f.event.t < from - 150_000 || recoveredAt(this.c.timeline, f.event, from) !== undefined)) continue;
      b.affects.add(f);
    }
    this.#blockers.push(b);
    for (const f of b.affects) this.#amend(f);
    return b;
  }

  #extend(b: Blocker, until: number): void {
    b.until = until;
    for (const f of b.affects) this.#amend(f);
  }

  /**
   * After DynamoDB is back: a lease on the record that its holder neither renews nor releases before it
   * expires was left by a tick the outage cut; nobody could act until it expired. Polls the record
   * (directly) until then; a live tick's lease changes first and earns nothing.
   */
  async #leaseLeftByOutage(from: number): Promise<void> {
    const first = await this.c.readRecord().catch(() => undefined);
    const owner = first?.leaseOwner;
    const expiresAt = first?.leaseExpiresAt;
    if (owner === undefined || expiresAt === undefined || expiresAt <= Date.now()) return;
    while (Date.now() < expiresAt) {
      await sleep(Math.min(250, Math.max(1, expiresAt - Date.now())));
      const r = await this.c.readRecord().catch(() => undefined);
      if (r !== undefined && (r.leaseOwner !== owner || r.leaseExpiresAt !== expiresAt)) return;
    }
    const rel = ((expiresAt - this.c.timeline.startedAt) / 1000).toFixed(1);
    this.c.note(`soak: lease of ${owner} left by a tick the DynamoDB outage cut, expired at +${rel} s`);
    this.#block(from, expiresAt, this.t.checkIntervalSeconds + 2, `lease of ${owner} left by a tick cut by DynamoDB down until +${rel} s`);
  }

  /** Marks the fault just recorded as one that must change nothing, naming the active scheduler at that moment. */
  #expectNoChange(): void {
    const e = this.c.lastFault();
    const a = this.active();
    const sample = this.c.latestSample();
    const row = a === undefined || sample === undefined ? undefined : newestPerHost(sample.rows).get(this.c.node(a).hostname);
    if (e === undefined || a === undefined || row === undefined) {
      this.c.note('soak: no active scheduler, so nothing to check that this fault changes nothing');
      return;
    }
    this.c.amendFault(e, { expectNoChange: true, activeNode: a, activeJobId: row.jobId });
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

  #later(ms: number, what: 'node' | 'window', fn: () => void | Promise<void>): void {
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

  /** Runs one step; resolves when the next step may begin: true if it injected its fault, false if it was skipped. */
  async run(s: SoakStep): Promise<boolean> {
    const before = this.injectedTotal;
    await this.#step(s);
    return this.injectedTotal > before;
  }

  async #step(s: SoakStep): Promise<void> {
    const c = this.c;
    const stale = this.t.staleAfterSeconds;
    const recoverMs = 90_000;
    const skip = (why: string): void => {
      this.skipped.push(`#${s.n} ${s.kind}: ${why}`);
      c.note(`soak: step ${s.n} (${s.kind}) skipped: ${why}`);
      this.log(`    skipped: ${why}`);
    };
    // The scheduler may exit between finding it and signalling it (a race with its own exit): a skip, not a failed run.
    const inject = (fn: () => void): boolean => {
      try {
        fn();
        return true;
      } catch (err) {
        skip((err as Error).message);
        return false;
      }
    };
    const hostOf = (id: string): string => c.node(id).hostname;
    switch (s.kind) {
      case 'crash': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const seen = this.maxJobId();
        if (!inject(() => c.crash(a, true))) return;
        this.#track(this.#ssmNow());
        this.count(s.kind);
        await this.waitRecovered(seen, recoverMs);
        return;
      }
      case 'hang': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        if (s.stallMs !== undefined) {
          if (!inject(() => c.hang(a, false))) return;
          this.#expectNoChange();
          this.count(s.kind);
          await sleep(s.stallMs);
          c.unhang(a);
          await this.steady();
          return;
        }
        const seen = this.maxJobId();
        if (!inject(() => c.hang(a, true))) return;
        this.#track(this.#ssmNow());
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
        const down = s.kind === 'node-loss' ? (x: string, e: boolean) => c.loseNode(x, e) : (x: string, e: boolean) => c.partition(x, e);
        const back = s.kind === 'node-loss' ? (x: string) => c.restoreNode(x) : (x: string) => c.heal(x);
        if (s.target.role === 'standby') {
          down(id, false);
          this.#expectNoChange();
          this.count(s.kind);
          this.#later(s.downMs, 'node', () => back(id));
          return;
        }
        const seen = this.maxJobId();
        const at = Date.now();
        down(id, true);
        this.#track(this.#ssmNow());
        this.count(s.kind);
        await this.waitRecovered(seen, recoverMs);
        if (s.kind === 'node-loss') {
          // A rebooted host comes back with an empty process table: nothing to settle, the next steps go on.
          this.#later(Math.max(0, at + s.downMs - Date.now()), 'node', () => back(id));
          return;
        }
        // The node comes back downMs after the fault (or right after the recovery, if that took longer).
        await sleep(Math.max(0, at + s.downMs - Date.now()));
        back(id);
        // The healed node's scheduler beats again: a duplicate the watchdog must stop within a tick. Settled
        // before the next fault, or that one's recovery could be the old scheduler coming back.
        await sleep(1500);
        await this.steady();
        return;
      }
      case 'db-blackhole': {
        await this.settleNodes(); // dbBack reopens every node's DB link, which would heal a partition early
        c.dbOutage('blackhole');
        // The scheduler blocks and goes on when the DB returns: its heartbeat is merely unseen, then stale
        // until its next beat lands. Nothing may stop, start or restart it; checked by `no-change`.
        this.#expectNoChange();
        this.count(s.kind);
        await sleep(s.durationMs);
        c.dbBack();
        await sleep(stale * 1000 + 500);
        await this.steady();
        return;
      }
      case 'db-outage-unseen': {
        await this.settleNodes();
        if (this.active() === undefined) return skip('no active scheduler');
        const wd = this.wd;
        wd.child.kill('SIGSTOP');
        c.note(`soak: watchdog ${wd.name} frozen (SIGSTOP) so that no tick sees the outage`);
        try {
          c.dbOutage('blackhole');
          this.#expectNoChange();
          this.count(s.kind);
          await sleep(s.durationMs);
          c.dbBack();
          // Resumed a second after the return: the simulated survivor reconnects in about a second (PGlite
          // serves reconnecting clients one at a time), just over the soak's 1.125 s window. What is checked
          // is that no pre-outage reading serves as evidence; a survivor slower than the window is the gap
          // docs/design.md names ("An outage no reading saw"), not exercised here.
          await sleep(1000);
        } finally {
          wd.child.kill('SIGCONT');
          c.note(`soak: watchdog ${wd.name} resumed (SIGCONT)`);
        }
        await sleep(stale * 1000 + 500);
        await this.steady();
        return;
      }
      case 'clock-behind': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        // Its heartbeat stays older than staleAfterSeconds but advances: alive, a clock-skew alarm, no action.
        // Stepped back right after a crash, the live row's heartbeats fall behind the orphan's last one; the
        // adapter still judges the live one (a host's latest inserted row when all are stale).
        c.stepClock(a, -s.behindSec);
        this.#expectNoChange();
        this.count(s.kind);
        await sleep(s.holdMs);
        c.stepClock(a, undefined);
        await this.steady();
        return;
      }
      case 'fenced-reboot': {
        await this.settleNodes();
        if (this.active() === undefined) return skip('no active scheduler');
        const id = this.node({ role: 'standby', index: s.index });
        if (id === undefined) return skip('no standby');
        // A node no watchdog command has reached has no guard yet (README, "What the watchdog adds"): systemd would start it at boot.
        if (!c.permitGuarded(id)) return skip('the standby has no permit guard yet (no watchdog command has run there)');
        // A boot clears /run and with it any permit, so the unit's ExecCondition refuses the start
        // systemd attempts at boot: what is tested is that the guard is installed and holds at boot.
        c.enableUnit(id, true);
        c.rebootNode(id, false);
        this.#expectNoChange();
        this.count(s.kind);
        await sleep(stale * 1000 + 1000);
        c.enableUnit(id, false);
        await this.steady();
        return;
      }
      case 'db-outage':
      case 'db-dynamodb-outage': {
        await this.settleNodes();
        const both = s.kind === 'db-dynamodb-outage';
        if (both && this.#dynamoUntil > Date.now()) return skip('a DynamoDB outage is already on');
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const pid = c.mainPid(a);
        const job = newestPerHost(c.latestSample()?.rows ?? []).get(hostOf(a))?.jobId;
        if (pid === undefined || job === undefined) return skip('the active scheduler has no main process or row');
        const seen = this.maxJobId();
        const from = Date.now();
        c.dbOutage('refuse');
        if (both) c.dynamodbOutage();
        this.count(s.kind);
        await sleep(s.durationMs);
        // What is judged depends on what the outage did, read from the simulator's own log: one that exited
        // on it (real Airflow does, at once) must be beating again within the recovery bound of the DB's
        // return, whoever starts it (systemd's Restart=always or the watchdog). Any other end of it (a stop
        // by the watchdog inside the outage) is a change the no-change check below reports.
        const exited = eventsOf(c.timeline, 'sim').some((e) => e.t >= from && e.pid === pid && e.event === 'db-lost');
        if (both) c.dynamodbBack();
        c.dbBack(exited ? true : undefined);
        if (!exited) {
          c.note(`soak: the scheduler on ${hostOf(a)} (pid ${pid}) did not exit on the outage`);
          const back = c.lastFault();
          if (back !== undefined) c.amendFault(back, { expectNoChange: true, activeNode: a, activeJobId: job });
          await sleep(stale * 1000 + 500);
          await this.steady();
          return;
        }
        this.#track(this.#ssmNow());
        const lease = both ? this.#leaseLeftByOutage(from) : Promise.resolve();
        await this.waitRecovered(seen, recoverMs);
        await lease;
        return;
      }
      case 'dynamodb-outage': {
        const now = Date.now();
        const fresh = this.#dynamoUntil <= now;
        this.#dynamoUntil = Math.max(this.#dynamoUntil, now + s.durationMs);
        if (fresh) c.dynamodbOutage();
        else c.fault('dynamodb-outage', `DynamoDB outage extended by ${(s.durationMs / 1000).toFixed(1)} s`);
        this.#expectNoChange();
        this.count(s.kind);
        // No tick can commit until DynamoDB is back; then the next tick acts.
        if (this.#dynamoBlocker === undefined) this.#dynamoBlocker = this.#block(now, this.#dynamoUntil, this.t.checkIntervalSeconds, 'DynamoDB down');
        else this.#extend(this.#dynamoBlocker, this.#dynamoUntil);
        this.#later(s.durationMs, 'window', async () => {
          if (this.#dynamoUntil > Date.now() + 5) return; // extended: a later step's timer ends it
          c.dynamodbBack();
          const b = this.#dynamoBlocker;
          this.#dynamoBlocker = undefined;
          if (b === undefined) return;
          this.#extend(b, Date.now());
          await this.#leaseLeftByOutage(b.from);
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
        this.#expectNoChange();
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
        this.#expectNoChange();
        this.count(s.kind);
        return;
      }
      case 'manual-failover': {
        const a = this.active();
        if (a === undefined) return skip('no active scheduler');
        const to = s.to === undefined ? undefined : this.node(s.to);
        const seen = this.maxJobId();
        if (!inject(() => c.crash(a, true))) return;
        // The operator may stop a scheduler the watchdog just brought up and start another: one more stop and start.
        const ssm = this.#ssmNow();
        this.#track({ seconds: ssm.seconds + this.t.stopTimeoutSeconds + 2, why: [...ssm.why, `an operator's failover races it ${this.t.stopTimeoutSeconds + 2} s`] });
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
        // A hang, not a crash: the recommended unit's Restart=always would bring a crashed one back before
        // the watchdog sends anything; a frozen one the watchdog itself must stop and start.
        if (!inject(() => c.hang(a, true))) return;
        this.#track(this.#ssmNow());
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
        const killedAt = Date.now();
        c.fault('watchdog-killed', `SIGKILL to watchdog ${dead.name} (pid ${dead.child.pid ?? '?'})`);
        const killed = c.lastFault();
        await sleep(s.restartMs);
        // The dead runner writes nothing more (a write it had in flight has landed by now): the lease the
        // record holds is what it left. Only then must the next watchdog wait for it (SPEC §4.3).
        const rec = await c.readRecord().catch((err: unknown) => {
          this.log(`    ! record unreadable after the kill: ${(err as Error).message}`);
          return undefined;
        });
        const leaseUntil = rec?.leaseOwner?.startsWith(`${dead.name}-`) === true ? (rec.leaseExpiresAt ?? 0) : 0;
        const holding = leaseUntil > killedAt;
        this.kills.push({ at: killedAt, holdingLease: holding });
        if (killed !== undefined) {
          const rel = ((leaseUntil - c.timeline.startedAt) / 1000).toFixed(1);
          c.amendFault(killed, { detail: `${killed.detail}: ${holding ? `it held the lease (${rec?.leaseOwner}) until +${rel} s` : 'it held no lease'}` });
        }
        if (holding) this.#block(killedAt, leaseUntil, this.t.checkIntervalSeconds + 2, `lease of the killed ${dead.name}`);
        await this.startWatchdog();
        this.#block(killedAt, Date.now(), this.t.checkIntervalSeconds, `no watchdog running (${dead.name} killed)`);
        await this.waitRecovered(seen, recoverMs + this.t.leaseSeconds * 1000);
        c.unhang(a); // SIGKILLed by the stop: a no-op unless something went wrong
        return;
      }
    }
  }
}

const runSoak = async (opts: SoakOptions): Promise<SoakReport> => {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const timings: Timings = { ...FAST_TIMINGS, ...opts.timings };
  const schedule = planSoak(opts.faults, opts.seed, timings.staleAfterSeconds);
  const spares = planSpares(opts.faults, opts.seed, timings.staleAfterSeconds);
  const sparesRun: SoakStep[] = [];
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
    for (const planned of schedule) {
      // A skipped step (nothing to hit, or its target exited first) is replaced by the next spare, after
      // the cluster is steady again, so that the run still injects N faults.
      for (let step: SoakStep | undefined = planned; step !== undefined; ) {
        await sleep(step.gapMs);
        const at = ((Date.now() - c.timeline.startedAt) / 1000).toFixed(1);
        log(`  +${at.padStart(6)} s  #${String(step.n).padStart(3)} ${step.kind.padEnd(18)} ${describeStep(step)}${isOverlay(step) ? ' [overlay]' : ''}`);
        if (await soak.run(step)) break;
        step = spares[sparesRun.length];
        if (step === undefined) {
          log(`  ! no spare step left (${spares.length} planned)`);
          break;
        }
        sparesRun.push(step);
        await soak.steady();
      }
    }
    await soak.settleAll();
    // The end: every fault lifted, one scheduler steady, so the last recovery is judged too.
    c.ssm.faults = {};
    await soak.steady(60_000);
    await sleep(2000);
  } catch (err) {
    // A harness error: keep what happened for a closer look.
    await c.stop();
    const file = saveTimeline(c.timeline, opts.outDir ?? DEFAULT_OUT_DIR, `timeline-seed-${opts.seed}-error.json`);
    throw new Error(`${(err as Error).message} (timeline so far: ${file})`, { cause: err });
  } finally {
    await c.stop();
  }
  const tl = c.timeline;
  const t = timings;
  const invariants = checkInvariants(tl, {
    startSeconds: t.stopTimeoutSeconds + 3,
    stopSeconds: t.stopTimeoutSeconds + 2,
    slackSeconds: 2,
    skewSeconds: [...schedule, ...sparesRun].some((s) => s.kind === 'clock-skew' && s.skewSec > 0) ? MAX_SKEW_AHEAD : 0,
  });
  const measured = invariants.recoveries.filter((r): r is RecoveryMeasure & { seconds: number } => r.seconds !== undefined);
  const stale = t.staleAfterSeconds;
  const windows = invariants.duplicateWindows;
  const s = soak;
  const injectedTotal = s?.injectedTotal ?? 0;
  const leftoverProcesses = c.leftoverProcesses();
  const failed = invariants.violations.length > 0 || injectedTotal < opts.faults || leftoverProcesses.length > 0;
  const timelineFile =
    opts.saveTimeline === 'always' || (failed && opts.saveTimeline !== 'never')
      ? saveTimeline(tl, opts.outDir ?? DEFAULT_OUT_DIR, `timeline-seed-${opts.seed}.json`)
      : undefined;
  return {
    faults: opts.faults,
    seed: opts.seed,
    dbLabel: c.dbLabel,
    timings: t,
    schedule,
    sparesRun,
    injected: s?.injected ?? (Object.fromEntries(SOAK_FAULT_KINDS.map((k) => [k, 0])) as Record<SoakFaultKind, number>),
    injectedTotal,
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
    leftoverProcesses,
    wallSeconds: (Date.now() - started) / 1000,
    command: commandOf(opts.faults, opts.seed, opts.db),
    timeline: tl,
    ...(timelineFile === undefined ? {} : { timelineFile }),
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
    ...(r.skipped.length === 0
      ? []
      : [
          `Steps skipped: ${r.skipped.length} (${r.skipped.join('; ')}); spares run in their place: ${
            r.sparesRun.length === 0 ? 'none' : r.sparesRun.map((x) => `#${x.n} ${x.kind}`).join(', ')
          }`,
        ]),
    `Watchdog kills: ${r.watchdogKills.killed} (${r.watchdogKills.whileHoldingLease} left a lease on the record)`,
    `Recoveries measured: ${r.recoveries.measured} of ${r.recoveries.expected} expected`,
    `Recovery ÷ staleAfterSeconds (${t.staleAfterSeconds} s): ${fmt(r.recoveries.ratio)}`,
    `  faults with no allowance (no killed watchdog, DynamoDB outage, left lease, SSM fault or operator's failover in the way): ${fmt(r.recoveries.plainRatio)}`,
    `  in seconds: ${fmt(r.recoveries.seconds, 1)}`,
    formatAllowances(r.invariants),
    `Must-change-nothing faults checked: ${r.invariants.noChangeChecked}`,
    `Duplicate windows (two healthy schedulers): ${r.duplicateWindows.count}, longest ${r.duplicateWindows.longestSeconds.toFixed(1)} s`,
    `Watchdog ticks: ${r.ticks}`,
    `Invariant violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  VIOLATION ${v.invariant} at +${v.atSeconds.toFixed(1)} s: ${v.message}`),
    `Leftover processes: ${r.leftoverProcesses.length === 0 ? 'none' : r.leftoverProcesses.join(', ')}`,
    `Wall time: ${r.wallSeconds.toFixed(0)} s`,
    `Reproduce: ${r.command}`,
    ...(r.timelineFile === undefined ? [] : [`Timeline (JSON, for local/plot.ts or a closer look): ${r.timelineFile}`, `Picture: ${r.timelineFile.replace(/\.json$/, '.svg')} (and .png)`]),
  ];
};

// ---- CLI ---------------------------------------------------------------------------------------

const USAGE = 'usage: npm run soak -- --faults N --seed S [--db mysql://…|postgres://…] [--out DIR] [--verbose]\n';

const main = async (): Promise<void> => {
  let values: { faults?: string; seed?: string; db?: string; out?: string; verbose?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        faults: { type: 'string' },
        seed: { type: 'string' },
        db: { type: 'string' },
        out: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const faults = Number(values.faults ?? 50);
  const seed = Number(values.seed ?? Date.now() % 100_000);
  if (!Number.isInteger(faults) || faults < 1 || !Number.isInteger(seed)) {
    process.stderr.write('--faults must be a positive integer and --seed an integer\n');
    process.exitCode = 2;
    return;
  }
  const { db, out } = values;
  const verbose = values.verbose === true;
  process.stdout.write(`${commandOf(faults, seed, db)}\n`);
  const report = await runSoak({
    faults,
    seed,
    ...(db === undefined ? {} : { db }),
    ...(out === undefined ? {} : { outDir: resolve(out), saveTimeline: 'always' as const }),
    log: (line) => {
      if (verbose || !line.startsWith('    [')) process.stdout.write(`${line}\n`);
    },
  });
  process.stdout.write(`\n${formatSoakReport(report).join('\n')}\n`);
  process.exitCode = report.violations.length === 0 && report.injectedTotal >= faults ? 0 : 1;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}

export type { SoakFaultKind, SoakOptions, SoakReport, SoakStep };
export { formatSoakReport, planSoak, planSpares, runSoak, SOAK_FAULT_KINDS };
