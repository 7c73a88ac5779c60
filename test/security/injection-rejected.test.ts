/**
 * Text that could act as shell on a node never gets that far (SPEC §5, §7): a manual payload or a
 * configuration carrying shell metacharacters in a field that reaches SSM (node ids, unit name,
 * document names, `to`) is rejected by the Lambda handler, naming the field, before any AWS call:
 * the mocked SSM client saw zero commands (not even DescribeInstanceInformation or GetParameter)
 * and the record table stayed empty (dynalite, scanned).
 *
 * Hostnames are the one configured text that is not restricted: they are data matched against
 * `job.hostname` (whatever Airflow's hostname_callable returned) and never leave the Lambda towards
 * a node. The last test pins that: a hostname full of metacharacters is accepted, and no SSM input
 * of a tick that starts a scheduler carries it.
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { NODE_PARAM_PATTERNS } from '../../functions/core/node-protocol.js';
import { airflowJobDdl } from '../../local/airflow-schema.js';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.js';
import { closedPort, requireService, type ServiceSettings, type TempMariaDb, tempMariaDb } from '../helpers/services.js';
import { Corpus, captureOutput, coldStart, invoke, scanTable } from './harness.js';

const ssm = mockClient(SSMClient);
const NODE_A = { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a.internal' };
const NODE_B = { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b.internal' };
const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event' };

/** Shell payloads; `X` stands for a harmless command word. */
const SHELL = ['a;id', 'a; rm -rf /', '$(id)', '`id`', 'a|id', 'a && id', 'a\nid', "a'b", 'a"b', 'a>b', 'a$IFS', ['$', '{PATH}'].join(''), 'a\\b', 'a b'];

let dyn: DynaliteHandle;
let dbPort: number;
let corpus: Corpus;
let capture: ReturnType<typeof captureOutput> | undefined;

const validConfig = () => ({
  cluster: { clusterName: 'inj', nodes: [NODE_A, NODE_B] },
  db: {
    dialect: 'mysql',
    host: '127.0.0.1',
    port: dbPort,
    database: 'airflow',
    user: 'watchdog',
    tls: false,
    connectTimeoutSeconds: 1,
    queryTimeoutSeconds: 1,
  },
  aws: { tableName: dyn.tableName, startDocument: 'Inj-Start', stopDocument: 'Inj-Stop', statusDocument: 'Inj-Status', unitName: 'airflow-scheduler' },
});

const env = () => ({
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDINJECTIONTEST',
  AWS_SECRET_ACCESS_KEY: 'injection-test',
  AWS_ENDPOINT_URL_DYNAMODB: dyn.endpoint,
});

const onlineSsm = () => {
  ssm.reset();
  ssm.on(DescribeInstanceInformationCommand).callsFake((input: { Filters?: { Values?: string[] }[] }) => ({
    InstanceInformationList: (input.Filters?.[0]?.Values ?? []).map((id) => ({ InstanceId: id, PingStatus: 'Online' })),
  }));
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-inj' } });
  ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string; InstanceId: string }) => ({
    CommandId: input.CommandId,
    InstanceId: input.InstanceId,
    Status: 'Success',
    StatusDetails: 'Success',
    ResponseCode: 0,
    StandardOutputContent: '{"action":"start","result":"started","epoch":1,"nodeEpoch":1,"running":true,"hostname":"x","unit":"airflow-scheduler"}',
  }));
};

const expectUntouched = async () => {
  expect(ssm.calls()).toHaveLength(0);
  expect((await scanTable(dyn)).items).toEqual([]);
};

beforeAll(async () => {
  dyn = await startDynalite({ tableName: 'inj-watchdog' });
  // Nothing listens: a test that wrongly reached the DB would see it unreachable, not hang.
  dbPort = await closedPort();
});

afterAll(async () => {
  ssm.restore();
  await dyn?.close();
});

beforeEach(() => {
  onlineSsm();
  corpus = new Corpus();
  capture = captureOutput(corpus);
});

afterEach(() => {
  capture?.stop();
  capture = undefined;
  vi.unstubAllEnvs();
});

