import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import * as logs from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { ConfigError } from '../../functions/core/errors.js';

/**
 * Configuration of the deployable app (`infra/bin/app.ts`): plain JSON, from the `watchdog` key of
 * `cdk.json`'s context (or `-c watchdog='{…}'`), or from a JSON file named by the `watchdogConfigFile`
 * context key. This schema checks the shape (unknown keys, types); the values are then validated by
 * the construct, with the function's own schema.
 */

const RETENTION_DAYS = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');

const databaseSchema = z
  .object({
    dialect: z.enum(['mysql', 'postgres']),
    host: z.string(),
    port: z.number().optional(),
    databaseName: z.string(),
    user: z.string(),
    /** SSM SecureString parameter name, e.g. `/airflow/watchdog-db-password`. */
    passwordParameterName: z.string().optional(),
    /** ARN of the parameter's customer-managed KMS key, if any. */
    passwordParameterKmsKeyArn: z.string().optional(),
    /** Secrets Manager secret: full ARN (with the 6-character suffix) … */
    passwordSecretArn: z.string().optional(),
    /** … or its name. */
    passwordSecretName: z.string().optional(),
    iamAuthResourceId: z.string().optional(),
    tls: z.boolean().optional(),
    tlsRejectUnauthorized: z.boolean().optional(),
    schema: z.string().optional(),
    tablePrefix: z.string().optional(),
    connectTimeoutSeconds: z.number().optional(),
    queryTimeoutSeconds: z.number().optional(),
    lookbackSeconds: z.number().optional(),
    passwordCacheSeconds: z.number().optional(),
  })
  .strict();

const vpcSchema = z
  .object({
    /** Imported with `Vpc.fromVpcAttributes`: no lookup, so `cdk synth` stays offline. */
    vpcId: z.string(),
    availabilityZones: z.array(z.string()).min(1),
    privateSubnetIds: z.array(z.string()).min(1),
    /** Needed for the DynamoDB gateway endpoint (`createVpcEndpoints`). */
    privateSubnetRouteTableIds: z.array(z.string()).optional(),
    /** The function's security groups; default: a new one. */
    securityGroupIds: z.array(z.string()).optional(),
    /** The metadata DB's security group; gets an ingress rule from the function. */
    databaseSecurityGroupId: z.string().optional(),
    createVpcEndpoints: z.boolean().optional(),
  })
  .strict()
  .refine((v) => v.createVpcEndpoints !== true || (v.privateSubnetRouteTableIds?.length ?? 0) === v.privateSubnetIds.length, {
    message: 'createVpcEndpoints needs privateSubnetRouteTableIds, one per private subnet (for the DynamoDB gateway endpoint)',
    path: ['privateSubnetRouteTableIds'],
  });

const appConfigSchema = z
  .object({
    /** @default `AirflowSchedulerWatchdog-<clusterName>` */
    stackName: z.string().optional(),
    /** @default environment-agnostic (account and region from the CLI's credentials at deploy time) */
    env: z.object({ account: z.string().optional(), region: z.string().optional() }).strict().optional(),
    /** Passed to the construct as is (SPEC §3 keys). */
    cluster: z.record(z.string(), z.unknown()),
    database: databaseSchema,
    vpc: vpcSchema.optional(),
    /** Without `vpc`: confirms the metadata DB is reached over the internet (TLS). */
    publicDatabase: z.boolean().optional(),
    unitName: z.string().optional(),
    nodeTagKey: z.string().optional(),
    nodeTagValue: z.string().optional(),
    reservedConcurrentExecutions: z.number().optional(),
    memorySizeMiB: z.number().optional(),
    logRetentionDays: z
      .number()
      .refine((d) => RETENTION_DAYS.includes(d), { message: `must be one of CloudWatch Logs' retention periods: ${RETENTION_DAYS.join(', ')}` })
      .optional(),
    commandOutputLogging: z.boolean().optional(),
    scheduleEnabled: z.boolean().optional(),
    alarmEmail: z.string().optional(),
    schedulerDownMinutes: z.number().optional(),
    notRunningMinutes: z.number().optional(),
    dashboard: z.boolean().optional(),
    dashboardName: z.string().optional(),
    /** Tags on every resource of the stack. */
    tags: z.record(z.string(), z.string()).optional(),
  })
  .strict();

type WatchdogAppConfig = z.output<typeof appConfigSchema>;

const CONTEXT_KEY = 'watchdog';
const FILE_CONTEXT_KEY = 'watchdogConfigFile';

const formatIssues = (error: z.ZodError): string =>
  error.issues
    .map((i) => {
      const path = i.path.map(String).join('.') || '(root)';
      return i.code === 'unrecognized_keys' ? `${path}: unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}` : `${path}: ${i.message}`;
    })
    .join('; ');

/** Validates the app configuration's shape; `source` names where it came from in the message. */
const parseAppConfig = (input: unknown, source: string): WatchdogAppConfig => {
  const parsed = appConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(`invalid watchdog app configuration (${source}): ${formatIssues(parsed.error)}`);
  return parsed.data;
};

/** Reads the configuration from a context lookup function (`app.node.tryGetContext`). */
const loadAppConfig = (getContext: (key: string) => unknown, cwd: string = process.cwd()): WatchdogAppConfig => {
  const file = getContext(FILE_CONTEXT_KEY);
  if (typeof file === 'string' && file !== '') {
    const path = isAbsolute(file) ? file : resolve(cwd, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`${FILE_CONTEXT_KEY}: cannot read ${path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${FILE_CONTEXT_KEY}: ${path} is not valid JSON: ${(err as Error).message}`);
    }
    return parseAppConfig(json, path);
  }
  let value = getContext(CONTEXT_KEY);
  if (value === undefined) {
    throw new ConfigError(`no watchdog configuration: set the "${CONTEXT_KEY}" context key in cdk.json, or -c ${FILE_CONTEXT_KEY}=<path to a JSON file>`);
  }
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw new ConfigError(`context "${CONTEXT_KEY}" is not valid JSON: ${(err as Error).message}`);
    }
  }
  return parseAppConfig(value, `context "${CONTEXT_KEY}"`);
};

export type { WatchdogAppConfig };
export { appConfigSchema, CONTEXT_KEY, FILE_CONTEXT_KEY, loadAppConfig, parseAppConfig };
