import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV_VAR, parseSettings } from '../../functions/core/config.js';
import { METRIC, METRIC_NAMESPACE, TICK_QUEUE_URL_ENV } from '../../functions/core/limits.js';
import { parseRequest } from '../../functions/core/requests.js';
import { QUERIES } from '../../infra/lib/monitoring.js';
import { readNodeScript } from '../../infra/lib/node-script.js';
import { buildCommandDocuments } from '../../infra/lib/ssm-documents.js';
import { AirflowSchedulerWatchdog, WATCHDOG_RUNTIME } from '../../infra/lib/watchdog.js';
import { baseProps, build, ENV, inVpc, newStack, onlyResource, resourcesOf } from './fixtures.js';

/** Renders intrinsics as readable placeholders: `{Ref: X}` → `<X>`, GetAtt → `<X.Attr>`, Join → joined text. */
const flat = (v: unknown, brackets = true): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  const o = v as Record<string, unknown>;
  const ref = (x: string) => (brackets ? `<${x}>` : x);
  if ('Ref' in o) return ref(String(o.Ref));
  if ('Fn::GetAtt' in o) return ref((o['Fn::GetAtt'] as string[]).join('.'));
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => flat(p, brackets)).join(sep);
  }
  throw new Error(`cannot flatten ${JSON.stringify(v)}`);
};
/** Statements with every intrinsic flattened, for exact comparison. */
const flatten = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(flatten);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('Ref' in o || 'Fn::GetAtt' in o || 'Fn::Join' in o) return flat(o);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, flatten(x)]));
  }
  return v;
};
/** ARNs as CDK renders them in the test stacks' environment (ENV): region and account are literal, the partition is not. */
const ARN = (service: string, resource: string) => `arn:<AWS::Partition>:${service}:${ENV.region}:${ENV.account}:${resource}`;

const roleStatements = (template: Template, idPrefix: string): unknown[] => {
  const [id, role] = Object.entries(resourcesOf(template, 'AWS::IAM::Role')).find(([k]) => k.startsWith(idPrefix)) ?? [];
  if (id === undefined || role === undefined) throw new Error(`no role ${idPrefix}`);
  const policies = role.Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[];
  expect(policies).toHaveLength(1);
  return flatten((policies[0] as { PolicyDocument: { Statement: unknown[] } }).PolicyDocument.Statement) as unknown[];
};

