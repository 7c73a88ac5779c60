import { z } from 'zod';
import {
  COMPONENT_NAMES,
  type ComponentName,
  type ComponentSpec,
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_STALE_AFTER_SECONDS,
  DEFAULT_UNIT,
  JOB_TYPE,
  NOUN,
} from './components.js';
import { ConfigError } from './errors.js';

/**
 * The one configuration schema (SPEC §3). The CDK construct validates its props with it at synth,
 * the function validates its environment with it at cold start, and the README's configuration
 * reference is generated from it (scripts/config-doc.ts), so the three cannot drift.
 */

const INSTANCE_ID = /^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$/;
const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;
const DOCUMENT_NAME = /^[a-zA-Z0-9_\-.]{3,128}$/;
const UNIT_NAME = /^[A-Za-z0-9@._-]{1,64}$/;

const nodeSchema = z
  .object({
    id: z
      .string()
      .regex(INSTANCE_ID, 'must be an EC2 instance id (i-…) or an SSM managed-instance id (mi- + 17 hex digits)')
      .describe('SSM target: EC2 instance id `i-…` or hybrid managed-instance id `mi-…`.'),
    hostname: z
      .string()
      .min(1)
      .max(500)
      .describe("What Airflow writes to `job.hostname` on that node (Airflow's `getfqdn`, see `status`)."),
  })
  .strict();

const durationSeconds = () => z.number().finite().positive();

/** Settings of one component; every field defaults (the scheduler's to the top-level fields). */
const componentSchema = z
  .object({
    unitName: z.string().regex(UNIT_NAME, 'must match ^[A-Za-z0-9@._-]{1,64}$').optional().describe('systemd unit of the component on its nodes.'),
    jobType: z.string().min(1).optional().describe("Airflow's `job_type` of its rows; only the component's own is accepted."),
    mode: z.enum(['single', 'multi']).optional().describe('`single` (default) or `multi` with `desired` instances.'),
    desired: z.number().int().min(1).optional().describe('Only in `multi`: how many instances to keep healthy.'),
    staleAfterSeconds: durationSeconds().optional().describe("Heartbeat age beyond which an instance is not healthy (Airflow's threshold for that job type; 30)."),
    heartbeatSeconds: durationSeconds().optional().describe("Airflow's heartbeat interval for that job type (5)."),
    startupGraceSeconds: durationSeconds().optional().describe("How long a started instance may take to heartbeat (the cluster's startupGraceSeconds)."),
    restartInPlaceAttempts: z.number().int().min(0).optional().describe("Restarts on the same node before moving elsewhere (the cluster's)."),
    banAfterFailures: z.number().int().min(1).optional().describe("Failed starts on a node before it is banned for this component (the cluster's)."),
    failureResetSeconds: durationSeconds().optional().describe("Quiet time after which its failures on a node are forgotten (the cluster's)."),
    maxFailoversPerHour: z.number().int().min(0).optional().describe("Its automatic failovers allowed in any hour (the cluster's)."),
    nodes: z.array(z.string().min(1)).min(1, 'needs at least one eligible node').optional().describe('Node ids or hostnames it may run on, in priority order (default: all nodes).'),
  })
  .strict();

const componentsSchema = z
  .object({ scheduler: componentSchema.optional(), dagProcessor: componentSchema.optional(), triggerer: componentSchema.optional() })
  .strict();

