import { event, label, pushHistory } from './bookkeeping.js';
import type { ComponentName, ComponentSpec } from './components.js';
import { type ClusterConfig, componentsOf } from './config.js';
import { RefusedError } from './errors.js';
import type { Action, NodeRef, Observation, Plan, RecordState } from './model.js';
import { emptyCounts, nextCandidate, ordered, startOn, stop, whyNotCandidate } from './rules/common.js';
import { mergeComponentState, projectConfig, projectObservation, projectState } from './projection.js';
import { type OkObservation, viewCluster } from './view.js';

/**
 * Manual actions (docs/design.md, "Manual actions"): pure planners like decide(); the engine commits
 * their state and runs their actions like a tick's. A request that cannot be honoured in the current
 * state throws RefusedError and changes nothing.
 */
interface ManualFailover {
  /** The component to move; the scheduler when absent. */
  readonly component?: ComponentName;
  readonly to?: string;
  readonly reason: string;
  readonly force: boolean;
  readonly caller: string;
}

const planFailoverHere = (obs: Observation, record: RecordState, config: ClusterConfig, req: ManualFailover, now: number, noun: string): Plan => {
  if (config.mode !== 'single') throw new RefusedError(`failover applies to single mode; the ${noun} runs in multi mode: stop or start nodes through its configuration`);
  if (obs.db.status === 'unreachable' && !req.force) {
    throw new RefusedError(`metadata DB unreachable (${obs.db.reason}): failover refused without "force": true`);
  }
  const okObs: OkObservation =
    obs.db.status === 'ok' ? (obs as OkObservation) : { ...obs, db: { status: 'ok', rows: {}, foreign: [] } };
  const c = viewCluster(okObs, record, config, now, noun);
  const activeId = record.active[0];
  const active = config.nodes.find((n) => n.id === activeId);
  let target: NodeRef | undefined;
  if (req.to !== undefined) {
    target = config.nodes.find((n) => n.id === req.to || n.hostname === req.to);
    if (target === undefined) throw new RefusedError(`to: "${req.to}" is not a configured node id or hostname`);
  } else {
    target = nextCandidate(config, obs, record, activeId, now, new Set(activeId === undefined ? [] : [activeId]));
    if (target === undefined) throw new RefusedError(`no failover candidate (${whyNotCandidate(config, obs, record, now)})`);
  }
  const targetHealthy = c.healthy.some((n) => n.id === target.id);
  if (target.id === activeId && targetHealthy) throw new RefusedError(`to: ${label(target)} is already the healthy active node`);
  if (obs.reachability[target.id] !== 'Online' && !targetHealthy && !req.force) {
    throw new RefusedError(`to: ${label(target)} is ${obs.reachability[target.id] ?? 'absent'} in SSM; use "force": true to try anyway`);
  }
  const epoch = record.epoch + 1;
  const actions: Action[] = [];
  const stopped: string[] = [];
  const why = `manual failover by ${req.caller}: ${req.reason}`;
  const toStop = new Map<string, NodeRef>();
  if (active !== undefined && active.id !== target.id && (obs.reachability[active.id] === 'Online' || c.healthy.some((n) => n.id === active.id))) {
    toStop.set(active.id, active);
  }
  for (const n of c.healthy) if (n.id !== target.id) toStop.set(n.id, n);
  // A start still coming up elsewhere would become a second scheduler and could win over the operator's choice.
  const cancelled = new Set<string>();
  for (const p of record.pending) {
    const n = config.nodes.find((x) => x.id === p.nodeId);
    if (n !== undefined && n.id !== target.id && !toStop.has(n.id) && now - p.issuedAt < config.startupGraceSeconds * 1000) {
      toStop.set(n.id, n);
      cancelled.add(n.id);
    }
  }
  // A stop that cannot reach a node whose scheduler is healthy must block the start, or single mode runs two.
  const stoppingHealthy = [...toStop.keys()].some((id) => c.healthy.some((n) => n.id === id));
  for (const n of toStop.values()) {
    const purpose = cancelled.has(n.id) ? 'cancel-pending' : n.id === activeId ? 'fence' : 'stop-duplicate';
    actions.push(stop(n, epoch, purpose, `${purpose === 'cancel-pending' ? 'cancel the pending start' : `stop the ${noun}`} on ${label(n)}: ${why}`));
    stopped.push(n.id);
  }
  if (!targetHealthy) {
    actions.push(
      ...startOn(target, c.rows.get(target.id), epoch, 'failover-start', `start ${noun} on ${label(target)} (epoch ${epoch}): ${why}`, {
        ids: stopped,
        proceedIfUnreachable: !stoppingHealthy,
      }),
    );
  }
  const failures = { ...record.failures };
  delete failures[target.id];
  const next: RecordState = {
    ...record,
    epoch,
    active: [target.id],
    pending: targetHealthy ? [] : [{ nodeId: target.id, epoch, issuedAt: now }],
    failures,
    restartAttempts: 0,
    history: pushHistory(record.history, [event(now, 'manual-failover', target.id, epoch, `${active === undefined ? 'none' : active.id} → ${target.id}: ${req.reason}`, req.caller)]),
  };
  return {
    verdict: 'recovering',
    actions: ordered(actions),
    reasons: [`${why}: ${active === undefined ? 'no active node' : label(active)} → ${label(target)} (epoch ${epoch})`, ...c.warnings],
    alarms: c.alarms,
    next,
    counts: { healthy: c.healthy.length, ...emptyCounts() },
  };
};

