import { describe, expect, it } from 'vitest';
import { CONFIG_ENV_VAR, componentsOf, parseClusterConfig, parseSettings, settingsFromEnv } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';

/** Configuration validation (SPEC §3): a bad value fails with a message naming the field and the value. */

const A = { id: 'i-0aaaaaaa', hostname: 'airflow-a.internal' };
const B = { id: 'i-0bbbbbbb1234abcde', hostname: 'airflow-b.internal' };
const C = { id: 'mi-0123456789abcdef0', hostname: 'onprem-c.corp.example' };
const cluster = { clusterName: 'prod-airflow', nodes: [A, B] };
const db = { dialect: 'postgres', host: 'airflow-db.internal', database: 'airflow', user: 'watchdog_ro', passwordParameterName: '/airflow/db/watchdog' };
const aws = {
  tableName: 'airflow-watchdog',
  startDocument: 'AirflowScheduler-Start',
  stopDocument: 'AirflowScheduler-Stop',
  statusDocument: 'AirflowScheduler-Status',
};

const configError = (f: () => unknown): ConfigError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('parseClusterConfig rejects bad values, naming field and value', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['staleAfterSeconds below 15', { staleAfterSeconds: 10 }, ['staleAfterSeconds', 'at least 15', '(got 10)']],
    ['staleAfterSeconds negative', { staleAfterSeconds: -5 }, ['staleAfterSeconds', '(got -5)']],
    ['staleAfterSeconds as a string', { staleAfterSeconds: '30' }, ['staleAfterSeconds', 'expected number', '(got "30")']],
    ['a node id that is not an instance id', { nodes: [A, { id: 'airflow-b', hostname: 'b' }] }, ['nodes[1].id', 'EC2 instance id', '(got "airflow-b")']],
    ['an mi- id with too few digits', { nodes: [{ id: 'mi-0123', hostname: 'x' }] }, ['nodes[0].id', '(got "mi-0123")']],
    ['duplicate node ids', { nodes: [A, { id: A.id, hostname: 'other' }] }, ['nodes[1].id', 'duplicate node id', '"i-0aaaaaaa"']],
    ['duplicate hostnames', { nodes: [A, { id: 'i-0bbbbbbb', hostname: A.hostname }] }, ['nodes[1].hostname', 'duplicate hostname', '"airflow-a.internal"']],
    ['a hostname that is another node\'s id', { nodes: [A, { id: 'i-0bbbbbbb', hostname: A.id }] }, ['nodes[1].hostname', 'is the id of nodes[0]', '"i-0aaaaaaa"']],
    ['an empty hostname', { nodes: [{ id: A.id, hostname: '' }] }, ['nodes[0].hostname', '(got "")']],
    ['an unknown field on a node', { nodes: [{ ...A, ip: '10.0.0.1' }] }, ['nodes[0]', 'unknown field', '"ip"']],
    ['no nodes', { nodes: [] }, ['nodes', 'at least one node', '(got [])']],
    ['desiredSchedulers above the node count', { mode: 'multi', desiredSchedulers: 3 }, ['desiredSchedulers', '3 exceeds the 2 configured node(s)']],
    ['desiredSchedulers in single mode', { desiredSchedulers: 2 }, ['desiredSchedulers', 'single mode', '(got 2)']],
    ['desiredSchedulers zero', { mode: 'multi', desiredSchedulers: 0 }, ['desiredSchedulers', '(got 0)']],
    ['checkIntervalSeconds 45', { checkIntervalSeconds: 45 }, ['checkIntervalSeconds', 'divide 60', '(got 45)']],
    ['checkIntervalSeconds 5', { checkIntervalSeconds: 5 }, ['checkIntervalSeconds', '(got 5)']],
    ['leaseSeconds too small for a command plus a write', { leaseSeconds: 60 }, ['leaseSeconds', 'commandTimeoutSeconds + 15 = 75', '(got 60)']],
    ['commandTimeoutSeconds below what SSM accepts', { commandTimeoutSeconds: 10 }, ['commandTimeoutSeconds', '(got 10)']],
    ['startupGraceSeconds shorter than a tick', { startupGraceSeconds: 30 }, ['startupGraceSeconds', 'checkIntervalSeconds (60)', '(got 30)']],
    ['banAfterFailures zero', { banAfterFailures: 0 }, ['banAfterFailures', '(got 0)']],
    ['restartInPlaceAttempts not an integer', { restartInPlaceAttempts: 1.5 }, ['restartInPlaceAttempts', '(got 1.5)']],
    ['maxFailoversPerHour negative', { maxFailoversPerHour: -1 }, ['maxFailoversPerHour', '(got -1)']],
    ['an unknown field (typo)', { staleAfterSecs: 30 }, ['unknown field', '"staleAfterSecs"']],
    ['a mode typo', { mode: 'singel' }, ['mode', '"single"|"multi"', '(got "singel")']],
    ['an enforcement typo', { enforcement: 'enforcing' }, ['enforcement', '(got "enforcing")']],
    ['a clusterName with a space', { clusterName: 'prod airflow' }, ['clusterName', '(got "prod airflow")']],
    ['a missing clusterName', { clusterName: undefined }, ['clusterName', 'expected string']],
  ])('%s', (_name, patch, needles) => {
    const err = configError(() => parseClusterConfig({ ...cluster, ...patch }));
    expect(err.message).toMatch(/^invalid cluster configuration: /);
    for (const needle of needles) expect(err.message).toContain(needle);
  });

  it('reports every problem at once, one issue each', () => {
    const err = configError(() => parseClusterConfig({ ...cluster, staleAfterSeconds: 10, checkIntervalSeconds: 45, leaseSeconds: 20 }));
    expect(err.issues).toHaveLength(3);
    expect(err.issues.map((i) => i.split(':')[0]).sort()).toEqual(['checkIntervalSeconds', 'leaseSeconds', 'staleAfterSeconds']);
  });

  it('rejects input that is not an object', () => {
    expect(configError(() => parseClusterConfig(null)).message).toContain('expected object');
    expect(configError(() => parseClusterConfig([A])).message).toContain('expected object');
  });
});

