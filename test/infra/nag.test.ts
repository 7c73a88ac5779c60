import { type Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { AirflowSchedulerWatchdogProps } from '../../infra/lib/props.js';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';
import { baseProps, inVpc, newStack } from './fixtures.js';

/**
 * The cdk-nag AwsSolutions pack on the construct's variants: no finding is left, every
 * acknowledgement answers a finding that really occurs (none is stale), and each carries a specific
 * reason.
 */

interface Ack {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

const acknowledgements = (stack: Stack): Ack[] =>
  stack.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([key, reason]) => ({ path: c.node.path, id: key.replace(/^annotation::/i, ''), reason })),
        ),
    );

/** What the pack reports with every acknowledgement ignored: rule id → construct paths. */
const rawFindings = (stack: Stack): Map<string, string[]> => {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  const report = pack.validateScope(stack);
  return new Map(report.violations.map((v) => [v.ruleName, v.violatingResources.map((r) => r.constructPath ?? '')]));
};

const VARIANTS: [string, (stack: Stack) => AirflowSchedulerWatchdogProps][] = [
  ['defaults', (stack) => baseProps(stack)],
  [
    'VPC, endpoints, secret by name, tag-scoped nodes, e-mail',
    (stack) => {
      const base = inVpc(
        baseProps(stack),
        ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
          vpcId: 'vpc-0abc',
          availabilityZones: ['eu-west-1a'],
          privateSubnetIds: ['subnet-a'],
          privateSubnetRouteTableIds: ['rtb-a'],
        }),
      );
      return {
        ...base,
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
    },
  ],
  [
    'RDS IAM auth, customer-managed table key, 10 s checks (tick queue)',
    (stack) => {
      const base = baseProps(stack);
      return {
        ...base,
        cluster: { ...base.cluster, checkIntervalSeconds: 10 },
        database: { ...base.database, passwordParameter: undefined, iamAuthResourceId: 'cluster-ABCDEFGHIJKL' },
        tableEncryptionKey: new kms.Key(stack, 'TableKey', { enableKeyRotation: true }),
      };
    },
  ],
];

describe('cdk-nag AwsSolutions on AirflowSchedulerWatchdog', () => {
  describe.each(VARIANTS)('%s', (_name, props) => {
    const stack = newStack();
    new AirflowSchedulerWatchdog(stack, 'Watchdog', props(stack));
    const acks = acknowledgements(stack);
    const raw = rawFindings(stack);

    it('reports no error and no warning', () => {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
      expect(report.success).toBe(true);
    });

    it('acknowledges only findings that occur, on the construct that has them', () => {
      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        const paths = raw.get(ack.id) ?? [];
        expect(
          paths.some((p) => p.startsWith(`${ack.path}/`)),
          `${ack.id} acknowledged on ${ack.path} but not found there`,
        ).toBe(true);
      }
    });

    it('gives every acknowledgement its own specific reason', () => {
      const reasons = acks.map((a) => a.reason);
      expect(new Set(reasons).size).toBe(reasons.length);
      for (const reason of reasons) {
        expect(reason.length).toBeGreaterThan(60);
        expect(reason).toMatch(/ssm:|secret|dynamodb:|rds-db:|kms:|tick queue/i);
      }
    });

    it('finds nothing besides IAM5 wildcards and the tick queue’s missing dead-letter queue, both acknowledged', () => {
      const others = [...raw.keys()].filter((id) => !id.startsWith('AwsSolutions-IAM5['));
      expect(others.filter((id) => id !== 'AwsSolutions-SQS3')).toEqual([]);
      if (others.includes('AwsSolutions-SQS3')) expect(raw.get('AwsSolutions-SQS3')).toEqual([expect.stringMatching(/\/Watchdog\/TickQueue\//)]);
    });
  });
});