const clusterSchema = z
  .object({
    clusterName: z.string().regex(CLUSTER_NAME, 'must be 1–64 characters of A–Z a–z 0–9 _ . -').describe('Record key and metric dimension.'),
    nodes: z.array(nodeSchema).min(1, 'needs at least one node').describe('Ordered node list; order is failover priority.'),
    mode: z.enum(['single', 'multi']).default('single').describe('`single`: exactly one scheduler; `multi`: keep `desiredSchedulers` healthy (Airflow 2+ on PostgreSQL / MySQL 8).'),
    desiredSchedulers: z.number().int().min(1).default(1).describe('Only in `multi`: 1 ≤ n ≤ number of nodes.'),
    staleAfterSeconds: durationSeconds().default(30).describe("Heartbeat age beyond which a scheduler is not healthy (Airflow's `scheduler_health_check_threshold`). At least 15."),
    heartbeatSeconds: durationSeconds()
      .default(5)
      .describe(
        "Airflow's `scheduler_heartbeat_sec`. A stale scheduler is restarted only on evidence: its unit reported failed/inactive, or its heartbeat unchanged over 2.25 × this with the DB reachable.",
      ),
    startupGraceSeconds: durationSeconds().default(120).describe('How long a started scheduler may take to write its first fresh heartbeat. At least checkIntervalSeconds.'),
    restartInPlaceAttempts: z.number().int().min(0).default(1).describe('Restarts on the same reachable node before moving elsewhere.'),
    banAfterFailures: z.number().int().min(1).default(3).describe("Failed starts on a node before it is banned (Pacemaker's `migration-threshold`)."),
    failureResetSeconds: durationSeconds().default(3600).describe("Quiet time after which a node's failures are forgotten (Pacemaker's `failure-timeout`)."),
    maxFailoversPerHour: z.number().int().min(0).default(3).describe('Automatic failovers allowed in any hour; beyond it failover is suppressed and an alarm fires.'),
    checkIntervalSeconds: durationSeconds().default(60).describe('60 = one tick per invocation; 10–30 (dividing 60) = the minute\'s other ticks come from the tick queue (one invocation each), or loop inside the scheduled invocation where no queue is wired (the local runner).'),
    enforcement: z.enum(['enforce', 'dry-run', 'observe']).default('enforce').describe('`enforce`; `dry-run` (plan and log, act on nothing); `observe` (metrics only).'),
    commandTimeoutSeconds: durationSeconds().default(60).describe('Bound on one SSM command, delivery plus execution (SSM accepts 30 at the least).'),
    leaseSeconds: durationSeconds().default(90).describe('Watchdog lease length; renewed at every write, so it must exceed one command plus a write: ≥ commandTimeoutSeconds + 15.'),
    compressedTimings: z.boolean().default(false).describe('Local demos and benchmarks only: lifts the production minimums so time can be compressed. Never set it in a deployment.'),
    fenceUnreachable: z
      .enum(['none', 'ec2-stop'])
      .default('none')
      .describe('`ec2-stop`: before starting elsewhere, force-stop an old active EC2 instance that SSM cannot reach (STONITH); hybrid `mi-` nodes cannot be fenced this way.'),
    components: componentsSchema
      .optional()
      .describe('Airflow 3 control plane: `scheduler` (always), `dagProcessor`, `triggerer`, each with its unit and settings (docs/design.md, "Components").'),
  })
  .strict();

const dbSchema = z
  .object({
    dialect: z.enum(['mysql', 'postgres']).describe('`mysql` (MySQL / MariaDB, via mysql2) or `postgres` (via pg).'),
    host: z.string().min(1).describe('Metadata DB host name.'),
    port: z.number().int().min(1).max(65535).optional().describe('Default 3306 (mysql) or 5432 (postgres).'),
    database: z.string().min(1).describe('Database name.'),
    user: z.string().min(1).describe('DB user; needs only SELECT on the job table.'),
    passwordParameterName: z.string().min(1).optional().describe('SSM SecureString parameter holding the password.'),
    passwordSecretId: z.string().min(1).optional().describe('Secrets Manager secret holding the password (plain string or JSON with a `password` key).'),
    iamAuth: z.boolean().default(false).describe('Use RDS IAM authentication (a signed token as password; requires TLS).'),
    password: z.string().optional().describe('Literal password: local runs and tests only; never in a deployment.'),
    tls: z.boolean().default(true).describe('Connect with TLS and verify the server certificate.'),
    tlsRejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate when TLS is on.'),
    schema: z.string().regex(SQL_IDENTIFIER, 'must be a plain SQL identifier').optional().describe("Airflow's `sql_alchemy_schema`: PostgreSQL schema or MySQL database holding `job`."),
    tablePrefix: z.string().regex(/^[A-Za-z0-9_]{0,32}$/, 'must be letters, digits or _').default('').describe('Prefix of the `job` table name, if the deployment uses one.'),
    connectTimeoutSeconds: durationSeconds().max(30).default(5).describe('Bound on connecting to the DB.'),
    queryTimeoutSeconds: durationSeconds().max(30).default(5).describe('Bound on the heartbeat query.'),
    lookbackSeconds: durationSeconds().default(86_400).describe('Scheduler rows with an older heartbeat are ignored (bounds the index range read).'),
    passwordCacheSeconds: durationSeconds().default(300).describe('How long a fetched password is cached in a warm function.'),
  })
  .strict();

