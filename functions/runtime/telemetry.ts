import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ClusterConfig } from '../core/config.js';
import type { TickReport } from '../core/engine.js';
import type { Observation } from '../core/model.js';

/**
 * Logging and metrics (SPEC §8): one JSON line per tick with verdict and reasons, one line per node with
 * its heartbeat age (for the dashboard's Logs Insights widget: per-node metrics would cost money), and a
 * few EMF metrics under one dimension, ClusterName.
 */

const METRIC_NAMESPACE = 'AirflowSchedulerWatchdog';

const METRIC = {
  healthy: 'HealthySchedulers',
  newestAge: 'NewestHeartbeatAgeSeconds',
  dbReachable: 'MetadataDbReachable',
  failovers: 'Failovers',
  restarts: 'Restarts',
  duplicateStops: 'DuplicateStops',
  failedActions: 'FailedActions',
  suppressed: 'Suppressed',
  noCandidate: 'NoCandidate',
} as const;

const createLogger = (): Logger => new Logger({ serviceName: 'airflow-scheduler-watchdog' });

const createMetrics = (clusterName: string): Metrics => {
  const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: 'airflow-scheduler-watchdog' });
  // Powertools always adds a `service` dimension; alarms and the dashboard key on ClusterName alone.
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ ClusterName: clusterName });
  return metrics;
};

const failedCount = (report: TickReport): number =>
  report.executed.filter((e) => e.skipped !== undefined || (e.outcome !== undefined && e.outcome.status !== 'success')).length;

/** Writes the tick's log lines and metrics. Action counters are emitted only for plans that were committed. */
const reportTick = (report: TickReport, config: ClusterConfig, logger: Logger, metrics: Metrics, extra: Record<string, unknown> = {}): void => {
  const { plan, observed } = report;
  const obs = observed.observation;
  const rows = obs.db.status === 'ok' ? obs.db.rows : {};
  const outcomes = new Map(report.executed.map((e) => [e.action, e]));
  logger.info('tick', {
    clusterName: config.clusterName,
    verdict: plan.verdict,
    disposition: report.disposition,
    epoch: plan.next?.epoch ?? observed.record.epoch,
    activeNodes: plan.next?.active ?? observed.record.active,
    dbReachable: obs.db.status === 'ok',
    actions: plan.actions.map((a) => {
      const e = outcomes.get(a);
      return {
        kind: a.kind,
        nodeId: a.nodeId,
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
    ...extra,
  });
  for (const n of config.nodes) {
    const row = rows[n.hostname];
    logger.info('heartbeat', {
      clusterName: config.clusterName,
      nodeId: n.id,
      hostname: n.hostname,
      ageSeconds: obs.db.status === 'ok' && row !== undefined ? row.ageSeconds : null,
      healthy: row !== undefined && row.ageSeconds <= config.staleAfterSeconds,
      reachability: obs.reachability[n.id] ?? 'absent',
    });
  }

  metrics.addMetric(METRIC.dbReachable, MetricUnit.Count, obs.db.status === 'ok' ? 1 : 0);
  if (obs.db.status === 'ok') {
    metrics.addMetric(METRIC.healthy, MetricUnit.Count, plan.counts.healthy);
    const ages = config.nodes.map((n) => rows[n.hostname]?.ageSeconds).filter((a): a is number => a !== undefined);
    if (ages.length > 0) metrics.addMetric(METRIC.newestAge, MetricUnit.Seconds, Math.max(0, Math.min(...ages)));
  }
  metrics.addMetric(METRIC.suppressed, MetricUnit.Count, plan.counts.suppressed);
  metrics.addMetric(METRIC.noCandidate, MetricUnit.Count, plan.counts.noCandidate);
  const committed = report.disposition === 'acted' || report.disposition === 'lease-lost';
  metrics.addMetric(METRIC.failovers, MetricUnit.Count, committed ? plan.counts.failovers : 0);
  metrics.addMetric(METRIC.restarts, MetricUnit.Count, committed ? plan.counts.restarts : 0);
  metrics.addMetric(METRIC.duplicateStops, MetricUnit.Count, committed ? plan.counts.duplicateStops : 0);
  metrics.addMetric(METRIC.failedActions, MetricUnit.Count, failedCount(report));
  metrics.publishStoredMetrics();
};

/**
 * Metrics from a tick that could not decide (the record was unreadable): what the DB showed is still
 * true, and reporting it keeps the scheduler-down alarm from firing for a DynamoDB problem.
 */
const reportObservation = (obs: Observation, config: ClusterConfig, logger: Logger, metrics: Metrics, extra: Record<string, unknown> = {}): void => {
  const rows = obs.db.status === 'ok' ? obs.db.rows : {};
  const healthy = config.nodes.filter((n) => {
    const row = rows[n.hostname];
    return row !== undefined && row.ageSeconds <= config.staleAfterSeconds;
  }).length;
  logger.info('observation', { clusterName: config.clusterName, dbReachable: obs.db.status === 'ok', healthy, ...extra });
  metrics.addMetric(METRIC.dbReachable, MetricUnit.Count, obs.db.status === 'ok' ? 1 : 0);
  if (obs.db.status === 'ok') metrics.addMetric(METRIC.healthy, MetricUnit.Count, healthy);
  metrics.publishStoredMetrics();
};

export { createLogger, createMetrics, failedCount, METRIC, METRIC_NAMESPACE, reportObservation, reportTick };