describe('manual payloads with shell text are InvalidRequest before any AWS call', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ...SHELL.map((s): [string, Record<string, unknown>, string] => [`to ${JSON.stringify(s)}`, { action: 'failover', reason: 'x', to: s }, 'to']),
    ...SHELL.map((s): [string, Record<string, unknown>, string] => [
      `to = node id + ${JSON.stringify(s)}`,
      { action: 'failover', reason: 'x', to: `${NODE_B.id}${s}` },
      'to',
    ]),
    ['to of 256 characters', { action: 'failover', reason: 'x', to: 'a'.repeat(256) }, 'to'],
    ['to with non-ASCII look-alike letters', { action: 'failover', reason: 'x', to: 'і-0bbbbbbbbbbbbbbb2' }, 'to'],
    ['to as an array', { action: 'failover', reason: 'x', to: [NODE_B.id, '; id'] }, 'to'],
    ['action with a command separator', { action: 'status; id' }, 'action'],
    ['action as command substitution', { action: '$(id)' }, 'action'],
    ['caller with a newline', { action: 'pause', reason: 'x', caller: 'alice\nid' }, 'caller'],
    ['caller with an ANSI escape', { action: 'status', caller: 'a\u001b[2Jb' }, 'caller'],
    ['reason with a carriage return', { action: 'pause', reason: 'ok\r$(id)' }, 'reason'],
    ['dryRun as shell text', { action: 'reconcile', dryRun: 'true; id' }, 'dryRun'],
    ['force as shell text', { action: 'failover', reason: 'x', force: '$(id)' }, 'force'],
    ['limit as shell text', { action: 'history', limit: '1;id' }, 'limit'],
    ['an extra command field', { action: 'status', command: 'id' }, 'command'],
    ['an extra unitName field', { action: 'failover', reason: 'x', unitName: 'x;id' }, 'unitName'],
  ];
  it.each(cases)('%s', async (_name, payload, field) => {
    const handler = await coldStart(validConfig(), env());
    const r = await invoke(corpus, handler, payload);
    expect(r.result).toMatchObject({ ok: false, error: { code: 'InvalidRequest', field } });
    expect((r.result as { error: { message: string } }).error.message).toContain(field);
    await expectUntouched();
  });
});

describe('a failover `to` that is well-formed but no configured node is refused without a command or a write', () => {
  // Syntactically a node reference (letters, digits, . _ -), so the request parses; the engine
  // refuses it once it has observed (DB, record, DescribeInstanceInformation for the *configured* ids).
  const refs = ['i-xyz', 'i-0123456789ABCDEF', 'mi-0123456789abcdef', 'i-0bbbbbbbbbbbbbbb', 'I-0BBBBBBBBBBBBBBB2', 'sched-c.internal'];
  it.each(refs)('to %s', async (to) => {
    const handler = await coldStart(validConfig(), env());
    // force: true gets past the "DB unreachable" refusal (nothing listens on the DB port) to the `to` check.
    const r = await invoke(corpus, handler, { action: 'failover', reason: 'x', to, force: true });
    expect(r.result).toMatchObject({ ok: false, error: { code: 'Refused' } });
    expect((r.result as { error: { message: string } }).error.message).toMatch(/^to: /);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    const asked = ssm.commandCalls(DescribeInstanceInformationCommand).flatMap((c) => c.args[0].input.Filters?.flatMap((f) => f.Values ?? []) ?? []);
    expect(new Set(asked)).toEqual(new Set([NODE_A.id, NODE_B.id]));
    expect(ssm.calls().length).toBe(ssm.commandCalls(DescribeInstanceInformationCommand).length);
    expect((await scanTable(dyn)).items).toEqual([]);
  });
});

