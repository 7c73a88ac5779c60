import type { Stack } from 'aws-cdk-lib';
import { Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/core/errors.js';
import type { AirflowSchedulerWatchdogProps } from '../../infra/lib/props.js';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';
import { baseProps, NODES, newStack } from './fixtures.js';

/**
 * Bad props, each throwing at synth (in the constructor) with a message naming the field and the value.
 * The cluster rows go through the function's own parseClusterConfig; the others are the construct's.
 */

type Mutate = (stack: Stack, p: AirflowSchedulerWatchdogProps) => AirflowSchedulerWatchdogProps;
const cluster =
  (c: Record<string, unknown>): Mutate =>
  (_s, p) => ({ ...p, cluster: { ...p.cluster, ...c } as AirflowSchedulerWatchdogProps['cluster'] });
const database =
  (d: Record<string, unknown>): Mutate =>
  (_s, p) => ({ ...p, database: { ...p.database, ...d } as AirflowSchedulerWatchdogProps['database'] });
const top =
  (o: Record<string, unknown>): Mutate =>
  (_s, p) =>
    ({ ...p, ...o }) as AirflowSchedulerWatchdogProps;
const vpcOf = (stack: Stack, routeTables = true) =>
  ec2.Vpc.fromVpcAttributes(stack, `Vpc${stack.node.children.length}`, {
    vpcId: 'vpc-1234',
    availabilityZones: ['eu-west-1a'],
    privateSubnetIds: ['subnet-1'],
    ...(routeTables ? { privateSubnetRouteTableIds: ['rtb-1'] } : {}),
  });
const secretOf = (stack: Stack) => secretsmanager.Secret.fromSecretNameV2(stack, `S${stack.node.children.length}`, 'airflow/db');

const BAD: [string, Mutate, string][] = [
  // cluster (the function's schema)
  ['no nodes', cluster({ nodes: [] }), 'nodes: needs at least one node'],
  ['a duplicate node id', cluster({ nodes: [NODES[0], { ...NODES[0], hostname: 'other' }] }), 'nodes[1].id: duplicate node id "i-0123456789abcdef0"'],
  [
    'a duplicate hostname',
    cluster({ nodes: [NODES[0], { id: 'i-0aaaaaaaaaaaaaaaa', hostname: NODES[0].hostname }] }),
    'nodes[1].hostname: duplicate hostname "ip-10-0-1-10.ec2.internal"',
  ],
  ['a malformed instance id', cluster({ nodes: [{ id: 'i-12345', hostname: 'a' }] }), 'nodes[0].id: must be an EC2 instance id'],
  ['an instance id in upper case', cluster({ nodes: [{ id: 'i-0123456789ABCDEF0', hostname: 'a' }] }), '(got "i-0123456789ABCDEF0")'],
  ['desiredSchedulers above the node count', cluster({ mode: 'multi', desiredSchedulers: 3 }), 'desiredSchedulers: 3 exceeds the 2 configured node(s)'],
  [
    'desiredSchedulers in single mode',
    cluster({ desiredSchedulers: 2 }),
    'desiredSchedulers: only meaningful in multi mode; single mode runs exactly 1 (got 2)',
  ],
  [
    'a check interval not dividing 60',
    cluster({ checkIntervalSeconds: 25 }),
    'checkIntervalSeconds: must be 60, or 10–30 and divide 60 (10, 12, 15, 20, 30) (got 25)',
  ],
  ['a check interval above a minute', cluster({ checkIntervalSeconds: 120 }), '(got 120)'],
  [
    'a lease not above the longest step',
    cluster({ leaseSeconds: 60 }),
    'leaseSeconds: must exceed the longest step under the lease, one command plus a write: at least commandTimeoutSeconds + 15 = 75 (got 60)',
  ],
  ['a command timeout SSM refuses', cluster({ commandTimeoutSeconds: 20 }), 'commandTimeoutSeconds: SSM accepts at least 30 (got 20)'],
  ['staleAfterSeconds below Airflow’s heartbeat lag', cluster({ staleAfterSeconds: 10 }), 'staleAfterSeconds: must be at least 15'],
  ['a grace shorter than one check', cluster({ startupGraceSeconds: 30 }), 'startupGraceSeconds: must be at least checkIntervalSeconds (60)'],
  ['an unknown cluster field', cluster({ staleAfter: 30 }), 'unknown field(s) "staleAfter"'],
  ['a bad cluster name', cluster({ clusterName: 'prod cluster' }), 'clusterName: must be 1–64 characters'],
  [
    'compressedTimings in a deployment',
    cluster({ compressedTimings: true }),
    'cluster.compressedTimings: for local demos and benchmarks only; never in a deployment (got true)',
  ],
  [
    'an invocation longer than Lambda allows',
    cluster({ commandTimeoutSeconds: 295, leaseSeconds: 320 }),
    "cluster.commandTimeoutSeconds: a worst-case tick (db-watch 55 s + observe 10 s + evidence 23.25 s + commands 885 s + writes 5 s) plus 10 s needs a 989 s timeout, above Lambda's 900 s; lower commandTimeoutSeconds or the DB timeouts (got commandTimeoutSeconds 295)",
  ],
  // database
  [
    'no password source',
    (_s, p) => ({ ...p, database: { ...p.database, passwordParameter: undefined } }),
    'database: exactly one password source is required, passwordParameter, passwordSecret or iamAuthResourceId (got none)',
  ],
  ['two password sources', (s, p) => ({ ...p, database: { ...p.database, passwordSecret: secretOf(s) } }), '(got passwordParameter and passwordSecret)'],
  ['a literal password', database({ password: 'hunter2' }), 'database: unknown field(s) "password" (a literal password never goes into a deployment'],
  [
    'an RDS resource id that is a name',
    (_s, p) => ({ ...p, database: { ...p.database, passwordParameter: undefined, iamAuthResourceId: 'my-db' } }),
    'database.iamAuthResourceId: must be a DB instance or cluster resource id (db-… or cluster-…), not a name or ARN (got "my-db")',
  ],
  [
    'IAM auth without TLS',
    (s, p) => ({
      ...p,
      publicDatabase: undefined,
      vpc: vpcOf(s),
      database: { ...p.database, passwordParameter: undefined, iamAuthResourceId: 'db-ABCDEFGHIJKL', tls: false },
    }),
    'db.tls: RDS IAM authentication requires TLS (got false)',
  ],
  [
    'a key without a parameter',
    (s, p) => ({
      ...p,
      database: {
        ...p.database,
        passwordParameter: undefined,
        passwordSecret: secretOf(s),
        passwordParameterEncryptionKey: kms.Key.fromKeyArn(s, 'K', 'arn:aws:kms:eu-west-1:123456789012:key/1'),
      },
    }),
    'database.passwordParameterEncryptionKey: only meaningful with passwordParameter',
  ],
  ['a port out of range', database({ port: 70000 }), 'db.port: '],
  ['a connect timeout above 30 s', database({ connectTimeoutSeconds: 60 }), 'db.connectTimeoutSeconds: '],
  ['a schema that is not an identifier', database({ schema: 'air flow' }), 'db.schema: must be a plain SQL identifier (got "air flow")'],
  // construct-level
  ['a bad unit name', top({ unitName: 'airflow scheduler' }), 'unitName: must match ^[A-Za-z0-9@._-]{1,64}$ (got "airflow scheduler")'],
  [
    'a tag key without a value',
    top({ nodeTagKey: 'airflow-cluster' }),
    'nodeTagKey/nodeTagValue: give both or neither (got nodeTagKey "airflow-cluster", nodeTagValue undefined)',
  ],
  [
    'an aws: tag key',
    top({ nodeTagKey: 'aws:cloudformation:stack-name', nodeTagValue: 'x' }),
    'nodeTagKey: must be a tag key of 1–128 characters, not starting with aws: (got "aws:cloudformation:stack-name")',
  ],
  [
    'reserved concurrency 1',
    top({ reservedConcurrentExecutions: 1 }),
    'reservedConcurrentExecutions: must be an integer from 2 to 1000; 1 would let a tick that runs node commands throttle manual invocations and the next ticks (got 1)',
  ],
  ['memory below Lambda’s minimum', top({ memorySizeMiB: 64 }), 'memorySizeMiB: must be an integer from 128 to 10240 (got 64)'],
  [
    'subnets without a VPC',
    top({ vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }),
    'vpcSubnets: only meaningful with vpc (got vpcSubnets without vpc)',
  ],
  ['VPC endpoints without a VPC', top({ createVpcEndpoints: true }), 'createVpcEndpoints: only meaningful with vpc (got true without vpc)'],
  [
    'a DB security group without a VPC',
    (s, p) => ({ ...p, databaseSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'Db', 'sg-1') }),
    'databaseSecurityGroup: only meaningful with vpc',
  ],
  [
    'no VPC without publicDatabase',
    top({ publicDatabase: undefined }),
    'vpc: required unless publicDatabase is true: without a VPC the function reaches the metadata DB over the internet',
  ],
  ['no VPC with publicDatabase false', top({ publicDatabase: false }), '(got publicDatabase false)'],
  ['publicDatabase of the wrong type', top({ publicDatabase: 'yes' }), 'publicDatabase: must be a boolean (got "yes")'],
  [
    'publicDatabase with a VPC',
    (s, p) => ({ ...p, vpc: vpcOf(s) }),
    'publicDatabase: only meaningful without vpc; in a VPC the function reaches the DB over the VPC (got publicDatabase true with vpc)',
  ],
  [
    'a public DB without TLS',
    database({ tls: false }),
    'database.tls: must stay on when the DB is reached over the internet (publicDatabase true); the password would cross it in clear text (got false)',
  ],
  [
    'an empty security group list',
    (s, p) => ({ ...p, publicDatabase: undefined, vpc: vpcOf(s), securityGroups: [] }),
    'securityGroups: must not be empty; omit it to get a new security group (got [])',
  ],
  [
    'VPC endpoints without route tables',
    (s, p) => ({ ...p, publicDatabase: undefined, vpc: vpcOf(s, false), createVpcEndpoints: true }),
    "createVpcEndpoints: the DynamoDB gateway endpoint needs the route tables of the function's subnets; import the VPC with privateSubnetRouteTableIds (got subnets without one: subnet-1)",
  ],
  [
    'subnets the VPC does not have',
    (s, p) => ({ ...p, publicDatabase: undefined, vpc: vpcOf(s), vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } }),
    'vpcSubnets: selects no subnets in vpc vpc-1234',
  ],
  ['a malformed e-mail address', top({ alarmEmail: 'ops-at-example.com' }), 'alarmEmail: must be an e-mail address (got "ops-at-example.com")'],
  ['zero minutes for an alarm', top({ schedulerDownMinutes: 0 }), 'schedulerDownMinutes: must be a whole number of minutes from 1 to 1440 (got 0)'],
  [
    'a dashboard name without a dashboard',
    top({ dashboard: false, dashboardName: 'x' }),
    'dashboardName: only meaningful when the dashboard is created (got "x" with dashboard false)',
  ],
  ['a dashboard name with spaces', top({ dashboardName: 'my dashboard' }), 'dashboardName: must be 1–255 characters of A–Z a–z 0–9 _ - (got "my dashboard")'],
  [
    'a configuration too large for the Lambda environment',
    cluster({
      mode: 'multi',
      nodes: Array.from({ length: 40 }, (_, i) => ({
        id: `i-0${i.toString(16).padStart(16, '0')}`,
        hostname: `airflow-scheduler-node-${i}.a-rather-long-private-domain.example.internal`,
      })),
    }),
    'cluster.nodes: the function',
  ],
];