const planPauseHere = (record: RecordState, reason: string, caller: string, now: number): RecordState => {
  if (record.paused !== undefined) throw new RefusedError(`already paused since ${new Date(record.paused.since).toISOString()} by ${record.paused.by}: ${record.paused.reason}`);
  return {
    ...record,
    paused: { reason, since: now, by: caller },
    history: pushHistory(record.history, [event(now, 'pause', undefined, record.epoch, reason, caller)]),
  };
};

const planResumeHere = (record: RecordState, caller: string, now: number, reason?: string): RecordState => {
  if (record.paused === undefined) throw new RefusedError('not paused');
  const { paused: _paused, ...rest } = record;
  // Pending starts issued before the pause are stale by now; the next tick re-plans from what it sees.
  return {
    ...rest,
    pending: [],
    history: pushHistory(record.history, [event(now, 'resume', undefined, record.epoch, `${reason ?? 'resumed'} (paused for: ${record.paused.reason})`, caller)]),
  };
};


/** The configured component a manual action names (the scheduler by default); refused when it is not supervised. */
const targetOf = (config: ClusterConfig, name: ComponentName | undefined): ComponentSpec => {
  const spec = componentsOf(config).find((k) => k.name === (name ?? 'scheduler'));
  if (spec === undefined) throw new RefusedError(`component: ${name} is not configured on this cluster (cluster.components.${name})`);
  return spec;
};

/** Applies a planner to one component's projection of the record and merges the result back. */
const onComponent = (record: RecordState, spec: ComponentSpec, plan: (projected: RecordState) => RecordState): RecordState => {
  const merged = mergeComponentState(record, spec.name, plan(projectState(record, spec.name, spec)));
  return { ...merged.state, history: pushHistory(record.history, merged.events) };
};

const planManualFailover = (obs: Observation, record: RecordState, config: ClusterConfig, req: ManualFailover, now: number): Plan => {
  const spec = targetOf(config, req.component);
  let inner: Plan | undefined;
  const next = onComponent(record, spec, (projected) => {
    inner = planFailoverHere(projectObservation(obs, spec), projected, projectConfig(config, spec), req, now, spec.noun);
    return inner.next ?? projected;
  });
  const plan = inner as unknown as Plan;
  const component = spec.name === 'scheduler' ? undefined : spec.name;
  return {
    ...plan,
    actions: plan.actions.map((a) => (component === undefined ? a : { ...a, component })),
    reasons: spec.name === 'scheduler' ? plan.reasons : plan.reasons.map((r) => `${spec.noun}: ${r}`),
    next,
  };
};

/** Maintenance of one component (the scheduler by default): its ticks observe and report only. */
interface ComponentTarget {
  readonly component?: ComponentName;
  readonly config: ClusterConfig;
}

const planPause = (record: RecordState, reason: string, caller: string, now: number, target?: ComponentTarget): RecordState => {
  if (target === undefined || (target.component ?? 'scheduler') === 'scheduler') return planPauseHere(record, reason, caller, now);
  return onComponent(record, targetOf(target.config, target.component), (projected) => planPauseHere(projected, reason, caller, now));
};

const planResume = (record: RecordState, caller: string, now: number, reason?: string, target?: ComponentTarget): RecordState => {
  if (target === undefined || (target.component ?? 'scheduler') === 'scheduler') return planResumeHere(record, caller, now, reason);
  return onComponent(record, targetOf(target.config, target.component), (projected) => planResumeHere(projected, caller, now, reason));
};

export { planManualFailover, planPause, planResume };
export type { ManualFailover };
