import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ClusterConfig } from '../../functions/core/config.js';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../../functions/core/limits.js';

/**
 * Alarms, SNS topic and dashboard (docs/design.md#what-a-tick-reports), with plain CloudWatch constructs.
 * Metric names come from functions/core/limits.ts, which the function's telemetry uses too, so alarms
 * cannot drift from what it emits.
 *
 * Cost shapes the design (docs/deploy.md#monthly-cost): the function emits a custom metric only when it
 * has something non-zero to report, so a healthy cluster pays for none; every alarm reads one metric
 * (an alarm is billed per metric it reads) and treats missing data as all-clear, except "watchdog not
 * running", which reads Lambda's free Invocations metric. Alarms read the cluster-level series, so a
 * cluster's alarm bill does not grow with its components; the per-component series (Component
 * dimension) and the log lines say which component. The dashboard's time series come from the
 * function's `tick` and `heartbeat` log lines through Logs Insights, not from metrics.
 */

interface WatchdogMonitoringProps {
  readonly cluster: ClusterConfig;
  readonly fn: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  readonly timeoutSeconds: number;
  readonly topic?: sns.ITopic;
  readonly email?: string;
  readonly schedulerDownMinutes: number;
  readonly notRunningMinutes: number;
  readonly dashboard: boolean;
  readonly dashboardName: string;
}

/** The alarms, by name (the README's alarm runbook has a row for each). */
interface WatchdogAlarms {
  readonly schedulerDown: cloudwatch.Alarm;
  readonly failoverHappened: cloudwatch.Alarm;
  /** Failover suppressed, or no candidate node: no healthy scheduler, and the watchdog will not start one. */
  readonly recoveryBlocked: cloudwatch.Alarm;
  readonly watchdogErrors: cloudwatch.Alarm;
  readonly watchdogNotRunning: cloudwatch.Alarm;
}

const MINUTE = Duration.minutes(1);

