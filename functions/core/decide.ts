import { addFailure, event, HOUR_MS, label, pushHistory, sameState, secs } from './bookkeeping.js';
import type { ClusterConfig } from './config.js';
import type { ComponentSpec } from './components.js';
import { componentsOf } from './config.js';
import type { Action, ComponentPlan, HistoryEvent, NodeFailures, Observation, PendingStart, Plan, RecordState, Verdict } from './model.js';
import { dbBackAtOf } from './liveness.js';
import { jobRowsOf, mergeComponentState, projectConfig, projectObservation, projectState } from './projection.js';
import { applyRules, emptyCounts, ordered, type PlanDraft, type RuleContext } from './rules/common.js';
import { MULTI_RULES } from './rules/multi.js';
import { SINGLE_RULES } from './rules/single.js';
import { type ClusterView, type OkObservation, viewCluster } from './view.js';

/**
 * decide(): the pure heart of the watchdog (docs/design.md). Given what a tick observed, the record, the
 * configuration and the time, it returns the plan: ordered actions, each with a human reason, and the
 * record state to commit before acting. No I/O, no clock, no environment.
 *
 * Two gates come first (DB unreachable; paused or observe), then the bookkeeping every enforcing tick
 * does (settleRecord), then the mode's ordered rule list (rules/single.ts, rules/multi.ts).
 */

/** Forget old failures and failovers, settle pending starts (came up, still in grace, or expired: a failure). */
const settleRecord = (
  state: RecordState,
  view: ClusterView,
  config: ClusterConfig,
  now: number,
): { state: RecordState; inGrace: PendingStart[]; events: HistoryEvent[]; reasons: string[] } => {
  const events: HistoryEvent[] = [];
  const reasons: string[] = [];
  let failures: Record<string, NodeFailures> = {};
  for (const [id, f] of Object.entries(state.failures)) {
    if (now - f.lastFailureAt < config.failureResetSeconds * 1000) failures[id] = f;
    else reasons.push(`failures of ${id} forgotten after ${config.failureResetSeconds} s without a new one`);
  }
  const healthyIds = new Set(view.healthy.map((n) => n.id));
  const byId = new Map(config.nodes.map((n) => [n.id, n]));
  const inGrace: PendingStart[] = [];
  for (const p of state.pending) {
    const node = byId.get(p.nodeId);
    if (node === undefined) continue;
    if (healthyIds.has(p.nodeId)) {
      reasons.push(`start on ${label(node)} came up after ${secs(now - p.issuedAt)}`);
    } else if (now - p.issuedAt < config.startupGraceSeconds * 1000) {
      inGrace.push(p);
    } else if (p.sentAt === undefined) {
      // The tick that planned it lost its lease or died before SSM accepted the command.
      reasons.push(`start on ${label(node)} planned ${secs(now - p.issuedAt)} ago was never sent: dropped, not charged to the node`);
    } else {
      const why = `start on ${label(node)} issued ${secs(now - p.issuedAt)} ago wrote no fresh heartbeat within startupGraceSeconds (${config.startupGraceSeconds} s)`;
      const r = addFailure(failures, p.nodeId, now, why, config);
      failures = r.failures;
      reasons.push(`${why}: failure ${failures[p.nodeId]?.count} of ${config.banAfterFailures}`);
      events.push(event(now, 'start-expired', p.nodeId, state.epoch, why));
      if (r.banned) {
        const ban = `${label(node)} banned until ${new Date(failures[p.nodeId]?.bannedUntil ?? now).toISOString()} after ${config.banAfterFailures} failures`;
        reasons.push(ban);
        events.push(event(now, 'ban', p.nodeId, state.epoch, ban));
      }
    }
  }
  return {
    state: {
      ...state,
      failures,
      pending: inGrace,
      failoverTimes: state.failoverTimes.filter((t) => now - t < HOUR_MS),
      // Keep removed nodes known while a scheduler still runs there, so it can be stopped.
      nodes: [...config.nodes.map(({ id, hostname }) => ({ id, hostname })), ...view.removedHealthy],
    },
    inGrace,
    events,
    reasons,
  };
};

