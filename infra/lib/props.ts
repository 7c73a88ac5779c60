import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import type { ClusterConfigInput } from '../../functions/core/config.js';

/**
 * The cluster part of the configuration (SPEC §3). It is validated at synth by the same function the
 * Lambda runs at cold start (`parseClusterConfig`), so a value the construct accepts is one the function
 * accepts.
 */
interface WatchdogClusterProps {
  /** Record key and metric dimension: 1–64 characters of `A–Z a–z 0–9 _ . -`. */
  readonly clusterName: string;
  /**
   * Ordered node list; order is failover priority. `id` is the SSM target (`i-…` EC2 instance or
   * `mi-…` hybrid node), `hostname` what Airflow writes to `job.hostname` on that node.
   */
  readonly nodes: readonly { readonly id: string; readonly hostname: string }[];
  /**
   * `single`: exactly one scheduler; `multi`: keep `desiredSchedulers` healthy (Airflow 2+ on
   * PostgreSQL / MySQL 8).
   * @default 'single'
   */
  readonly mode?: 'single' | 'multi';
  /**
   * Only in `multi` mode: 1 ≤ n ≤ number of nodes.
   * @default 1
   */
  readonly desiredSchedulers?: number;
  /**
   * Heartbeat age beyond which a scheduler is not healthy (Airflow's
   * `scheduler_health_check_threshold`). At least 15.
   * @default 30
   */
  readonly staleAfterSeconds?: number;
  /**
   * Airflow's `[scheduler] scheduler_heartbeat_sec`. A stale scheduler is restarted only on evidence:
   * its unit reported failed/inactive, or its heartbeat unchanged over 2.25 × this with the DB reachable.
   * @default 5
   */
  readonly heartbeatSeconds?: number;
  /**
   * How long a started scheduler may take to write its first fresh heartbeat. At least
   * `checkIntervalSeconds`.
   * @default 120
   */
  readonly startupGraceSeconds?: number;
  /**
   * Restarts on the same reachable node before moving elsewhere.
   * @default 1
   */
  readonly restartInPlaceAttempts?: number;
  /**
   * Failed starts on a node before it is banned (Pacemaker's `migration-threshold`).
   * @default 3
   */
  readonly banAfterFailures?: number;
  /**
   * Quiet time after which a node's failures are forgotten (Pacemaker's `failure-timeout`).
   * @default 3600
   */
  readonly failureResetSeconds?: number;
  /**
   * Automatic failovers allowed in any hour; beyond it failover is suppressed and an alarm fires.
   * @default 3
   */
  readonly maxFailoversPerHour?: number;
  /**
   * `ec2-stop`: before starting a component elsewhere, force-stop an old active EC2 instance that SSM
   * cannot reach (STONITH, `ec2:StopInstances` on the cluster's instances only), and wait (bounded) until
   * EC2 reports it stopping or stopped. Hybrid (`mi-…`) nodes cannot be fenced this way.
   * @default 'none'
   */
  readonly fenceUnreachable?: 'none' | 'ec2-stop';
  /**
   * The Airflow 3 control plane: besides the scheduler (always supervised, configured by the fields
   * above), `dagProcessor` and `triggerer`, each with its systemd unit, mode, thresholds, eligible nodes
   * and restart budget (docs/design.md, "Components").
   * @default - the scheduler only
   */
  readonly components?: ClusterConfigInput['components'];
  /**
   * 60 = one tick per scheduled invocation. 10, 12, 15, 20 or 30: the scheduled invocation also queues
   * the minute's other ticks as delayed SQS messages, each of which invokes the function for one tick
   * (no invocation runs longer than one tick; see docs/deploy.md#checks-every-10-to-30-s).
   * @default 60
   */
  readonly checkIntervalSeconds?: number;
  /**
   * `enforce`; `dry-run` (plan and log, act on nothing); `observe` (metrics only).
   * @default 'enforce'
   */
  readonly enforcement?: 'enforce' | 'dry-run' | 'observe';
  /**
   * Bound on one SSM command, delivery plus execution (SSM accepts 30 at the least). Also the
   * documents' execution timeout, and a third of the function timeout's command budget.
   * @default 60
   */
  readonly commandTimeoutSeconds?: number;
  /**
   * Watchdog lease length. The lease is renewed at every record write, so the longest step it must
   * cover is one command plus a write: at least `commandTimeoutSeconds + 15`.
   * @default 90
   */
  readonly leaseSeconds?: number;
}

