import { ageText } from './bookkeeping.js';
import type { ClusterConfig } from './config.js';
import { judgeLiveness, type Liveness } from './liveness.js';
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
  /** Configured nodes whose scheduler runs: fresh heartbeat, or proven alive though its heartbeat is old. */
  readonly healthy: readonly NodeRef[];
  /** What the evidence says about each configured or removed node's newest live row. */
  readonly liveness: ReadonlyMap<string, Liveness>;
  /** Intended-active nodes whose heartbeat is stale with no evidence either way: nothing is done to them yet. */
  readonly suspect: readonly NodeRef[];
  readonly rows: ReadonlyMap<string, SchedulerRow | undefined>;
  readonly removed: readonly NodeRef[];
  readonly removedHealthy: readonly NodeRef[];
  readonly foreignHealthy: readonly SchedulerRow[];
  readonly warnings: readonly string[];
  readonly alarms: readonly AlarmKind[];
}

const viewCluster = (obs: OkObservation, state: RecordState, config: ClusterConfig, now: number, noun = 'scheduler'): ClusterView => {
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
  const liveness = new Map<string, Liveness>();
  for (const n of [...config.nodes, ...removed]) {
    const earlierRow = obs.earlier?.rows[n.hostname];
    liveness.set(
      n.id,
      judgeLiveness({
        row: rows.get(n.id),
        ...(obs.earlier === undefined ? {} : { earlier: { row: earlierRow, observedAt: obs.earlier.observedAt } }),
        ...(obs.units?.[n.id] === undefined ? {} : { unit: obs.units[n.id] }),
        staleAfterSeconds: config.staleAfterSeconds,
        heartbeatSeconds: config.heartbeatSeconds,
        now,
        ...(obs.dbBackAt === undefined ? {} : { dbBackAt: obs.dbBackAt }),
      }),
    );
  }
  const running = (id: string): boolean => {
    const l = liveness.get(id);
    return l?.kind === 'fresh' || l?.kind === 'alive';
  };
  const healthy = config.nodes.filter((n) => running(n.id));
  const removedHealthy = removed.filter((n) => fresh(rows.get(n.id)));
  const suspect = config.nodes.filter((n) => state.active.includes(n.id) && liveness.get(n.id)?.kind === 'suspect');
  const knownHosts = new Set([...config.nodes, ...removed].map((n) => n.hostname));
  const foreignHealthy = obs.db.foreign.filter((r) => !knownHosts.has(r.hostname) && fresh(r));
  for (const r of foreignHealthy) {
    warnings.push(`foreign ${noun} on host "${r.hostname}" (job ${r.jobId}, ${ageText(r, noun)}) is not ${noun === 'scheduler' ? 'a configured node' : `a node configured for the ${noun}`}; it counts as running and is never stopped`);
    alarms.add('foreign-scheduler');
  }
  for (const row of [...rows.values(), ...foreignHealthy]) {
    if (row === undefined) continue;
    if (row.ageSeconds < -SKEW_WARN_SECONDS) {
      warnings.push(
        `heartbeat of "${row.hostname}" is ${Math.round(-row.ageSeconds)} s in the future by the DB's clock: that ${noun}'s clock runs ahead, so its staleness is seen that much later`,
      );
      alarms.add('clock-skew');
    }
    if (row.freshRows > 1) {
      warnings.push(`host "${row.hostname}" has ${row.freshRows} fresh ${noun} rows: more than one ${noun} process on one host`);
      alarms.add('duplicate-on-host');
    }
  }
  for (const n of config.nodes) {
    const l = liveness.get(n.id);
    if (l?.kind === 'alive' && l.skewed) {
      warnings.push(`${noun} on ${n.id} (${n.hostname}) is alive but ${l.evidence}; Airflow's own health checks will call it dead`);
      alarms.add('clock-skew');
    }
    if (l?.kind === 'suspect' && l.badReport !== undefined) {
      warnings.push(`status answer of ${n.id} (${n.hostname}) is unusable, so nothing is done on that node this tick: ${l.badReport}`);
      alarms.add('bad-node-report');
    }
  }
  return { healthy, liveness, suspect, rows, removed, removedHealthy, foreignHealthy, warnings, alarms: [...alarms] };
};

export { viewCluster };
export type { ClusterView, OkObservation };
