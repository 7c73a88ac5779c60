import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { type ClusterConfig, CONFIG_ENV_VAR, type WatchdogSettings } from '../../functions/core/config.js';
import { SCHEDULE_PERIOD_SECONDS, TICK_QUEUE_URL_ENV } from '../../functions/core/limits.js';
import { type FunctionFeatures, functionCode } from './function-code.js';
import { type WatchdogAlarms, WatchdogMonitoring } from './monitoring.js';
import { readNodeScript } from './node-script.js';
import type { AirflowSchedulerWatchdogProps } from './props.js';
import { buildCommandDocuments, NODE_ACTIONS, type NodeAction } from './ssm-documents.js';
import { resolveConfig } from './validation.js';

/** The newest Node.js runtime aws-cdk-lib offers (a test pins that no newer one exists). */
const WATCHDOG_RUNTIME = lambda.Runtime.NODEJS_24_X;
/** Tag put on the SSM documents: which cluster they belong to. */
const CLUSTER_TAG = 'airflow-scheduler-watchdog:cluster';
/** Lambda drops a scheduled event older than this instead of running it late (and never retries one). */
const MAX_EVENT_AGE = Duration.seconds(60);

/**
 * Queued ticks (checks below 60 s) live at most this long: the longest delay is 50 s, and a tick that
 * could not be delivered by then is stale (the handler drops late ones too). Shorter than the visibility
 * timeout, so a message whose invocation failed expires instead of being delivered again.
 */
const TICK_MESSAGE_RETENTION = Duration.seconds(2 * SCHEDULE_PERIOD_SECONDS);

/**
 * EventBridge Scheduler target that uses the role it is given as is. The stock target also grants
 * `lambda:InvokeFunction` on `<function>:*` (every version and alias), which the schedule never needs.
 */
class InvokeWithRoleAsGiven extends targets.LambdaInvoke {
  protected override addTargetActionToRole(_role: iam.IRole): void {}
}

/**
 * The Airflow scheduler watchdog (SPEC §1): a function run every minute that reads scheduler heartbeats
 * from the Airflow metadata DB, coordinates through one DynamoDB item, and starts/stops the scheduler
 * with the project's own SSM Command documents; plus alarms, an SNS topic and a dashboard.
 *
 * Pinned, not props: Node.js 24 (`NODEJS_24_X`, the newest this aws-cdk-lib offers), arm64, code
 * prebuilt into the package (ESM, minified, source maps, SDK bundled; only the parts the configuration
 * loads are deployed), an explicit log group, async invoke with a 60 s maximum event age and 0 retries,
 * an EventBridge Scheduler `rate(1 minute)` schedule (itself 0 retries, 60 s maximum age), below 60 s
 * checks an SQS tick queue (SQS-managed encryption, TLS only), an on-demand table with point-in-time
 * recovery, deletion protection and KMS encryption, and a role with inline least-privilege statements
 * only (no managed policies).
 *
 * Everything is validated in the constructor with the function's own configuration schema; a bad
 * value throws a ConfigError naming the field and the value.
 *
 * @example
 * new AirflowSchedulerWatchdog(this, 'Watchdog', {
 *   cluster: { clusterName: 'prod', nodes: [{ id: 'i-0abc…', hostname: 'ip-10-0-1-10.ec2.internal' }, { id: 'i-0def…', hostname: 'ip-10-0-2-10.ec2.internal' }] },
 *   database: { dialect: 'postgres', host: db.dbInstanceEndpointAddress, databaseName: 'airflow', user: 'watchdog', passwordSecret: secret },
 *   vpc, databaseSecurityGroup: dbSecurityGroup, createVpcEndpoints: true, alarmEmail: 'ops@example.com',
 * });
 */
class AirflowSchedulerWatchdog extends Construct {
  /** The validated cluster configuration (defaults filled in). */
  readonly cluster: ClusterConfig;
  /** The function's configuration (`WATCHDOG_CONFIG`); names of resources are tokens. */
  readonly settings: WatchdogSettings;
  readonly lambdaFunction: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly table: dynamodb.Table;
  readonly documents: Readonly<Record<NodeAction, ssm.CfnDocument>>;
  /** SSM command output (audit), when `commandOutputLogging` is on. */
  readonly commandOutputLogGroup?: logs.LogGroup;
  readonly schedule: scheduler.Schedule;
  /** Below 60 s checks: the queue of the minute's delayed ticks, and its event source mapping. */
  readonly tickQueue?: sqs.Queue;
  readonly tickQueueMapping?: lambda.EventSourceMapping;
  readonly alarmTopic: sns.ITopic;
  readonly alarms: WatchdogAlarms;
  readonly dashboard?: cloudwatch.Dashboard;
  /** The function's network connections when it runs in a VPC (allow them on the DB side). */
  readonly connections?: ec2.Connections;
  /** Function timeout and memory, as derived (see sizing.ts). */
  readonly timeoutSeconds: number;
  readonly memorySizeMiB: number;
  /** The deployed JavaScript files of the function and their size in bytes (undefined when bundling is skipped). */
  readonly codeFiles?: readonly string[];
  readonly codeBytes?: number;

