import { ageText } from './bookkeeping.js';
import type { ClusterConfig } from './config.js';
import type { AlarmKind, NodeRef, Observation, RecordState, SchedulerRow } from './model.js';

/**
 * What one observation says about each node, before any rule looks at it: the newest live row per
 * node, which nodes are healthy, which were removed from the configuration but may still run a
 * scheduler, which foreign hosts run one, and the warnings every plan repeats.
 */

/** Heartbeats further in the future than this (by the DB's clock) raise a clock-skew warning. */
const SKEW_WARN_SECONDS = 5;

type OkObservation = Observation & { readonly db: Extract<Observation['db'], { status: 'ok' }> };

interface ClusterView {
  readonly healthy: readonly NodeRef[];
  readonly rows: ReadonlyMap<string, SchedulerRow | undefined>;
  readonly removed: readonly NodeRef[];
  readonly removedHealthy: readonly NodeRef[];
  readonly foreignHealthy: readonly SchedulerRow[];
  readonly warnings: readonly string[];
  readonly alarms: readonly AlarmKind[];
}

const viewCluster = (obs: OkObservation, state: RecordState, config: ClusterConfig): ClusterView => {
  const configuredIds = new Set(config.nodes.map((n) => n.id));
  const configuredHosts = new Set(config.nodes.map((n) => n.hostname));
  // A removed node whose hostname now belongs to a configured node (an instance replaced under the same
  // name) is gone: that hostname's row is the configured node's.
  const removed = state.nodes.filter((n) => !configuredIds.has(n.id) && !configuredHosts.has(n.hostname));
  const rows = new Map<string, SchedulerRow | undefined>();
  const fresh = (row: SchedulerRow | undefined): boolean => row !== undefined && row.ageSeconds <= config.staleAfterSeconds;
  const warnings: string[] = [];
  const alarms = new Set<AlarmKind>();
  for (const n of config.nodes) rows.set(n.id, obs.db.rows[n.hostname]);
  // Removed nodes are not in the DB query; a scheduler still running there shows up among the foreign rows.
  for (const n of removed) rows.set(n.id, obs.db.rows[n.hostname] ?? obs.db.foreign.find((r) => r.hostname === n.hostname));
  const healthy = config.nodes.filter((n) => fresh(rows.get(n.id)));
  const removedHealthy = removed.filter((n) => fresh(rows.get(n.id)));
  const knownHosts = new Set([...config.nodes, ...removed].map((n) => n.hostname));
  const foreignHealthy = obs.db.foreign.filter((r) => !knownHosts.has(r.hostname) && fresh(r));
  for (const r of foreignHealthy) {
    warnings.push(`foreign scheduler on host "${r.hostname}" (job ${r.jobId}, ${ageText(r)}) is not a configured node; it counts as running and is never stopped`);
    alarms.add('foreign-scheduler');
  }
  for (const row of [...rows.values(), ...foreignHealthy]) {
    if (row === undefined) continue;
    if (row.ageSeconds < -SKEW_WARN_SECONDS) {
      warnings.push(
        `heartbeat of "${row.hostname}" is ${Math.round(-row.ageSeconds)} s in the future by the DB's clock: that scheduler's clock runs ahead, so its staleness is seen that much later`,
      );
      alarms.add('clock-skew');
    }
    if (row.freshRows > 1) {
      warnings.push(`host "${row.hostname}" has ${row.freshRows} fresh scheduler rows: more than one scheduler process on one host`);
      alarms.add('duplicate-on-host');
    }
  }
  return { healthy, rows, removed, removedHealthy, foreignHealthy, warnings, alarms: [...alarms] };
};

export { viewCluster };
export type { ClusterView, OkObservation };