const awsSchema = z
  .object({
    tableName: z.string().min(3).max(255).describe('DynamoDB table holding the record.'),
    startDocument: z.string().regex(DOCUMENT_NAME).describe('SSM Command document that starts the scheduler.'),
    stopDocument: z.string().regex(DOCUMENT_NAME).describe('SSM Command document that stops the scheduler.'),
    statusDocument: z.string().regex(DOCUMENT_NAME).describe('SSM Command document that reports scheduler status.'),
    unitName: z.string().regex(UNIT_NAME, 'must match ^[A-Za-z0-9@._-]{1,64}$').default('airflow-scheduler').describe('systemd unit of the scheduler on the nodes.'),
    commandLogGroupName: z.string().min(1).optional().describe('CloudWatch log group for SSM command output (audit).'),
  })
  .strict();

const watchdogSettingsSchema = z
  .object({
    cluster: clusterSchema,
    db: dbSchema,
    aws: awsSchema,
  })
  .strict();

/**
 * The validated cluster configuration. It serialises back to valid input (the construct writes it into the
 * function's environment): the scheduler's settings live at the top level only, and the components'
 * resolved settings are computed by `componentsOf`.
 */
type ClusterConfig = z.output<typeof clusterSchema>;
type ClusterConfigInput = z.input<typeof clusterSchema>;
type DbConfig = z.output<typeof dbSchema>;
type AwsConfig = z.output<typeof awsSchema>;
type WatchdogSettings = z.output<typeof watchdogSettingsSchema>;
type WatchdogSettingsInput = z.input<typeof watchdogSettingsSchema>;
type NodeConfig = z.output<typeof nodeSchema>;

// Keys whose values are credentials; the names of where one is kept and durations are not.
const SECRET_KEY = /passw(or)?d|^pass$|pwd|secret|token|credential|api.?key|private.?key/i;
const NOT_SECRET_KEYS = new Set(['passwordParameterName', 'passwordSecretId', 'passwordCacheSeconds', 'passwordParameter', 'passwordSecret']);
const isSecretKey = (p: PropertyKey): boolean => typeof p === 'string' && SECRET_KEY.test(p) && !NOT_SECRET_KEYS.has(p);

/**
 * Credentials inside one text: a URL's userinfo (`scheme://user:pw@`, to the last `@`, also with JSON's
 * `\/`), `user:pw@host` without a scheme, and `password=…` / `pwd: …` pairs (query strings, libpq).
 */
