import type { Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV_VAR, settingsFromEnv, type WatchdogSettings } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import type { AirflowSchedulerWatchdogProps } from '../../infra/lib/props.js';
import { resolveConfig } from '../../infra/lib/validation.js';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';
import { baseProps, NODES, newStack } from '../infra/fixtures.js';
import { loadBugCase } from './bug-cases.js';

/**
 * Fuzzing the configuration (SPEC §3: "a bad value fails with a message naming the field and the value"):
 *
 * 1. the function's environment (`WATCHDOG_CONFIG`, read by settingsFromEnv): random text, random JSON
 *    and near-valid configurations with a literal DB password in them. Every input gives valid settings
 *    that keep SPEC §3's rules (checked here, independently of the schema), or a ConfigError whose
 *    message names each field made invalid on its own (a dotted path like `cluster.staleAfterSeconds`),
 *    and never contains the password; never any other exception.
 * 2. the CDK construct's props: near-valid props (wrong types, out-of-range values, whole sections of
 *    the wrong type) through `resolveConfig` (the validation the constructor runs first, no synth) and,
 *    fewer, through the constructor itself with bundling skipped: it builds, or throws a ConfigError
 *    naming the prop and the value; never a TypeError or any other exception.
 */

const ENV_RUNS = Number(process.env.FUZZ_CONFIG_ENV_RUNS ?? 3000);
const PROPS_RUNS = Number(process.env.FUZZ_CONFIG_PROPS_RUNS ?? 1500);
const SYNTH_RUNS = Number(process.env.FUZZ_CONFIG_SYNTH_RUNS ?? 150);
const counts = { env: 0, props: 0, synth: 0 };

const INSTANCE_ID = /^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$/;
const isInt = (v: number): boolean => Number.isInteger(v);

/** SPEC §3's rules on a configuration the function accepted, written from the spec, not the schema. */
const expectSpecRules = (s: WatchdogSettings): void => {
  const c = s.cluster;
  expect(c.nodes.length).toBeGreaterThanOrEqual(1);
  for (const n of c.nodes) expect(n.id).toMatch(INSTANCE_ID);
  expect(new Set(c.nodes.map((n) => n.id)).size).toBe(c.nodes.length);
  expect(new Set(c.nodes.map((n) => n.hostname)).size).toBe(c.nodes.length);
  expect(['single', 'multi']).toContain(c.mode);
  if (c.mode === 'single') expect(c.desiredSchedulers).toBe(1);
  expect(isInt(c.desiredSchedulers) && c.desiredSchedulers >= 1 && c.desiredSchedulers <= c.nodes.length).toBe(true);
  for (const k of ['restartInPlaceAttempts', 'banAfterFailures', 'maxFailoversPerHour'] as const) expect(isInt(c[k]) && c[k] >= 0).toBe(true);
  expect(c.banAfterFailures).toBeGreaterThanOrEqual(1);
  for (const k of [
    'staleAfterSeconds',
    'heartbeatSeconds',
    'startupGraceSeconds',
    'failureResetSeconds',
    'checkIntervalSeconds',
    'commandTimeoutSeconds',
    'leaseSeconds',
  ] as const) {
    expect(Number.isFinite(c[k]) && c[k] > 0).toBe(true);
  }
  if (!c.compressedTimings) {
    expect(c.staleAfterSeconds).toBeGreaterThanOrEqual(15);
    expect([60, 10, 12, 15, 20, 30]).toContain(c.checkIntervalSeconds);
    expect(c.commandTimeoutSeconds).toBeGreaterThanOrEqual(30);
  }
  expect(c.leaseSeconds).toBeGreaterThanOrEqual(c.commandTimeoutSeconds + 15);
  expect(c.staleAfterSeconds).toBeGreaterThan(2 * c.heartbeatSeconds);
  expect(c.startupGraceSeconds).toBeGreaterThanOrEqual(c.checkIntervalSeconds);
  expect(['enforce', 'dry-run', 'observe']).toContain(c.enforcement);
  const d = s.db;
  expect(['mysql', 'postgres']).toContain(d.dialect);
  if (d.port !== undefined) expect(isInt(d.port) && d.port >= 1 && d.port <= 65535).toBe(true);
  const sources = [d.passwordParameterName, d.passwordSecretId, d.password].filter((v) => v !== undefined).length + (d.iamAuth ? 1 : 0);
  expect(sources).toBeLessThanOrEqual(1);
  if (d.iamAuth) expect(d.tls).toBe(true);
  expect(d.connectTimeoutSeconds).toBeLessThanOrEqual(30);
  expect(d.queryTimeoutSeconds).toBeLessThanOrEqual(30);
};

