import type { OtherComponent } from './components.js';
import { type ClusterConfig, componentsOf } from './config.js';
import { decide } from './decide.js';
import { planManualFailover, planPause, planResume } from './manual.js';
import { type StatusView, statusView } from './status-view.js';
import { errorMessage, RefusedError } from './errors.js';
import { RecordUnavailableError } from './errors.js';
import { type EvidenceItem, type EvidenceNeed, evidenceNeeded, evidenceWindowMs, ReadingLog, unitProbeOf, withUnit } from './evidence.js';
import { livenessWindowSeconds } from './liveness.js';
import type { Action, CommandOutcome, DbObservation, Observation, Plan, Reachability, RecordState, StoredRecord } from './model.js';
import { applyOutcome, applySkippedStart, blockingStop, markSent, stopKey } from './outcomes.js';
import { projectState } from './projection.js';
import type { Clock, Fencer, Fleet, HeartbeatQuery, MetadataDb, ReachabilityResult, RecordStore } from './ports.js';
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
  /** Power fencing of EC2 nodes; only wired when fenceUnreachable is `ec2-stop`. */
  readonly fencer?: Fencer;
}

interface Observed {
  readonly observation: Observation;
  readonly record: StoredRecord;
  readonly observedAt: number;
  /** How long the metadata-DB reading took. */
  readonly dbTookMs?: number;
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

/** One statement for every component: the scheduler's job type and the configured others'. */
/** The unit parameter of a component's commands. */
const unitOf = (config: ClusterConfig, component: OtherComponent | undefined): { unitName?: string } => {
  const spec = componentsOf(config).find((k) => k.name === (component ?? 'scheduler'));
  return spec === undefined ? {} : { unitName: spec.unitName };
};

const heartbeatQuery = (config: ClusterConfig): HeartbeatQuery => {
  const others = Object.fromEntries(
    componentsOf(config)
      .filter((k) => k.name !== 'scheduler')
      .map((k) => [k.name, k.jobType]),
  );
  return {
    hostnames: config.nodes.map((n) => n.hostname),
    staleAfterSeconds: Math.max(...componentsOf(config).map((k) => k.staleAfterSeconds)),
    staleAfterSecondsByJobType: Object.fromEntries(componentsOf(config).map((k) => [k.jobType, k.staleAfterSeconds])),
    ...(Object.keys(others).length === 0 ? {} : { others }),
  };
};

/**
 * Reads the DB, the record and SSM reachability in parallel. Every reading is kept: when the record
 * cannot be read, the DB reading still reaches the caller (RecordUnavailableError carries it).
 */
const observe = async (deps: EngineDeps, config: ClusterConfig): Promise<Observed> => {
  const ids = config.nodes.map((n) => n.id);
  const sentAt = deps.clock.now();
  let answeredAt = sentAt;
  const [dbResult, recordResult, reachResult] = await Promise.allSettled([
    deps.db.observe(heartbeatQuery(config)).finally(() => {
      answeredAt = deps.clock.now();
    }),
    deps.store.read(config.clusterName),
    deps.fleet.reachability(ids),
  ]);
  const observedAt = deps.clock.now();
  // The adapters return outside failures as values; a throw here is a bug, reported as an outage.
  const db: DbObservation =
    dbResult.status === 'fulfilled' ? dbResult.value : { status: 'unreachable', reason: `metadata DB adapter failed: ${errorMessage(dbResult.reason)}` };
  const reach: ReachabilityResult = reachResult.status === 'fulfilled' ? reachResult.value : { ok: false, error: errorMessage(reachResult.reason) };
  let reachability: Record<string, Reachability> = {};
  let reachabilityError: string | undefined;
  if (reach.ok) reachability = { ...reach.nodes };
  else {
    reachabilityError = reach.error;
    reachability = Object.fromEntries(ids.map((id) => [id, 'unknown' as const]));
  }
  const observation: Observation = { db, reachability, ...(reachabilityError === undefined ? {} : { reachabilityError }) };
  if (recordResult.status === 'rejected') throw new RecordUnavailableError(recordResult.reason, observation, observedAt);
  const record = recordResult.value;
  // Nodes removed from config but still in the record may need a stop: ask SSM about them too (rare).
  const extra = record.nodes.map((n) => n.id).filter((id) => !ids.includes(id));
  if (extra.length > 0 && reach.ok) {
    const more = await deps.fleet.reachability(extra);
    for (const id of extra) reachability[id] = more.ok ? (more.nodes[id] ?? 'absent') : 'unknown';
  }
  return { observation: { ...observation, reachability }, record, observedAt, dbTookMs: answeredAt - sentAt };
};

/**
 * A reading slower than this waited for a DB that did not answer (a healthy one answers in milliseconds):
 * half a heartbeat, at least a second.
 */
const slowReadingMs = (config: ClusterConfig): number => Math.max(1000, (config.heartbeatSeconds * 1000) / 2);

/** One heartbeat query, timed: no reading before a slow answer serves as evidence (ReadingLog.add). */
const readDb = async (deps: EngineDeps, config: ClusterConfig, log: ReadingLog): Promise<{ db: DbObservation; observedAt: number }> => {
  const sentAt = deps.clock.now();
  const db = await deps.db.observe(heartbeatQuery(config));
  const observedAt = deps.clock.now();
  log.add(db, observedAt, observedAt - sentAt > slowReadingMs(config));
  return { db, observedAt };
};

/** Whether a tick's own DB reading was slow (ReadingLog.add). */
const isSlow = (o: Observed, config: ClusterConfig): boolean => o.dbTookMs !== undefined && o.dbTookMs > slowReadingMs(config);

/** How often a tick that found the DB down checks it again: half a heartbeat, between 0.25 and 2 s. */
const dbRecheckMs = (config: ClusterConfig): number => Math.min(2000, Math.max(250, (config.heartbeatSeconds * 1000) / 2));

/**
 * The DB is down: keep checking it (one statement each time) until it answers or `until` comes, so
 * that schedulers which exited with it are restarted seconds after it returns, not a tick later.
 */
const watchDb = async (deps: EngineDeps, config: ClusterConfig, observed: Observed, until: number): Promise<Observed> => {
  for (;;) {
    const wait = dbRecheckMs(config);
    if (deps.clock.now() + wait > until) return observed;
    await deps.clock.sleep(wait);
    const db = await deps.db.observe(heartbeatQuery(config));
    if (db.status === 'ok') return observe(deps, config);
  }
};

/** Bound on one status command asked for liveness evidence: the window plus a little, within the command bound. */
const probeBoundMs = (heartbeatSeconds: number, config: ClusterConfig): number =>
  Math.min(config.commandTimeoutSeconds * 1000, Math.max(5000, livenessWindowSeconds(heartbeatSeconds) * 1000 + 2000));

/**
 * Gathers what the decision needs to tell dead from unseen: the unit state of stale intended-active
 * nodes (status command) and, unless that already proves them dead, a second DB reading once the
 * liveness window has passed.
 */
const gatherEvidence = async (deps: EngineDeps, config: ClusterConfig, observed: Observed, need: EvidenceNeed, log: ReadingLog): Promise<Observed> => {
  const answers = await Promise.all(
    need.probe.map(async (item) => {
      const epoch = projectState(observed.record, item.component, item.spec).epoch;
      const outcome = await deps.fleet.run(
        {
          kind: 'status',
          nodeId: item.node.id,
          epoch,
          unitName: item.spec.unitName,
          comment: `watchdog ${config.clusterName} ${item.component} liveness status`.slice(0, 100),
        },
        { boundMs: probeBoundMs(item.spec.heartbeatSeconds, config) },
      );
      return { item, probe: unitProbeOf(outcome) };
    }),
  );
  let observation = observed.observation;
  const proven = new Set<EvidenceItem>();
  for (const { item, probe } of answers) {
    if (probe === undefined) continue;
    observation = withUnit(observation, item.component, item.node.id, probe);
    if (!probe.ok || probe.report.unitState === 'failed' || probe.report.unitState === 'inactive') proven.add(item);
  }
  const withUnits: Observed = { ...observed, observation };
  if (need.items.every((i) => proven.has(i))) return withUnits;
  // The DB is read every dbRecheckMs through the window: an outage inside it (one no endpoint reading
  // would see) clears the log, so a heartbeat frozen by that outage is never taken for a dead scheduler.
  for (;;) {
    const wait = need.reobserveAt - deps.clock.now();
    if (wait <= 0) break;
    await deps.clock.sleep(Math.min(wait, dbRecheckMs(config)));
    if (need.reobserveAt - deps.clock.now() <= 0) break;
    await readDb(deps, config, log);
  }
  const { db, observedAt } = await readDb(deps, config, log);
  const earlier = log.before(observedAt, evidenceWindowMs(config));
  return {
    ...withUnits,
    observation: { ...withUnits.observation, db, ...(earlier === undefined ? {} : { earlier }), ...withDbBack(log) },
    observedAt,
  };
};

/** The log's outage end, for the observation (liveness gives survivors time to beat again after it). */
const withDbBack = (log: ReadingLog): { dbBackAt?: number; dbDownAt?: number } => ({
  ...(log.dbBackAt === undefined ? {} : { dbBackAt: log.dbBackAt }),
  ...(log.dbDownAt === undefined ? {} : { dbDownAt: log.dbDownAt }),
});

/** Runs a power-fence action through the fencer (never SSM: SSM cannot reach that node). */
const powerOff = async (deps: EngineDeps, config: ClusterConfig, action: Action): Promise<CommandOutcome> => {
  if (deps.fencer === undefined) {
    return { status: 'failed', exitCode: null, stderrTail: 'not sent: no EC2 fencer is wired (fenceUnreachable ec2-stop needs the EC2 client)', durationMs: 0 };
  }
  return deps.fencer.forceStop(action.nodeId, config.commandTimeoutSeconds * 1000);
};

const stripStored = (r: StoredRecord): RecordState => {
  const { clusterName: _c, version: _v, leaseOwner: _o, leaseExpiresAt: _e, ...state } = r;
  return state;
};

/**
 * Commits `plan.next` under the lease, runs the actions (stops before starts), writes each outcome back
 * while still holding the lease, and releases it with the last write.
 */
const commitAndAct = async (deps: EngineDeps, config: ClusterConfig, observed: Observed, plan: Plan, started: number): Promise<TickReport> => {
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
      // A start is marked sent the moment SSM accepts it, so that only a start that really went out can
      // ever be charged to its node (a lease lost before that point leaves an unsent intent).
      let markLost: string | undefined;
      const onSent = async (): Promise<void> => {
        state = markSent(state, action, deps.clock.now(), config);
        const w = await deps.store.write(current, state, { owner: deps.owner, expiresAt: deps.clock.now() + leaseMs, now: deps.clock.now() });
        if (w.ok) current = w.record;
        else markLost = w.reason;
      };
      const outcome =
        action.purpose === 'power-fence'
          ? await powerOff(deps, config, action)
          : await deps.fleet.run(
              {
                kind: action.kind,
                nodeId: action.nodeId,
                epoch: action.epoch,
                ...unitOf(config, action.component),
                comment: `watchdog ${config.clusterName} ${action.component ?? 'scheduler'} ${action.purpose} epoch ${action.epoch}`.slice(0, 100),
              },
              action.kind === 'start' ? { onSent } : {},
            );
      if (action.kind === 'stop') stopOutcomes.set(stopKey(action.component, action.nodeId), outcome);
      state = applyOutcome(state, action, outcome, config, deps.clock.now());
      executed.push({ action, outcome });
      if (markLost !== undefined) {
        return {
          ...base,
          disposition: 'lease-lost',
          executed,
          note: `lost the lease while starting on ${action.nodeId} (${markLost}); its outcome and the remaining actions are left to the new owner`,
          durationMs: deps.clock.now() - started,
        };
      }
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

interface TickOptions {
  /** Plan and report, write and run nothing (also when enforcement is `dry-run`). */
  readonly dryRun?: boolean;
  /** This invocation's earlier DB readings (liveness evidence); a fresh log when absent. */
  readonly readings?: ReadingLog;
  /** Found the DB down (an outage, not a configuration error): keep checking it until this time (clock ms); absent = decide at once. */
  readonly watchDbUntil?: number;
  /** Called once when the watch starts, so the outage is logged when first seen, not when the tick ends. */
  readonly onDbWatch?: (db: DbObservation, until: number) => void;
}

/** One tick. */
const runTick = async (deps: EngineDeps, config: ClusterConfig, opts: TickOptions = {}): Promise<TickReport> => {
  const started = deps.clock.now();
  const log = opts.readings ?? new ReadingLog();
  let observed: Observed;
  try {
    observed = await observe(deps, config);
  } catch (err) {
    if (err instanceof RecordUnavailableError) log.add(err.observation.db, err.observedAt);
    throw err;
  }
  if (observed.observation.db.status === 'unreachable' && observed.observation.db.transient === true && opts.watchDbUntil !== undefined) {
    // The outage clears the earlier readings first: none of them may serve as evidence once it is over.
    log.add(observed.observation.db, observed.observedAt);
    opts.onDbWatch?.(observed.observation.db, opts.watchDbUntil);
    observed = await watchDb(deps, config, observed, opts.watchDbUntil);
  }
  log.add(observed.observation.db, observed.observedAt, isSlow(observed, config));
  const state = stripStored(observed.record);
  if (config.enforcement !== 'observe' && state.paused === undefined) {
    const earlier = log.before(observed.observedAt, evidenceWindowMs(config));
    observed = { ...observed, observation: { ...observed.observation, ...(earlier === undefined ? {} : { earlier }), ...withDbBack(log) } };
    const need = evidenceNeeded(observed.observation, state, config, log, observed.observedAt);
    if (need !== undefined) observed = await gatherEvidence(deps, config, observed, need, log);
  }
  const plan = decide(observed.observation, state, config, observed.observedAt);
  if (opts.dryRun === true || config.enforcement === 'dry-run') {
    return { plan, observed, disposition: 'dry-run', executed: [], durationMs: deps.clock.now() - started };
  }
  if (plan.next === undefined && plan.actions.length === 0) {
    return { plan, observed, disposition: 'no-change', executed: [], durationMs: deps.clock.now() - started };
  }
  return commitAndAct(deps, config, observed, plan, started);
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
      plan = planManualFailover(
        observed.observation,
        state,
        config,
        { ...(req.component === undefined ? {} : { component: req.component }), to: req.to, reason: req.reason, force: req.force ?? false, caller },
        now,
      );
    } else {
      const target = { ...(req.component === undefined ? {} : { component: req.component }), config };
      const next = req.action === 'pause' ? planPause(state, req.reason, caller, now, target) : planResume(state, caller, now, req.reason, target);
      plan = {
        verdict: req.action === 'pause' ? 'paused' : 'healthy',
        actions: [],
        reasons: [`${req.action} by ${caller}`],
        alarms: [],
        next,
        counts: { healthy: 0, failovers: 0, restarts: 0, duplicateStops: 0, suppressed: 0, noCandidate: 0 },
      };
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

export { commitAndAct, dbRecheckMs, observe, probeBoundMs, runManual, runTick, slowReadingMs };
export type { EngineDeps, Executed, ManualResult, Observed, TickOptions, TickReport };