const redactText = (text: string): string =>
  text
    .replace(/([a-z][a-z0-9+.-]*:(?:\\?\/){2})[\s\S]*@/gi, '$1<redacted>@')
    .replace(/(^|[\s,;=("'])([^\s:@/"'<>]+):(?!<redacted>)[^\s@/]*@/g, '$1$2:<redacted>@')
    .replace(/\b(passw(?:or)?d|pwd|pass|secret|token)(\s*[=:]\s*)(?!<redacted>)("[^"]*"|'[^']*'|[^\s&;,]+)/gi, '$1$2<redacted>');

/**
 * The offending value, for an error message. Never a credential: not under a secret-named path, not as
 * a secret-named key's value inside an echoed object or array, not inside any echoed text (redactText).
 */
const showValue = (path: readonly PropertyKey[], value: unknown): string => {
  if (path.some(isSecretKey)) return '<redacted>';
  if (value === undefined) return 'undefined';
  const text =
    JSON.stringify(value, (key, v: unknown) => (key !== '' && isSecretKey(key) ? '<redacted>' : typeof v === 'string' ? redactText(v) : v)) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/**
 * Every credential the input carries under a secret-named key, in the spellings a message could hold.
 * A safety net for messages that echo a value from another field (e.g. the password pasted into `user`).
 */
const knownSecrets = (input: unknown): string[] => {
  const found = new Set<string>();
  const walk = (v: unknown, secret: boolean, depth: number): void => {
    if (depth > 8) return;
    if (secret && (typeof v === 'string' || typeof v === 'number') && String(v).length >= 3) {
      const raw = String(v);
      for (const form of [raw, JSON.stringify(raw).slice(1, -1), encodeURIComponent(raw)]) found.add(form);
    } else if (Array.isArray(v)) for (const x of v) walk(x, secret, depth + 1);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, secret || isSecretKey(k), depth + 1);
  };
  walk(input, false, 0);
  return [...found].sort((a, b) => b.length - a.length);
};

const scrub = (messages: readonly string[], input: unknown): string[] => {
  const secrets = knownSecrets(input);
  return messages.map((m) => secrets.reduce((acc, secret) => acc.split(secret).join('<redacted>'), m));
};

const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/** Turns zod issues into one line per problem: `field: what is wrong (got value)`. */
const describeIssues = (error: z.ZodError, prefix: string): string[] =>
  error.issues.map((issue) => {
    const path = formatPath([...(prefix ? [prefix] : []), ...issue.path]);
    if (issue.code === 'unrecognized_keys') {
      return `${path || '(root)'}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    const got = 'input' in issue ? ` (got ${showValue(issue.path, issue.input)})` : '';
    return `${path || '(root)'}: ${issue.message}${got}`;
  });

/** The top-level fields that are the scheduler's settings, by their component-level name. */
const SCHEDULER_TOP_LEVEL = {
  mode: 'mode',
  desired: 'desiredSchedulers',
  staleAfterSeconds: 'staleAfterSeconds',
  heartbeatSeconds: 'heartbeatSeconds',
  startupGraceSeconds: 'startupGraceSeconds',
  restartInPlaceAttempts: 'restartInPlaceAttempts',
  banAfterFailures: 'banAfterFailures',
  failureResetSeconds: 'failureResetSeconds',
  maxFailoversPerHour: 'maxFailoversPerHour',
} as const;

/**
 * Moves the scheduler's settings given under `components.scheduler` to the top-level fields, their one
 * canonical place (today's configuration keeps working unchanged). Setting one in both places is refused.
 */
const normalizeScheduler = (c: ClusterConfig, raw: unknown): { config: ClusterConfig; problems: string[] } => {
  const own = c.components?.scheduler;
  if (own === undefined) return { config: c, problems: [] };
  const given = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const top: Record<string, unknown> = {};
  const rest: Record<string, unknown> = { ...own };
  for (const [key, name] of Object.entries(SCHEDULER_TOP_LEVEL)) {
    const v = own[key as keyof typeof own];
    if (v === undefined) continue;
    if (given[name] !== undefined) problems.push(`components.scheduler.${key}: the scheduler's ${key} is also set at the top level (${name}); set it in one place`);
    else top[name] = v;
    delete rest[key];
  }
  return { config: { ...c, ...top, components: { ...c.components, scheduler: rest as typeof own } }, problems };
};

/** Each configured component with every setting resolved, in the order scheduler, dagProcessor, triggerer. */
const resolveComponents = (c: ClusterConfig): { components: ComponentSpec[]; problems: string[] } => {
  const problems: string[] = [];
  const byKey = new Map<string, (typeof c.nodes)[number]>();
  for (const n of c.nodes) {
    byKey.set(n.id, n);
    if (!byKey.has(n.hostname)) byKey.set(n.hostname, n);
  }
  const components: ComponentSpec[] = [];
  const wanted: ComponentName[] = COMPONENT_NAMES.filter((name) => name === 'scheduler' || c.components?.[name] !== undefined);
  for (const name of wanted) {
    const own = c.components?.[name] ?? {};
    const at = `components.${name}`;
    if (own.jobType !== undefined && own.jobType !== JOB_TYPE[name]) {
      problems.push(`${at}.jobType: "${own.jobType}" is not the ${NOUN[name]}'s job type (expected "${JOB_TYPE[name]}")`);
    }
    const nodes: (typeof c.nodes)[number][] = [];
    (own.nodes ?? c.nodes.map((n) => n.id)).forEach((key, i) => {
      const n = byKey.get(key);
      if (n === undefined) problems.push(`${at}.nodes[${i}]: "${key}" is not a configured node id or hostname`);
      else if (nodes.includes(n)) problems.push(`${at}.nodes[${i}]: "${key}" is listed twice`);
      else nodes.push(n);
    });
    const scheduler = name === 'scheduler';
    components.push({
      name,
      jobType: JOB_TYPE[name],
      unitName: own.unitName ?? DEFAULT_UNIT[name],
      noun: NOUN[name],
      mode: scheduler ? c.mode : (own.mode ?? 'single'),
      desired: scheduler ? c.desiredSchedulers : (own.desired ?? 1),
      staleAfterSeconds: scheduler ? c.staleAfterSeconds : (own.staleAfterSeconds ?? DEFAULT_STALE_AFTER_SECONDS[name]),
      heartbeatSeconds: scheduler ? c.heartbeatSeconds : (own.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS[name]),
      startupGraceSeconds: scheduler ? c.startupGraceSeconds : (own.startupGraceSeconds ?? c.startupGraceSeconds),
      restartInPlaceAttempts: scheduler ? c.restartInPlaceAttempts : (own.restartInPlaceAttempts ?? c.restartInPlaceAttempts),
      banAfterFailures: scheduler ? c.banAfterFailures : (own.banAfterFailures ?? c.banAfterFailures),
      failureResetSeconds: scheduler ? c.failureResetSeconds : (own.failureResetSeconds ?? c.failureResetSeconds),
      maxFailoversPerHour: scheduler ? c.maxFailoversPerHour : (own.maxFailoversPerHour ?? c.maxFailoversPerHour),
      nodes: nodes.map(({ id, hostname }) => ({ id, hostname })),
    });
  }
  const units = new Map<string, ComponentName>();
  for (const k of components) {
    const other = units.get(k.unitName);
    if (other !== undefined) problems.push(`components.${k.name}.unitName: "${k.unitName}" is also the ${NOUN[other]}'s unit; two components cannot share a unit`);
    units.set(k.unitName, k.name);
  }
  return { components, problems };
};

/** The supervised components of a validated configuration (the scheduler first). */
const componentsOf = (c: ClusterConfig): ComponentSpec[] => resolveComponents(c).components;

/** Cross-field rules of one component (the scheduler's are named by their top-level fields). */
const componentProblems = (k: ComponentSpec, c: ClusterConfig): string[] => {
  const problems: string[] = [];
  const top = k.name === 'scheduler';
  const field = (key: keyof typeof SCHEDULER_TOP_LEVEL): string => (top ? SCHEDULER_TOP_LEVEL[key] : `components.${k.name}.${key}`);
  if (k.mode === 'single' && k.desired !== 1) {
    problems.push(`${field('desired')}: only meaningful in multi mode; single mode runs exactly 1 (got ${k.desired})`);
  }
  if (k.desired > k.nodes.length && k.nodes.length > 0) {
    problems.push(`${field('desired')}: ${k.desired} exceeds the ${k.nodes.length} ${top ? 'configured' : 'eligible'} node(s)`);
  }
  const staleTooShort = !c.compressedTimings && k.staleAfterSeconds < 15;
  if (staleTooShort) {
    problems.push(
      `${field('staleAfterSeconds')}: must be at least 15, since Airflow 2.5–2.7 store a heartbeat one beat old and a healthy age reaches 10 s (got ${k.staleAfterSeconds})`,
    );
  } else if (k.staleAfterSeconds <= 2 * k.heartbeatSeconds) {
    problems.push(
      `${field('staleAfterSeconds')}: must exceed two heartbeats (2 × heartbeatSeconds = ${2 * k.heartbeatSeconds}): a healthy Airflow 2.5–2.7 or 3.x ${k.noun}'s stored heartbeat is up to two beats old (got ${k.staleAfterSeconds})`,
    );
  }
  if (k.startupGraceSeconds < c.checkIntervalSeconds) {
    problems.push(
      `${top ? 'startupGraceSeconds' : `components.${k.name}.startupGraceSeconds`}: must be at least checkIntervalSeconds (${c.checkIntervalSeconds}) or a start expires before any tick can see it (got ${k.startupGraceSeconds})`,
    );
  }
  return problems;
};

/** Cross-field rules that a per-field schema cannot express. */
const clusterProblems = (c: ClusterConfig): string[] => {
  const problems: string[] = [];
  const seenIds = new Set<string>();
  const seenHosts = new Set<string>();
  c.nodes.forEach((n, i) => {
    if (seenIds.has(n.id)) problems.push(`nodes[${i}].id: duplicate node id "${n.id}"`);
    if (seenHosts.has(n.hostname)) problems.push(`nodes[${i}].hostname: duplicate hostname "${n.hostname}"`);
    seenIds.add(n.id);
    seenHosts.add(n.hostname);
  });
  // `failover --to` accepts an id or a hostname; one node's hostname naming another node would be ambiguous.
  c.nodes.forEach((n, i) => {
    const j = c.nodes.findIndex((m, k) => k !== i && m.id === n.hostname);
    if (j >= 0) problems.push(`nodes[${i}].hostname: "${n.hostname}" is the id of nodes[${j}], so a failover target would be ambiguous`);
  });
  if (!c.compressedTimings) {
    const ci = c.checkIntervalSeconds;
    if (!(ci === 60 || (Number.isInteger(ci) && ci >= 10 && ci <= 30 && 60 % ci === 0))) {
      problems.push(`checkIntervalSeconds: must be 60, or 10–30 and divide 60 (10, 12, 15, 20, 30) (got ${ci})`);
    }
    if (c.commandTimeoutSeconds < 30) {
      problems.push(`commandTimeoutSeconds: SSM accepts at least 30 (got ${c.commandTimeoutSeconds})`);
    }
  }
  if (c.leaseSeconds < c.commandTimeoutSeconds + 15) {
    problems.push(
      `leaseSeconds: must exceed the longest step under the lease, one command plus a write: at least commandTimeoutSeconds + 15 = ${c.commandTimeoutSeconds + 15} (got ${c.leaseSeconds})`,
    );
  }
  return problems;
};

const dbProblems = (d: DbConfig): string[] => {
  const problems: string[] = [];
  const sources = [d.passwordParameterName, d.passwordSecretId, d.password].filter((v) => v !== undefined).length + (d.iamAuth ? 1 : 0);
  if (sources > 1) {
    problems.push('db: choose one of passwordParameterName, passwordSecretId, password, iamAuth (several were given)');
  }
  if (d.iamAuth && !d.tls) problems.push('db.tls: RDS IAM authentication requires TLS (got false)');
  return problems;
};

const parseOrThrow = <S extends z.ZodType>(schema: S, input: unknown, what: string, prefix = ''): z.output<S> => {
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const issues = scrub(describeIssues(result.error, prefix), input);
    throw new ConfigError(`invalid ${what}: ${issues.join('; ')}`, issues);
  }
  return result.data;
};

const throwProblems = (problems: string[], what: string, input: unknown): void => {
  const shown = scrub(problems, input);
  if (shown.length > 0) throw new ConfigError(`invalid ${what}: ${shown.join('; ')}`, shown);
};

/** Parsed cluster plus its resolved components, and every cross-field problem in order. */
const resolveCluster = (parsed: ClusterConfig, input: unknown): { config: ClusterConfig; problems: string[] } => {
  const { config, problems: moving } = normalizeScheduler(parsed, input);
  const { components, problems: resolving } = resolveComponents(config);
  const problems = [...clusterProblems(config), ...moving, ...resolving, ...components.flatMap((k) => componentProblems(k, config))];
  return { config, problems };
};

/** Validates the cluster part of the configuration (also used by the CDK construct at synth). */
const parseClusterConfig = (input: unknown): ClusterConfig => {
  const cluster = parseOrThrow(clusterSchema, input, 'cluster configuration');
  const { config, problems } = resolveCluster(cluster, input);
  throwProblems(problems, 'cluster configuration', input);
  return config;
};

/** Validates the complete function configuration once at cold start. */
const parseSettings = (input: unknown): WatchdogSettings => {
  const settings = parseOrThrow(watchdogSettingsSchema, input, 'watchdog configuration');
  const rawCluster = (input as { cluster?: unknown }).cluster;
  const rawAws = ((input as { aws?: unknown }).aws ?? {}) as { unitName?: unknown };
  // `aws.unitName` predates components: it names the scheduler's unit unless components.scheduler does.
  const schedulerUnit = settings.cluster.components?.scheduler?.unitName;
  const unitProblems: string[] = [];
  let cluster = settings.cluster;
  if (rawAws.unitName !== undefined) {
    if (schedulerUnit !== undefined && schedulerUnit !== settings.aws.unitName) {
      unitProblems.push(`aws.unitName: "${settings.aws.unitName}" disagrees with cluster.components.scheduler.unitName "${schedulerUnit}"; set one`);
    } else {
      cluster = { ...cluster, components: { ...cluster.components, scheduler: { ...cluster.components?.scheduler, unitName: settings.aws.unitName } } };
    }
  }
  const { config, problems } = resolveCluster(cluster, rawCluster);
  throwProblems([...problems.map((p) => `cluster.${p}`), ...unitProblems, ...dbProblems(settings.db)], 'watchdog configuration', input);
  return { ...settings, cluster: config };
};

/** Reads the JSON configuration from an environment-like map; the only place that names the variable. */
const CONFIG_ENV_VAR = 'WATCHDOG_CONFIG';
const settingsFromEnv = (env: Readonly<Record<string, string | undefined>>): WatchdogSettings => {
  const raw = env[CONFIG_ENV_VAR];
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError(`environment variable ${CONFIG_ENV_VAR} is required (JSON watchdog configuration)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    // V8 quotes the text around the error, which may be a literal password: report only where it is.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new ConfigError(`environment variable ${CONFIG_ENV_VAR} is not valid JSON${at === undefined ? '' : ` (syntax error at character ${at})`}`);
  }
  return parseSettings(parsed);
};

export {
  awsSchema,
  componentSchema,
  componentsOf,
  CONFIG_ENV_VAR,
  clusterSchema,
  dbSchema,
  INSTANCE_ID,
  nodeSchema,
  parseClusterConfig,
  parseSettings,
  settingsFromEnv,
  showValue,
  UNIT_NAME,
  watchdogSettingsSchema,
};
export type { AwsConfig, ClusterConfig, ClusterConfigInput, DbConfig, NodeConfig, WatchdogSettings, WatchdogSettingsInput };
