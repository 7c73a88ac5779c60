import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type ClusterConfig, componentsOf } from '../core/config.js';
import type { TickReport } from '../core/engine.js';
import type { Observation } from '../core/model.js';
import { jobRowsOf } from '../core/projection.js';
import { type Component, DIMENSION, METRIC, METRIC_NAMESPACE, METRIC_SERIES, type MetricName } from '../core/limits.js';

/**
 * Logging and metrics (docs/design.md#what-a-tick-reports). Every tick writes one JSON `tick` line:
 * verdict, reasons, actions, each component's desired and healthy count, the newest heartbeat age, and
 * each node's heartbeat age, health and SSM reachability (`nodes`, in configuration order). The
 * dashboard reads it with Logs Insights, so none of that costs a custom metric, and one line per tick
 * keeps the log bill small (each line also pays CloudWatch's per-event overhead). EMF metrics (names in functions/core/limits.ts) are written only when non-zero: a tick
 * with nothing to report writes no metric at all, and each incident costs only the hours it lasts.
 */

const SERVICE = 'airflow-scheduler-watchdog';

const createLogger = (): Logger => new Logger({ serviceName: SERVICE });

const createMetrics = (clusterName: string): Metrics => {
  const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE });
  // Powertools always adds a `service` dimension; alarms and the dashboard key on ClusterName (and Component).
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ [DIMENSION.cluster]: clusterName });
  return metrics;
};

/** One component's figures for one tick, from the plan's per-component part. */
interface ComponentFigures {
  readonly component: Component;
  /** Instances that should be healthy: 1 in single mode, desiredSchedulers in multi mode. */
  readonly desired: number;
  /** Healthy instances seen (0 when the DB was unreachable: unknown). */
  readonly healthy: number;
  /** Committed automatic failovers. */
  readonly failovers: number;
  /** Committed restarts in place (and scale-up starts in multi mode). */
  readonly restarts: number;
  /** Committed stops of duplicate instances. */
  readonly duplicateStops: number;
  /** 1 when no instance is healthy and the watchdog will not start one (suppressed or no candidate). */
  readonly recoveryBlocked: number;
  /** Node commands that failed or were skipped. */
  readonly failedActions: number;
}

const failedCount = (report: TickReport): number =>
  report.executed.filter((e) => e.skipped !== undefined || (e.outcome !== undefined && e.outcome.status !== 'success')).length;

/** Action counters count only plans that were committed (another watchdog's plan is its own to report). */
const committed = (report: TickReport): boolean => report.disposition === 'acted' || report.disposition === 'lease-lost';

/** The figures of each supervised component, from the plan's per-component counts. */
const componentFigures = (report: TickReport, config: ClusterConfig): ComponentFigures[] => {
  const acted = committed(report);
  return componentsOf(config).map((spec): ComponentFigures => {
    const counts = report.plan.components?.find((p) => p.component === spec.name)?.counts ?? (spec.name === 'scheduler' ? report.plan.counts : undefined);
    const mine = (action: { component?: string }): boolean => (action.component ?? 'scheduler') === spec.name;
    return {
      component: spec.name,
      desired: spec.mode === 'multi' ? spec.desired : 1,
      healthy: counts?.healthy ?? 0,
      failovers: acted ? (counts?.failovers ?? 0) : 0,
      restarts: acted ? (counts?.restarts ?? 0) : 0,
      duplicateStops: acted ? (counts?.duplicateStops ?? 0) : 0,
      recoveryBlocked: (counts?.suppressed ?? 0) + (counts?.noCandidate ?? 0),
      failedActions: report.executed.filter((e) => mine(e.action) && (e.skipped !== undefined || (e.outcome !== undefined && e.outcome.status !== 'success'))).length,
    };
  });
};

/** Each component's healthy count read from the DB alone (fresh rows on its eligible nodes). */
const observedFigures = (obs: Observation, config: ClusterConfig): ComponentFigures[] =>
  componentsOf(config).map((spec) => {
    const rows = obs.db.status === 'ok' ? jobRowsOf(obs.db, spec.name).rows : {};
    const healthy = spec.nodes.filter((n) => {
      const row = rows[n.hostname];
      return row !== undefined && row.ageSeconds <= spec.staleAfterSeconds;
    }).length;
    return { component: spec.name, desired: spec.mode === 'multi' ? spec.desired : 1, healthy, failovers: 0, restarts: 0, duplicateStops: 0, recoveryBlocked: 0, failedActions: 0 };
  });

type Datapoint = readonly [MetricName, number];