describe('parseClusterConfig defaults', () => {
  it('applies the documented defaults (SPEC §3)', () => {
    expect(parseClusterConfig(cluster)).toEqual({
      clusterName: 'prod-airflow',
      nodes: [A, B],
      mode: 'single',
      desiredSchedulers: 1,
      staleAfterSeconds: 30,
      heartbeatSeconds: 5,
      startupGraceSeconds: 120,
      restartInPlaceAttempts: 1,
      banAfterFailures: 3,
      failureResetSeconds: 3600,
      maxFailoversPerHour: 3,
      checkIntervalSeconds: 60,
      enforcement: 'enforce',
      commandTimeoutSeconds: 60,
      leaseSeconds: 90,
      compressedTimings: false,
      fenceUnreachable: 'none',
    });
  });

  it('accepts the documented ranges: multi mode with all nodes, looped ticks, SSM hybrid ids', () => {
    const c = parseClusterConfig({ ...cluster, nodes: [A, B, C], mode: 'multi', desiredSchedulers: 3, checkIntervalSeconds: 20, staleAfterSeconds: 15 });
    expect(c.desiredSchedulers).toBe(3);
    expect(c.nodes.map((n) => n.id)).toEqual([A.id, B.id, C.id]);
    for (const ci of [10, 12, 15, 20, 30, 60]) expect(parseClusterConfig({ ...cluster, checkIntervalSeconds: ci }).checkIntervalSeconds).toBe(ci);
  });

  it('compressedTimings lifts the production minimums but not the lease rule', () => {
    const c = parseClusterConfig({
      ...cluster,
      compressedTimings: true,
      staleAfterSeconds: 3,
      heartbeatSeconds: 0.5,
      checkIntervalSeconds: 1,
      startupGraceSeconds: 5,
      commandTimeoutSeconds: 5,
      leaseSeconds: 20,
    });
    expect(c.staleAfterSeconds).toBe(3);
    expect(configError(() => parseClusterConfig({ ...cluster, compressedTimings: true, commandTimeoutSeconds: 5, leaseSeconds: 10 })).message).toContain(
      'leaseSeconds',
    );
  });
});

