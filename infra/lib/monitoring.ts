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
import { METRIC, METRIC_NAMESPACE } from '../../functions/runtime/telemetry.js';

/**
 * Alarms, SNS topic and dashboard (SPEC §8), with plain CloudWatch constructs. Metric names and the
 * namespace come from the function's telemetry module, so the alarms cannot drift from what it emits.
 * Per-node heartbeat age is not a metric (each custom metric costs money): the dashboard reads it from
 * the function's `heartbeat` log lines with Logs Insights, and active node / epoch changes and actions
 * from its `tick` lines.
 */

interface WatchdogMonitoringProps {
  readonly cluster: ClusterConfig;
  readonly fn: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  readonly timeoutSeconds: number;
  readonly topic?: sns.ITopic;
  readonly email?: string;
  readonly schedulerDownMinutes: number;
  readonly dbUnreachableMinutes: number;
  readonly notRunningMinutes: number;
  readonly dashboard: boolean;
  readonly dashboardName: string;
}

/** The alarms, by name. */
interface WatchdogAlarms {
  readonly schedulerDown: cloudwatch.Alarm;
  readonly failoverHappened: cloudwatch.Alarm;
  readonly failoverSuppressed: cloudwatch.Alarm;
  readonly noCandidate: cloudwatch.Alarm;
  readonly dbUnreachable: cloudwatch.Alarm;
  readonly watchdogErrors: cloudwatch.Alarm;
  readonly watchdogNotRunning: cloudwatch.Alarm;
}

const MINUTE = Duration.minutes(1);