const zeroCounts = () => ({ healthy: 0, ...emptyCounts() });

/** One component's decision on its projection: the record state to write back and its part of the plan. */
interface ComponentDecision {
  readonly spec: ComponentSpec;
  readonly state: RecordState;
  readonly events: readonly HistoryEvent[];
  readonly actions: readonly Action[];
  readonly part: ComponentPlan;
}

const decideComponent = (
  obs: OkObservation,
  record: RecordState,
  config: ClusterConfig,
  spec: ComponentSpec,
  now: number,
  aliveElsewhere: ReadonlySet<string>,
): ComponentDecision => {
  const view = viewCluster(obs, record, config, now, spec.noun);
  const reachNote = obs.reachabilityError === undefined ? [] : [`SSM reachability unknown: ${obs.reachabilityError}`];
  if (record.paused !== undefined || config.enforcement === 'observe') {
    const why =
      record.paused !== undefined
        ? `paused since ${new Date(record.paused.since).toISOString()} by ${record.paused.by}: ${record.paused.reason}; observing only`
        : 'enforcement is observe: metrics only';
    return {
      spec,
      state: record,
      events: [],
      actions: [],
      part: {
        component: spec.name,
        verdict: record.paused !== undefined ? 'paused' : 'observe-only',
        reasons: [why, ...view.warnings, ...reachNote],
        alarms: [...view.alarms],
        counts: { ...zeroCounts(), healthy: view.healthy.length },
      },
    };
  }
  const settled = settleRecord(record, view, config, now);
  const d: PlanDraft = {
    state: settled.state,
    actions: [],
    reasons: [...settled.reasons],
    events: [...settled.events],
    alarms: [...view.alarms],
    verdict: 'healthy',
    counts: emptyCounts(),
  };
  const ctx: RuleContext = {
    config,
    obs,
    view,
    inGrace: settled.inGrace,
    now,
    byId: new Map(config.nodes.map((n) => [n.id, n])),
    noun: spec.noun,
    aliveElsewhere,
  };
  const rule = applyRules(config.mode === 'single' ? SINGLE_RULES : MULTI_RULES, ctx, d);
  const component = spec.name === 'scheduler' ? undefined : spec.name;
  return {
    spec,
    state: { ...d.state, history: d.events },
    events: d.events,
    actions: d.actions.map((a) => (component === undefined ? a : { ...a, component })),
    part: {
      component: spec.name,
      verdict: d.verdict,
      ...(rule === undefined ? {} : { rule }),
      reasons: [...d.reasons, ...view.warnings, ...reachNote],
      alarms: d.alarms,
      counts: { healthy: view.healthy.length, ...d.counts },
    },
  };
};

/** Nodes where a component other than `spec` has a fresh heartbeat. */
const aliveOtherwise = (obs: Observation, config: ClusterConfig, specs: readonly ComponentSpec[], spec: ComponentSpec): Set<string> => {
  const alive = new Set<string>();
  if (obs.db.status !== 'ok') return alive;
  for (const other of specs) {
    if (other.name === spec.name) continue;
    const rows = jobRowsOf(obs.db, other.name).rows;
    for (const n of config.nodes) {
      const row = rows[n.hostname];
      if (row !== undefined && row.ageSeconds <= other.staleAfterSeconds) alive.add(n.id);
    }
  }
  return alive;
};

/** Worst first: the verdict of a cluster is that of its component in the worst state. */
const VERDICT_SEVERITY: readonly Verdict[] = ['unknown', 'no-candidate', 'suppressed', 'down', 'recovering', 'degraded', 'paused', 'observe-only', 'healthy'];
const worst = (verdicts: readonly Verdict[]): Verdict =>
  verdicts.reduce((w, v) => (VERDICT_SEVERITY.indexOf(v) < VERDICT_SEVERITY.indexOf(w) ? v : w), 'healthy');

