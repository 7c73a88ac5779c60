import type { WatchdogSettings } from './config.js';

/**
 * What the deployment must know about the function without loading it: how long a tick can take, how
 * ticks are spread over a minute, and the names of the metrics the function emits. The CDK construct
 * reads this at synth (alarms, timeout, queue), the runtime reads it at run time (telemetry, the tick
 * queue), so the two cannot drift. Pure: no SDK, no Powertools, no environment.
 */

// ---- How long one tick can take ------------------------------------------------------------------

/** One term of the worst-case tick time: what it covers and how many seconds it may take at most. */
interface TickBudgetTerm {
  readonly name: string;
  readonly seconds: number;
  /** For messages and docs: what this part of the tick waits for. */
  readonly covers: string;
}

/** Seconds the DynamoDB commit and write-backs of one tick may take together. */
const RECORD_WRITES_SECONDS = 5;
/**
 * A scheduled tick that finds the DB down (an outage, not a configuration error) re-checks it every few
 * seconds until it answers, up to 5 s before the next scheduled invocation (functions/runtime/app.ts):
 * so schedulers that exited with the DB are restarted seconds after it returns, not a minute later.
 */
const DB_WATCH_SECONDS = 55;
/** Two heartbeats plus a quarter: the liveness window (functions/core/liveness.ts). */
const LIVENESS_WINDOW_HEARTBEATS = 2.25;
/** Sequential SSM commands one plan can hold at most: fencing stop, clear-stale stop, start. */
const MAX_SEQUENTIAL_COMMANDS = 3;

/**
 * The worst case of one tick, term by term, in the order a tick spends them. Add a term here when a tick
 * gains a bounded wait; the function timeout (infra/lib/sizing.ts), the synth-time check against
 * Lambda's 900 s and the local runner's context all follow.
 */
const tickBudget = (s: WatchdogSettings): readonly TickBudgetTerm[] => [
  { name: 'db-watch', seconds: DB_WATCH_SECONDS, covers: 'a scheduled tick that finds the DB down waits for it to return (at most until shortly before the next schedule)' },
  {
    name: 'observe',
    seconds: s.db.connectTimeoutSeconds + s.db.queryTimeoutSeconds,
    covers: 'metadata DB connect + heartbeat query (the record and SSM are read in parallel with it)',
  },
  {
    name: 'evidence',
    seconds: evidenceSeconds(s) + s.db.connectTimeoutSeconds + s.db.queryTimeoutSeconds,
    covers:
      'liveness evidence for a stale intended-active node: status commands (in parallel) and the liveness window (2.25 heartbeats), then a second heartbeat query',
  },
  {
    name: 'commands',
    seconds: MAX_SEQUENTIAL_COMMANDS * s.cluster.commandTimeoutSeconds,
    covers: `up to ${MAX_SEQUENTIAL_COMMANDS} sequential SSM commands (fencing stop, clear-stale stop, start), each bounded by commandTimeoutSeconds`,
  },
  { name: 'writes', seconds: RECORD_WRITES_SECONDS, covers: 'DynamoDB commit and write-backs' },
];

/** The longer of a liveness status command's bound and the slowest component's liveness window. */
function evidenceSeconds(s: WatchdogSettings): number {
  const heartbeats = [s.cluster.heartbeatSeconds, ...Object.values(s.cluster.components ?? {}).map((c) => c?.heartbeatSeconds ?? 5)];
  const window = LIVENESS_WINDOW_HEARTBEATS * Math.max(...heartbeats);
  const probe = Math.min(s.cluster.commandTimeoutSeconds, Math.max(5, window + 2));
  return Math.max(window, probe);
}

/** Seconds one tick may take at most: the sum of its budget. */
const worstCaseTickSeconds = (s: WatchdogSettings): number => tickBudget(s).reduce((sum, term) => sum + term.seconds, 0);

/** `observe 10 s + commands 180 s + writes 5 s`, for messages. */
const describeTickBudget = (s: WatchdogSettings): string =>
  tickBudget(s)
    .map((t) => `${t.name} ${t.seconds} s`)
    .join(' + ');

// ---- How ticks are spread over a minute ----------------------------------------------------------

/** EventBridge Scheduler fires at most once a minute; every scheduled invocation runs one tick. */
const SCHEDULE_PERIOD_SECONDS = 60;