describe('parseSettings', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['a bad cluster value, prefixed with cluster.', { cluster: { ...cluster, staleAfterSeconds: 10 } }, ['cluster.staleAfterSeconds', '(got 10)']],
    ['a bad nested cluster node', { cluster: { ...cluster, nodes: [{ id: 'x', hostname: 'h' }] } }, ['cluster.nodes[0].id', '(got "x")']],
    ['a dialect typo', { db: { ...db, dialect: 'oracle' } }, ['db.dialect', '(got "oracle")']],
    ['a port out of range', { db: { ...db, port: 70000 } }, ['db.port', '(got 70000)']],
    ['a schema that is not an identifier', { db: { ...db, schema: 'air flow' } }, ['db.schema', '(got "air flow")']],
    ['two password sources', { db: { ...db, password: 'x', passwordSecretId: 'arn:aws:secretsmanager:eu-west-1:1:secret:db' } }, ['db:', 'choose one of']],
    ['IAM auth without TLS', { db: { ...db, passwordParameterName: undefined, iamAuth: true, tls: false } }, ['db.tls', 'requires TLS']],
    ['a unit name with shell metacharacters', { aws: { ...aws, unitName: 'airflow;reboot' } }, ['aws.unitName', '(got "airflow;reboot")']],
    ['an SSM document name too short', { aws: { ...aws, startDocument: 'x' } }, ['aws.startDocument', '(got "x")']],
    ['a missing section', { aws: undefined }, ['aws', 'expected object']],
    ['an unknown top-level field', { extra: true }, ['unknown field', '"extra"']],
  ])('rejects %s', (_name, patch, needles) => {
    const err = configError(() => parseSettings({ cluster, db, aws, ...patch }));
    expect(err.message).toMatch(/^invalid watchdog configuration: /);
    for (const needle of needles) expect(err.message).toContain(needle);
  });

  it('never prints a password: a bad db.password shows <redacted>', () => {
    const secret = 1234567890;
    const err = configError(() => parseSettings({ cluster, db: { ...db, passwordParameterName: undefined, password: secret }, aws }));
    expect(err.message).toContain('db.password');
    expect(err.message).toContain('<redacted>');
    expect(err.message).not.toContain(String(secret));
    expect(err.issues.join(' ')).not.toContain(String(secret));
  });

  it('names password parameters and secret ids (they are not secrets)', () => {
    const err = configError(() => parseSettings({ cluster, db: { ...db, passwordParameterName: '' }, aws }));
    expect(err.message).toContain('db.passwordParameterName');
    expect(err.message).toContain('(got "")');
  });

  it('applies db and aws defaults', () => {
    const s = parseSettings({ cluster, db, aws });
    expect(s.db).toMatchObject({
      iamAuth: false,
      tls: true,
      tlsRejectUnauthorized: true,
      tablePrefix: '',
      connectTimeoutSeconds: 5,
      queryTimeoutSeconds: 5,
      lookbackSeconds: 86_400,
      passwordCacheSeconds: 300,
    });
    expect(s.db.port).toBeUndefined();
    expect(s.aws.unitName).toBe('airflow-scheduler');
    expect(s.cluster.staleAfterSeconds).toBe(30);
  });
});

describe('settingsFromEnv', () => {
  it.each([
    ['missing', {}],
    ['empty', { [CONFIG_ENV_VAR]: '' }],
    ['blank', { [CONFIG_ENV_VAR]: '   ' }],
  ])('names the variable when it is %s', (_name, env) => {
    const err = configError(() => settingsFromEnv(env));
    expect(err.message).toContain(CONFIG_ENV_VAR);
    expect(err.message).toContain('is required');
  });

  it('says the variable is not valid JSON', () => {
    const err = configError(() => settingsFromEnv({ [CONFIG_ENV_VAR]: '{"cluster": ' }));
    expect(err.message).toContain(`environment variable ${CONFIG_ENV_VAR} is not valid JSON`);
  });

  // V8's JSON.parse message quotes the text around the syntax error, so copying it would leak a literal
  // password next to a typo.
  it('does not echo the configuration text (and so a literal password) from a JSON syntax error', () => {
    const err = configError(() => settingsFromEnv({ [CONFIG_ENV_VAR]: '{"db": {"password": s3cr3t-pw}}' }));
    expect(err.message).not.toContain('s3cr3t');
  });

  it('validates what it parsed', () => {
    const err = configError(() => settingsFromEnv({ [CONFIG_ENV_VAR]: JSON.stringify({ cluster: { ...cluster, checkIntervalSeconds: 45 }, db, aws }) }));
    expect(err.message).toContain('cluster.checkIntervalSeconds');
    expect(err.message).toContain('(got 45)');
  });

  it('returns the parsed settings', () => {
    const s = settingsFromEnv({ [CONFIG_ENV_VAR]: JSON.stringify({ cluster, db, aws }) });
    expect(s.cluster.clusterName).toBe('prod-airflow');
    expect(s.db.dialect).toBe('postgres');
  });
});

