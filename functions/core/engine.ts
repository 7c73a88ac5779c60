import type { ClusterConfig } from './config.js';
import { decide, isBanned, planManualFailover, planPause, planResume } from './decide.js';
import { RefusedError } from './errors.js';
import type { Action, CommandOutcome, HistoryEvent, Observation, Plan, Reachability, RecordState, StoredRecord } from './model.js';
import { applyOutcome, applySkippedStart, blockingStop } from './outcomes.js';
import type { Clock, Fleet, MetadataDb, RecordStore } from './ports.js';
import type { ManualRequest } from './requests.js';

/**
 * The tick (SPEC §4): observe → decide → commit intent → act → write back → release. Only ports here;
 * the handler and the local runner supply the adapters.
 */

interface EngineDeps {
  readonly db: MetadataDb;
  readonly store: RecordStore;
  readonly fleet: Fleet;
  readonly clock: Clock;
  /** Lease owner identity of this watchdog (invocation id + tick). */
  readonly owner: string;
}

interface Observed {
  readonly observation: Observation;
  readonly record: StoredRecord;
  readonly observedAt: number;
}

interface Executed {
  readonly action: Action;
  /** Absent when the action was skipped. */
  readonly outcome?: CommandOutcome;
  readonly skipped?: string;
}

interface TickReport {
  readonly plan: Plan;
  readonly observed: Observed;
  /** What happened to the plan: `acted`, `no-change`, `dry-run`, or `lost-race` (another watchdog owns this version). */
  readonly disposition: 'acted' | 'no-change' | 'dry-run' | 'lost-race' | 'lease-lost';
  readonly executed: readonly Executed[];
  readonly note?: string;
  readonly durationMs: number;
}

const observe = async (deps: EngineDeps, config: ClusterConfig): Promise<Observed> => {
  const ids = config.nodes.map((n) => n.id);
  const [db, record, reach] = await Promise.all([
    deps.db.observe({ hostnames: config.nodes.map((n) => n.hostname), staleAfterSeconds: config.staleAfterSeconds }),
    deps.store.read(config.clusterName),
    deps.fleet.reachability(ids),
  ]);
  let reachability: Record<string, Reachability> = {};
  let reachabilityError: string | undefined;
  if (reach.ok) reachability = { ...reach.nodes };
  else {
    reachabilityError = reach.error;
    reachability = Object.fromEntries(ids.map((id) => [id, 'unknown' as const]));
  }
  // Nodes removed from config but still in the record may need a stop: ask SSM about them too (rare).
  const extra = record.nodes.map((n) => n.id).filter((id) => !ids.includes(id));
  if (extra.length > 0 && reach.ok) {
    const more = await deps.fleet.reachability(extra);
    for (const id of extra) reachability[id] = more.ok ? (more.nodes[id] ?? 'absent') : 'unknown';
  }
  return {
    observation: { db, reachability, ...(reachabilityError === undefined ? {} : { reachabilityError }) },
    record,
    observedAt: deps.clock.now(),
  };
};

const stripStored = (r: StoredRecord): RecordState => {
  const { clusterName: _c, version: _v, leaseOwner: _o, leaseExpiresAt: _e, ...state } = r;
  return state;
};

/**
 * Commits `plan.next` under the lease, runs the actions (stops before starts), writes each outcome back
 * while still holding the lease, and releases it with the last write.
 */