describe('a configuration with shell text is a ConfigError naming the field, before any AWS call', () => {
  type Mutate = (c: ReturnType<typeof validConfig>) => unknown;
  const nodeIds = [
    'i-xyz',
    'i-0123456789ABCDEF',
    'i-0123456789abcdef',
    'mi-0123456789abcdef',
    'mi-0123456789abcdef01',
    'i-123; rm -rf /',
    `${NODE_A.id}\n`,
    `${NODE_A.id};id`,
    'I-0aaaaaaaa',
    '$(id)',
  ];
  const cases: [string, Mutate, string][] = [
    ...nodeIds.map((id): [string, Mutate, string] => [
      `node id ${JSON.stringify(id)}`,
      (c) => ({ ...c, cluster: { ...c.cluster, nodes: [{ ...NODE_A, id }, NODE_B] } }),
      'cluster.nodes[0].id',
    ]),
    ...SHELL.map((s): [string, Mutate, string] => [
      `unit name ${JSON.stringify(`airflow${s}`)}`,
      (c) => ({ ...c, aws: { ...c.aws, unitName: `airflow${s}` } }),
      'aws.unitName',
    ]),
    ...(['startDocument', 'stopDocument', 'statusDocument'] as const).flatMap((doc) =>
      SHELL.map((s): [string, Mutate, string] => [`${doc} ${JSON.stringify(`Doc${s}`)}`, (c) => ({ ...c, aws: { ...c.aws, [doc]: `Doc${s}` } }), `aws.${doc}`]),
    ),
    ['unit name of 65 characters', (c) => ({ ...c, aws: { ...c.aws, unitName: 'a'.repeat(65) } }), 'aws.unitName'],
    ['cluster name with a command separator', (c) => ({ ...c, cluster: { ...c.cluster, clusterName: 'inj;id' } }), 'cluster.clusterName'],
    ['an extra command field', (c) => ({ ...c, aws: { ...c.aws, command: 'id' } }), 'command'],
  ];
  it.each(cases)('%s', async (_name, mutate, field) => {
    const handler = await coldStart(mutate(validConfig()), env());
    const manual = await invoke(corpus, handler, { action: 'status' });
    expect(manual.result).toMatchObject({ ok: false, error: { code: 'ConfigError' } });
    expect((manual.result as { error: { message: string } }).error.message).toContain(field);
    const scheduled = await invoke(corpus, handler, SCHEDULED);
    expect(scheduled.error).toBeInstanceOf(Error);
    expect(String((scheduled.error as Error).message)).toContain(field);
    await expectUntouched();
  });
});

describe('hostnames are data, never sent to a node', () => {
  let base: ServiceSettings;
  let maria: TempMariaDb;
  beforeAll(async () => {
    base = await requireService('mariadb');
    maria = await tempMariaDb(base, 'wd_inj');
    for (const stmt of airflowJobDdl('mysql')) await maria.conn.query(stmt);
  });
  afterAll(async () => {
    // The handler module keeps its DB connection (as a warm Lambda does); end it from the server side.
    if (maria) {
      const [rows] = await maria.conn.query<RowDataPacket[]>('SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()', [
        maria.settings.database,
      ]);
      for (const row of rows) await maria.conn.query(`KILL ${Number(row.id)}`).catch(() => undefined);
      await maria.drop();
    }
  });

  it('a hostname full of shell text is accepted, and no SSM input of a tick that starts a scheduler carries it', async () => {
    const marker = 'HOSTNAME_MARKER';
    const hostname = `h;$(touch /tmp/${marker})\`id\`|x&&y'"`;
    const config = validConfig();
    const handler = await coldStart(
      {
        ...config,
        cluster: { ...config.cluster, nodes: [{ ...NODE_A, hostname }, NODE_B] },
        db: { ...config.db, host: base.host, port: base.port, user: base.user, database: maria.settings.database },
      },
      env(),
    );
    const r = await invoke(corpus, handler, SCHEDULED);
    expect(r.error).toBeUndefined();
    expect(r.result).toMatchObject({ ok: true, ticks: [{ actions: [{ kind: 'start', nodeId: NODE_A.id, outcome: 'success' }] }] });
    const sends = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input as SendCommandCommandInput);
    expect(sends).toHaveLength(1);
    // Only the epoch and the unit name travel, each matching the node script's own pattern.
    const params = sends[0]?.Parameters ?? {};
    expect(Object.keys(params).sort()).toEqual(Object.keys(NODE_PARAM_PATTERNS).sort());
    for (const [name, pattern] of Object.entries(NODE_PARAM_PATTERNS)) {
      expect(params[name]).toHaveLength(1);
      expect(params[name]?.[0]).toMatch(new RegExp(pattern));
    }
    expect(JSON.stringify(ssm.calls().map((c) => c.args[0].input))).not.toContain(marker);
    // The hostname is in the record and the logs, where it is data.
    expect((await scanTable(dyn)).text).toContain(marker);
  });
});