// ---------------------------------------------------------------------------------------------
// 1. WATCHDOG_CONFIG

const validConfig = (password: string): Record<string, Record<string, unknown>> => ({
  cluster: {
    clusterName: 'prod',
    nodes: [
      { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
      { id: 'mi-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
    ],
  },
  db: { dialect: 'postgres', host: 'db.internal', database: 'airflow', user: 'watchdog', password },
  aws: { tableName: 'watchdog', startDocument: 'Watchdog-Start', stopDocument: 'Watchdog-Stop', statusDocument: 'Watchdog-Status' },
});

/** A password no field name, message text or generated value contains by chance. */
const passwordArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9]{6}$/).map((s) => `Pw9-${s}-q!Z`),
  fc.constantFrom('hunter2-Pw9-"quoted"', 'Pw9-ünïcödé-😀', 'Pw9 with spaces and \\ backslash', 'Pw9-@:/?#[]'),
);

const wrongType = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, '', ' ', '30', 'yes', [], {}, [1], { a: 1 }),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('x'.repeat(5000), 'ä'.repeat(300), '😀', 'a\u0000b', '$(reboot)', '; rm -rf /'),
);
const numberish = fc.oneof(
  fc.integer({ min: -5, max: 1000 }),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.constantFrom(0, 14.999, 15, 29, 30, 60, 61, 75, 900, 2 ** 53, -0),
);

/** Leaf fields of the config and what an invalid-by-itself value for each looks like. */
interface Field {
  readonly section: 'cluster' | 'db' | 'aws';
  readonly key: string;
  /** Any value accepted or refused (cross-field rules may refuse it). */
  readonly maybe: fc.Arbitrary<unknown>;
  /** Values the field refuses on its own, whatever else is set. */
  readonly bad: fc.Arbitrary<unknown>;
}
const notString = fc.constantFrom(null, true, 0, 1.5, [], {}, ['a']);
const notNumber = fc.constantFrom(null, true, '30', '', [], {}, [30]);
const notBool = fc.constantFrom(null, 0, 1, 'true', 'false', '', [], {});
const posDuration = (key: string, section: Field['section'] = 'cluster'): Field => ({
  section,
  key,
  maybe: numberish,
  bad: fc.oneof(notNumber, fc.constantFrom(0, -1, -0.5, -1e9)),
});
const count = (key: string, min: number): Field => ({
  key,
  section: 'cluster',
  maybe: fc.oneof(fc.integer({ min: -2, max: 10 }), fc.double({ min: -2, max: 10, noNaN: true })),
  bad: fc.oneof(notNumber, fc.constantFrom(min - 1, 1.5, -7)),
});
const str = (section: Field['section'], key: string, bad: fc.Arbitrary<unknown>): Field => ({
  section,
  key,
  maybe: fc.oneof(wrongType, fc.string({ maxLength: 70 })),
  bad,
});

