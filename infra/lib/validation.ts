import { Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { type ClusterConfig, parseClusterConfig, parseSettings, showValue, type WatchdogSettings } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { describeTickBudget } from '../../functions/core/limits.js';
import type { AirflowSchedulerWatchdogProps, WatchdogDatabaseProps } from './props.js';
import { FUNCTION_MEMORY_MIB, functionTimeout, LAMBDA_MAX_TIMEOUT_SECONDS, type TimeoutBreakdown } from './sizing.js';

/**
 * Synth-time validation of the construct's props. The cluster part goes through the function's own
 * `parseClusterConfig`, and the whole function configuration through `parseSettings` (with
 * placeholders for values that are CloudFormation tokens at synth), so construct and function accept
 * exactly the same values. On top come checks only the construct can make (VPC combinations, password
 * source, IAM scoping, alarm settings, Lambda limits). Every message names the field and the value.
 */

const DB_KEYS: readonly (keyof WatchdogDatabaseProps)[] = [
  'dialect',
  'host',
  'port',
  'databaseName',
  'user',
  'passwordParameter',
  'passwordParameterEncryptionKey',
  'passwordSecret',
  'iamAuthResourceId',
  'tls',
  'tlsRejectUnauthorized',
  'schema',
  'tablePrefix',
  'connectTimeoutSeconds',
  'queryTimeoutSeconds',
  'lookbackSeconds',
  'passwordCacheSeconds',
];

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const TAG_KEY = /^(?!aws:)[A-Za-z0-9 _.:/=+@-]{1,128}$/;
const TAG_VALUE = /^[A-Za-z0-9 _.:/=+@-]{0,256}$/;
const UNIT_NAME = /^[A-Za-z0-9@._-]{1,64}$/;
const RDS_RESOURCE_ID = /^(db|cluster)-[A-Za-z0-9]{1,64}$/;
const DASHBOARD_NAME = /^[A-Za-z0-9_-]{1,255}$/;
/** Lambda's limit on all environment variables of a function together. */
const LAMBDA_ENV_BYTES = 4096;
const LAMBDA_MIN_MEMORY_MIB = 128;
const LAMBDA_MAX_MEMORY_MIB = 10_240;

// The function's own rendering: a value echoed in a synth error never shows a credential.
const show = (value: unknown): string => showValue([], value);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
// RegExp.test() would read `true` as "true": props from JavaScript or JSON may have any type.
const matches = (re: RegExp, v: unknown): boolean => typeof v === 'string' && re.test(v);
const isObject = (v: unknown): v is object => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The function's subnets must exist; the DynamoDB gateway endpoint needs their route tables. */
const vpcProblems = (vpc: ec2.IVpc, selection: ec2.SubnetSelection | undefined, endpoints: boolean): string[] => {
  let subnets: ec2.ISubnet[];
  try {
    subnets = vpc.selectSubnets(selection ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets;
  } catch (err) {
    return [`vpcSubnets: selects no subnets in vpc ${vpc.vpcId}: ${(err as Error).message} (got ${show(selection ?? 'the private subnets')})`];
  }
  if (subnets.length === 0) return [`vpcSubnets: selects no subnets in vpc ${vpc.vpcId} (got ${show(selection ?? 'the private subnets')})`];
  if (endpoints) {
    const missing = subnets.filter((s) => s.routeTable?.routeTableId === undefined).map((s) => s.subnetId);
    if (missing.length > 0) {
      return [
        `createVpcEndpoints: the DynamoDB gateway endpoint needs the route tables of the function's subnets; import the VPC with privateSubnetRouteTableIds (got subnets without one: ${missing.join(', ')})`,
      ];
    }
  }
  return [];
};

/** Checks the construct adds on top of the function's schema. */
const constructProblems = (props: AirflowSchedulerWatchdogProps): string[] => {
  const problems: string[] = [];
  const p = props as Partial<AirflowSchedulerWatchdogProps>;
  if (p.cluster === undefined || p.cluster === null) problems.push('cluster: required');
  else if (!isObject(p.cluster)) problems.push(`cluster: must be an object (got ${show(p.cluster)})`);
  else if ('compressedTimings' in p.cluster) {
    problems.push(
      `cluster.compressedTimings: for local demos and benchmarks only; never in a deployment (got ${show((p.cluster as Record<string, unknown>).compressedTimings)})`,
    );
  }

  const db = p.database;
  if (db === undefined || db === null) problems.push('database: required');
  else if (!isObject(db)) problems.push(`database: must be an object (got ${show(db)})`);
  else {
    const unknown = Object.keys(db).filter((k) => !(DB_KEYS as readonly string[]).includes(k));
    if (unknown.length > 0) {
      const hint = unknown.includes('password')
        ? ' (a literal password never goes into a deployment: use passwordParameter, passwordSecret or iamAuthResourceId)'
        : '';
      problems.push(`database: unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}${hint}`);
    }
    const sources = (['passwordParameter', 'passwordSecret', 'iamAuthResourceId'] as const).filter((k) => db[k] !== undefined);
    if (sources.length !== 1) {
      problems.push(
        `database: exactly one password source is required, passwordParameter, passwordSecret or iamAuthResourceId (got ${sources.length === 0 ? 'none' : sources.join(' and ')})`,
      );
    }
    if (db.passwordParameterEncryptionKey !== undefined && db.passwordParameter === undefined) {
      problems.push('database.passwordParameterEncryptionKey: only meaningful with passwordParameter (got a key without a parameter)');
    }
    const rid = db.iamAuthResourceId;
    if (rid !== undefined && !Token.isUnresolved(rid) && !matches(RDS_RESOURCE_ID, rid)) {
      problems.push(`database.iamAuthResourceId: must be a DB instance or cluster resource id (db-… or cluster-…), not a name or ARN (got ${show(rid)})`);
    }
  }

  if (p.unitName !== undefined && !matches(UNIT_NAME, p.unitName)) problems.push(`unitName: must match ${UNIT_NAME.source} (got ${show(p.unitName)})`);

  const hasKey = p.nodeTagKey !== undefined;
  const hasValue = p.nodeTagValue !== undefined;
  if (hasKey !== hasValue) {
    problems.push(`nodeTagKey/nodeTagValue: give both or neither (got nodeTagKey ${show(p.nodeTagKey)}, nodeTagValue ${show(p.nodeTagValue)})`);
  }
  if (hasKey && !matches(TAG_KEY, p.nodeTagKey))
    problems.push(`nodeTagKey: must be a tag key of 1–128 characters, not starting with aws: (got ${show(p.nodeTagKey)})`);
  if (hasValue && !matches(TAG_VALUE, p.nodeTagValue))
    problems.push(`nodeTagValue: must be a tag value of at most 256 characters (got ${show(p.nodeTagValue)})`);

  const rc = p.reservedConcurrentExecutions;
  if (rc !== undefined && !(isInt(rc) && rc >= 2 && rc <= 1000)) {
    problems.push(
      `reservedConcurrentExecutions: must be an integer from 2 to 1000; 1 would let a tick that runs node commands throttle manual invocations and the next ticks (got ${show(rc)})`,
    );
  }
  const mem = p.memorySizeMiB;
  if (mem !== undefined && !(isInt(mem) && mem >= LAMBDA_MIN_MEMORY_MIB && mem <= LAMBDA_MAX_MEMORY_MIB)) {
    problems.push(`memorySizeMiB: must be an integer from ${LAMBDA_MIN_MEMORY_MIB} to ${LAMBDA_MAX_MEMORY_MIB} (got ${show(mem)})`);
  }

  if (p.vpc === undefined && p.publicDatabase !== true) {
    problems.push(
      `vpc: required unless publicDatabase is true: without a VPC the function reaches the metadata DB over the internet, from addresses Lambda does not fix, so the DB must accept TLS connections from anywhere; give vpc (and its subnets) for a private DB, or set publicDatabase: true to confirm the DB is meant to be reached that way (got ${p.publicDatabase === undefined ? 'neither' : `publicDatabase ${show(p.publicDatabase)}`})`,
    );
  }
  if (p.vpc !== undefined && p.publicDatabase === true) {
    problems.push('publicDatabase: only meaningful without vpc; in a VPC the function reaches the DB over the VPC (got publicDatabase true with vpc)');
  }
  if (p.vpc === undefined && p.publicDatabase === true && isObject(p.database) && p.database.tls === false) {
    problems.push(
      'database.tls: must stay on when the DB is reached over the internet (publicDatabase true); the password would cross it in clear text (got false)',
    );
  }
  if (p.publicDatabase !== undefined && typeof p.publicDatabase !== 'boolean')
    problems.push(`publicDatabase: must be a boolean (got ${show(p.publicDatabase)})`);
  if (p.vpc === undefined) {
    for (const k of ['vpcSubnets', 'securityGroups', 'databaseSecurityGroup'] as const) {
      if (p[k] !== undefined) problems.push(`${k}: only meaningful with vpc (got ${k} without vpc)`);
    }
    if (p.createVpcEndpoints === true) problems.push('createVpcEndpoints: only meaningful with vpc (got true without vpc)');
  }
  if (p.vpc !== undefined) problems.push(...vpcProblems(p.vpc, p.vpcSubnets, p.createVpcEndpoints === true));
  if (p.securityGroups !== undefined && p.securityGroups.length === 0) {
    problems.push('securityGroups: must not be empty; omit it to get a new security group (got [])');
  }

  const email = p.alarmEmail;
  if (email !== undefined && !Token.isUnresolved(email) && !matches(EMAIL, email)) problems.push(`alarmEmail: must be an e-mail address (got ${show(email)})`);
  for (const k of ['schedulerDownMinutes', 'notRunningMinutes'] as const) {
    const v = p[k];
    if (v !== undefined && !(isInt(v) && v >= 1 && v <= 1440)) problems.push(`${k}: must be a whole number of minutes from 1 to 1440 (got ${show(v)})`);
  }
  if (p.dashboardName !== undefined) {
    if (p.dashboard === false)
      problems.push(`dashboardName: only meaningful when the dashboard is created (got ${show(p.dashboardName)} with dashboard false)`);
    else if (!matches(DASHBOARD_NAME, p.dashboardName))
      problems.push(`dashboardName: must be 1–255 characters of A–Z a–z 0–9 _ - (got ${show(p.dashboardName)})`);
  }
  return problems;
};

/** Names the construct learns only once its resources exist (tokens at synth). */
interface AwsNames {
  readonly tableName: string;
  readonly startDocument: string;
  readonly stopDocument: string;
  readonly statusDocument: string;
  readonly commandLogGroupName?: string;
}

/** Longest plausible values, for checking the environment size while the real ones are tokens. */
const LONG_NAMES: AwsNames = {
  tableName: 't'.repeat(255),
  startDocument: 'd'.repeat(128),
  stopDocument: 'd'.repeat(128),
  statusDocument: 'd'.repeat(128),
  commandLogGroupName: 'l'.repeat(512),
};

/** The function's `db` settings from the props, with tokens kept as they are. */
const dbInput = (db: WatchdogDatabaseProps): Record<string, unknown> => {
  const secret = db.passwordSecret;
  return {
    dialect: db.dialect,
    host: db.host,
    ...(db.port === undefined ? {} : { port: db.port }),
    database: db.databaseName,
    user: db.user,
    ...(db.passwordParameter === undefined ? {} : { passwordParameterName: db.passwordParameter.parameterName }),
    ...(secret === undefined ? {} : { passwordSecretId: secret.secretFullArn ?? secret.secretName }),
    iamAuth: db.iamAuthResourceId !== undefined,
    ...(db.tls === undefined ? {} : { tls: db.tls }),
    ...(db.tlsRejectUnauthorized === undefined ? {} : { tlsRejectUnauthorized: db.tlsRejectUnauthorized }),
    ...(db.schema === undefined ? {} : { schema: db.schema }),
    ...(db.tablePrefix === undefined ? {} : { tablePrefix: db.tablePrefix }),
    ...(db.connectTimeoutSeconds === undefined ? {} : { connectTimeoutSeconds: db.connectTimeoutSeconds }),
    ...(db.queryTimeoutSeconds === undefined ? {} : { queryTimeoutSeconds: db.queryTimeoutSeconds }),
    ...(db.lookbackSeconds === undefined ? {} : { lookbackSeconds: db.lookbackSeconds }),
    ...(db.passwordCacheSeconds === undefined ? {} : { passwordCacheSeconds: db.passwordCacheSeconds }),
  };
};

/** The prop behind each of the function's `db` settings whose name differs. */
const DB_PROP_OF_SETTING: Readonly<Record<string, string>> = {
  database: 'databaseName',
  passwordParameterName: 'passwordParameter',
  passwordSecretId: 'passwordSecret',
};

const PLACEHOLDER_STRING = 'token_placeholder';
const defaultPort = (dialect: unknown): number => (dialect === 'mysql' ? 3306 : 5432);

/** Replaces unresolved tokens by valid stand-ins so the schema judges everything else. */
const withoutTokens = (db: Record<string, unknown>): { checked: Record<string, unknown>; tokenKeys: string[] } => {
  const checked: Record<string, unknown> = {};
  const tokenKeys: string[] = [];
  for (const [k, v] of Object.entries(db)) {
    if (!Token.isUnresolved(v)) checked[k] = v;
    else {
      tokenKeys.push(k);
      checked[k] = typeof v === 'number' ? (k === 'port' ? defaultPort(db.dialect) : 5) : PLACEHOLDER_STRING;
    }
  }
  return { checked, tokenKeys };
};

interface ResolvedConfig {
  /** The validated cluster configuration (defaults filled in). */
  readonly cluster: ClusterConfig;
  /** Builds the function's settings from the real names; tokens stay tokens. */
  readonly settingsFor: (names: AwsNames) => WatchdogSettings;
  readonly timeout: TimeoutBreakdown;
  readonly memorySizeMiB: number;
  readonly reservedConcurrentExecutions: number;
  /** DB port, possibly a token. */
  readonly dbPort: number;
}

const ENV_OVERHEAD_BYTES = 200;

/** Validates everything that can be validated at synth; throws ConfigError naming the field and value. */
const resolveConfig = (props: AirflowSchedulerWatchdogProps): ResolvedConfig => {
  const problems = constructProblems(props);
  if (problems.length > 0) throw new ConfigError(`invalid AirflowSchedulerWatchdog props: ${problems.join('; ')}`, problems);

  const cluster = parseClusterConfig(props.cluster);
  const unitName = props.unitName ?? 'airflow-scheduler';
  const realDb = dbInput(props.database);
  const { checked, tokenKeys } = withoutTokens(realDb);
  const aws = (names: AwsNames) => ({
    tableName: names.tableName,
    startDocument: names.startDocument,
    stopDocument: names.stopDocument,
    statusDocument: names.statusDocument,
    unitName,
    ...(names.commandLogGroupName === undefined ? {} : { commandLogGroupName: names.commandLogGroupName }),
  });
  const commandOutput = props.commandOutputLogging ?? true;
  const placeholderNames: AwsNames = {
    tableName: 'placeholder-table',
    startDocument: 'placeholder-start',
    stopDocument: 'placeholder-stop',
    statusDocument: 'placeholder-status',
    ...(commandOutput ? { commandLogGroupName: 'placeholder-log-group' } : {}),
  };
  const checkedSettings = parseSettings({ cluster, db: checked, aws: aws(placeholderNames) });

  const timeout = functionTimeout(checkedSettings);
  if (timeout.timeoutSeconds > LAMBDA_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(
      `invalid AirflowSchedulerWatchdog props: cluster.commandTimeoutSeconds: a worst-case tick (${describeTickBudget(checkedSettings)}) plus ${timeout.marginSeconds} s needs a ${timeout.timeoutSeconds} s timeout, above Lambda's ${LAMBDA_MAX_TIMEOUT_SECONDS} s; lower commandTimeoutSeconds or the DB timeouts (got commandTimeoutSeconds ${checkedSettings.cluster.commandTimeoutSeconds})`,
    );
  }

  const longDb = Object.fromEntries(Object.entries(checked).map(([k, v]) => [k, tokenKeys.includes(k) && typeof v === 'string' ? 'x'.repeat(255) : v]));
  const envBytes = Buffer.byteLength(
    JSON.stringify({ cluster: checkedSettings.cluster, db: longDb, aws: aws(commandOutput ? LONG_NAMES : { ...LONG_NAMES, commandLogGroupName: undefined }) }),
  );
  if (envBytes + ENV_OVERHEAD_BYTES > LAMBDA_ENV_BYTES) {
    // Blame the nodes unless one database value alone is longer than all of them.
    const nodeBytes = Buffer.byteLength(JSON.stringify(checkedSettings.cluster.nodes));
    const [longKey, longValue] = Object.entries(longDb)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .reduce<[string, string]>((a, b) => (Buffer.byteLength(b[1]) > Buffer.byteLength(a[1]) ? b : a), ['', '']);
    if (Buffer.byteLength(longValue) > nodeBytes) {
      const prop = DB_PROP_OF_SETTING[longKey] ?? longKey;
      throw new ConfigError(
        `invalid AirflowSchedulerWatchdog props: database.${prop}: the function's configuration could reach ${envBytes} bytes, above what Lambda's ${LAMBDA_ENV_BYTES}-byte environment leaves for it; shorten it (got ${show(tokenKeys.includes(longKey) ? 'a token' : longValue)})`,
      );
    }
    throw new ConfigError(
      `invalid AirflowSchedulerWatchdog props: cluster.nodes: the function's configuration could reach ${envBytes} bytes, above what Lambda's ${LAMBDA_ENV_BYTES}-byte environment leaves for it; shorten hostnames or split the cluster (got ${cluster.nodes.length} nodes)`,
    );
  }

  const settingsFor = (names: AwsNames): WatchdogSettings => {
    const db = { ...checkedSettings.db } as Record<string, unknown>;
    for (const k of tokenKeys) db[k] = realDb[k];
    return { cluster: checkedSettings.cluster, db: db as WatchdogSettings['db'], aws: aws(names) };
  };

  return {
    cluster: checkedSettings.cluster,
    settingsFor,
    timeout,
    memorySizeMiB: props.memorySizeMiB ?? FUNCTION_MEMORY_MIB,
    reservedConcurrentExecutions: props.reservedConcurrentExecutions ?? 3,
    dbPort: props.database.port ?? defaultPort(props.database.dialect),
  };
};

export type { AwsNames, ResolvedConfig };
export { constructProblems, resolveConfig };