describe('parseClusterConfig: components (Airflow 3 control plane)', () => {
  it('keeps a scheduler-only configuration unchanged: one component, the scheduler, from the top-level fields', () => {
    const c = parseClusterConfig(cluster);
    expect(componentsOf(c).map((k) => [k.name, k.unitName, k.jobType, k.staleAfterSeconds, k.nodes.length])).toEqual([
      ['scheduler', 'airflow-scheduler', 'SchedulerJob', 30, 2],
    ]);
  });

  it("resolves the others from Airflow's defaults and the cluster's budgets; the scheduler's settings move to the top level", () => {
    const c = parseClusterConfig({ ...cluster, banAfterFailures: 5, components: { scheduler: { staleAfterSeconds: 45 }, dagProcessor: { nodes: [B.id] }, triggerer: { mode: 'multi', desired: 2 } } });
    expect(c.staleAfterSeconds).toBe(45);
    expect(c.components?.scheduler).toEqual({});
    const [s, d, t] = componentsOf(c);
    expect(s).toMatchObject({ name: 'scheduler', staleAfterSeconds: 45, banAfterFailures: 5 });
    expect(d).toMatchObject({ name: 'dagProcessor', unitName: 'airflow-dag-processor', jobType: 'DagProcessorJob', staleAfterSeconds: 30, heartbeatSeconds: 5, banAfterFailures: 5 });
    expect(d?.nodes.map((n) => n.id)).toEqual([B.id]);
    expect(t).toMatchObject({ name: 'triggerer', jobType: 'TriggererJob', mode: 'multi', desired: 2 });
    // The parsed configuration is valid input again (the construct writes it into the function's environment).
    expect(parseClusterConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown component', { webserver: {} }, 'components: unknown field(s) "webserver"'],
    ['a job type not of that component', { triggerer: { jobType: 'SchedulerJob' } }, 'components.triggerer.jobType: "SchedulerJob" is not the triggerer\'s job type (expected "TriggererJob")'],
    ['two components on one unit', { dagProcessor: { unitName: 'airflow-scheduler' } }, 'components.dagProcessor.unitName: "airflow-scheduler" is also the scheduler\'s unit'],
    ['a component with no eligible node', { dagProcessor: { nodes: [] } }, 'components.dagProcessor.nodes: needs at least one eligible node'],
    ['an eligible node that is not configured', { triggerer: { nodes: ['i-0ffffffffffffffff'] } }, 'components.triggerer.nodes[0]: "i-0ffffffffffffffff" is not a configured node'],
    ['desired above the eligible nodes', { triggerer: { mode: 'multi', desired: 3, nodes: [A.id, B.id] } }, 'components.triggerer.desired: 3 exceeds the 2 eligible node(s)'],
    ['a threshold below two heartbeats', { dagProcessor: { staleAfterSeconds: 20, heartbeatSeconds: 10 } }, 'components.dagProcessor.staleAfterSeconds: must exceed two heartbeats'],
  ])('refuses %s, naming the field', (_what, components, message) => {
    expect(configError(() => parseClusterConfig({ ...cluster, components })).message).toContain(message);
  });

  it("refuses a scheduler setting given both at the top level and under components.scheduler", () => {
    expect(configError(() => parseClusterConfig({ ...cluster, staleAfterSeconds: 40, components: { scheduler: { staleAfterSeconds: 45 } } })).message).toContain(
      'components.scheduler.staleAfterSeconds: the scheduler\'s staleAfterSeconds is also set at the top level (staleAfterSeconds); set it in one place',
    );
  });
});