const FIELDS: readonly Field[] = [
  str('cluster', 'clusterName', fc.oneof(notString, fc.constantFrom('', 'prod cluster', 'a/b', 'x'.repeat(65), 'prød'))),
  { section: 'cluster', key: 'mode', maybe: fc.constantFrom('single', 'multi', 'Single', ''), bad: fc.oneof(notString, fc.constantFrom('Single', 'dual', '')) },
  count('desiredSchedulers', 1),
  posDuration('staleAfterSeconds'),
  posDuration('startupGraceSeconds'),
  count('restartInPlaceAttempts', 0),
  count('banAfterFailures', 1),
  posDuration('failureResetSeconds'),
  count('maxFailoversPerHour', 0),
  posDuration('checkIntervalSeconds'),
  {
    section: 'cluster',
    key: 'enforcement',
    maybe: fc.constantFrom('enforce', 'dry-run', 'observe', 'dryrun'),
    bad: fc.oneof(notString, fc.constantFrom('dryrun', 'ENFORCE')),
  },
  posDuration('commandTimeoutSeconds'),
  posDuration('leaseSeconds'),
  { section: 'cluster', key: 'compressedTimings', maybe: fc.boolean(), bad: notBool },
  {
    section: 'db',
    key: 'dialect',
    maybe: fc.constantFrom('mysql', 'postgres', 'postgresql'),
    bad: fc.oneof(notString, fc.constantFrom('postgresql', 'MySQL', 'sqlite')),
  },
  str('db', 'host', fc.oneof(notString, fc.constant(''))),
  {
    section: 'db',
    key: 'port',
    maybe: fc.oneof(fc.integer({ min: -1, max: 70_000 }), notNumber),
    bad: fc.oneof(notNumber, fc.constantFrom(0, 65536, 5432.5, -1)),
  },
  str('db', 'database', fc.oneof(notString, fc.constant(''))),
  str('db', 'user', fc.oneof(notString, fc.constant(''))),
  str('db', 'passwordParameterName', fc.oneof(notString, fc.constant(''))),
  str('db', 'passwordSecretId', fc.oneof(notString, fc.constant(''))),
  { section: 'db', key: 'iamAuth', maybe: fc.boolean(), bad: notBool },
  { section: 'db', key: 'tls', maybe: fc.boolean(), bad: notBool },
  { section: 'db', key: 'tlsRejectUnauthorized', maybe: fc.boolean(), bad: notBool },
  str('db', 'schema', fc.oneof(notString, fc.constantFrom('', 'air flow', '1abc', 'a;drop'))),
  str('db', 'tablePrefix', fc.oneof(notString, fc.constantFrom('a-b', 'x'.repeat(33), 'ä'))),
  { ...posDuration('connectTimeoutSeconds', 'db'), bad: fc.oneof(notNumber, fc.constantFrom(0, -1, 31, 1e6)) },
  { ...posDuration('queryTimeoutSeconds', 'db'), bad: fc.oneof(notNumber, fc.constantFrom(0, -1, 31, 1e6)) },
  posDuration('lookbackSeconds', 'db'),
  posDuration('passwordCacheSeconds', 'db'),
  str('aws', 'tableName', fc.oneof(notString, fc.constantFrom('', 'ab', 't'.repeat(256)))),
  str('aws', 'startDocument', fc.oneof(notString, fc.constantFrom('', 'ab', 'AWS RunShellScript', 'd'.repeat(129)))),
  str('aws', 'stopDocument', fc.oneof(notString, fc.constantFrom('ab', 'a/b'))),
  str('aws', 'statusDocument', fc.oneof(notString, fc.constantFrom('ab', 'a b'))),
  str('aws', 'unitName', fc.oneof(notString, fc.constantFrom('', 'airflow scheduler', 'a;b', 'u'.repeat(65)))),
  str('aws', 'commandLogGroupName', fc.oneof(notString, fc.constant(''))),
];
const REQUIRED = new Set([
  'cluster.clusterName',
  'cluster.nodes',
  'db.dialect',
  'db.host',
  'db.database',
  'db.user',
  'aws.tableName',
  'aws.startDocument',
  'aws.stopDocument',
  'aws.statusDocument',
]);

type Mutation =
  | { readonly kind: 'set'; readonly field: Field; readonly value: unknown; readonly bad: boolean }
  | { readonly kind: 'delete'; readonly path: string }
  | { readonly kind: 'unknown'; readonly section: 'cluster' | 'db' | 'aws' | 'root'; readonly key: string; readonly value: unknown }
  | { readonly kind: 'node'; readonly index: number; readonly key: 'id' | 'hostname' | 'extra'; readonly value: unknown; readonly bad: boolean }
  | { readonly kind: 'nodes'; readonly value: unknown };