/** Metadata DB connection. Exactly one password source: `passwordParameter`, `passwordSecret` or `iamAuthResourceId`. */
interface WatchdogDatabaseProps {
  /** `mysql` (MySQL / MariaDB, via mysql2) or `postgres` (via pg). */
  readonly dialect: 'mysql' | 'postgres';
  /** Metadata DB host name (a token such as an RDS endpoint address is fine). */
  readonly host: string;
  /**
   * Port.
   * @default - 3306 for mysql, 5432 for postgres
   */
  readonly port?: number;
  /** Database name (Airflow's metadata database). */
  readonly databaseName: string;
  /** DB user; needs only `SELECT` on the `job` table. */
  readonly user: string;
  /**
   * SSM SecureString parameter holding the password (e.g.
   * `StringParameter.fromSecureStringParameterAttributes(this, 'Pw', { parameterName: '/airflow/watchdog-db' })`).
   * The function gets `ssm:GetParameter` on this parameter only; its name, never its value, is in the
   * function's configuration.
   * @default - not used
   */
  readonly passwordParameter?: ssm.IParameter;
  /**
   * Customer-managed KMS key of `passwordParameter`, if it is not encrypted with the AWS-managed
   * `aws/ssm` key; the function gets `kms:Decrypt` on it.
   * @default - the parameter uses the AWS-managed key, which needs no grant
   */
  readonly passwordParameterEncryptionKey?: kms.IKey;
  /**
   * Secrets Manager secret holding the password (a plain string or JSON with a `password` key). The
   * function gets `secretsmanager:GetSecretValue` on this secret only (and `kms:Decrypt` on its key
   * when it has a customer-managed one).
   * @default - not used
   */
  readonly passwordSecret?: secretsmanager.ISecret;
  /**
   * Use RDS IAM authentication: the resource id of the DB instance (`db-…`) or Aurora cluster
   * (`cluster-…`), for the `rds-db:connect` grant on `dbuser:<id>/<user>`. Requires TLS.
   * @default - IAM authentication is not used
   */
  readonly iamAuthResourceId?: string;
  /**
   * Connect with TLS.
   * @default true
   */
  readonly tls?: boolean;
  /**
   * Verify the server certificate when TLS is on.
   * @default true
   */
  readonly tlsRejectUnauthorized?: boolean;
  /**
   * Airflow's `sql_alchemy_schema`: PostgreSQL schema or MySQL database holding `job`.
   * @default - the connection's default schema
   */
  readonly schema?: string;
  /**
   * Prefix of the `job` table name, if the deployment uses one.
   * @default ''
   */
  readonly tablePrefix?: string;
  /**
   * Bound on connecting to the DB (≤ 30).
   * @default 5
   */
  readonly connectTimeoutSeconds?: number;
  /**
   * Bound on the heartbeat query (≤ 30).
   * @default 5
   */
  readonly queryTimeoutSeconds?: number;
  /**
   * Scheduler rows with an older heartbeat are ignored (bounds the index range read).
   * @default 86400
   */
  readonly lookbackSeconds?: number;
  /**
   * How long a fetched password is cached in a warm function.
   * @default 300
   */
  readonly passwordCacheSeconds?: number;
}

interface AirflowSchedulerWatchdogProps {
  /** The cluster to watch (SPEC §3). */
  readonly cluster: WatchdogClusterProps;
  /** The Airflow metadata DB. */
  readonly database: WatchdogDatabaseProps;

  /**
   * systemd unit of the scheduler on the nodes (default of the documents' `UnitName` parameter).
   * @default 'airflow-scheduler'
   */
  readonly unitName?: string;
  /**
   * With `nodeTagValue`: allow `ssm:SendCommand` on any EC2 instance or hybrid node carrying this tag
   * (`ssm:resourceTag/<key>` condition), instead of on the configured node ids. Useful when nodes are
   * replaced often; the tag then becomes part of your security boundary (whoever may tag instances may
   * have the watchdog stop schedulers on them).
   * @default - `ssm:SendCommand` is allowed on the configured node ids only
   */
  readonly nodeTagKey?: string;
  /**
   * Value of `nodeTagKey` that marks the cluster's nodes.
   * @default - see `nodeTagKey`
   */
  readonly nodeTagValue?: string;

