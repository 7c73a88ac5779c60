import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/core/errors.js';
import { loadAppConfig, parseAppConfig } from '../../infra/lib/app-config.js';
import { addWatchdogStack } from '../../infra/lib/main.js';
import { cdkJsonContext, type Json, SKIP_BUNDLING, scrub } from './fixtures.js';

/**
 * The deployable app as `cdk synth` runs it, from the repository's cdk.json (bundling skipped here;
 * bundle.test.ts bundles for real). Holds the one committed snapshot of a synthesized template.
 */

const outdir = mkdtempSync(join(tmpdir(), 'watchdog-app-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('App: cdk.json sample configuration', () => {
  const app = new App({ outdir, context: { ...cdkJsonContext(), ...SKIP_BUNDLING } });
  const stack = addWatchdogStack(app);
  // The full synth, with the cdk-nag plugin the app registers: it throws on any unacknowledged error.
  const assembly = app.synth();

  it('synthesizes offline, environment-agnostic, with the cdk-nag AwsSolutions pack passing', () => {
    expect(stack.stackName).toBe('AirflowSchedulerWatchdog-example');
    const artifact = assembly.getStackByName('AirflowSchedulerWatchdog-example');
    expect(artifact.environment.account).toBe('unknown-account');
    expect(artifact.environment.region).toBe('unknown-region');
    expect(artifact.template.Resources).toBeDefined();
  });

  it('configures the sample cluster in dry-run with an e-mail subscription', () => {
    const template = Template.fromStack(stack);
    expect(stack.watchdog.cluster).toMatchObject({ clusterName: 'example', enforcement: 'dry-run' });
    expect(stack.watchdog.cluster.nodes).toHaveLength(2);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'airflow-oncall@example.com' });
  });

  it('outputs what the deploy guide uses: function, table, topic, documents, log group, dashboard', () => {
    const outputs = Object.keys(Template.fromStack(stack).toJSON().Outputs as object).sort();
    expect(outputs).toEqual([
      'AlarmTopicArn',
      'CommandOutputLogGroupName',
      'DashboardName',
      'StartDocumentName',
      'StatusDocumentName',
      'StopDocumentName',
      'TableName',
      'WatchdogFunctionName',
    ]);
  });

  it('matches the committed template snapshot (asset hashes and the node script body scrubbed)', () => {
    const template = assembly.getStackByName('AirflowSchedulerWatchdog-example').template as Json;
    expect(scrub(template)).toMatchSnapshot();
  });
});

describe('Function: loadAppConfig', () => {
  const sample = cdkJsonContext().watchdog as Record<string, unknown>;
  const ctx = (values: Record<string, unknown>) => (key: string) => values[key];

  it('reads the watchdog context key, also as a JSON string (-c watchdog=…)', () => {
    expect(loadAppConfig(ctx({ watchdog: sample })).cluster.clusterName).toBe('example');
    expect(loadAppConfig(ctx({ watchdog: JSON.stringify(sample) })).database.dialect).toBe('postgres');
  });

  it('reads a typed JSON file named by watchdogConfigFile, relative to the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'watchdog-config-'));
    try {
      writeFileSync(join(dir, 'prod.json'), JSON.stringify({ ...sample, stackName: 'Prod' }));
      expect(loadAppConfig(ctx({ watchdogConfigFile: 'prod.json', watchdog: sample }), dir).stackName).toBe('Prod');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['no configuration', {}, 'no watchdog configuration: set the "watchdog" context key in cdk.json, or -c watchdogConfigFile=<path to a JSON file>'],
    ['a missing file', { watchdogConfigFile: '/nonexistent/watchdog.json' }, 'watchdogConfigFile: cannot read /nonexistent/watchdog.json'],
    ['a context string that is not JSON', { watchdog: '{cluster' }, 'context "watchdog" is not valid JSON'],
    [
      'an unknown top-level key',
      { watchdog: { ...sample, alarmEmails: [] } },
      'invalid watchdog app configuration (context "watchdog"): (root): unknown field(s) "alarmEmails"',
    ],
    ['a missing database', { watchdog: { ...sample, database: undefined } }, 'database: '],
    ['a literal password', { watchdog: { ...sample, database: { ...(sample.database as object), password: 'x' } } }, 'database: unknown field(s) "password"'],
    [
      'a retention CloudWatch does not offer',
      { watchdog: { ...sample, logRetentionDays: 10 } },
      "logRetentionDays: must be one of CloudWatch Logs' retention periods",
    ],
    [
      'endpoints without route tables',
      { watchdog: { ...sample, vpc: { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-1'], createVpcEndpoints: true } } },
      'vpc.privateSubnetRouteTableIds: createVpcEndpoints needs privateSubnetRouteTableIds',
    ],
  ])('fails on %s', (_what, values, message) => {
    expect(() => loadAppConfig(ctx(values))).toThrow(ConfigError);
    expect(() => loadAppConfig(ctx(values))).toThrow(message);
  });

  it('leaves value checks to the construct: a bad node id passes the shape check and fails at synth', () => {
    const config = parseAppConfig({ ...sample, cluster: { clusterName: 'x', nodes: [{ id: 'i-bad', hostname: 'a' }] } }, 'test');
    const app = new App({ context: { ...SKIP_BUNDLING, watchdog: config } });
    expect(() => addWatchdogStack(app)).toThrow('nodes[0].id: must be an EC2 instance id');
  });

  it('builds an environment-specific stack in a VPC from ids only (no lookups)', () => {
    const app = new App({
      context: {
        ...SKIP_BUNDLING,
        watchdog: {
          ...sample,
          stackName: 'InVpc',
          env: { account: '123456789012', region: 'eu-west-1' },
          vpc: {
            vpcId: 'vpc-0abc',
            availabilityZones: ['eu-west-1a', 'eu-west-1b'],
            privateSubnetIds: ['subnet-a', 'subnet-b'],
            privateSubnetRouteTableIds: ['rtb-a', 'rtb-b'],
            databaseSecurityGroupId: 'sg-0db',
            createVpcEndpoints: true,
          },
          tags: { team: 'data-platform' },
        },
      },
    });
    const stack = addWatchdogStack(app);
    expect(stack.region).toBe('eu-west-1');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { VpcConfig: { SubnetIds: ['subnet-a', 'subnet-b'] } });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: 'sg-0db', FromPort: 5432 });
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    template.hasResourceProperties('AWS::DynamoDB::Table', { Tags: [{ Key: 'team', Value: 'data-platform' }] });
  });
});