const functionOf = (template: Template) => onlyResource(template, 'AWS::Lambda::Function');
const settingsOf = (template: Template) => {
  const env = (functionOf(template).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  // Refs become bare logical ids, which are valid table and document names.
  return parseSettings(JSON.parse(flat(env[CONFIG_ENV_VAR], false)));
};
const logicalId = (template: Template, type: string, prefix: string): string => {
  const id = Object.keys(resourcesOf(template, type)).find((k) => k.startsWith(prefix));
  if (id === undefined) throw new Error(`no ${type} ${prefix}`);
  return id;
};

describe('Class: AirflowSchedulerWatchdog, defaults (no VPC, password in an SSM parameter)', () => {
  const { template, watchdog } = build((stack) => baseProps(stack));
  const tpl = template.toJSON() as { Resources: Record<string, { Type: string }> };
  const ids = {
    table: logicalId(template, 'AWS::DynamoDB::Table', 'WatchdogTable'),
    fn: logicalId(template, 'AWS::Lambda::Function', 'WatchdogFunction'),
    logGroup: logicalId(template, 'AWS::Logs::LogGroup', 'WatchdogLogGroup'),
    commandLogs: logicalId(template, 'AWS::Logs::LogGroup', 'WatchdogCommandOutputLogGroup'),
    start: logicalId(template, 'AWS::SSM::Document', 'WatchdogStartDocument'),
    stop: logicalId(template, 'AWS::SSM::Document', 'WatchdogStopDocument'),
    status: logicalId(template, 'AWS::SSM::Document', 'WatchdogStatusDocument'),
    topic: logicalId(template, 'AWS::SNS::Topic', 'WatchdogMonitoringAlarmTopic'),
  };

  it('runs the newest Node.js runtime aws-cdk-lib offers (≥ 22), on arm64', () => {
    const versions = Object.keys(lambda.Runtime)
      .map((k) => /^NODEJS_(\d+)_X$/.exec(k)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number);
    const newest = Math.max(...versions);
    expect(newest).toBeGreaterThanOrEqual(22);
    expect(WATCHDOG_RUNTIME.name).toBe(`nodejs${newest}.x`);
    template.hasResourceProperties('AWS::Lambda::Function', { Runtime: `nodejs${newest}.x`, Architectures: ['arm64'], Handler: 'index.handler' });
  });

  it('derives memory and timeout, reserves concurrency 3, logs to its own log group with retention', () => {
    const fn = functionOf(template).Properties;
    expect(fn.MemorySize).toBe(128);
    expect(fn.Timeout).toBe(284);
    expect(fn.ReservedConcurrentExecutions).toBe(3);
    expect(flatten(fn.LoggingConfig)).toEqual({ LogGroup: `<${ids.logGroup}>` });
    expect(fn.VpcConfig).toBeUndefined();
    expect(watchdog.timeoutSeconds).toBe(284);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  it('queues no ticks at 60 s checks: no queue, no event source mapping', () => {
    template.resourceCountIs('AWS::SQS::Queue', 0);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    expect(watchdog.tickQueue).toBeUndefined();
  });

  it('never lets scheduled events pile up: max event age 60 s, no retries, on the schedule and on the function', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ids.fn },
      Qualifier: '$LATEST',
      MaximumEventAgeInSeconds: 60,
      MaximumRetryAttempts: 0,
    });
    const schedule = onlyResource(template, 'AWS::Scheduler::Schedule').Properties;
    expect(schedule.ScheduleExpression).toBe('rate(1 minute)');
    expect(schedule.State).toBe('ENABLED');
    expect(schedule.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    const target = schedule.Target as Record<string, unknown>;
    expect(flatten(target.Arn)).toBe(`<${ids.fn}.Arn>`);
    expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 0 });
  });

  it('sends a payload the function recognises as a scheduled event', () => {
    const target = onlyResource(template, 'AWS::Scheduler::Schedule').Properties.Target as { Input: string };
    const input = JSON.parse(target.Input.replace(/<aws\.scheduler\.[a-z-]+>/g, 'x')) as unknown;
    expect(parseRequest(input)).toEqual({ action: 'scheduled' });
  });

  it('passes one WATCHDOG_CONFIG the function accepts, naming the table and documents, with no password', () => {
    const env = (functionOf(template).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env).sort()).toEqual(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', CONFIG_ENV_VAR]);
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
    expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
    const settings = settingsOf(template);
    expect(settings.aws).toEqual({
      tableName: ids.table,
      startDocument: ids.start,
      stopDocument: ids.stop,
      statusDocument: ids.status,
      unitName: 'airflow-scheduler',
      commandLogGroupName: ids.commandLogs,
    });
    expect(settings.db).toMatchObject({ dialect: 'postgres', passwordParameterName: '/airflow/watchdog/db-password', iamAuth: false, tls: true });
    expect(settings.db.password).toBeUndefined();
    expect(settings.cluster).toMatchObject({ clusterName: 'prod', checkIntervalSeconds: 60, commandTimeoutSeconds: 60, leaseSeconds: 90 });
  });

  it('has an on-demand table with point-in-time recovery, deletion protection and KMS encryption, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('creates the start, stop and status Command documents from the node script', () => {
    const expected = buildCommandDocuments({ script: readNodeScript(), executionTimeoutSeconds: 60, defaultUnitName: 'airflow-scheduler' });
    for (const [action, id] of [
      ['start', ids.start],
      ['stop', ids.stop],
      ['status', ids.status],
    ] as const) {
      const doc = (tpl.Resources[id] as unknown as { Properties: Record<string, unknown> }).Properties;
      expect(doc.DocumentType).toBe('Command');
      expect(doc.DocumentFormat).toBe('JSON');
      expect(doc.Content).toEqual(expected[action]);
      expect(doc.Tags).toEqual([{ Key: 'airflow-scheduler-watchdog:cluster', Value: 'prod' }]);
    }
    template.resourceCountIs('AWS::SSM::Document', 3);
  });

  it('never mentions AWS-RunShellScript', () => {
    expect(JSON.stringify(tpl)).not.toContain('AWS-RunShellScript');
  });

  it('gives the function exactly these IAM statements, as inline policy of its own role', () => {
    expect(roleStatements(template, 'WatchdogRole')).toEqual([
      {
        Sid: 'SendWatchdogDocuments',
        Effect: 'Allow',
        Action: 'ssm:SendCommand',
        Resource: [ARN('ssm', `document/<${ids.start}>`), ARN('ssm', `document/<${ids.stop}>`), ARN('ssm', `document/<${ids.status}>`)],
      },
      {
        Sid: 'SendToClusterNodes',
        Effect: 'Allow',
        Action: 'ssm:SendCommand',
        Resource: [ARN('ec2', 'instance/i-0123456789abcdef0'), ARN('ssm', 'managed-instance/mi-0123456789abcdef0')],
      },
      {
        Sid: 'FollowCommandsAndNodes',
        Effect: 'Allow',
        Action: ['ssm:GetCommandInvocation', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation'],
        Resource: '*',
      },
      {
        Sid: 'ClusterRecord',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        Resource: `<${ids.table}.Arn>`,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['cluster#prod'] } },
      },
      { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `<${ids.logGroup}.Arn>` },
      { Sid: 'ReadDbPassword', Effect: 'Allow', Action: 'ssm:GetParameter', Resource: ARN('ssm', 'parameter/airflow/watchdog/db-password') },
    ]);
    const role = Object.values(resourcesOf(template, 'AWS::IAM::Role')).find(
      (r) =>
        (r.Properties.AssumeRolePolicyDocument as { Statement: { Principal: { Service: string } }[] }).Statement[0]?.Principal.Service ===
        'lambda.amazonaws.com',
    );
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.resourceCountIs('AWS::IAM::Role', 2);
  });

  it('lets the schedule invoke the function and nothing else', () => {
    expect(roleStatements(template, 'WatchdogScheduleRole')).toEqual([
      { Sid: 'InvokeWatchdog', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: `<${ids.fn}.Arn>` },
    ]);
    const role = Object.entries(resourcesOf(template, 'AWS::IAM::Role')).find(([k]) => k.startsWith('WatchdogScheduleRole'))?.[1];
    expect(flatten(role?.Properties.AssumeRolePolicyDocument)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': ENV.account, 'aws:SourceArn': ARN('scheduler', 'schedule-group/default') } },
        },
      ],
    });
  });

  it('creates an SSL-only alarm topic that CloudWatch alarms of this account may publish to, and no subscription', () => {
    const policy = onlyResource(template, 'AWS::SNS::TopicPolicy').Properties;
    expect(flatten((policy.PolicyDocument as { Statement: unknown }).Statement)).toEqual([
      {
        Sid: 'AllowPublishThroughSSLOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: `<${ids.topic}>`,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'AllowCloudWatchAlarms',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: `<${ids.topic}>`,
        Condition: { StringEquals: { 'aws:SourceAccount': ENV.account }, ArnLike: { 'aws:SourceArn': ARN('cloudwatch', 'alarm:*') } },
      },
    ]);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  const custom = (name: string) => ({ Namespace: METRIC_NAMESPACE, MetricName: name, Dimensions: [{ Name: 'ClusterName', Value: 'prod' }] });
  const incident = { Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' };
  it.each([
    ['scheduler down', { ...custom(METRIC.componentsDown), ...incident, Statistic: 'Maximum', Period: 60, EvaluationPeriods: 3, DatapointsToAlarm: 3 }],
    ['failover happened', { ...custom(METRIC.failovers), ...incident, Statistic: 'Sum', Period: 60, EvaluationPeriods: 1 }],
    ['recovery blocked (suppressed or no candidate)', { ...custom(METRIC.recoveryBlocked), ...incident, Statistic: 'Maximum', EvaluationPeriods: 1 }],
    ['watchdog errors', { Namespace: 'AWS/Lambda', MetricName: 'Errors', ...incident, Statistic: 'Sum', Period: 60, EvaluationPeriods: 1 }],
    [
      'watchdog not running',
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Invocations',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      },
    ],
  ])('alarms on %s, notifying the topic', (_name, props) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...props, AlarmActions: [{ Ref: ids.topic }] });
  });

  it('has five alarms, each reading one metric (an alarm is billed per metric it reads)', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    for (const a of Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'))) {
      expect(a.Properties.Metrics).toBeUndefined();
      expect(a.Properties.MetricName).toBeDefined();
    }
    expect(Object.keys(watchdog.alarms).sort()).toEqual([
      'failoverHappened',
      'recoveryBlocked',
      'schedulerDown',
      'watchdogErrors',
      'watchdogNotRunning',
    ]);
  });

  it('draws the dashboard from log lines and incident metrics: heartbeat age per node, epoch changes, actions, verdicts, duration and errors', () => {
    const dash = onlyResource(template, 'AWS::CloudWatch::Dashboard').Properties;
    expect(dash.DashboardName).toBe('AirflowSchedulerWatchdog-prod');
    const body = JSON.parse(flat(dash.DashboardBody)) as { widgets: { type: string; properties: Record<string, unknown> }[] };
    const titles = body.widgets.map((w) => w.properties.title);
    expect(titles).toEqual([
      'Alarms',
      'Healthy schedulers (desired 1)',
      'Newest heartbeat age (s; stale after 30)',
      'Ticks by verdict (unknown: metadata DB unreachable)',
      'Heartbeat age per node (s)',
      'Active node and epoch changes',
      'Incidents (metrics exist only while one lasts)',
      'Recent actions and manual requests',
      'Function duration (ms)',
      'Function invocations, errors, throttles',
    ]);
    const logWidgets = body.widgets.filter((w) => w.type === 'log');
    expect(logWidgets).toHaveLength(6);
    for (const w of logWidgets) expect(w.properties.query).toContain(`SOURCE '<${ids.logGroup}>'`);
    expect(logWidgets[3]?.properties.query).toContain('stats max(nodes.0.ageSeconds) as `i-0123456789abcdef0`, max(nodes.1.ageSeconds) as `mi-0123456789abcdef0` by bin(1m)');
    expect(logWidgets[3]?.properties.query).toContain(QUERIES.heartbeatAge([{ id: 'i-0123456789abcdef0' }, { id: 'mi-0123456789abcdef0' }]).join('\n| '));
    const text = JSON.stringify(body);
    for (const m of [METRIC.componentsDown, METRIC.failovers, METRIC.recoveryBlocked, METRIC.dbUnreachable]) expect(text).toContain(`"${m}"`);
  });
});