  constructor(scope: Construct, id: string, props: AirflowSchedulerWatchdogProps) {
    super(scope, id);
    const resolved = resolveConfig(props);
    const { cluster } = resolved;
    this.cluster = cluster;
    this.timeoutSeconds = resolved.timeout.timeoutSeconds;
    this.memorySizeMiB = resolved.memorySizeMiB;
    const stack = Stack.of(this);
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    // --- Record table (SPEC §6) ----------------------------------------------------------------
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      ...(props.tableEncryptionKey === undefined
        ? { encryption: dynamodb.TableEncryption.AWS_MANAGED }
        : { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.tableEncryptionKey }),
      removalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    // --- SSM Command documents (SPEC §7) ---------------------------------------------------------
    const contents = buildCommandDocuments({
      script: readNodeScript(),
      executionTimeoutSeconds: cluster.commandTimeoutSeconds,
      defaultUnitName: props.unitName ?? 'airflow-scheduler',
    });
    const docId: Record<NodeAction, string> = { start: 'StartDocument', stop: 'StopDocument', status: 'StatusDocument' };
    const documents = {} as Record<NodeAction, ssm.CfnDocument>;
    for (const action of NODE_ACTIONS) {
      documents[action] = new ssm.CfnDocument(this, docId[action], {
        documentType: 'Command',
        documentFormat: 'JSON',
        content: contents[action],
        tags: [{ key: CLUSTER_TAG, value: cluster.clusterName }],
      });
    }
    this.documents = documents;

    // --- Logs ------------------------------------------------------------------------------------
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention });
    if (props.commandOutputLogging ?? true) {
      this.commandOutputLogGroup = new logs.LogGroup(this, 'CommandOutputLogGroup', { retention });
    }

    this.settings = resolved.settingsFor({
      tableName: this.table.tableName,
      startDocument: documents.start.ref,
      stopDocument: documents.stop.ref,
      statusDocument: documents.status.ref,
      ...(this.commandOutputLogGroup === undefined ? {} : { commandLogGroupName: this.commandOutputLogGroup.logGroupName }),
    });

    const queued = cluster.checkIntervalSeconds < SCHEDULE_PERIOD_SECONDS;

    // --- Network ---------------------------------------------------------------------------------
    let securityGroups: ec2.ISecurityGroup[] | undefined;
    if (props.vpc !== undefined) {
      securityGroups = props.securityGroups ?? [this.securityGroup(props.vpc, resolved.dbPort, props.databaseSecurityGroup !== undefined)];
      this.connections = new ec2.Connections({ securityGroups });
      props.databaseSecurityGroup?.connections.allowFrom(this.connections, ec2.Port.tcp(resolved.dbPort), `Airflow scheduler watchdog ${cluster.clusterName}`);
      if (props.createVpcEndpoints === true) this.createEndpoints(props, this.connections, queued);
    }

    // --- Tick queue (checks below 60 s) -----------------------------------------------------------
    if (queued) {
      this.tickQueue = new sqs.Queue(this, 'TickQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: TICK_MESSAGE_RETENTION,
        // At least the function timeout (Lambda requires it); longer than the retention, so no redelivery.
        visibilityTimeout: Duration.seconds(resolved.timeout.timeoutSeconds),
      });
    }

    // --- Role: inline statements only ------------------------------------------------------------
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Airflow scheduler watchdog ${cluster.clusterName}`,
      inlinePolicies: { Watchdog: new iam.PolicyDocument({ statements: this.policyStatements(props, cluster, props.vpc !== undefined) }) },
    });

    // --- Function --------------------------------------------------------------------------------
    const features: FunctionFeatures = {
      dialect: props.database.dialect,
      passwordSecret: props.database.passwordSecret !== undefined,
      iamAuth: props.database.iamAuthResourceId !== undefined,
      tickQueue: queued,
      ec2Fence: cluster.fenceUnreachable === 'ec2-stop',
    };
    const code = functionCode(features, { bundlingRequired: stack.bundlingRequired });
    if (code.files !== undefined) this.codeFiles = code.files;
    if (code.bytes !== undefined) this.codeBytes = code.bytes;
    this.lambdaFunction = new lambda.Function(this, 'Function', {
      code: code.code,
      handler: 'index.handler',
      runtime: WATCHDOG_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: resolved.memorySizeMiB,
      timeout: Duration.seconds(resolved.timeout.timeoutSeconds),
      description: `Airflow scheduler watchdog for cluster ${cluster.clusterName}`,
      role: this.role,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: resolved.reservedConcurrentExecutions,
      maxEventAge: MAX_EVENT_AGE,
      retryAttempts: 0,
      environment: {
        [CONFIG_ENV_VAR]: stack.toJsonString(this.settings),
        NODE_OPTIONS: '--enable-source-maps',
        // Node 20+ Lambda runtimes no longer trust the RDS CA bundle by default; the runtime ships it here,
        // and the DB adapter verifies server certificates (tls on by default).
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        ...(this.tickQueue === undefined ? {} : { [TICK_QUEUE_URL_ENV]: this.tickQueue.queueUrl }),
      },
      ...(props.vpc === undefined ? {} : { vpc: props.vpc, securityGroups, ...(props.vpcSubnets === undefined ? {} : { vpcSubnets: props.vpcSubnets }) }),
    });
    if (this.tickQueue !== undefined) {
      // Batch size 1: one queued tick per invocation. No maximum concurrency: with it set, Lambda could not
      // scale its pollers down to 2 on a quiet queue, which is what keeps the long polls cheap.
      this.tickQueueMapping = new lambda.EventSourceMapping(this, 'TickQueueMapping', {
        target: this.lambdaFunction,
        eventSourceArn: this.tickQueue.queueArn,
        batchSize: 1,
        // A disabled schedule queues nothing; the mapping stops polling (and costing) too.
        enabled: props.scheduleEnabled ?? true,
      });
    }

    // --- Schedule: every minute ------------------------------------------------------------------
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Airflow scheduler watchdog ${cluster.clusterName}: one tick per minute${queued ? `, which queues the minute's other ${60 / cluster.checkIntervalSeconds - 1}` : ''}`,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      enabled: props.scheduleEnabled ?? true,
      target: new InvokeWithRoleAsGiven(this.lambdaFunction, {
        role: this.scheduleRole(),
        // The shape the function recognises as a scheduled event (functions/core/requests.ts).
        input: scheduler.ScheduleTargetInput.fromObject({
          source: 'aws.scheduler',
          'detail-type': 'Scheduled Event',
          time: scheduler.ContextAttribute.scheduledTime,
          resources: [scheduler.ContextAttribute.scheduleArn],
        }),
        retryAttempts: 0,
        maxEventAge: MAX_EVENT_AGE,
      }),
    });

    // --- Monitoring (SPEC §8) --------------------------------------------------------------------
    const monitoring = new WatchdogMonitoring(this, 'Monitoring', {
      cluster,
      fn: this.lambdaFunction,
      logGroup: this.logGroup,
      timeoutSeconds: resolved.timeout.timeoutSeconds,
      ...(props.alarmTopic === undefined ? {} : { topic: props.alarmTopic }),
      ...(props.alarmEmail === undefined ? {} : { email: props.alarmEmail }),
      schedulerDownMinutes: props.schedulerDownMinutes ?? 3,
      notRunningMinutes: props.notRunningMinutes ?? 5,
      dashboard: props.dashboard ?? true,
      dashboardName: props.dashboardName ?? `AirflowSchedulerWatchdog-${cluster.clusterName.replace(/\./g, '_')}`,
    });
    this.alarmTopic = monitoring.topic;
    this.alarms = monitoring.alarms;
    if (monitoring.dashboard !== undefined) this.dashboard = monitoring.dashboard;

    this.acknowledgeNagFindings(props);
  }

  /**
   * The function's own security group: outbound TCP to the DB port (to the DB's security group when it is
   * given, which adds that rule itself) and HTTPS (the AWS APIs and endpoints), nothing else.
   */
  private securityGroup(vpc: ec2.IVpc, dbPort: number, dbGroupGiven: boolean): ec2.SecurityGroup {
    const sg = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: `Airflow scheduler watchdog ${this.cluster.clusterName}: outbound to the metadata DB port and HTTPS only`,
      allowAllOutbound: false,
    });
    if (!dbGroupGiven) sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(dbPort), 'metadata DB');
    sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (DynamoDB, SSM, SQS, Secrets Manager) and VPC endpoints');
    return sg;
  }

  /** The schedule's role: may invoke this function (unqualified ARN: the schedule calls $LATEST), nothing else. */
  private scheduleRole(): iam.Role {
    const stack = Stack.of(this);
    return new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: {
          'aws:SourceAccount': stack.account,
          'aws:SourceArn': stack.formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: 'default' }),
        },
      }),
      description: `Airflow scheduler watchdog ${this.cluster.clusterName}: schedule invokes the function`,
      inlinePolicies: {
        Invoke: new iam.PolicyDocument({
          statements: [new iam.PolicyStatement({ sid: 'InvokeWatchdog', actions: ['lambda:InvokeFunction'], resources: [this.lambdaFunction.functionArn] })],
        }),
      },
    });
  }

  /**
   * Lets the nodes' instance role write SSM command output to the command output log group (the
   * agent creates a stream per command and instance). No-op when command output logging is off.
   */
  grantCommandOutput(grantee: iam.IGrantable): iam.Grant | undefined {
    const group = this.commandOutputLogGroup;
    if (group === undefined) return undefined;
    iam.Grant.addToPrincipal({ grantee, actions: ['logs:DescribeLogGroups'], resourceArns: ['*'] });
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      resourceArns: [group.logGroupArn],
    });
  }

  /** The role's statements, each scoped as narrowly as the service allows (exact list pinned by test/infra). */
  private policyStatements(props: AirflowSchedulerWatchdogProps, cluster: ClusterConfig, inVpc: boolean): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    const docArn = (d: ssm.CfnDocument) => stack.formatArn({ service: 'ssm', resource: 'document', resourceName: d.ref });
    const statements: iam.PolicyStatement[] = [
      new iam.PolicyStatement({
        sid: 'SendWatchdogDocuments',
        actions: ['ssm:SendCommand'],
        resources: NODE_ACTIONS.map((a) => docArn(this.documents[a])),
      }),
    ];
    if (props.nodeTagKey !== undefined && props.nodeTagValue !== undefined) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'SendToTaggedNodes',
          actions: ['ssm:SendCommand'],
          resources: [
            stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }),
            stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }),
          ],
          conditions: { StringEquals: { [`ssm:resourceTag/${props.nodeTagKey}`]: props.nodeTagValue } },
        }),
      );
    } else {
      statements.push(
        new iam.PolicyStatement({
          sid: 'SendToClusterNodes',
          actions: ['ssm:SendCommand'],
          resources: cluster.nodes.map((n) =>
            n.id.startsWith('mi-')
              ? stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: n.id })
              : stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: n.id }),
          ),
        }),
      );
    }
    const ec2Nodes = cluster.nodes.filter((n) => n.id.startsWith('i-'));
    if (cluster.fenceUnreachable === 'ec2-stop' && ec2Nodes.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          // STONITH: force-stop only the cluster's own instances.
          sid: 'PowerFenceClusterInstances',
          actions: ['ec2:StopInstances'],
          resources: ec2Nodes.map((n) => stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: n.id })),
        }),
        // DescribeInstances has no resource-level permissions (Service Authorization Reference).
        new iam.PolicyStatement({ sid: 'WatchPowerFence', actions: ['ec2:DescribeInstances'], resources: ['*'] }),
      );
    }
    statements.push(
      new iam.PolicyStatement({
        // None of these supports resource-level permissions (Service Authorization Reference).
        sid: 'FollowCommandsAndNodes',
        actions: ['ssm:GetCommandInvocation', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'ClusterRecord',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`cluster#${cluster.clusterName}`] } },
      }),
      ...(this.tickQueue === undefined
        ? []
        : [
            new iam.PolicyStatement({ sid: 'QueueTicks', actions: ['sqs:SendMessage'], resources: [this.tickQueue.queueArn] }),
            new iam.PolicyStatement({
              // What the event source mapping does with the function's role.
              sid: 'ReceiveQueuedTicks',
              actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
              resources: [this.tickQueue.queueArn],
            }),
          ]),
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const db = props.database;
    if (db.passwordParameter !== undefined) {
      statements.push(new iam.PolicyStatement({ sid: 'ReadDbPassword', actions: ['ssm:GetParameter'], resources: [db.passwordParameter.parameterArn] }));
      if (db.passwordParameterEncryptionKey !== undefined) {
        statements.push(
          new iam.PolicyStatement({
            sid: 'DecryptDbPassword',
            actions: ['kms:Decrypt'],
            resources: [db.passwordParameterEncryptionKey.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` } },
          }),
        );
      }
    }
    if (db.passwordSecret !== undefined) {
      const secret = db.passwordSecret;
      statements.push(
        new iam.PolicyStatement({
          sid: 'ReadDbPassword',
          actions: ['secretsmanager:GetSecretValue'],
          // A partial ARN (secret imported by name) matches the secret's 6-character suffix.
          resources: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
        }),
      );
      if (secret.encryptionKey !== undefined) {
        statements.push(
          new iam.PolicyStatement({
            sid: 'DecryptDbPassword',
            actions: ['kms:Decrypt'],
            resources: [secret.encryptionKey.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } },
          }),
        );
      }
    }
    if (db.iamAuthResourceId !== undefined) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'ConnectWithIamAuth',
          actions: ['rds-db:connect'],
          resources: [
            stack.formatArn({
              service: 'rds-db',
              resource: 'dbuser',
              resourceName: `${db.iamAuthResourceId}/${db.user}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
    }
    if (inVpc) {
      statements.push(
        new iam.PolicyStatement({
          // What AWSLambdaVPCAccessExecutionRole grants; EC2 offers no narrower resource for these.
          sid: 'VpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    return statements;
  }

  private createEndpoints(props: AirflowSchedulerWatchdogProps, connections: ec2.Connections, queued: boolean): void {
    const vpc = props.vpc as ec2.IVpc;
    const subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    new ec2.GatewayVpcEndpoint(this, 'DynamoDbEndpoint', { vpc, service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [subnets] });
    const services: [string, ec2.InterfaceVpcEndpointAwsService][] = [['SsmEndpoint', ec2.InterfaceVpcEndpointAwsService.SSM]];
    if (props.database.passwordSecret !== undefined) services.push(['SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER]);
    if (queued) services.push(['SqsEndpoint', ec2.InterfaceVpcEndpointAwsService.SQS]);
    for (const [id, service] of services) {
      const endpoint = new ec2.InterfaceVpcEndpoint(this, id, { vpc, service, subnets, privateDnsEnabled: true, open: false });
      endpoint.connections.allowDefaultPortFrom(connections, `Airflow scheduler watchdog ${props.cluster.clusterName}`);
    }
  }

  /** cdk-nag (AwsSolutions) findings that are deliberate, each with its reason (test/infra pins them). */
  private acknowledgeNagFindings(props: AirflowSchedulerWatchdogProps): void {
    const stack = Stack.of(this);
    if (this.tickQueue !== undefined) {
      Validations.of(this.tickQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          'The tick queue holds only delayed tick messages, which are never retried: a tick whose invocation failed is stale once the next one is due (that one is already queued), so the message expires (retention 120 s, shorter than the visibility timeout) rather than being dead-lettered; the failure itself raises the watchdog-errors alarm.',
      });
    }
    const resourceFinding = (arn: string) => `AwsSolutions-IAM5[Resource::${flattenForNag(stack.resolve(arn))}]`;
    const tag = `ssm:resourceTag/${props.nodeTagKey} = ${props.nodeTagValue}`;
    Validations.of(this.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ssm:GetCommandInvocation, ssm:CancelCommand and ssm:DescribeInstanceInformation (and, in a VPC, the ENI actions Lambda needs; with fenceUnreachable ec2-stop, ec2:DescribeInstances) support no resource-level permissions; SendCommand itself is scoped to the three documents and the nodes, ec2:StopInstances to the cluster\'s instances.',
      },
      ...(props.nodeTagKey !== undefined
        ? [
            {
              id: resourceFinding(stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })),
              reason: `ssm:SendCommand on EC2 instances is limited by the condition ${tag} (nodeTagKey was chosen instead of listing node ids).`,
            },
            {
              id: resourceFinding(stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: '*' })),
              reason: `ssm:SendCommand on hybrid nodes is limited by the condition ${tag} (nodeTagKey was chosen instead of listing node ids).`,
            },
          ]
        : []),
    );
  }
}

/** Renders a resolved CloudFormation value the way cdk-nag names its findings (Ref → <X>, GetAtt → <X.Y>, Join → text). */
const flattenForNag = (value: unknown): string => {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(flattenForNag).join(sep);
    }
    if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as unknown[]).map(flattenForNag).join('.')}>`;
    if ('Ref' in o) return `<${flattenForNag(o.Ref)}>`;
  }
  return JSON.stringify(value);
};

export { AirflowSchedulerWatchdog, CLUSTER_TAG, TICK_MESSAGE_RETENTION, WATCHDOG_RUNTIME };
