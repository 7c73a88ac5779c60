import type { ComponentName } from '../functions/core/components.js';
import {
  componentOfUnit,
  type EventOf,
  eventsOf,
  healthyHosts,
  jobTypeOf,
  newestPerHost,
  type SampleRow,
  type Timeline,
  type TimelineComponent,
  timelineComponent,
  timelineComponents,
} from './timeline.js';

/**
 * SPEC §10's invariants, checked over a recorded timeline (local/timeline.ts). A pure function: no I/O,
 * no clock; the same timeline always gives the same report, so an end-to-end test, the demo and a
 * randomized soak test can all use it.
 *
 * Checked:
 * - `single-duplicates` (single mode): never two healthy schedulers on configured nodes (by the DB
 *   samples, SPEC §2's definition) for longer than one tick plus a stop:
 *   `checkIntervalSeconds + stopSeconds + slackSeconds`.
 * - `no-action-db-down`: no tick that saw the DB unreachable planned or ran an action, and no SSM
 *   command was sent inside an injected DB outage (after a grace for a tick already under way when it
 *   began).
 * - `epoch-monotonic`: the record's epoch never decreases; on each node, the epochs of the start/stop
 *   commands it accepted never decrease (the fencing property).
 * - `recovery`: after each fault marked `expectRecovery` (a healthy candidate exists), a new scheduler
 *   row (a job id not seen before the fault) is healthy on a configured node within
 *   `staleAfterSeconds + checkIntervalSeconds + startSeconds (+ skewSeconds + slackSeconds)`, and before
 *   the next such fault. The fault's `recoveryExtraSeconds` (a delay the harness knows it caused, see
 *   local/timeline.ts) is added, capped at `leaseSeconds + commandTimeoutSeconds + 5` so that a harness
 *   bug cannot excuse an arbitrarily slow recovery. The measured times and allowances are returned too.
 * - `no-change`: after each fault marked `expectNoChange` and until the next fault that expects a
 *   recovery or changes nothing, no stop or start is sent to the node that was active at the fault, no
 *   start to any node, and the DB samples show its scheduler (the job id it had) as that host's newest
 *   live row throughout.
 *
 * Components (Airflow 3): every invariant holds per supervised component (`config.components`): its
 * duplicates are two healthy rows of its job type on its nodes, a fault's recovery is a new row of the
 * job type of each component it hit (`fault.components`, default the scheduler) within that
 * component's bound, a must-change-nothing fault looks at that component's unit and rows, and epochs
 * are per component (the record's) and per node and unit (the commands'). A timeline without
 * components is checked exactly as before.
 */

interface InvariantOptions {
  /** SPEC's "start time": stop of the old process (if any) + start command + process start + first row. */
  readonly startSeconds: number;
  /** How long a stop may take, SIGKILL escalation included (default: commandTimeoutSeconds). */
  readonly stopSeconds?: number;
  /** Sampling granularity and tick duration (default 1.5 s). */
  readonly slackSeconds?: number;
  /** How far ahead of the DB's clock any scheduler's clock runs: a dead row of that host looks fresh that much longer. */
  readonly skewSeconds?: number;
  /** A tick already under way when a DB outage begins may still act: grace after the outage starts (default checkInterval + 2 s). */
  readonly outageGraceSeconds?: number;
  /** Windows in which duplicates are expected and not the watchdog's to prevent (e.g. a node it cannot reach). */
  readonly allowDuplicates?: readonly { readonly from: number; readonly to: number }[];
  /**
   * The liveness window, in heartbeats of the component, added to the recovery bound: a stale row whose
   * unit still runs (a frozen process) is dead only once a second reading this much later shows the
   * same heartbeat (SPEC §4: 2.25). Default 0 (the bound of timelines checked before the rule).
   */
  readonly livenessHeartbeats?: number;
}

interface Violation {
  readonly invariant: 'single-duplicates' | 'no-action-db-down' | 'epoch-monotonic' | 'recovery' | 'no-change';
  readonly at: number;
  readonly message: string;
}