describe('Class: AirflowSchedulerWatchdog, in a VPC with endpoints, a secret by name, tag-scoped nodes, 15 s checks', () => {
  const { template } = build((stack) => {
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0abc',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-a', 'subnet-b'],
      privateSubnetRouteTableIds: ['rtb-a', 'rtb-b'],
    });
    const base = inVpc(baseProps(stack), vpc);
    return {
      ...base,
      cluster: { ...base.cluster, checkIntervalSeconds: 15 },
      database: {
        ...base.database,
        passwordParameter: undefined,
        passwordSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'airflow/watchdog-db'),
      },
      databaseSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(stack, 'DbSg', 'sg-0db'),
      createVpcEndpoints: true,
      nodeTagKey: 'airflow-cluster',
      nodeTagValue: 'prod',
      alarmEmail: 'oncall@example.com',
    };
  }, 'Vpc');
  const sg = logicalId(template, 'AWS::EC2::SecurityGroup', 'WatchdogSecurityGroup');

  it('runs in the VPC with its own security group, whose only egress is the DB port and HTTPS', () => {
    const fn = functionOf(template).Properties;
    expect(flatten(fn.VpcConfig)).toEqual({ SecurityGroupIds: [`<${sg}.GroupId>`], SubnetIds: ['subnet-a', 'subnet-b'] });
    // Inline: HTTPS anywhere (the AWS APIs); the DB port only towards the DB's security group.
    const group = resourcesOf(template, 'AWS::EC2::SecurityGroup')[sg]?.Properties ?? {};
    expect(
      (group.SecurityGroupEgress as { IpProtocol: string; FromPort: number; ToPort: number; CidrIp: string }[]).map((r) => [
        r.IpProtocol,
        r.FromPort,
        r.ToPort,
        r.CidrIp,
      ]),
    ).toEqual([['tcp', 443, 443, '0.0.0.0/0']]);
    const egress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupEgress'))
      .filter((r) => JSON.stringify(r.Properties.GroupId).includes(sg))
      .map((r) => [r.Properties.IpProtocol, r.Properties.FromPort, r.Properties.ToPort, flatten(r.Properties.DestinationSecurityGroupId)]);
    expect(egress).toContainEqual(['tcp', 5432, 5432, 'sg-0db']);
    for (const [proto, from, to] of egress) expect([proto, from, to]).toEqual(from === 5432 ? ['tcp', 5432, 5432] : ['tcp', 443, 443]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0db',
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: { 'Fn::GetAtt': [sg, 'GroupId'] },
    });
  });

  it('creates a free DynamoDB gateway endpoint and SSM, Secrets Manager and SQS interface endpoints open only to the function', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', RouteTableIds: ['rtb-a', 'rtb-b'], ServiceName: Match.anyValue() });
    const interfaces = Object.values(resourcesOf(template, 'AWS::EC2::VPCEndpoint')).filter((e) => e.Properties.VpcEndpointType === 'Interface');
    expect(interfaces.map((e) => flatten(e.Properties.ServiceName)).sort()).toEqual([
      'com.amazonaws.eu-west-1.secretsmanager',
      'com.amazonaws.eu-west-1.sqs',
      'com.amazonaws.eu-west-1.ssm',
    ]);
    for (const e of interfaces) expect(e.Properties.PrivateDnsEnabled).toBe(true);
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties.FromPort === 443);
    expect(ingress).toHaveLength(3);
    for (const r of ingress) expect(r.Properties.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [sg, 'GroupId'] });
  });

  it('keeps memory and timeout of one tick at 15 s checks: 128 MiB, 273.25 + 10 → 284 s', () => {
    expect(functionOf(template).Properties.MemorySize).toBe(128);
    expect(functionOf(template).Properties.Timeout).toBe(284);
  });

  it('queues the minute’s other ticks: an encrypted, TLS-only queue whose messages expire before they could be delivered twice', () => {
    const queue = onlyResource(template, 'AWS::SQS::Queue');
    expect(queue.Properties).toEqual({ MessageRetentionPeriod: 120, SqsManagedSseEnabled: true, VisibilityTimeout: 284 });
    const policy = onlyResource(template, 'AWS::SQS::QueuePolicy').Properties;
    expect(JSON.stringify(policy)).toContain('"aws:SecureTransport":"false"');
    const mapping = onlyResource(template, 'AWS::Lambda::EventSourceMapping').Properties;
    expect(flatten(mapping)).toEqual({
      BatchSize: 1,
      Enabled: true,
      EventSourceArn: `<${queue.id}.Arn>`,
      FunctionName: `<${logicalId(template, 'AWS::Lambda::Function', 'WatchdogFunction')}>`,
    });
    const env = (functionOf(template).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(flatten(env[TICK_QUEUE_URL_ENV])).toBe(`<${queue.id}>`);
    expect(onlyResource(template, 'AWS::Scheduler::Schedule').Properties.ScheduleExpression).toBe('rate(1 minute)');
  });

  it('scopes SendCommand to tagged nodes, reads the one secret, and may manage its network interfaces', () => {
    const statements = roleStatements(template, 'WatchdogRole') as { Sid: string }[];
    expect(statements.map((s) => s.Sid)).toEqual([
      'SendWatchdogDocuments',
      'SendToTaggedNodes',
      'FollowCommandsAndNodes',
      'ClusterRecord',
      'QueueTicks',
      'ReceiveQueuedTicks',
      'WriteOwnLogs',
      'ReadDbPassword',
      'VpcNetworkInterfaces',
    ]);
    const queue = `<${logicalId(template, 'AWS::SQS::Queue', 'WatchdogTickQueue')}.Arn>`;
    expect(statements.slice(4, 6)).toEqual([
      { Sid: 'QueueTicks', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue },
      {
        Sid: 'ReceiveQueuedTicks',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
        Resource: queue,
      },
    ]);
    expect(statements[1]).toEqual({
      Sid: 'SendToTaggedNodes',
      Effect: 'Allow',
      Action: 'ssm:SendCommand',
      Resource: [ARN('ec2', 'instance/*'), ARN('ssm', 'managed-instance/*')],
      Condition: { StringEquals: { 'ssm:resourceTag/airflow-cluster': 'prod' } },
    });
    expect(statements[7]).toEqual({
      Sid: 'ReadDbPassword',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: `${ARN('secretsmanager', 'secret:airflow/watchdog-db')}-??????`,
    });
    expect(statements[8]).toEqual({
      Sid: 'VpcNetworkInterfaces',
      Effect: 'Allow',
      Action: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: '*',
    });
    expect(settingsOf(template).db.passwordSecretId).toBe('airflow/watchdog-db');
  });

  it('subscribes the e-mail address to the alarm topic', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });
});

