import { isBanned } from './bookkeeping.js';
import type { ComponentName, ComponentSpec } from './components.js';
import { type ClusterConfig, componentsOf } from './config.js';
import type { Observed } from './engine.js';
import type { Action, HistoryEvent, Plan, Reachability } from './model.js';
import { projectObservation, projectState } from './projection.js';

/**
 * The `status` answer (docs/design.md, "Manual actions"): observation, record, verdict and what a tick
 * would do now, shaped for the CLI and for people reading `aws lambda invoke` output.
 */

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

interface ComponentStatus {
  readonly name: ComponentName;
  /** scheduler, dag-processor, triggerer. */
  readonly noun: string;
  readonly unit: string;
  readonly mode: 'single' | 'multi';
  readonly desired?: number;
  readonly verdict: Plan['verdict'];
  readonly epoch: number;
  readonly paused?: { readonly reason: string; readonly since: string; readonly by: string };
  readonly nodes: readonly NodeStatus[];
}

interface StatusView {
  readonly clusterName: string;
  readonly verdict: Plan['verdict'];
  readonly db: { readonly reachable: boolean; readonly error?: string };
  readonly epoch: number;
  readonly version: number;
  readonly paused?: { readonly reason: string; readonly since: string; readonly by: string };
  readonly lease?: { readonly owner: string; readonly expiresAt: string };
  /** The scheduler's nodes (every cluster has a scheduler). */
  readonly nodes: readonly NodeStatus[];
  /** Every supervised component, the scheduler first; present when more than the scheduler is supervised. */
  readonly components?: readonly ComponentStatus[];
  readonly foreign: readonly { readonly hostname: string; readonly heartbeatAgeSeconds: number; readonly jobId: number }[];
  /** What a tick would do now. */
  readonly wouldDo: { readonly actions: readonly Action[]; readonly reasons: readonly string[]; readonly alarms: readonly string[] };
  readonly history: readonly (Omit<HistoryEvent, 'at'> & { readonly at: string })[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** One component's nodes, as the CLI's node table shows them. */
const componentNodes = (observed: Observed, spec: ComponentSpec): NodeStatus[] => {
  const { observation, record: stored, observedAt } = observed;
  const obs = projectObservation(observation, spec);
  const record = projectState(stored, spec.name, spec);
  const rows = obs.db.status === 'ok' ? obs.db.rows : {};
  const pending = new Set(record.pending.map((p) => p.nodeId));
  const configured = new Set(spec.nodes.map((n) => n.id));
  const all = [...spec.nodes, ...record.nodes.filter((n) => !configured.has(n.id))];
  return all.map((n): NodeStatus => {
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
      healthy: row !== undefined && row.ageSeconds <= spec.staleAfterSeconds,
      role,
      ...(f?.bannedUntil !== undefined && f.bannedUntil > observedAt ? { bannedUntil: iso(f.bannedUntil) } : {}),
      failures: f?.count ?? 0,
    };
  });
};

const statusView = (observed: Observed, plan: Plan, config: ClusterConfig, historyLimit = 10): StatusView => {
  const { observation: obs, record, observedAt } = observed;
  const specs = componentsOf(config);
  const components = specs.map((spec): ComponentStatus => {
    const state = projectState(record, spec.name, spec);
    const part = plan.components?.find((p) => p.component === spec.name);
    return {
      name: spec.name,
      noun: spec.noun,
      unit: spec.unitName,
      mode: spec.mode,
      ...(spec.mode === 'multi' ? { desired: spec.desired } : {}),
      verdict: part?.verdict ?? plan.verdict,
      epoch: state.epoch,
      ...(state.paused === undefined ? {} : { paused: { reason: state.paused.reason, since: iso(state.paused.since), by: state.paused.by } }),
      nodes: componentNodes(observed, spec),
    };
  });
  const scheduler = components[0] as ComponentStatus;
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
    nodes: scheduler.nodes,
    ...(components.length > 1 ? { components } : {}),
    foreign: obs.db.status === 'ok' ? obs.db.foreign.map((r) => ({ hostname: r.hostname, heartbeatAgeSeconds: r.ageSeconds, jobId: r.jobId })) : [],
    wouldDo: { actions: plan.actions, reasons: plan.reasons, alarms: plan.alarms },
    history: record.history
      .slice(-historyLimit)
      .reverse()
      .map((e) => ({ ...e, at: iso(e.at) })),
  };
};

export { statusView };
export type { ComponentStatus, NodeRole, NodeStatus, StatusView };