  /**
   * Reserved concurrency of the function; at least 2. Correctness is carried by the DynamoDB lease and
   * epoch, not by concurrency: this only bounds cost and pile-up. It must exceed 1 so a manual
   * invocation (status, failover, pause) and the next ticks are not throttled while a tick runs node
   * commands; with the async settings (event age 60 s, no retries) scheduled events never queue up.
   * @default 3
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Function memory. Ticks wait on the network far more than they compute, and Lambda bills per
   * MiB-second; more memory buys CPU for faster cold starts.
   * @default 128
   */
  readonly memorySizeMiB?: number;
  /**
   * Retention of the function's log group (and of the SSM command output log group).
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Send SSM command output to a CloudWatch log group created here (audit). The nodes' instance role
   * needs `logs:CreateLogStream`, `logs:PutLogEvents` and `logs:DescribeLogStreams` on it (see
   * `grantCommandOutput`); without them the agent still runs the command but uploads nothing.
   * @default true
   */
  readonly commandOutputLogging?: boolean;
  /**
   * Whether the every-minute schedule is enabled.
   * @default true
   */
  readonly scheduleEnabled?: boolean;

  /**
   * Run the function in this VPC, e.g. to reach a private metadata DB. The function then needs a route
   * to DynamoDB and SSM (and SQS below 60 s checks): a NAT gateway, or VPC endpoints
   * (`createVpcEndpoints`). Use `ec2.Vpc.fromVpcAttributes` (no lookup) to keep `cdk synth` offline.
   * Required unless `publicDatabase` is true.
   * @default - none: give a VPC, or set `publicDatabase: true`
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Confirms that the function runs outside any VPC and reaches the metadata DB over the internet. Lambda
   * has no fixed egress address, so the DB must then accept TLS connections from anywhere (TLS stays on;
   * `database.tls: false` is refused). Without `vpc`, the construct refuses to synthesize unless this is
   * true, so a private DB is never silently unreachable and a public one never silently exposed.
   * @default false
   */
  readonly publicDatabase?: boolean;
  /**
   * Subnets of the function in `vpc`.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the function in `vpc`.
   * @default - one new security group whose only outbound rules are TCP to the DB port and HTTPS (443, the AWS APIs)
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * The metadata DB's security group: an ingress rule from the function's security group on the DB
   * port is added to it.
   * @default - no rule is added; allow `watchdog.connections` on the DB side yourself
   */
  readonly databaseSecurityGroup?: ec2.ISecurityGroup;
  /**
   * Create the VPC endpoints the function needs in `vpc`: a DynamoDB gateway endpoint (free) and an
   * SSM interface endpoint (plus a Secrets Manager one when `passwordSecret` is used, and an SQS one
   * below 60 s checks), each interface endpoint ≈ $7.30 per AZ per month (us-east-1). Leave it false when the VPC has a NAT gateway or
   * these endpoints already: an interface endpoint with private DNS is VPC-wide, and a second one for
   * the same service fails to deploy. See docs/deploy.md for the cost table.
   * @default false
   */
  readonly createVpcEndpoints?: boolean;

  /**
   * Table encryption key.
   * @default - the AWS-managed key `aws/dynamodb`
   */
  readonly tableEncryptionKey?: kms.IKey;
  /**
   * What happens to the table when it leaves the stack. The table also has deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;

  /**
   * SNS topic for all alarms.
   * @default - a new topic (SSL-only publishing)
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * E-mail address subscribed to the alarm topic (the address must confirm the subscription).
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * "Scheduler down" fires after this many consecutive minutes in which the watchdog saw fewer healthy
   * schedulers than desired, or could not see them because the metadata DB was unreachable. Recovery
   * normally takes `staleAfterSeconds` + one check + the start time.
   * @default 3
   */
  readonly schedulerDownMinutes?: number;
  /**
   * "Watchdog not running" fires when the function was not invoked for this many minutes.
   * @default 5
   */
  readonly notRunningMinutes?: number;
  /**
   * Create the CloudWatch dashboard ($3 per month beyond the 3 free ones).
   * @default true
   */
  readonly dashboard?: boolean;
  /**
   * Dashboard name.
   * @default - `AirflowSchedulerWatchdog-<clusterName>`
   */
  readonly dashboardName?: string;
}

/** The keys of the function's cluster schema that a deployment may set (`compressedTimings` is for local demos only). */
type DeployableClusterKey = Exclude<keyof ClusterConfigInput, 'compressedTimings'>;
// Compile-time guard: the props interface and the schema name the same keys, in both directions.
type _SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _clusterKeysMatch: _SameKeys<keyof WatchdogClusterProps, DeployableClusterKey> = true;
void _clusterKeysMatch;

export type { AirflowSchedulerWatchdogProps, DeployableClusterKey, WatchdogClusterProps, WatchdogDatabaseProps };