describe('Class: AirflowSchedulerWatchdog, RDS IAM auth on MySQL, own topic and key, no dashboard or command output', () => {
  const { template } = build((stack) => {
    const base = baseProps(stack);
    return {
      ...base,
      database: { ...base.database, dialect: 'mysql', passwordParameter: undefined, iamAuthResourceId: 'db-ABCDEFGHIJKLMNOP' },
      alarmTopic: sns.Topic.fromTopicArn(stack, 'Ops', 'arn:aws:sns:eu-west-1:123456789012:ops'),
      tableEncryptionKey: new kms.Key(stack, 'TableKey', { enableKeyRotation: true }),
      dashboard: false,
      commandOutputLogging: false,
      scheduleEnabled: false,
      cluster: { ...base.cluster, checkIntervalSeconds: 30 },
    };
  }, 'IamAuth');

  it('may connect as the DB user with rds-db:connect, and reads no password', () => {
    const statements = roleStatements(template, 'WatchdogRole') as { Sid: string }[];
    expect(statements.map((s) => s.Sid)).toEqual([
      'SendWatchdogDocuments',
      'SendToClusterNodes',
      'FollowCommandsAndNodes',
      'ClusterRecord',
      'QueueTicks',
      'ReceiveQueuedTicks',
      'WriteOwnLogs',
      'ConnectWithIamAuth',
    ]);
    expect(statements[7]).toEqual({
      Sid: 'ConnectWithIamAuth',
      Effect: 'Allow',
      Action: 'rds-db:connect',
      Resource: ARN('rds-db', 'dbuser:db-ABCDEFGHIJKLMNOP/watchdog'),
    });
    const settings = settingsOf(template);
    expect(settings.db).toMatchObject({ dialect: 'mysql', iamAuth: true, tls: true });
    expect(settings.aws.commandLogGroupName).toBeUndefined();
  });

  it('uses the given topic, the customer key, no dashboard, one log group, a disabled schedule', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:ops'] });
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    // A disabled schedule queues nothing; the queue's mapping does not poll either.
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { Enabled: false });
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() } });
  });
});