/** The non-zero datapoints of one tick, by series: `cluster` and one list per component. */
const metricDatapoints = (
  figures: readonly ComponentFigures[],
  dbReachable: boolean,
): { cluster: Datapoint[]; components: { component: Component; points: Datapoint[] }[] } => {
  const sum = (f: (c: ComponentFigures) => number): number => figures.reduce((acc, c) => acc + f(c), 0);
  const down = dbReachable ? figures.filter((c) => c.healthy < c.desired).length : figures.length;
  const perComponent = (c: ComponentFigures): Datapoint[] => [
    [METRIC.missingInstances, dbReachable ? Math.max(0, c.desired - c.healthy) : 0],
    [METRIC.failovers, c.failovers],
    [METRIC.restarts, c.restarts],
    [METRIC.duplicateStops, c.duplicateStops],
    [METRIC.recoveryBlocked, c.recoveryBlocked],
    [METRIC.failedActions, c.failedActions],
  ];
  const cluster: Datapoint[] = [
    [METRIC.componentsDown, down],
    [METRIC.failovers, sum((c) => c.failovers)],
    [METRIC.recoveryBlocked, sum((c) => c.recoveryBlocked)],
    [METRIC.dbUnreachable, dbReachable ? 0 : 1],
  ];
  const nonZero = (points: Datapoint[], series: 'cluster' | 'component'): Datapoint[] =>
    points.filter(([name, value]) => value !== 0 && METRIC_SERIES[name].includes(series));
  return {
    cluster: nonZero(cluster, 'cluster'),
    components: figures.map((c) => ({ component: c.component, points: nonZero(perComponent(c), 'component') })).filter((c) => c.points.length > 0),
  };
};

/** Writes one EMF object per series that has something to say (none while all is well). */
const emitMetrics = (metrics: Metrics, figures: readonly ComponentFigures[], dbReachable: boolean): void => {
  const { cluster, components } = metricDatapoints(figures, dbReachable);
  if (cluster.length > 0) {
    for (const [name, value] of cluster) metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  }
  for (const { component, points } of components) {
    metrics.addDimension(DIMENSION.component, component);
    for (const [name, value] of points) metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  }
};

/** Where a tick's report goes, and anything the caller wants on its `tick` line. */
interface ReportSinks {
  readonly config: ClusterConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Per-component figures; default: derived from the plan (componentFigures). */
  readonly components?: readonly ComponentFigures[];
  /** Extra keys of the `tick` line (tick number, lease owner, manual action, caller). */
  readonly extra?: Record<string, unknown>;
}

/** Writes the tick's log lines and its non-zero metrics. */
const reportTick = (report: TickReport, sinks: ReportSinks): void => {
  const { config, logger, metrics } = sinks;
  const { plan, observed } = report;
  const obs = observed.observation;
  const dbReachable = obs.db.status === 'ok';
  const rows = obs.db.status === 'ok' ? obs.db.rows : {};
  const figures = sinks.components ?? componentFigures(report, config);
  const outcomes = new Map(report.executed.map((e) => [e.action, e]));
  const ages = config.nodes.map((n) => rows[n.hostname]?.ageSeconds).filter((a): a is number => a !== undefined);
  logger.info('tick', {
    clusterName: config.clusterName,
    verdict: plan.verdict,
    disposition: report.disposition,
    epoch: plan.next?.epoch ?? observed.record.epoch,
    activeNodes: plan.next?.active ?? observed.record.active,
    dbReachable,
    components: Object.fromEntries(figures.map((c) => [c.component, { desired: c.desired, healthy: dbReachable ? c.healthy : null }])),
    ...(dbReachable && ages.length > 0 ? { newestHeartbeatAgeSeconds: Math.max(0, Math.min(...ages)) } : {}),
    // Per node, in configuration order (the dashboard's per-node graph reads nodes.<i>.ageSeconds).
    nodes: config.nodes.map((n) => {
      const row = rows[n.hostname];
      return {
        id: n.id,
        ...(dbReachable && row !== undefined ? { ageSeconds: row.ageSeconds } : {}),
        healthy: row !== undefined && row.ageSeconds <= config.staleAfterSeconds,
        reachability: obs.reachability[n.id] ?? 'absent',
      };
    }),
    actions: plan.actions.map((a) => {
      const e = outcomes.get(a);
      return {
        kind: a.kind,
        nodeId: a.nodeId,
        component: a.component ?? 'scheduler',
        epoch: a.epoch,
        purpose: a.purpose,
        reason: a.reason,
        ...(e?.outcome === undefined ? {} : { outcome: e.outcome.status }),
        ...(e?.skipped === undefined ? {} : { skipped: e.skipped }),
      };
    }),
    reasons: plan.reasons,
    alarms: plan.alarms,
    ...(report.note === undefined ? {} : { note: report.note }),
    durationMs: report.durationMs,
    ...sinks.extra,
  });
  emitMetrics(metrics, figures, dbReachable);
};

/**
 * A tick that could not decide (the record was unreadable): what the DB showed is still true, and
 * reporting it keeps the down alarm from firing for a DynamoDB problem.
 */
const reportObservation = (obs: Observation, sinks: Omit<ReportSinks, 'components'>): void => {
  const figures = observedFigures(obs, sinks.config);
  const dbReachable = obs.db.status === 'ok';
  sinks.logger.info('observation', {
    clusterName: sinks.config.clusterName,
    dbReachable,
    components: Object.fromEntries(figures.map((c) => [c.component, { desired: c.desired, healthy: dbReachable ? c.healthy : null }])),
    ...sinks.extra,
  });
  emitMetrics(sinks.metrics, figures, dbReachable);
};

export type { ComponentFigures, ReportSinks };
export { componentFigures, createLogger, createMetrics, failedCount, metricDatapoints, reportObservation, reportTick };
