import { ageText, event, isBanned, label } from '../bookkeeping.js';
import type { ClusterConfig } from '../config.js';
import type { Action, AlarmKind, HistoryEvent, NodeRef, Observation, PendingStart, RecordState, SchedulerRow, Verdict } from '../model.js';
import { livenessWindowSeconds } from '../liveness.js';
import type { ClusterView } from '../view.js';

/**
 * The rule framework (in the manner of cdk-nag: an ordered list of small, named, pure rules) and the
 * action builders the rules share. A rule looks at the context and either decides (fills the draft and
 * returns true) or passes (returns false) to the next rule.
 */

interface RuleContext {
  readonly config: ClusterConfig;
  readonly obs: Observation;
  readonly view: ClusterView;
  /** Pending starts still within startupGraceSeconds, after bookkeeping. */
  readonly inGrace: readonly PendingStart[];
  readonly now: number;
  readonly byId: ReadonlyMap<string, NodeRef>;
  /** What reasons call the component's process: scheduler, dag-processor, triggerer. */
  readonly noun: string;
  /** Nodes where another component is healthy: proof of life, so never power-fenced. */
  readonly aliveElsewhere: ReadonlySet<string>;
}

interface DecisionCounts {
  failovers: number;
  restarts: number;
  duplicateStops: number;
  suppressed: number;
  noCandidate: number;
}

/** The decision being built for one tick; rules mutate it, decide() turns it into an immutable Plan. */
interface PlanDraft {
  state: RecordState;
  actions: Action[];
  reasons: string[];
  events: HistoryEvent[];
  alarms: AlarmKind[];
  verdict: Verdict;
  counts: DecisionCounts;
}

interface Rule {
  /** Stable name, shown in the tick log and the docs. */
  readonly id: string;
  /** Where docs/design.md states the rule. */
  readonly implements: string;
  readonly apply: (ctx: RuleContext, d: PlanDraft) => boolean;
}

/** Runs the rules in order; the first that decides ends the list. Returns its id. */
const applyRules = (rules: readonly Rule[], ctx: RuleContext, d: PlanDraft): string | undefined => {
  for (const rule of rules) if (rule.apply(ctx, d)) return rule.id;
  return undefined;
};

const emptyCounts = (): DecisionCounts => ({ failovers: 0, restarts: 0, duplicateStops: 0, suppressed: 0, noCandidate: 0 });

const stop = (node: NodeRef, epoch: number, purpose: Action['purpose'], reason: string): Action => ({
  kind: 'stop',
  nodeId: node.id,
  hostname: node.hostname,
  epoch,
  purpose,
  reason,
});

/**
 * Actions to start a scheduler on `node`. A live row with a stale heartbeat may be a hung process, which
 * `systemctl start` would leave in place, so it is stopped first.
 */
const startOn = (
  node: NodeRef,
  row: SchedulerRow | undefined,
  epoch: number,
  purpose: Action['purpose'],
  reason: string,
  requires: { ids: readonly string[]; proceedIfUnreachable: boolean } = { ids: [], proceedIfUnreachable: false },
  noun = 'scheduler',
): Action[] => {
  const clear = row !== undefined;
  const requiresStopped = clear ? [...requires.ids, node.id] : [...requires.ids];
  return [
    ...(clear ? [stop(node, epoch, 'clear-stale', `clear the stale ${noun} on ${label(node)} (job ${row.jobId}, ${ageText(row, noun)}) before starting`)] : []),
    {
      kind: 'start',
      nodeId: node.id,
      hostname: node.hostname,
      epoch,
      purpose,
      reason,
      ...(requiresStopped.length > 0 ? { requiresStopped } : {}),
      ...(requires.proceedIfUnreachable ? { proceedIfUnreachable: true } : {}),
    },
  ];
};

/** Stops first, then starts, keeping each group's order. */
const ordered = (actions: readonly Action[]): Action[] => [...actions.filter((a) => a.kind === 'stop'), ...actions.filter((a) => a.kind === 'start')];

const raiseAlarm = (d: PlanDraft, kind: 'no-candidate' | 'suppressed', reason: string, now: number): void => {
  d.alarms.push(kind);
  d.verdict = kind;
  d.reasons.push(reason);
  if (kind === 'suppressed') d.counts.suppressed = 1;
  else d.counts.noCandidate = 1;
  // Write the alarm once, not every tick, so a long outage does not cost a write per tick.
  if (d.state.lastAlarm?.kind !== kind) {
    d.state = { ...d.state, lastAlarm: { kind, at: now, reason } };
    d.events.push(event(now, kind, undefined, d.state.epoch, reason));
  }
};

/** Next node in priority order after `afterId` (wrapping), Online and not banned. */
const nextCandidate = (
  config: ClusterConfig,
  obs: Observation,
  state: RecordState,
  afterId: string | undefined,
  now: number,
  exclude: ReadonlySet<string>,
): NodeRef | undefined => {
  const n = config.nodes.length;
  const start = afterId === undefined ? -1 : config.nodes.findIndex((x) => x.id === afterId);
  for (let k = 1; k <= n; k++) {
    const node = config.nodes[(start + k + n) % n];
    if (node === undefined || exclude.has(node.id)) continue;
    if (obs.reachability[node.id] === 'Online' && !isBanned(state, node.id, now)) return node;
  }
  return undefined;
};

const whyNotCandidate = (config: ClusterConfig, obs: Observation, state: RecordState, now: number): string =>
  config.nodes.map((n) => `${n.id} ${isBanned(state, n.id, now) ? 'banned' : (obs.reachability[n.id] ?? 'absent')}`).join(', ');

/** Why nothing is done yet to an intended-active node whose heartbeat is stale. */
const awaitingText = (ctx: RuleContext, n: NodeRef): string => {
  const l = ctx.view.liveness.get(n.id);
  const why = l?.kind === 'suspect' ? l.why : 'no evidence yet';
  return `${label(n)}: ${ageText(ctx.view.rows.get(n.id), ctx.noun)}, stale after ${ctx.config.staleAfterSeconds} s, but not proven dead (${why}); nothing is done to it until its unit is reported down or its heartbeat stays unchanged over ${livenessWindowSeconds(ctx.config.heartbeatSeconds)} s with the DB reachable`;
};

/** What makes a node's scheduler dead, for the reasons of a restart or failover. */
const deathText = (ctx: RuleContext, n: NodeRef): string => {
  const l = ctx.view.liveness.get(n.id);
  return l?.kind === 'dead' ? `; ${l.evidence}` : '';
};

/** Stops the schedulers still running on nodes removed from the configuration. */
const stopRemoved = (ctx: RuleContext, d: PlanDraft, epoch: number): void => {
  for (const n of ctx.view.removedHealthy) {
    const why = `stop the ${ctx.noun} on ${label(n)}: node removed from configuration`;
    d.actions.push(stop(n, epoch, 'stop-removed', why));
    d.events.push(event(ctx.now, 'stop-removed', n.id, epoch, why));
  }
};

export { applyRules, awaitingText, deathText, emptyCounts, nextCandidate, ordered, raiseAlarm, startOn, stop, stopRemoved, whyNotCandidate };
export type { DecisionCounts, PlanDraft, Rule, RuleContext };
