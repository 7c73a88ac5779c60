import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import type { WatchdogAppConfig } from './app-config.js';
import type { AirflowSchedulerWatchdogProps, WatchdogClusterProps, WatchdogDatabaseProps } from './props.js';
import { AirflowSchedulerWatchdog } from './watchdog.js';

/**
 * The deployable stack: turns the JSON app configuration into the construct's props. Everything is
 * imported by id or name (no lookups), so `cdk synth` needs no AWS account.
 */
class AirflowSchedulerWatchdogStack extends Stack {
  readonly watchdog: AirflowSchedulerWatchdog;

  constructor(scope: Construct, id: string, config: WatchdogAppConfig, props: StackProps = {}) {
    super(scope, id, {
      description: 'Airflow scheduler watchdog: Lambda + DynamoDB lease + SSM Run Command (airflow-scheduler-watchdog)',
      ...props,
    });
    const db = config.database;
    const { passwordParameterName, passwordParameterKmsKeyArn, passwordSecretArn, passwordSecretName, ...dbRest } = db;
    if (passwordSecretArn !== undefined && passwordSecretName !== undefined) {
      throw new Error('database: give passwordSecretArn or passwordSecretName, not both');
    }
    const database: WatchdogDatabaseProps = {
      ...dbRest,
      ...(passwordParameterName === undefined
        ? {}
        : {
            passwordParameter: ssm.StringParameter.fromSecureStringParameterAttributes(this, 'DbPasswordParameter', { parameterName: passwordParameterName }),
          }),
      ...(passwordParameterKmsKeyArn === undefined
        ? {}
        : { passwordParameterEncryptionKey: kms.Key.fromKeyArn(this, 'DbPasswordKey', passwordParameterKmsKeyArn) }),
      ...(passwordSecretArn === undefined ? {} : { passwordSecret: secretsmanager.Secret.fromSecretCompleteArn(this, 'DbPasswordSecret', passwordSecretArn) }),
      ...(passwordSecretName === undefined ? {} : { passwordSecret: secretsmanager.Secret.fromSecretNameV2(this, 'DbPasswordSecret', passwordSecretName) }),
    };

    const { vpc: vpcConfig, stackName: _s, env: _e, tags, cluster, logRetentionDays, database: _d, ...rest } = config;
    let network: Partial<AirflowSchedulerWatchdogProps> = {};
    if (vpcConfig !== undefined) {
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: vpcConfig.vpcId,
        availabilityZones: vpcConfig.availabilityZones,
        privateSubnetIds: vpcConfig.privateSubnetIds,
        ...(vpcConfig.privateSubnetRouteTableIds === undefined ? {} : { privateSubnetRouteTableIds: vpcConfig.privateSubnetRouteTableIds }),
      });
      network = {
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        ...(vpcConfig.securityGroupIds === undefined
          ? {}
          : {
              securityGroups: vpcConfig.securityGroupIds.map((sg, i) =>
                ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
              ),
            }),
        ...(vpcConfig.databaseSecurityGroupId === undefined
          ? {}
          : { databaseSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(this, 'DatabaseSecurityGroup', vpcConfig.databaseSecurityGroupId) }),
        ...(vpcConfig.createVpcEndpoints === undefined ? {} : { createVpcEndpoints: vpcConfig.createVpcEndpoints }),
      };
    }

    this.watchdog = new AirflowSchedulerWatchdog(this, 'Watchdog', {
      ...rest,
      cluster: cluster as unknown as WatchdogClusterProps,
      database,
      ...network,
      ...(logRetentionDays === undefined ? {} : { logRetention: logRetentionDays as logs.RetentionDays }),
    });
    for (const [key, value] of Object.entries(tags ?? {})) Tags.of(this).add(key, value);

    // What the deploy guide's `aws lambda invoke` lines and an operator need (docs/deploy.md).
    const w = this.watchdog;
    new CfnOutput(this, 'WatchdogFunctionName', {
      value: w.lambdaFunction.functionName,
      description: 'aws lambda invoke --function-name <this> (status, failover, pause, resume)',
    });
    new CfnOutput(this, 'TableName', { value: w.table.tableName, description: 'DynamoDB table holding the cluster record' });
    new CfnOutput(this, 'AlarmTopicArn', { value: w.alarmTopic.topicArn, description: 'SNS topic of all alarms' });
    new CfnOutput(this, 'StartDocumentName', { value: w.documents.start.ref, description: 'SSM Command document: start the scheduler' });
    new CfnOutput(this, 'StopDocumentName', { value: w.documents.stop.ref, description: 'SSM Command document: stop the scheduler' });
    new CfnOutput(this, 'StatusDocumentName', { value: w.documents.status.ref, description: 'SSM Command document: scheduler status' });
    if (w.commandOutputLogGroup !== undefined) {
      new CfnOutput(this, 'CommandOutputLogGroupName', {
        value: w.commandOutputLogGroup.logGroupName,
        description: 'SSM command output; grant the nodes write access (docs/deploy.md)',
      });
    }
    if (w.dashboard !== undefined) new CfnOutput(this, 'DashboardName', { value: w.dashboard.dashboardName, description: 'CloudWatch dashboard' });
  }
}

/** Stack name used when the configuration does not give one. */
const defaultStackName = (config: WatchdogAppConfig): string => {
  const name = typeof config.cluster.clusterName === 'string' ? config.cluster.clusterName : 'cluster';
  return `AirflowSchedulerWatchdog-${name.replace(/[^A-Za-z0-9-]/g, '-')}`;
};

export { AirflowSchedulerWatchdogStack, defaultStackName };