const commitAndAct = async (
  deps: EngineDeps,
  config: ClusterConfig,
  observed: Observed,
  plan: Plan,
  started: number,
): Promise<TickReport> => {
  const base = { plan, observed };
  const leaseMs = config.leaseSeconds * 1000;
  const next = plan.next ?? stripStored(observed.record);
  const hasActions = plan.actions.length > 0;
  const commit = await deps.store.write(observed.record, next, {
    owner: deps.owner,
    expiresAt: hasActions ? deps.clock.now() + leaseMs : undefined,
    now: deps.clock.now(),
  });
  if (!commit.ok) {
    const holder = commit.current?.leaseOwner;
    const note =
      commit.reason === 'lease'
        ? `another watchdog (${holder ?? 'unknown'}) holds the lease until ${new Date(commit.current?.leaseExpiresAt ?? 0).toISOString()}: observe-only tick`
        : `record changed since it was read (version ${observed.record.version} → ${commit.current?.version ?? '?'}): another watchdog acts; observe-only tick`;
    return { ...base, disposition: 'lost-race', executed: [], note, durationMs: deps.clock.now() - started };
  }
  let current = commit.record;
  let state = stripStored(current);
  const executed: Executed[] = [];
  const stopOutcomes = new Map<string, CommandOutcome>();
  for (const [i, action] of plan.actions.entries()) {
    const isLast = i === plan.actions.length - 1;
    const blocking = action.kind === 'start' ? blockingStop(action, stopOutcomes) : undefined;
    if (blocking !== undefined) {
      state = applySkippedStart(state, action, blocking, config, deps.clock.now());
      executed.push({ action, skipped: `stop on ${blocking.nodeId} did not succeed` });
    } else {
      const outcome = await deps.fleet.run({
        kind: action.kind,
        nodeId: action.nodeId,
        epoch: action.epoch,
        comment: `watchdog ${config.clusterName} ${action.purpose} epoch ${action.epoch}`.slice(0, 100),
      });
      if (action.kind === 'stop') stopOutcomes.set(action.nodeId, outcome);
      state = applyOutcome(state, action, outcome, config, deps.clock.now());
      executed.push({ action, outcome });
    }
    const wb = await deps.store.write(current, state, {
      owner: deps.owner,
      expiresAt: isLast ? undefined : deps.clock.now() + leaseMs,
      now: deps.clock.now(),
    });
    if (!wb.ok) {
      return {
        ...base,
        disposition: 'lease-lost',
        executed,
        note: `lost the lease after ${action.kind} on ${action.nodeId} (${wb.reason}); remaining actions abandoned to the new owner`,
        durationMs: deps.clock.now() - started,
      };
    }
    current = wb.record;
  }
  return { ...base, disposition: hasActions ? 'acted' : 'no-change', executed, durationMs: deps.clock.now() - started };
};

/** One tick. `dryRun` (or enforcement `dry-run`) plans and reports without writing or acting. */
const runTick = async (deps: EngineDeps, config: ClusterConfig, opts: { dryRun?: boolean } = {}): Promise<TickReport> => {
  const started = deps.clock.now();
  const observed = await observe(deps, config);
  const plan = decide(observed.observation, stripStored(observed.record), config, observed.observedAt);
  if (opts.dryRun === true || config.enforcement === 'dry-run') {
    return { plan, observed, disposition: 'dry-run', executed: [], durationMs: deps.clock.now() - started };
  }
  if (plan.next === undefined && plan.actions.length === 0) {
    return { plan, observed, disposition: 'no-change', executed: [], durationMs: deps.clock.now() - started };
  }
  return commitAndAct(deps, config, observed, plan, started);
};

// ---------------------------------------------------------------------------------------------

type NodeRole = 'active' | 'standby' | 'pending' | 'banned' | 'removed';

interface NodeStatus {
  readonly id: string;
  readonly hostname: string;
  readonly reachability: Reachability;
  readonly heartbeatAgeSeconds: number | null;
  readonly jobId: number | null;
  readonly healthy: boolean;
  readonly role: NodeRole;
  readonly bannedUntil?: string;
  readonly failures: number;
}