describe('Class: AirflowSchedulerWatchdog, bad props', () => {
  it.each(BAD)('fails on %s', (_what, mutate, message) => {
    const stack = newStack();
    const props = mutate(stack, baseProps(stack));
    let thrown: unknown;
    try {
      new AirflowSchedulerWatchdog(stack, 'Watchdog', props);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain(message);
    // Nothing half-built is left behind for a caller that catches the error.
    expect(stack.node.tryFindChild('Watchdog')?.node.children ?? []).toHaveLength(0);
  });

  it('reports every construct-level problem at once', () => {
    const stack = newStack();
    expect(() => new AirflowSchedulerWatchdog(stack, 'Watchdog', { ...baseProps(stack), reservedConcurrentExecutions: 1, alarmEmail: 'x' })).toThrow(
      /reservedConcurrentExecutions: .*\(got 1\); alarmEmail: must be an e-mail address \(got "x"\)/,
    );
  });

  it('accepts tokens where only the deployed value is known (host, port, e-mail)', () => {
    const stack = newStack();
    const props = baseProps(stack);
    const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', {
      ...props,
      database: { ...props.database, host: Token.asString({ Ref: 'DbHost' }), port: Token.asNumber({ Ref: 'DbPort' }) },
      alarmEmail: Token.asString({ Ref: 'Email' }),
    });
    expect(Token.isUnresolved(watchdog.settings.db.host)).toBe(true);
    expect(Token.isUnresolved(watchdog.settings.db.port)).toBe(true);
  });

  it('accepts a secret by name with a VPC, endpoints and tag-scoped nodes', () => {
    const stack = newStack();
    const props = baseProps(stack);
    expect(
      () =>
        new AirflowSchedulerWatchdog(stack, 'Watchdog', {
          ...props,
          publicDatabase: undefined,
          database: { ...props.database, passwordParameter: undefined, passwordSecret: secretOf(stack) },
          vpc: vpcOf(stack),
          createVpcEndpoints: true,
          nodeTagKey: 'airflow-cluster',
          nodeTagValue: 'prod',
        }),
    ).not.toThrow();
  });
});