/** The record still shows the last outage a tick saw as going on (no reading answered since). */
const outageOpen = (record: RecordState): boolean => record.dbOutageSeen !== undefined && record.dbOutageSeen.backAt === undefined;

/**
 * The record's memory of DB outages, for liveness in later invocations (functions/core/liveness.ts):
 * the first reading that failed, then the first that answered again. Undefined = unchanged.
 */
const outageMemory = (obs: Observation, record: RecordState, now: number): RecordState['dbOutageSeen'] => {
  const seen = record.dbOutageSeen;
  if (obs.db.status === 'unreachable') return outageOpen(record) ? undefined : { downAt: obs.dbDownAt ?? now };
  if (seen !== undefined && outageOpen(record)) return { downAt: seen.downAt, backAt: obs.dbBackAt !== undefined && obs.dbBackAt >= seen.downAt ? obs.dbBackAt : now };
  // An outage this invocation saw and recovered from before any tick could write it down.
  if (obs.dbBackAt !== undefined && (seen?.backAt === undefined || obs.dbBackAt > seen.backAt)) return { downAt: obs.dbDownAt ?? obs.dbBackAt, backAt: obs.dbBackAt };
  return undefined;
};

const decide = (obs: Observation, record: RecordState, config: ClusterConfig, now: number): Plan => {
  // Observe-only and paused clusters write nothing of their own accord, this memory included.
  const memory = config.enforcement === 'observe' || record.paused !== undefined ? undefined : outageMemory(obs, record, now);
  if (obs.db.status === 'unreachable') {
    return {
      verdict: 'unknown',
      actions: [],
      reasons: [`metadata DB unreachable (${obs.db.reason}): no action; a DB outage is never a reason to fail over`],
      alarms: [],
      ...(memory === undefined ? {} : { next: { ...record, history: pushHistory(record.history, []), dbOutageSeen: memory } }),
      counts: zeroCounts(),
    };
  }
  // Liveness sees the latest return of the DB, this invocation's or an earlier tick's.
  const back = dbBackAtOf(obs, record, now);
  const seen: Observation = back === undefined ? obs : { ...obs, dbBackAt: back };
  const specs = componentsOf(config);
  let state = record;
  const events: HistoryEvent[] = [];
  const decisions: ComponentDecision[] = [];
  for (const spec of specs) {
    const sub = decideComponent(
      projectObservation(seen, spec) as OkObservation,
      projectState(record, spec.name, spec),
      projectConfig(config, spec),
      spec,
      now,
      aliveOtherwise(seen, config, specs, spec),
    );
    const merged = mergeComponentState(state, spec.name, sub.state);
    state = merged.state;
    events.push(...merged.events);
    decisions.push(sub);
  }
  if (memory !== undefined) state = { ...state, dbOutageSeen: memory };
  // Nothing changed and no event: no write (even when a hand-edited history is over its limit).
  const unchanged = events.length === 0 && sameState({ ...state, history: record.history }, record);
  const next: RecordState = { ...state, history: pushHistory(record.history, events) };
  const single = decisions.length === 1;
  const prefixed = (d: ComponentDecision): string[] => (single ? [...d.part.reasons] : d.part.reasons.map((r) => `${d.spec.noun}: ${r}`));
  const scheduler = decisions[0] as ComponentDecision;
  return {
    verdict: worst(decisions.map((d) => d.part.verdict)),
    components: decisions.map((d) => d.part),
    actions: ordered(decisions.flatMap((d) => d.actions)),
    reasons: decisions.flatMap(prefixed),
    alarms: [...new Set(decisions.flatMap((d) => d.part.alarms))],
    ...(unchanged || sameState(next, record) ? {} : { next }),
    counts: scheduler.part.counts,
  };
};

export { decide, VERDICT_SEVERITY };