describe('Class: AirflowSchedulerWatchdog, passwords under customer-managed keys', () => {
  it('decrypts a secret’s key only through Secrets Manager', () => {
    const { template } = build((stack) => {
      const base = baseProps(stack);
      const secret = new secretsmanager.Secret(stack, 'DbSecret', { encryptionKey: new kms.Key(stack, 'SecretKey', { enableKeyRotation: true }) });
      return { ...base, database: { ...base.database, passwordParameter: undefined, passwordSecret: secret } };
    }, 'SecretKey');
    const statements = roleStatements(template, 'WatchdogRole') as { Sid: string }[];
    expect(statements.slice(-2)).toEqual([
      {
        Sid: 'ReadDbPassword',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: `<${logicalId(template, 'AWS::SecretsManager::Secret', 'DbSecret')}>`,
      },
      {
        Sid: 'DecryptDbPassword',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: `<${logicalId(template, 'AWS::KMS::Key', 'SecretKey')}.Arn>`,
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
      },
    ]);
  });

  it('decrypts a parameter’s key only through SSM', () => {
    const { template } = build((stack) => {
      const base = baseProps(stack);
      return {
        ...base,
        database: { ...base.database, passwordParameterEncryptionKey: kms.Key.fromKeyArn(stack, 'PwKey', 'arn:aws:kms:eu-west-1:123456789012:key/abcd') },
      };
    }, 'ParamKey');
    const statements = roleStatements(template, 'WatchdogRole') as { Sid: string }[];
    expect(statements.at(-1)).toEqual({
      Sid: 'DecryptDbPassword',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: 'arn:aws:kms:eu-west-1:123456789012:key/abcd',
      Condition: { StringEquals: { 'kms:ViaService': 'ssm.eu-west-1.amazonaws.com' } },
    });
  });
});

describe('Method: grantCommandOutput', () => {
  it('lets a node role write command output to the command log group only', () => {
    const stack = newStack('Grant');
    const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', baseProps(stack));
    const nodeRole = new iam.Role(stack, 'NodeRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    watchdog.grantCommandOutput(nodeRole);
    const template = Template.fromStack(stack);
    const policy = onlyResource(template, 'AWS::IAM::Policy').Properties;
    const group = logicalId(template, 'AWS::Logs::LogGroup', 'WatchdogCommandOutputLogGroup');
    expect(flatten((policy.PolicyDocument as { Statement: unknown }).Statement)).toEqual([
      { Effect: 'Allow', Action: 'logs:DescribeLogGroups', Resource: '*' },
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'], Resource: `<${group}.Arn>` },
    ]);
  });
});