const fieldArb = fc.constantFrom(...FIELDS);
const NODE_IDS = ['i-0aaaaaaaaaaaaaaa1', 'mi-0bbbbbbbbbbbbbbb2', 'i-0123abcd', 'i-0cccccccccccccccc', 'mi-0dddddddddddddddd'];
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fieldArb.chain((field) => field.bad.map((value) => ({ kind: 'set' as const, field, value, bad: true }))) },
  { weight: 4, arbitrary: fieldArb.chain((field) => field.maybe.map((value) => ({ kind: 'set' as const, field, value, bad: false }))) },
  { weight: 1, arbitrary: fc.constantFrom(...REQUIRED).map((path) => ({ kind: 'delete' as const, path })) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('unknown' as const),
      section: fc.constantFrom('cluster', 'db', 'aws', 'root'),
      key: fc.constantFrom('__proto__', 'constructor', 'toString', 'staleAfter', 'Password', 'pasword', 'ä', 'passwordSecret'),
      value: fc.oneof(wrongType, fc.constant({ polluted: true })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({
        kind: fc.constant('node' as const),
        index: fc.integer({ min: 0, max: 1 }),
        key: fc.constant('id' as const),
        value: fc.oneof(fc.constantFrom(...NODE_IDS), fc.constantFrom('i-0AAAAAAAAAAAAAAA1', 'i-123', 'mi-0abc', 'i-0aaaaaaaaaaaaaaa1 ', null, 5)),
        bad: fc.constant(false),
      }),
      fc.record({
        kind: fc.constant('node' as const),
        index: fc.integer({ min: 0, max: 1 }),
        key: fc.constant('hostname' as const),
        value: fc.oneof(fc.constantFrom('sched-a', 'sched-b', 'h'.repeat(500), 'ホスト', ' '), fc.constantFrom('', 'h'.repeat(501), null, 7, [])),
        bad: fc.constant(false),
      }),
      fc.record({
        kind: fc.constant('node' as const),
        index: fc.integer({ min: 0, max: 1 }),
        key: fc.constant('extra' as const),
        value: wrongType,
        bad: fc.constant(true),
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        wrongType,
        fc.constant([]),
        fc.array(fc.record({ id: fc.constantFrom(...NODE_IDS), hostname: fc.string({ minLength: 1, maxLength: 5 }) }), { maxLength: 4 }),
      )
      .map((value) => ({ kind: 'nodes' as const, value })),
  },
);

/** Applies mutations (at most one per path) and returns the text, plus the paths each invalid-by-itself mutation must be named by. */
const mutate = (password: string, mutations: readonly Mutation[]): { text: string; mustName: string[]; mustShow: string[] } => {
  const cfg = validConfig(password);
  const nodes = (cfg.cluster as { nodes: Record<string, unknown>[] }).nodes;
  const mustName: string[] = [];
  const mustShow: string[] = [];
  const seen = new Set<string>();
  let nodesReplaced = false;
  // Whole-list changes first, so that a node mutation after them is moot rather than lost.
  const wholeFirst = [...mutations].sort(
    (a, b) =>
      Number(b.kind === 'nodes' || (b.kind === 'delete' && b.path === 'cluster.nodes')) -
      Number(a.kind === 'nodes' || (a.kind === 'delete' && a.path === 'cluster.nodes')),
  );
  for (const m of wholeFirst) {
    const path =
      m.kind === 'set'
        ? `${m.field.section}.${m.field.key}`
        : m.kind === 'delete'
          ? m.path
          : m.kind === 'unknown'
            ? `${m.section}.${m.key}`
            : m.kind === 'node'
              ? `cluster.nodes[${m.index}].${m.key}`
              : 'cluster.nodes';
    if (seen.has(path) || (nodesReplaced && path.startsWith('cluster.nodes'))) continue;
    seen.add(path);
    switch (m.kind) {
      case 'set':
        (cfg[m.field.section] as Record<string, unknown>)[m.field.key] = m.value;
        if (m.bad) mustName.push(path);
        if (m.bad && m.value !== null && typeof m.value !== 'object') mustShow.push((JSON.stringify(m.value) ?? '').slice(0, 40));
        break;
      case 'delete': {
        const [section, key] = path.split('.') as [string, string];
        delete (cfg[section] as Record<string, unknown>)[key];
        if (key === 'nodes') nodesReplaced = true;
        mustName.push(path);
        break;
      }
      case 'unknown':
        if (m.section === 'root') Object.defineProperty(cfg, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
        else Object.defineProperty(cfg[m.section], m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
        // `root: unknown field(s) "x"` names the key; the check below looks for the key.
        mustName.push(JSON.stringify(m.key));
        break;
      case 'node': {
        const node = nodes[m.index] as Record<string, unknown>;
        node[m.key] = m.value;
        if (m.bad) mustName.push(JSON.stringify(m.key));
        break;
      }
      case 'nodes':
        (cfg.cluster as Record<string, unknown>).nodes = m.value;
        nodesReplaced = true;
        break;
    }
  }
  return { text: JSON.stringify(cfg), mustName, mustShow };
};

/** Names a path as the message does: `cluster.nodes[0].id`; an unknown key as its quoted name. */
const expectNamed = (message: string, path: string): void => {
  expect(message.includes(path), `message does not name ${path}: ${message.slice(0, 600)}`).toBe(true);
};

const checkEnv = (
  env: Record<string, string | undefined>,
  password: string | undefined,
  mustName: readonly string[],
  mustShow: readonly string[] = [],
): void => {
  counts.env += 1;
  let settings: WatchdogSettings | undefined;
  let thrown: unknown;
  try {
    settings = settingsFromEnv(env);
  } catch (err) {
    thrown = err;
  }
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
  if (settings !== undefined) {
    expect(mustName, 'accepted a configuration with a field invalid on its own').toEqual([]);
    expectSpecRules(settings);
    return;
  }
  expect(thrown, `not a ConfigError: ${String(thrown)}`).toBeInstanceOf(ConfigError);
  const err = thrown as ConfigError;
  if (password !== undefined && password.length > 0) {
    expect(err.message.includes(password), `the password is in the message: ${err.message.slice(0, 400)}`).toBe(false);
    expect(err.issues.some((i) => i.includes(password))).toBe(false);
  }
  // Names a field: a dotted path under a section, the root, or the variable itself.
  expect(err.message).toMatch(/(cluster|db|aws)(\.|: |\[)|\(root\)|WATCHDOG_CONFIG/);
  for (const path of mustName) expectNamed(err.message, path);
  for (const value of mustShow) expect(err.message, 'the bad value is not shown').toContain(value);
};

// ---------------------------------------------------------------------------------------------
// 2. Construct props

/** Where a construct prop shows up in a message: its own name, or the function setting it maps to. */
const DB_ALIASES: Readonly<Record<string, string>> = { databaseName: 'db.database' };

interface PropMutation {
  readonly where: 'cluster' | 'database' | 'top';
  readonly key: string;
  readonly value: unknown;
  /** Invalid on its own: the message must name the prop and show the value. */
  readonly bad: boolean;
}

const show = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? text.slice(0, 60) : text;
};

const clusterPropArb: fc.Arbitrary<PropMutation> = fc.oneof(
  fieldArb
    .filter((f) => f.section === 'cluster' && f.key !== 'compressedTimings')
    .chain((f) => f.bad.map((value) => ({ where: 'cluster' as const, key: f.key, value, bad: true }))),
  fieldArb
    .filter((f) => f.section === 'cluster' && f.key !== 'compressedTimings')
    .chain((f) => f.maybe.map((value) => ({ where: 'cluster' as const, key: f.key, value, bad: false }))),
);
const DB_PROP_OF: Readonly<Record<string, string>> = { database: 'databaseName' };
const databasePropArb: fc.Arbitrary<PropMutation> = fc.oneof(
  fieldArb
    .filter((f) => f.section === 'db' && !['passwordParameterName', 'passwordSecretId', 'iamAuth', 'password'].includes(f.key))
    .chain((f) =>
      fc.tuple(
        fc.constant(f),
        fc.oneof(
          f.bad.map((v) => [v, true] as const),
          f.maybe.map((v) => [v, false] as const),
        ),
      ),
    )
    .map(([f, [value, bad]]) => ({ where: 'database' as const, key: DB_PROP_OF[f.key] ?? f.key, value, bad })),
  fc.record({
    where: fc.constant('database' as const),
    key: fc.constant('iamAuthResourceId'),
    value: fc.constantFrom('db-ABC123', 'my-db', 5, '', 'arn:aws:rds:x'),
    bad: fc.constant(false),
  }),
);
const topPropArb: fc.Arbitrary<PropMutation> = fc.oneof(
  fc.record({
    where: fc.constant('top' as const),
    key: fc.constantFrom('unitName', 'nodeTagKey', 'nodeTagValue', 'alarmEmail', 'dashboardName'),
    value: fc.oneof(wrongType, fc.constantFrom('airflow-scheduler', 'ops@example.com', 'aws:x', 'prod', 'dash_1')),
    bad: fc.constant(false),
  }),
  fc.record({
    where: fc.constant('top' as const),
    key: fc.constantFrom('reservedConcurrentExecutions', 'memorySizeMiB', 'schedulerDownMinutes', 'notRunningMinutes'),
    value: fc.oneof(numberish, notNumber, fc.constantFrom(2, 128, 1440, 10_240)),
    bad: fc.constant(false),
  }),
  fc.record({
    where: fc.constant('top' as const),
    key: fc.constantFrom('dashboard', 'commandOutputLogging', 'scheduleEnabled', 'createVpcEndpoints'),
    value: fc.oneof(fc.boolean(), notBool),
    bad: fc.constant(false),
  }),
  fc.record({
    where: fc.constant('top' as const),
    key: fc.constantFrom('cluster', 'database'),
    value: fc.constantFrom(null, 5, 'prod', true, [], [{}]),
    bad: fc.constant(true),
  }),
);
const propMutationsArb = fc.array(fc.oneof(clusterPropArb, databasePropArb, topPropArb), { minLength: 1, maxLength: 3 });

const applyProps = (stack: Stack, mutations: readonly PropMutation[], secret: boolean): { props: AirflowSchedulerWatchdogProps; applied: PropMutation[] } => {
  const base = baseProps(stack);
  const props: Record<string, unknown> = { ...base, cluster: { ...base.cluster }, database: { ...base.database } };
  if (secret) {
    const db = props.database as Record<string, unknown>;
    delete db.passwordParameter;
    db.passwordSecret = secretsmanager.Secret.fromSecretNameV2(stack, `S${stack.node.children.length}`, 'airflow/db');
  }
  const applied: PropMutation[] = [];
  const seen = new Set<string>();
  for (const m of mutations) {
    const id = m.where === 'top' ? m.key : `${m.where}.${m.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    // A whole section replaced makes mutations inside it moot.
    if (m.where !== 'top' && seen.has(m.where)) continue;
    if (m.where === 'top') props[m.key] = m.value;
    else if (props[m.where] !== null && typeof props[m.where] === 'object' && !Array.isArray(props[m.where]))
      (props[m.where] as Record<string, unknown>)[m.key] = m.value;
    else continue;
    applied.push(m);
  }
  return { props: props as unknown as AirflowSchedulerWatchdogProps, applied };
};

const namesOf = (m: PropMutation): string[] =>
  m.where === 'top' || m.where === 'cluster' ? [m.key] : [`database.${m.key}`, DB_ALIASES[m.key] ?? `db.${m.key}`, m.key];

/**
 * Either built, or a ConfigError naming a prop invalid on its own and its value. Validation runs in
 * stages (construct checks, cluster, function settings), so only the first failing stage is reported.
 */
const checkProps = (thrown: unknown, applied: readonly PropMutation[]): void => {
  const shown = () => `${JSON.stringify(applied.map((m) => [m.where, m.key, m.value])).slice(0, 400)}`;
  const bad = applied.filter((m) => m.bad && !(m.where !== 'top' && applied.some((o) => o.where === 'top' && o.key === m.where)));
  if (thrown === undefined) {
    expect(bad, `accepted props with a value invalid on its own: ${shown()}`).toEqual([]);
    return;
  }
  expect(thrown, `${shown()} threw ${String(thrown)} ${(thrown as Error).stack?.split('\n').slice(0, 4).join(' ')}`).toBeInstanceOf(ConfigError);
  const message = (thrown as Error).message;
  // Names one of the props changed (a failing stage may stop at a prop merely out of range), and shows the value of a bad one it names.
  const named = applied.filter((m) => namesOf(m).some((n) => message.includes(n)));
  expect(named.length, `${shown()}: message names none of the changed props: ${message.slice(0, 500)}`).toBeGreaterThan(0);
  if (bad.length > 0 && bad.length === applied.length) expect(named.some((m) => bad.includes(m))).toBe(true);
  for (const m of named) {
    if (bad.includes(m) && m.value !== null && typeof m.value !== 'object')
      expect(message, `${shown()}: value not shown`).toContain(show(m.value).slice(0, 40));
  }
  expect(message).not.toMatch(/TypeError|undefined \(reading|is not a function|Cannot (read|use)/);
};

describe('fuzz: configuration', () => {
  afterAll(() => {
    console.log(`fuzz config: ${counts.env} WATCHDOG_CONFIG values, ${counts.props} construct props validated, ${counts.synth} constructs built`);
  });

  it(`${ENV_RUNS} WATCHDOG_CONFIG values (random text, random JSON, near-valid with a literal password): valid settings or a ConfigError naming the field, never the password`, () => {
    const rawArb = fc.oneof(
      {
        weight: 1,
        arbitrary: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }).map((text) => ({ text, password: undefined, mustName: [] as string[] })),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v), password: undefined, mustName: [] as string[] })) },
      {
        weight: 6,
        arbitrary: fc.tuple(passwordArb, fc.array(mutationArb, { maxLength: 3 })).map(([password, ms]) => ({ ...mutate(password, ms), password })),
      },
      {
        // Broken JSON around the password: the parse error must not quote the text.
        weight: 1,
        arbitrary: fc.tuple(passwordArb, fc.integer({ min: 1, max: 200 })).map(([password, cut]) => {
          const text = JSON.stringify(validConfig(password));
          const at = text.indexOf(password) + 2;
          return { text: `${text.slice(0, Math.min(cut, at))}\u0001${text.slice(Math.min(cut, at))}`, password, mustName: [] as string[] };
        }),
      },
      {
        // The password where another value belongs, or a whole section given as a connection URL.
        weight: 1,
        arbitrary: fc
          .tuple(passwordArb, fc.constantFrom('db', 'cluster', 'root', 'host', 'port', 'query', 'libpq', 'noscheme', 'escaped', 'passwd', 'iamAuth'))
          .map(([password, where]) => {
            const base = validConfig(password);
            const cfg: Record<string, unknown> = { ...base };
            const url = `postgres://watchdog:${password}@db.internal:5432/airflow`;
            // Forms that are text, not URLs with userinfo, carry the password URL-encoded as a user would write it.
            const enc = encodeURIComponent(password);
            let shown = password;
            if (where === 'db') cfg.db = url;
            else if (where === 'cluster') cfg.cluster = { ...base.cluster, password };
            else if (where === 'host') cfg.db = { ...base.db, host: { url } };
            else if (where === 'port') cfg.db = { ...base.db, port: { value: 5432, password } };
            else if (where === 'query') [cfg.db, shown] = [`postgres://db.internal/airflow?user=w&password=${enc}`, enc];
            else if (where === 'libpq') [cfg.db, shown] = [`host=db.internal user=w password=${enc} dbname=airflow`, enc];
            else if (where === 'noscheme') [cfg.db, shown] = [`watchdog:${enc}@db.internal:5432/airflow`, enc];
            else if (where === 'escaped') cfg.db = url.replace('://', ':\\/\\/');
            else if (where === 'passwd') cfg.db = { ...base.db, port: [{ passwd: password }, { pwd: password, token: password }] };
            else if (where === 'iamAuth') cfg.db = { ...base.db, iamAuth: password };
            return { text: where === 'root' ? JSON.stringify(url) : JSON.stringify(cfg), password: shown, mustName: [] as string[] };
          }),
      },
    );
    fc.assert(
      fc.property(rawArb, (r) => checkEnv({ [CONFIG_ENV_VAR]: r.text }, r.password, r.mustName, 'mustShow' in r ? r.mustShow : [])),
      { numRuns: ENV_RUNS },
    );
  }, 60_000);

  it('a configuration with every value valid is accepted (the generator is not vacuous)', () => {
    const settings = settingsFromEnv({ [CONFIG_ENV_VAR]: mutate('Pw9-secret', []).text });
    expectSpecRules(settings);
    expect(settings.db.password).toBe('Pw9-secret');
  });

  it(`${PROPS_RUNS} near-valid construct props through resolveConfig: valid, or a ConfigError naming the prop and the value`, () => {
    // One stack for all: resolveConfig reads props only (the VPC and secret lookups are pure).
    const stack = newStack('Props');
    fc.assert(
      fc.property(propMutationsArb, fc.boolean(), (mutations, secret) => {
        counts.props += 1;
        const { props, applied } = applyProps(stack, mutations, secret);
        let thrown: unknown;
        try {
          resolveConfig(props);
        } catch (err) {
          thrown = err;
        }
        checkProps(thrown, applied);
      }),
      { numRuns: PROPS_RUNS },
    );
  }, 60_000);

  it(`${SYNTH_RUNS} near-valid construct props through the constructor: it builds, or a ConfigError naming the prop and the value`, () => {
    fc.assert(
      fc.property(propMutationsArb, fc.boolean(), (mutations, secret) => {
        counts.synth += 1;
        const stack = newStack('Synth');
        const { props, applied } = applyProps(stack, mutations, secret);
        let thrown: unknown;
        try {
          new AirflowSchedulerWatchdog(stack, 'Watchdog', props);
        } catch (err) {
          thrown = err;
        }
        checkProps(thrown, applied);
      }),
      { numRuns: SYNTH_RUNS },
    );
  }, 120_000);

  it('bug case: no password in a configuration error, whatever form carries it (bug-config-error-echoes-password-outside-url-userinfo)', () => {
    const c = loadBugCase<{ secret: string; dbVariants: unknown[]; greedy: unknown }, { errorContains: string[]; greedyKeeps: string }>(
      'bug-config-error-echoes-password-outside-url-userinfo',
    );
    const messageOf = (config: unknown): string => {
      try {
        settingsFromEnv({ [CONFIG_ENV_VAR]: JSON.stringify(config) });
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(config)}`);
    };
    const base = validConfig('unused-Pw9');
    for (const db of c.input.dbVariants) {
      const message = messageOf({ ...base, db });
      for (const part of c.expect.errorContains) expect(message, message).toContain(part);
      expect(message, message).not.toContain(c.input.secret);
    }
    const greedy = messageOf({ ...base, db: c.input.greedy });
    expect(greedy, greedy).not.toContain(c.input.secret);
    expect(greedy, greedy).toContain(c.expect.greedyKeeps);
    // The construct's own synth errors use the same rendering.
    for (const database of [`postgres://w:${c.input.secret}@db.internal/airflow`, [{ password: c.input.secret }], `w:${c.input.secret}@db`]) {
      const stack = newStack('Bug');
      let thrown: unknown;
      try {
        new AirflowSchedulerWatchdog(stack, 'Watchdog', { ...baseProps(stack), database } as unknown as AirflowSchedulerWatchdogProps);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as Error).message).toContain('database: must be an object');
      expect((thrown as Error).message).not.toContain(c.input.secret);
    }
  });

  it('bug case: a regex-checked name prop of the wrong type is a ConfigError, not a TypeError (bug-construct-name-prop-of-wrong-type)', () => {
    const c = loadBugCase<{ variants: { props: Record<string, unknown>; prop: string }[] }, { error: string; messageContains: string }>(
      'bug-construct-name-prop-of-wrong-type',
    );
    for (const { props, prop } of c.input.variants) {
      const stack = newStack('Bug');
      let thrown: unknown;
      try {
        new AirflowSchedulerWatchdog(stack, 'Watchdog', { ...baseProps(stack), ...props } as unknown as AirflowSchedulerWatchdogProps);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as Error | undefined)?.name, `${JSON.stringify(props)}: ${String(thrown)}`).toBe(c.expect.error);
      expect((thrown as Error).message).toContain(c.expect.messageContains.replace('{prop}', prop));
      expect((thrown as Error).message).toContain(`(got ${JSON.stringify(props[prop])}`);
    }
  });

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-construct-*.json)', () => {
    const c = loadBugCase<{ variants: { prop: string; value: unknown }[] }, { error: string; messageContains: string }>(
      'bug-construct-section-prop-of-wrong-type',
    );
    for (const { prop, value } of c.input.variants) {
      const stack = newStack('Bug');
      let thrown: unknown;
      try {
        new AirflowSchedulerWatchdog(stack, 'Watchdog', { ...baseProps(stack), [prop]: value } as unknown as AirflowSchedulerWatchdogProps);
      } catch (err) {
        thrown = err;
      }
      expect((thrown as Error | undefined)?.name, `${prop}: ${JSON.stringify(value)}: ${String(thrown)}`).toBe(c.expect.error);
      expect((thrown as Error).message).toContain(c.expect.messageContains.replace('{prop}', prop).replace('{value}', JSON.stringify(value)));
    }
  });

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-config-*.json)', () => {
    const c = loadBugCase<{ variants: { db: Record<string, unknown>; shows: string }[] }, { error: string }>('bug-config-duration-value-redacted-as-password');
    for (const v of c.input.variants) {
      const cfg = validConfig('Pw9-secret');
      const text = JSON.stringify({ ...cfg, db: { ...cfg.db, ...v.db } });
      let thrown: unknown;
      try {
        settingsFromEnv({ [CONFIG_ENV_VAR]: text });
      } catch (err) {
        thrown = err;
      }
      expect((thrown as Error | undefined)?.name).toBe(c.expect.error);
      expect((thrown as Error).message).toContain(v.shows);
      expect((thrown as Error).message).not.toContain('Pw9-secret');
    }
  });

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-construct-oversized-*.json)', () => {
    const c = loadBugCase<{ variants: { database: Record<string, string>; names: string }[] }, { error: string; notNames: string }>(
      'bug-construct-oversized-db-value-blamed-on-nodes',
    );
    for (const v of c.input.variants) {
      const stack = newStack('Bug');
      const base = baseProps(stack);
      const database = Object.fromEntries(Object.entries(v.database).map(([k, x]) => [k, x.replace(/^<x\*(\d+)>$/, (_m, n: string) => 'x'.repeat(Number(n)))]));
      let thrown: unknown;
      try {
        new AirflowSchedulerWatchdog(stack, 'Watchdog', { ...base, database: { ...base.database, ...database } });
      } catch (err) {
        thrown = err;
      }
      expect((thrown as Error | undefined)?.name, String(thrown)).toBe(c.expect.error);
      expect((thrown as Error).message).toContain(v.names);
      expect((thrown as Error).message).not.toContain(c.expect.notNames);
    }
  });

  it('the base props build (the props generator starts from a valid construct)', () => {
    const stack = newStack('Base');
    const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', baseProps(stack));
    expect(watchdog.cluster.nodes.map((n) => n.id)).toEqual(NODES.map((n) => n.id));
  });
});