/** Ticks per minute: 1 at 60 s checks, 60 / checkIntervalSeconds below. */
const ticksPerMinute = (checkIntervalSeconds: number): number =>
  checkIntervalSeconds >= SCHEDULE_PERIOD_SECONDS ? 1 : Math.floor(SCHEDULE_PERIOD_SECONDS / checkIntervalSeconds);

/**
 * Below 60 s checks, each scheduled invocation runs its own tick at once and queues the minute's other
 * ticks as delayed SQS messages, this many seconds after it: `[I, 2I, …, 60 − I]` for interval I
 * (10 s → 10, 20, 30, 40, 50). Empty at 60 s checks.
 */
const queuedTickDelaysSeconds = (checkIntervalSeconds: number): readonly number[] =>
  Array.from({ length: ticksPerMinute(checkIntervalSeconds) - 1 }, (_, k) => (k + 1) * checkIntervalSeconds);

/**
 * The time a tick has before the next one is due (the invocation's window): a queued tick that arrives
 * later than this after its due time is dropped, since the next one is already on its way.
 */
const tickWindowSeconds = (checkIntervalSeconds: number): number => Math.min(checkIntervalSeconds, SCHEDULE_PERIOD_SECONDS);

/** The function reads the tick queue's URL from this variable; without it, ticks below 60 s are looped in one invocation (local runs). */
const TICK_QUEUE_URL_ENV = 'WATCHDOG_TICK_QUEUE_URL';

// ---- Metrics ------------------------------------------------------------------------------------

const METRIC_NAMESPACE = 'AirflowSchedulerWatchdog';

/** Dimension names. Every metric has ClusterName; per-component figures also have Component. */
const DIMENSION = { cluster: 'ClusterName', component: 'Component' } as const;

/** The control-plane components a cluster runs (Airflow 3 adds the DAG processor and the triggerer). */
const COMPONENTS = ['scheduler', 'dagProcessor', 'triggerer'] as const;
type Component = (typeof COMPONENTS)[number];

/**
 * The custom metrics (EMF). None is emitted while all is well: each is written only by a tick that has
 * something non-zero to report, so it is billed only for the hours an incident lasts (CloudWatch bills a
 * custom metric per hour in which data arrives). Alarms read the cluster-level series and treat missing
 * data as not breaching; the per-component series (Component dimension) say which component it was.
 */
const METRIC = {
  /** Cluster: components with fewer healthy instances than desired; while the DB is unreachable, all of them (unknown counts as down). */
  componentsDown: 'ComponentsDown',
  /** Per component: desired minus healthy instances, when positive (DB reachable). */
  missingInstances: 'MissingInstances',
  /** Cluster and per component: automatic failovers committed. */
  failovers: 'Failovers',
  /** Per component: restarts in place (and scale-up starts in multi mode) committed. */
  restarts: 'Restarts',
  /** Per component: duplicate schedulers stopped. */
  duplicateStops: 'DuplicateStops',
  /** Cluster and per component: no healthy instance and the watchdog will not start one (failover suppressed, or no candidate node). */
  recoveryBlocked: 'RecoveryBlocked',
  /** Per component: node commands that failed or were skipped (the invocation then fails too, which is what the errors alarm reads). */
  failedActions: 'FailedActions',
  /** Cluster: 1 for a tick that could not reach the metadata DB. */
  dbUnreachable: 'MetadataDbUnreachable',
} as const;
type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Which series each metric is written to: `cluster` = {ClusterName}, `component` = {ClusterName, Component}. */
const METRIC_SERIES: Readonly<Record<MetricName, readonly ('cluster' | 'component')[]>> = {
  [METRIC.componentsDown]: ['cluster'],
  [METRIC.missingInstances]: ['component'],
  [METRIC.failovers]: ['cluster', 'component'],
  [METRIC.restarts]: ['component'],
  [METRIC.duplicateStops]: ['component'],
  [METRIC.recoveryBlocked]: ['cluster', 'component'],
  [METRIC.failedActions]: ['component'],
  [METRIC.dbUnreachable]: ['cluster'],
};

export type { Component, MetricName, TickBudgetTerm };
export {
  DB_WATCH_SECONDS,
  COMPONENTS,
  DIMENSION,
  describeTickBudget,
  METRIC,
  METRIC_NAMESPACE,
  METRIC_SERIES,
  queuedTickDelaysSeconds,
  SCHEDULE_PERIOD_SECONDS,
  TICK_QUEUE_URL_ENV,
  tickBudget,
  tickWindowSeconds,
  ticksPerMinute,
  worstCaseTickSeconds,
};