/** Logs Insights queries on the function's JSON log lines (Powertools Logger: the text is `message`). */
const QUERIES = {
  heartbeatAge: ['filter message = "heartbeat"', 'stats max(ageSeconds) as ageSeconds by bin(1m), nodeId'],
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
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName, dimensionsMap: { ClusterName: cluster.clusterName }, statistic, period });

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

    const healthy = custom(METRIC.healthy, cloudwatch.Stats.MAXIMUM);
    const dbReachable = custom(METRIC.dbReachable, cloudwatch.Stats.MAXIMUM);
    const errors = fn.metricErrors({ period: MINUTE, statistic: cloudwatch.Stats.SUM });
    const throttles = fn.metricThrottles({ period: MINUTE, statistic: cloudwatch.Stats.SUM });
    const failed = custom(METRIC.failedActions, cloudwatch.Stats.SUM);

    this.alarms = {
      schedulerDown: alarm('SchedulerDownAlarm', {
        alarmDescription: `${label}: fewer than ${desired} healthy scheduler(s) for ${props.schedulerDownMinutes} consecutive minute(s), or no data (the watchdog did not report, or the metadata DB was unreachable). The watchdog normally recovers within staleAfterSeconds + one check + the start time; see the dashboard and the function's 'tick' log lines.`,
        metric: healthy,
        threshold: desired,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: props.schedulerDownMinutes,
        datapointsToAlarm: props.schedulerDownMinutes,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        okAction: true,
      }),
      failoverHappened: alarm('FailoverAlarm', {
        alarmDescription: `${label}: the watchdog failed the scheduler over to another node. The tick log line carries the reason.`,
        metric: custom(METRIC.failovers, cloudwatch.Stats.SUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      failoverSuppressed: alarm('FailoverSuppressedAlarm', {
        alarmDescription: `${label}: automatic failover is suppressed (more than maxFailoversPerHour = ${cluster.maxFailoversPerHour} in the last hour). The scheduler may be down; fix the cause, then fail over by hand if needed.`,
        metric: custom(METRIC.suppressed, cloudwatch.Stats.SUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        okAction: true,
      }),
      noCandidate: alarm('NoCandidateAlarm', {
        alarmDescription: `${label}: no node can take the scheduler (every node is offline in SSM, banned after repeated failed starts, or already tried).`,
        metric: custom(METRIC.noCandidate, cloudwatch.Stats.SUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        okAction: true,
      }),
      dbUnreachable: alarm('DbUnreachableAlarm', {
        alarmDescription: `${label}: the watchdog could not reach the Airflow metadata DB for ${props.dbUnreachableMinutes} consecutive minute(s). It takes no action while the DB is unreachable (never fails over because of a DB outage).`,
        metric: dbReachable,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: props.dbUnreachableMinutes,
        datapointsToAlarm: props.dbUnreachableMinutes,
        // Absence of data is "watchdog not running", a separate alarm.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        okAction: true,
      }),
      watchdogErrors: alarm('WatchdogErrorsAlarm', {
        alarmDescription: `${label}: the watchdog function failed (Lambda errors or throttles) or a node command failed (FailedActions). See the function's log group.`,
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(errors, 0) + FILL(throttles, 0) + FILL(failed, 0)',
          usingMetrics: { errors, throttles, failed },
          label: 'errors + throttles + failed actions',
          period: MINUTE,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      watchdogNotRunning: alarm('WatchdogNotRunningAlarm', {
        alarmDescription: `${label}: the watchdog function was not invoked for ${props.notRunningMinutes} minute(s) (schedule disabled or deleted, or the function cannot be invoked). Nothing watches the scheduler meanwhile.`,
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
      const actionMetrics = [METRIC.failovers, METRIC.restarts, METRIC.duplicateStops, METRIC.failedActions, METRIC.suppressed, METRIC.noCandidate].map(
        (name) => custom(name, cloudwatch.Stats.SUM).with({ label: name }),
      );
      this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
        dashboardName: props.dashboardName,
        defaultInterval: Duration.hours(3),
        widgets: [
          [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 3 })],
          [
            new cloudwatch.GraphWidget({
              title: 'Healthy schedulers',
              left: [
                healthy.with({ label: 'healthy (max per minute)' }),
                custom(METRIC.healthy, cloudwatch.Stats.MINIMUM).with({ label: 'healthy (min per minute)' }),
              ],
              leftAnnotations: [{ value: desired, label: 'desired', color: cloudwatch.Color.GREEN }],
              leftYAxis: { min: 0 },
              width: 8,
            }),
            new cloudwatch.GraphWidget({
              title: 'Newest heartbeat age (s)',
              left: [custom(METRIC.newestAge, cloudwatch.Stats.MAXIMUM).with({ label: 'newest heartbeat age' })],
              leftAnnotations: [{ value: cluster.staleAfterSeconds, label: 'staleAfterSeconds', color: cloudwatch.Color.RED }],
              leftYAxis: { min: 0 },
              width: 8,
            }),
            new cloudwatch.GraphWidget({
              title: 'Metadata DB reachable',
              left: [custom(METRIC.dbReachable, cloudwatch.Stats.MINIMUM).with({ label: 'reachable (min per minute)' })],
              leftYAxis: { min: 0, max: 1 },
              width: 8,
            }),
          ],
          [
            new cloudwatch.LogQueryWidget({
              title: 'Heartbeat age per node (s)',
              logGroupNames,
              queryLines: [...QUERIES.heartbeatAge],
              view: cloudwatch.LogQueryVisualizationType.LINE,
              width: 12,
              height: 6,
            }),
            new cloudwatch.LogQueryWidget({
              title: 'Active node and epoch changes',
              logGroupNames,
              queryLines: [...QUERIES.epochChanges],
              view: cloudwatch.LogQueryVisualizationType.TABLE,
              width: 12,
              height: 6,
            }),
          ],
          [
            new cloudwatch.GraphWidget({ title: 'Actions per minute', left: actionMetrics, stacked: true, view: cloudwatch.GraphWidgetView.BAR, width: 8 }),
            new cloudwatch.LogQueryWidget({
              title: 'Recent actions and manual requests',
              logGroupNames,
              queryLines: [...QUERIES.actions],
              view: cloudwatch.LogQueryVisualizationType.TABLE,
              width: 16,
              height: 6,
            }),
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