interface StatusView {
  readonly clusterName: string;
  readonly verdict: Plan['verdict'];
  readonly db: { readonly reachable: boolean; readonly error?: string };
  readonly epoch: number;
  readonly version: number;
  readonly paused?: { readonly reason: string; readonly since: string; readonly by: string };
  readonly lease?: { readonly owner: string; readonly expiresAt: string };
  readonly nodes: readonly NodeStatus[];
  readonly foreign: readonly { readonly hostname: string; readonly heartbeatAgeSeconds: number; readonly jobId: number }[];
  /** What a tick would do now. */
  readonly wouldDo: { readonly actions: readonly Action[]; readonly reasons: readonly string[]; readonly alarms: readonly string[] };
  readonly history: readonly (Omit<HistoryEvent, 'at'> & { readonly at: string })[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

const statusView = (observed: Observed, plan: Plan, config: ClusterConfig, historyLimit = 10): StatusView => {
  const { observation: obs, record, observedAt } = observed;
  const rows = obs.db.status === 'ok' ? obs.db.rows : {};
  const pending = new Set(record.pending.map((p) => p.nodeId));
  const configured = new Set(config.nodes.map((n) => n.id));
  const all = [...config.nodes, ...record.nodes.filter((n) => !configured.has(n.id))];
  const nodes = all.map((n): NodeStatus => {
    const row = rows[n.hostname];
    const f = record.failures[n.id];
    const role: NodeRole = !configured.has(n.id)
      ? 'removed'
      : isBanned(record, n.id, observedAt)
        ? 'banned'
        : record.active.includes(n.id)
          ? pending.has(n.id)
            ? 'pending'
            : 'active'
          : 'standby';
    return {
      id: n.id,
      hostname: n.hostname,
      reachability: obs.reachability[n.id] ?? 'absent',
      heartbeatAgeSeconds: row === undefined ? null : Math.round(row.ageSeconds * 10) / 10,
      jobId: row?.jobId ?? null,
      healthy: row !== undefined && row.ageSeconds <= config.staleAfterSeconds,
      role,
      ...(f?.bannedUntil !== undefined && f.bannedUntil > observedAt ? { bannedUntil: iso(f.bannedUntil) } : {}),
      failures: f?.count ?? 0,
    };
  });
  return {
    clusterName: config.clusterName,
    verdict: plan.verdict,
    db: obs.db.status === 'ok' ? { reachable: true } : { reachable: false, error: obs.db.reason },
    epoch: record.epoch,
    version: record.version,
    ...(record.paused === undefined ? {} : { paused: { reason: record.paused.reason, since: iso(record.paused.since), by: record.paused.by } }),
    ...(record.leaseOwner !== undefined && record.leaseExpiresAt !== undefined && record.leaseExpiresAt > observedAt
      ? { lease: { owner: record.leaseOwner, expiresAt: iso(record.leaseExpiresAt) } }
      : {}),
    nodes,
    foreign: obs.db.status === 'ok' ? obs.db.foreign.map((r) => ({ hostname: r.hostname, heartbeatAgeSeconds: r.ageSeconds, jobId: r.jobId })) : [],
    wouldDo: { actions: plan.actions, reasons: plan.reasons, alarms: plan.alarms },
    history: record.history
      .slice(-historyLimit)
      .reverse()
      .map((e) => ({ ...e, at: iso(e.at) })),
  };
};

type ManualResult =
  | { readonly kind: 'status'; readonly status: StatusView }
  | { readonly kind: 'history'; readonly history: StatusView['history'] }
  | { readonly kind: 'changed'; readonly report: TickReport; readonly status: StatusView };

const MANUAL_WRITE_ATTEMPTS = 3;

/**
 * Manual actions other than reconcile. Each re-reads, plans and writes under the same conditional
 * protocol as a tick, retrying a few times when a tick wrote in between.
 */
const runManual = async (
  deps: EngineDeps,
  config: ClusterConfig,
  req: Exclude<ManualRequest, { action: 'reconcile' }>,
  caller: string,
): Promise<ManualResult> => {
  for (let attempt = 1; ; attempt++) {
    const started = deps.clock.now();
    const observed = await observe(deps, config);
    const now = observed.observedAt;
    if (req.action === 'status' || req.action === 'history') {
      const plan = decide(observed.observation, stripStored(observed.record), config, now);
      const status = statusView(observed, plan, config, req.action === 'history' ? (req.limit ?? 50) : 10);
      return req.action === 'status' ? { kind: 'status', status } : { kind: 'history', history: status.history };
    }
    const state = stripStored(observed.record);
    let plan: Plan;
    if (req.action === 'failover') {
      plan = planManualFailover(observed.observation, state, config, { to: req.to, reason: req.reason, force: req.force ?? false, caller }, now);
    } else {
      const next = req.action === 'pause' ? planPause(state, req.reason, caller, now) : planResume(state, caller, now, req.reason);
      plan = { verdict: req.action === 'pause' ? 'paused' : 'healthy', actions: [], reasons: [`${req.action} by ${caller}`], alarms: [], next, counts: { healthy: 0, failovers: 0, restarts: 0, duplicateStops: 0, suppressed: 0, noCandidate: 0 } };
    }
    const report = await commitAndAct(deps, config, observed, plan, started);
    if (report.disposition === 'lost-race') {
      if (attempt < MANUAL_WRITE_ATTEMPTS && !report.note?.startsWith('another watchdog')) continue;
      throw new RefusedError(`could not write the record: ${report.note ?? 'conflict'}; try again`);
    }
    const after = await observe(deps, config);
    return { kind: 'changed', report, status: statusView(after, decide(after.observation, stripStored(after.record), config, after.observedAt), config) };
  }
};

export { commitAndAct, observe, runManual, runTick, statusView };
export type { EngineDeps, Executed, ManualResult, NodeStatus, Observed, StatusView, TickReport };