interface RecoveryMeasure {
  readonly fault: EventOf<'fault'>;
  /** The component whose recovery this is (a fault hitting several has one measure each). */
  readonly component: ComponentName;
  /** Time of the first sample showing the replacement healthy. */
  readonly recoveredAt?: number;
  readonly seconds?: number;
  readonly boundSeconds: number;
  /** The allowance in `boundSeconds` (the fault's `recoveryExtraSeconds`, after the cap). */
  readonly allowanceSeconds: number;
  /** The fault asked for more than the cap. */
  readonly allowanceCapped: boolean;
  readonly hostname?: string;
  readonly jobId?: number;
}

interface DuplicateWindow {
  readonly from: number;
  readonly to: number;
  readonly hosts: readonly string[];
  readonly component: ComponentName;
}

interface InvariantReport {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly recoveries: readonly RecoveryMeasure[];
  readonly duplicateWindows: readonly DuplicateWindow[];
  /** Recoveries whose bound carried an allowance, the largest one (after the cap), and the cap. */
  readonly allowances: { readonly count: number; readonly maxSeconds: number; readonly capSeconds: number };
  /** Faults checked by `no-change` (those marked `expectNoChange` with an active node). */
  readonly noChangeChecked: number;
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Windows of samples with two or more healthy rows of one component (default: every component, in order). */
const duplicateWindows = (tl: Timeline, component?: ComponentName): DuplicateWindow[] => {
  if (component === undefined) return timelineComponents(tl.config).flatMap((k) => duplicateWindows(tl, k.name));
  const windows: DuplicateWindow[] = [];
  let open: { from: number; hosts: Set<string> } | undefined;
  for (const e of eventsOf(tl, 'sample')) {
    if (e.error !== undefined) continue;
    const healthy = healthyHosts(e, tl.config, component);
    if (healthy.length >= 2) {
      if (open === undefined) open = { from: e.t, hosts: new Set() };
      for (const h of healthy) open.hosts.add(h);
    } else if (open !== undefined) {
      windows.push({ from: open.from, to: e.t, hosts: [...open.hosts], component });
      open = undefined;
    }
  }
  const last = tl.events[tl.events.length - 1];
  if (open !== undefined) windows.push({ from: open.from, to: last?.t ?? open.from, hosts: [...open.hosts], component });
  return windows;
};

/** How a component's processes are named in messages ("schedulers" for the scheduler, as before). */
const plural = (k: TimelineComponent): string => (k.name === 'scheduler' ? 'schedulers' : k.name === 'dagProcessor' ? 'dag-processors' : 'triggerers');

const checkDuplicates = (tl: Timeline, o: InvariantOptions, out: Violation[]): DuplicateWindow[] => {
  const all: DuplicateWindow[] = [];
  const limitMs = (tl.config.checkIntervalSeconds + (o.stopSeconds ?? tl.config.commandTimeoutSeconds) + (o.slackSeconds ?? 1.5)) * 1000;
  for (const k of timelineComponents(tl.config)) {
    const windows = duplicateWindows(tl, k.name);
    all.push(...windows);
    if (k.mode !== 'single') continue;
    for (const w of windows) {
      const allowed = (o.allowDuplicates ?? []).some((a) => w.from < a.to && w.to > a.from);
      if (allowed) continue;
      if (w.to - w.from > limitMs) {
        out.push({
          invariant: 'single-duplicates',
          at: w.from,
          message: `${w.hosts.length} healthy ${plural(k)} (${w.hosts.join(', ')}) for ${s(w.to - w.from)}, more than one tick plus a stop (${s(limitMs)})`,
        });
      }
    }
  }
  return all;
};

const outageWindows = (tl: Timeline): { from: number; to: number }[] => {
  const windows: { from: number; to: number }[] = [];
  let from: number | undefined;
  for (const f of eventsOf(tl, 'fault')) {
    if (f.kind === 'db-outage' && from === undefined) from = f.t;
    if (f.kind === 'db-back' && from !== undefined) {
      windows.push({ from, to: f.t });
      from = undefined;
    }
  }
  if (from !== undefined) windows.push({ from, to: tl.events[tl.events.length - 1]?.t ?? from });
  return windows;
};

const checkDbDown = (tl: Timeline, o: InvariantOptions, out: Violation[]): void => {
  for (const tick of eventsOf(tl, 'tick')) {
    if (!tick.dbReachable && tick.actions.length > 0) {
      out.push({
        invariant: 'no-action-db-down',
        at: tick.t,
        message: `watchdog ${tick.watchdog} saw the DB unreachable yet planned ${tick.actions.map((a) => `${a.kind} on ${a.nodeId}`).join(', ')}`,
      });
    }
  }
  const graceMs = (o.outageGraceSeconds ?? tl.config.checkIntervalSeconds + 2) * 1000;
  for (const w of outageWindows(tl)) {
    for (const c of eventsOf(tl, 'command')) {
      if (c.phase === 'sent' && c.t > w.from + graceMs && c.t <= w.to) {
        out.push({ invariant: 'no-action-db-down', at: c.t, message: `${c.action} sent to ${c.nodeId} ${s(c.t - w.from)} into a DB outage` });
      }
    }
  }
};

const checkEpochs = (tl: Timeline, out: Violation[]): void => {
  let last: EventOf<'record'> | undefined;
  const lastOther = new Map<string, { epoch: number; version: number }>();
  for (const r of eventsOf(tl, 'record')) {
    if (last !== undefined && r.epoch < last.epoch) {
      out.push({
        invariant: 'epoch-monotonic',
        at: r.t,
        message: `record epoch went from ${last.epoch} (version ${last.version}) to ${r.epoch} (version ${r.version})`,
      });
    }
    last = r;
    for (const [name, c] of Object.entries(r.components ?? {})) {
      if (c === undefined) continue;
      const prev = lastOther.get(name);
      if (prev !== undefined && c.epoch < prev.epoch) {
        out.push({
          invariant: 'epoch-monotonic',
          at: r.t,
          message: `record epoch of the ${name} went from ${prev.epoch} (version ${prev.version}) to ${c.epoch} (version ${r.version})`,
        });
      }
      lastOther.set(name, { epoch: c.epoch, version: r.version });
    }
  }
  // Each unit has its own fencing epoch on a node (the node script's epoch-<unit>).
  const perUnit = new Map<string, EventOf<'command'>>();
  for (const c of eventsOf(tl, 'command')) {
    if (c.phase !== 'finished' || c.responseCode !== 0 || c.epoch === null || (c.action !== 'start' && c.action !== 'stop')) continue;
    const key = `${c.nodeId} ${componentOfUnit(tl.config, c.unit)}`;
    const prev = perUnit.get(key);
    const unit = c.unit === undefined ? '' : ` (${c.unit})`;
    if (prev?.epoch != null && c.epoch < prev.epoch) {
      out.push({
        invariant: 'epoch-monotonic',
        at: c.t,
        message: `${c.nodeId} accepted ${c.action}${unit} with epoch ${c.epoch} after ${prev.action} with epoch ${prev.epoch}`,
      });
    }
    perUnit.set(key, c);
  }
};

/** The largest allowance the checker accepts on one fault: a lease to wait out, plus a command timeout and 5 s. */
const allowanceCap = (tl: Timeline): number => (tl.config.leaseSeconds ?? 0) + tl.config.commandTimeoutSeconds + 5;

type Sample = EventOf<'sample'>;
interface Found {
  readonly t: number;
  readonly hostname: string;
  readonly jobId: number;
}

const okSamples = (tl: Timeline): Sample[] => eventsOf(tl, 'sample').filter((e) => e.error === undefined);

/** The components a fault hits (default: the scheduler). */
const faultComponents = (f: EventOf<'fault'>): readonly ComponentName[] =>
  f.components === undefined || f.components.length === 0 ? ['scheduler'] : f.components;

const firstNewHealthy = (
  tl: Timeline,
  samples: readonly Sample[],
  fault: EventOf<'fault'>,
  until: number,
  component: ComponentName = 'scheduler',
): Found | undefined => {
  const k = timelineComponent(tl.config, component);
  const hostnames = new Set(k.nodes.map((n) => n.hostname));
  // Job ids are the table's, shared by every job type: newer than any seen before the fault is new.
  let seen = 0;
  for (const e of samples) {
    if (e.t > fault.t) break;
    for (const r of e.rows) seen = Math.max(seen, r.jobId);
  }
  for (const e of samples) {
    if (e.t < fault.t || e.t >= until) continue;
    for (const r of newestPerHost(e.rows, k.jobType).values()) {
      if (r.jobId > seen && hostnames.has(r.hostname) && r.age <= k.staleAfterSeconds) return { t: e.t, hostname: r.hostname, jobId: r.jobId };
    }
  }
  return undefined;
};

/**
 * When the cluster recovered from `fault` by the recovery invariant's definition (a job id not seen before
 * it healthy on a configured node), if it did before `until`. The soak uses it to tell whether a lease
 * left behind later could still have delayed that recovery. With components: of `component`.
 */
const recoveredAt = (tl: Timeline, fault: EventOf<'fault'>, until = Number.POSITIVE_INFINITY, component: ComponentName = 'scheduler'): number | undefined =>
  firstNewHealthy(tl, okSamples(tl), fault, until, component)?.t;

/** The recovery bound of one component, before any allowance. */
const recoveryBound = (tl: Timeline, o: InvariantOptions, component: ComponentName = 'scheduler'): number => {
  const k = timelineComponent(tl.config, component);
  const liveness = (o.livenessHeartbeats ?? 0) * k.heartbeatSeconds;
  return k.staleAfterSeconds + tl.config.checkIntervalSeconds + o.startSeconds + liveness + (o.skewSeconds ?? 0) + (o.slackSeconds ?? 1.5);
};

const NOUNS: Readonly<Record<ComponentName, string>> = { scheduler: 'scheduler', dagProcessor: 'dag-processor', triggerer: 'triggerer' };

const measureRecoveries = (tl: Timeline, o: InvariantOptions, out: Violation[]): RecoveryMeasure[] => {
  const samples = okSamples(tl);
  const faults = eventsOf(tl, 'fault').filter((f) => f.expectRecovery === true);
  const cap = allowanceCap(tl);
  const several = timelineComponents(tl.config).length > 1;
  return faults.flatMap((fault, i) =>
    faultComponents(fault).map((component): RecoveryMeasure => {
      const asked = Math.max(0, fault.recoveryExtraSeconds ?? 0);
      const allowanceSeconds = Math.min(asked, cap);
      const allowanceCapped = asked > cap;
      const boundSeconds = recoveryBound(tl, o, component) + allowanceSeconds;
      // The next fault that expects a recovery of the same component closes the window.
      const until = faults.slice(i + 1).find((g) => faultComponents(g).includes(component))?.t ?? Number.POSITIVE_INFINITY;
      const whose = several ? ` (${NOUNS[component]})` : '';
      const what = `after ${fault.kind}${fault.node === undefined ? '' : ` on ${fault.node}`}${whose}`;
      const capped = allowanceCapped ? ` (allowance ${asked.toFixed(1)} s capped at ${cap.toFixed(1)} s)` : '';
      const found = firstNewHealthy(tl, samples, fault, until, component);
      if (found !== undefined) {
        const seconds = (found.t - fault.t) / 1000;
        if (seconds > boundSeconds) {
          out.push({
            invariant: 'recovery',
            at: found.t,
            message: `${what}: healthy again after ${seconds.toFixed(1)} s, bound ${boundSeconds.toFixed(1)} s${capped}`,
          });
        }
        return {
          fault,
          component,
          recoveredAt: found.t,
          seconds,
          boundSeconds,
          allowanceSeconds,
          allowanceCapped,
          hostname: found.hostname,
          jobId: found.jobId,
        };
      }
      out.push({
        invariant: 'recovery',
        at: fault.t,
        message: `${what}: no new healthy ${NOUNS[component]} ${Number.isFinite(until) ? 'before the next fault' : 'by the end of the run'}${capped}`,
      });
      return { fault, component, boundSeconds, allowanceSeconds, allowanceCapped };
    }),
  );
};

/** The node and job each component hit by a must-change-nothing fault had at the fault. */
const noChangeTargets = (f: EventOf<'fault'>): { component: ComponentName; node: string; jobId?: number }[] => {
  if (f.activeJobs !== undefined) {
    return Object.entries(f.activeJobs).flatMap(([name, a]) => (a === undefined ? [] : [{ component: name as ComponentName, node: a.node, jobId: a.jobId }]));
  }
  if (f.activeNode === undefined) return [];
  return [{ component: faultComponents(f)[0] ?? 'scheduler', node: f.activeNode, ...(f.activeJobId === undefined ? {} : { jobId: f.activeJobId }) }];
};

/** `no-change`: returns how many faults it checked. */
const checkNoChange = (tl: Timeline, out: Violation[]): number => {
  const faults = eventsOf(tl, 'fault');
  const samples = okSamples(tl);
  const commands = eventsOf(tl, 'command').filter((c) => c.phase === 'sent' && (c.action === 'stop' || c.action === 'start'));
  const several = timelineComponents(tl.config).length > 1;
  let checked = 0;
  faults.forEach((f, i) => {
    const targets = noChangeTargets(f);
    if (f.expectNoChange !== true || targets.length === 0) return;
    checked += 1;
    // The window closes at the next step's fault: one expecting a recovery, or the next must-change-nothing one.
    const end = faults.slice(i + 1).find((g) => g.expectRecovery === true || g.expectNoChange === true)?.t ?? Number.POSITIVE_INFINITY;
    for (const target of targets) {
      const k = timelineComponent(tl.config, target.component);
      const whose = several ? ` (${NOUNS[k.name]})` : '';
      const what = `after ${f.kind}${f.node === undefined ? '' : ` on ${f.node}`}${whose} (must change nothing)`;
      // A stop or start of its unit on the active node, or a start of it anywhere (a new instance is a change too).
      const cmd = commands.find(
        (c) => c.t >= f.t && c.t < end && componentOfUnit(tl.config, c.unit) === k.name && (c.nodeId === target.node || c.action === 'start'),
      );
      if (cmd !== undefined) {
        const to = cmd.nodeId === target.node ? `the active node ${cmd.nodeId}` : cmd.nodeId;
        out.push({ invariant: 'no-change', at: cmd.t, message: `${what}: ${cmd.action} sent to ${to} ${s(cmd.t - f.t)} later` });
      }
      const host = tl.config.nodes.find((n) => n.id === target.node)?.hostname;
      // A new row of it anywhere (systemd starting a unit the watchdog fenced, at boot or on restart) is a
      // change too; on the active's host it shows as a replaced job below. Not on the host of a duplicate
      // started by hand: that start is the fault. Without a sample before the fault there is no baseline.
      let seen: number | undefined;
      for (const e of samples) {
        if (e.t > f.t) break;
        for (const r of e.rows) seen = Math.max(seen ?? 0, r.jobId);
        seen ??= 0;
      }
      if (seen !== undefined) {
        const baseline = seen;
        const byHand = f.kind === 'duplicate' ? tl.config.nodes.find((n) => n.id === f.node)?.hostname : undefined;
        const isNew = (r: SampleRow): boolean => r.jobId > baseline && jobTypeOf(r) === k.jobType && r.hostname !== host && r.hostname !== byHand;
        const started = samples.find((e) => e.t >= f.t && e.t < end && e.rows.some(isNew));
        const fresh = started?.rows.find(isNew);
        if (started !== undefined && fresh !== undefined) {
          out.push({
            invariant: 'no-change',
            at: started.t,
            message: `${what}: a new ${NOUNS[k.name]} (job ${fresh.jobId} on ${fresh.hostname}) appeared ${s(started.t - f.t)} later`,
          });
        }
      }
      if (target.jobId === undefined || host === undefined) continue;
      for (const e of samples) {
        if (e.t < f.t || e.t >= end) continue;
        const row = newestPerHost(e.rows, k.jobType).get(host);
        if (row?.jobId !== target.jobId) {
          out.push({
            invariant: 'no-change',
            at: e.t,
            message: `${what}: the active ${NOUNS[k.name]} (job ${target.jobId} on ${host}) ${
              row === undefined ? 'is no longer live' : `was replaced by job ${row.jobId}`
            } ${s(e.t - f.t)} later`,
          });
          break;
        }
      }
    }
  });
  return checked;
};

/** Checks every invariant; `ok` is true when there is no violation. */
const checkInvariants = (tl: Timeline, options: InvariantOptions): InvariantReport => {
  const violations: Violation[] = [];
  const windows = checkDuplicates(tl, options, violations);
  checkDbDown(tl, options, violations);
  checkEpochs(tl, violations);
  const recoveries = measureRecoveries(tl, options, violations);
  const noChangeChecked = checkNoChange(tl, violations);
  violations.sort((a, b) => a.at - b.at);
  const allowed = recoveries.filter((m) => m.allowanceSeconds > 0);
  return {
    ok: violations.length === 0,
    violations,
    recoveries,
    duplicateWindows: windows,
    allowances: { count: allowed.length, maxSeconds: allowed.reduce((m, r) => Math.max(m, r.allowanceSeconds), 0), capSeconds: allowanceCap(tl) },
    noChangeChecked,
  };
};

/** One line on the allowances: how many recoveries carried one, the largest, the cap. */
const formatAllowances = (r: InvariantReport): string =>
  `Recovery allowances (a delay the harness caused, on top of the bound): ${r.allowances.count} of ${r.recoveries.length} recoveries, largest ${r.allowances.maxSeconds.toFixed(1)} s (cap ${r.allowances.capSeconds.toFixed(1)} s)`;

/** The report as lines for a test failure message or the demo. */
const formatReport = (tl: Timeline, r: InvariantReport): string[] => [
  ...r.violations.map((v) => `VIOLATION ${v.invariant} at +${((v.at - tl.startedAt) / 1000).toFixed(1)} s: ${v.message}`),
  ...r.recoveries.map(
    (m) =>
      `recovery after ${m.fault.kind}${m.fault.node === undefined ? '' : ` on ${m.fault.node}`}${m.component === 'scheduler' && faultComponents(m.fault).length === 1 && m.fault.components === undefined ? '' : ` (${NOUNS[m.component]})`} at +${((m.fault.t - tl.startedAt) / 1000).toFixed(1)} s: ${
        m.seconds === undefined ? 'none' : `${m.seconds.toFixed(1)} s (bound ${m.boundSeconds.toFixed(1)} s) on ${m.hostname}, job ${m.jobId}`
      }${m.allowanceSeconds > 0 ? `; allowance ${m.allowanceSeconds.toFixed(1)} s${m.fault.recoveryExtraReason === undefined ? '' : ` (${m.fault.recoveryExtraReason})`}` : ''}`,
  ),
  formatAllowances(r),
  `Must-change-nothing faults checked: ${r.noChangeChecked}`,
];

/** Linear-interpolated quantile (q in 0…1); NaN for no samples. */
const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (pos - lo);
};

/** A slice of a timeline (for checking one scenario of a longer run). */
const sliceTimeline = (tl: Timeline, from: number, to: number): Timeline => ({
  config: tl.config,
  startedAt: tl.startedAt,
  events: tl.events.filter((e) => e.t >= from && e.t <= to),
});

export type { DuplicateWindow, InvariantOptions, InvariantReport, RecoveryMeasure, Violation };
export {
  allowanceCap,
  checkInvariants,
  duplicateWindows,
  faultComponents,
  formatAllowances,
  formatReport,
  outageWindows,
  quantile,
  recoveredAt,
  recoveryBound,
  sliceTimeline,
};