/** Logs Insights queries on the function's JSON log lines (Powertools Logger: the text is `message`). */
const QUERIES = {
  healthy: [
    'filter message = "tick"',
    'stats min(components.scheduler.healthy) as minHealthy, max(components.scheduler.healthy) as maxHealthy, max(components.scheduler.desired) as desired by bin(1m)',
  ],
  newestAge: [
    'filter message = "tick" and ispresent(newestHeartbeatAgeSeconds)',
    'stats max(newestHeartbeatAgeSeconds) as newestHeartbeatAgeSeconds by bin(1m)',
  ],
  verdicts: ['filter message = "tick"', 'stats count(*) as ticks by bin(1m), verdict'],
  /** One series per node, named by its id, from the `nodes` array of the tick line (configuration order). */
  heartbeatAge: (nodes: readonly { readonly id: string }[]): string[] => [
    'filter message = "tick"',
    `stats ${nodes.map((n, i) => `max(nodes.${i}.ageSeconds) as \`${n.id}\``).join(', ')} by bin(1m)`,
  ],
  epochChanges: [
    'filter message = "tick"',
    'stats min(@timestamp) as since, max(@timestamp) as lastSeen, count(*) as ticks by epoch, activeNodes.0',
    'sort since desc',
    'limit 20',
  ],
  actions: [
    'filter (message = "tick" and ispresent(actions.0.kind)) or message = "manual action"',
    'fields @timestamp, verdict, disposition, epoch, action, caller, actions.0.kind, actions.0.nodeId, actions.0.outcome, actions.0.reason, actions.1.kind, actions.1.nodeId, actions.1.outcome, actions.2.kind, actions.2.nodeId, actions.2.outcome',
    'sort @timestamp desc',
    'limit 50',
  ],
} as const;

class WatchdogMonitoring extends Construct {
  readonly topic: sns.ITopic;
  readonly alarms: WatchdogAlarms;
  readonly dashboard?: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: WatchdogMonitoringProps) {
    super(scope, id);
    const { cluster, fn } = props;
    const stack = Stack.of(this);

    if (props.topic !== undefined) this.topic = props.topic;
    else {
      const topic = new sns.Topic(this, 'AlarmTopic', { displayName: `Airflow scheduler watchdog ${cluster.clusterName}`, enforceSSL: true });
      // A topic policy replaces SNS's default one, so CloudWatch needs an explicit allow, scoped to this account's alarms.
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCloudWatchAlarms',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: {
              'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
            },
          },
        }),
      );
      this.topic = topic;
    }
    if (props.email !== undefined) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));

    const custom = (metricName: string, statistic: string, period: Duration = MINUTE): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, dimensionsMap: { [DIMENSION.cluster]: cluster.clusterName }, statistic, period });

    const desired = cluster.mode === 'multi' ? cluster.desiredSchedulers : 1;
    const notify = new actions.SnsAction(this.topic);
    const alarm = (id: string, opts: Omit<cloudwatch.AlarmProps, 'actionsEnabled'> & { okAction?: boolean }): cloudwatch.Alarm => {
      const { okAction, ...alarmProps } = opts;
      const a = new cloudwatch.Alarm(this, id, alarmProps);
      a.addAlarmAction(notify);
      if (okAction === true) a.addOkAction(notify);
      return a;
    };
    const label = `Airflow cluster ${cluster.clusterName}`;
    const errors = fn.metricErrors({ period: MINUTE, statistic: cloudwatch.Stats.SUM });
    const throttles = fn.metricThrottles({ period: MINUTE, statistic: cloudwatch.Stats.SUM });
    // Incident-only metrics: no data is all-clear, since a tick with nothing to report writes nothing.
    const whileReported = { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, threshold: 1 } as const;
    const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;

    this.alarms = {
      schedulerDown: alarm('SchedulerDownAlarm', {
        alarmDescription: `${label}: for ${props.schedulerDownMinutes} consecutive minute(s) the watchdog saw fewer healthy schedulers than desired (${desired}), or could not see them because the metadata DB was unreachable. The watchdog normally recovers within staleAfterSeconds + one check + the start time, so this means recovery failed. If airflow-watchdog status says unknown, the DB is unreachable: the watchdog does nothing meanwhile by design, and a failover would not help.`,
        metric: custom(METRIC.componentsDown, cloudwatch.Stats.MAXIMUM),
        ...whileReported,
        comparisonOperator: atLeast,
        evaluationPeriods: props.schedulerDownMinutes,
        datapointsToAlarm: props.schedulerDownMinutes,
        okAction: true,
      }),
      failoverHappened: alarm('FailoverAlarm', {
        alarmDescription: `${label}: the watchdog failed the scheduler over to another node. The record's history and the tick log line carry the reason.`,
        metric: custom(METRIC.failovers, cloudwatch.Stats.SUM),
        ...whileReported,
        comparisonOperator: atLeast,
        evaluationPeriods: 1,
      }),
      recoveryBlocked: alarm('RecoveryBlockedAlarm', {
        alarmDescription: `${label}: no scheduler is healthy and the watchdog will not start one: automatic failover is suppressed (more than maxFailoversPerHour = ${cluster.maxFailoversPerHour} in the last hour), or no node can take it (every node offline in SSM or banned). airflow-watchdog status shows which; fix the cause, then fail over by hand if needed.`,
        metric: custom(METRIC.recoveryBlocked, cloudwatch.Stats.MAXIMUM),
        ...whileReported,
        comparisonOperator: atLeast,
        evaluationPeriods: 1,
        okAction: true,
      }),
      watchdogErrors: alarm('WatchdogErrorsAlarm', {
        alarmDescription: `${label}: a watchdog invocation failed: a tick failed, could not queue the minute's ticks, or ran a node command that failed (scheduled and queued ticks fail their invocation then). See the ERROR lines and the tick line in the function's log group.`,
        metric: errors,
        ...whileReported,
        comparisonOperator: atLeast,
        evaluationPeriods: 1,
      }),
      watchdogNotRunning: alarm('WatchdogNotRunningAlarm', {
        alarmDescription: `${label}: the watchdog function was not invoked for ${props.notRunningMinutes} minute(s) (schedule disabled or deleted, the function cannot be invoked, or every invocation is throttled). Nothing watches the scheduler meanwhile.`,
        metric: fn.metricInvocations({ period: Duration.minutes(props.notRunningMinutes), statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        okAction: true,
      }),
    };

    if (props.dashboard) {
      const logGroupNames = [props.logGroup.logGroupName];
      const logLine = (title: string, queryLines: readonly string[], width: number, view = cloudwatch.LogQueryVisualizationType.LINE) =>
        new cloudwatch.LogQueryWidget({ title, logGroupNames, queryLines: [...queryLines], view, width, height: 6 });
      const incidents = [METRIC.componentsDown, METRIC.failovers, METRIC.recoveryBlocked, METRIC.dbUnreachable].map((name) =>
        custom(name, cloudwatch.Stats.MAXIMUM).with({ label: name }),
      );
      this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
        dashboardName: props.dashboardName,
        defaultInterval: Duration.hours(3),
        widgets: [
          [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 3 })],
          [
            logLine(`Healthy schedulers (desired ${desired})`, QUERIES.healthy, 8),
            logLine(`Newest heartbeat age (s; stale after ${cluster.staleAfterSeconds})`, QUERIES.newestAge, 8),
            logLine('Ticks by verdict (unknown: metadata DB unreachable)', QUERIES.verdicts, 8, cloudwatch.LogQueryVisualizationType.STACKEDAREA),
          ],
          [
            logLine('Heartbeat age per node (s)', QUERIES.heartbeatAge(cluster.nodes), 12),
            logLine('Active node and epoch changes', QUERIES.epochChanges, 12, cloudwatch.LogQueryVisualizationType.TABLE),
          ],
          [
            new cloudwatch.GraphWidget({
              title: 'Incidents (metrics exist only while one lasts)',
              left: incidents,
              leftYAxis: { min: 0 },
              view: cloudwatch.GraphWidgetView.BAR,
              width: 8,
            }),
            logLine('Recent actions and manual requests', QUERIES.actions, 16, cloudwatch.LogQueryVisualizationType.TABLE),
          ],
          [
            new cloudwatch.GraphWidget({
              title: 'Function duration (ms)',
              left: [
                fn.metricDuration({ period: MINUTE, statistic: cloudwatch.Stats.p(50) }).with({ label: 'p50' }),
                fn.metricDuration({ period: MINUTE, statistic: cloudwatch.Stats.MAXIMUM }).with({ label: 'max' }),
              ],
              leftAnnotations: [{ value: props.timeoutSeconds * 1000, label: 'timeout', color: cloudwatch.Color.RED }],
              width: 12,
            }),
            new cloudwatch.GraphWidget({
              title: 'Function invocations, errors, throttles',
              left: [
                fn.metricInvocations({ period: MINUTE, statistic: cloudwatch.Stats.SUM }).with({ label: 'invocations' }),
                errors.with({ label: 'errors' }),
                throttles.with({ label: 'throttles' }),
              ],
              width: 12,
            }),
          ],
        ],
      });
    }
  }
}

export type { WatchdogAlarms, WatchdogMonitoringProps };
export { QUERIES, WatchdogMonitoring };
