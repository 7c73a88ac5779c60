/**
 * SPEC §3: "The password never appears in logs, errors, metrics or returned payloads."
 *
 * The real watchdog path, as a Lambda cold start builds it: functions/handler.ts parses
 * WATCHDOG_CONFIG, runtime/wiring.ts builds the real metadata-db adapter (mysql2 / pg against the
 * local MariaDB / PostgreSQL), the real db-credentials source (Secrets Manager secret or SSM
 * SecureString parameter, fetched through Powertools Parameters; only the AWS API answer is mocked)
 * and the real DynamoDB record store (against dynalite). SSM Run Command is mocked with
 * aws-sdk-client-mock.
 *
 * Everything observable is captured (harness.ts): stdout/stderr and console (Powertools Logger JSON
 * lines and Metrics EMF blobs), returned payloads, thrown errors with stack and cause chain, the
 * DynamoDB table, and the inputs of every SSM call. No form of the password (raw, URL-, form- and
 * JSON-escaped, base64, base64url, hex, and its random core) may occur anywhere; and each test
 * checks that the corpus holds what it should (tick lines, metrics, record), so it cannot pass
 * because nothing was captured.
 */
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, GetParameterCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { settingsFromEnv } from '../../functions/core/config.js';
import { airflowJobDdl } from '../../local/airflow-schema.js';
import { loadBugCase } from '../fuzz/bug-cases.js';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.js';
import {
  closedPort,
  type FaultServer,
  hungServer,
  requireService,
  type ServiceSettings,
  type TempMariaDb,
  type TempPostgres,
  tempMariaDb,
  tempPostgres,
  uniqueName,
} from '../helpers/services.js';
import { Corpus, captureOutput, coldStart, distinctivePassword, findLeaks, invoke, leakForms, scanTable } from './harness.js';

const NODE_A = { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sec-sched-a.internal' };
const NODE_B = { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sec-sched-b.internal' };
const SECRET_ID = 'airflow/watchdog/sec-metadata-db';
const PARAMETER_NAME = '/airflow/watchdog/sec-db-password';
const SCHEDULED = { source: 'aws.events', 'detail-type': 'Scheduled Event' };

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);

const PW = distinctivePassword();
/** A second distinctive password: what a misconfigured secret holds in the wrong-password case. */
const WRONG = distinctivePassword();
const ALL_SECRETS = [PW, WRONG];

let mariaBase: ServiceSettings;
let pgBase: ServiceSettings;
let maria: TempMariaDb;
let pgdb: TempPostgres;
let dyn: DynaliteHandle;
const mariaUser = uniqueName('wd_sec').slice(0, 32);
const pgRole = uniqueName('wd_sec');
const faults: FaultServer[] = [];

/** Node reports as the node script prints them (last stdout line). */
const nodeReport = (action: string, epoch: number) =>
  JSON.stringify({
    action,
    result: action === 'start' ? 'started' : 'stopped',
    epoch,
    nodeEpoch: epoch,
    running: action === 'start',
    hostname: 'x',
    unit: 'airflow-scheduler',
  });

/** SSM as the fleet sees it: every node Online, every command succeeds. */
const healthySsm = () => {
  ssm.reset();
  ssm.on(DescribeInstanceInformationCommand).callsFake((input: { Filters?: { Values?: string[] }[] }) => ({
    InstanceInformationList: (input.Filters?.[0]?.Values ?? []).map((id) => ({ InstanceId: id, PingStatus: 'Online' })),
  }));
  const sent = new Map<string, { kind: string; epoch: number }>();
  ssm.on(SendCommandCommand).callsFake((input: { DocumentName?: string; Parameters?: Record<string, string[]> }) => {
    const commandId = `cmd-${randomBytes(6).toString('hex')}`;
    sent.set(commandId, { kind: input.DocumentName === 'Sec-Start' ? 'start' : 'stop', epoch: Number(input.Parameters?.Epoch?.[0]) });
    return { Command: { CommandId: commandId } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string; InstanceId: string }) => {
    const cmd = sent.get(input.CommandId);
    return {
      CommandId: input.CommandId,
      InstanceId: input.InstanceId,
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: nodeReport(cmd?.kind ?? 'status', cmd?.epoch ?? 0),
      StandardErrorContent: '',
    };
  });
  ssm.on(GetParameterCommand).resolves({ Parameter: { Name: PARAMETER_NAME, Type: 'SecureString', Value: PW.password } });
};

/** An RDS-managed secret: JSON with the password under `password`. */
const rdsSecret = (password: string) => JSON.stringify({ engine: 'mysql', host: '127.0.0.1', username: mariaUser, password, port: 3306 });

const awsSection = () => ({ tableName: dyn.tableName, startDocument: 'Sec-Start', stopDocument: 'Sec-Stop', statusDocument: 'Sec-Status' });
// A 1 s heartbeat keeps the liveness window (2.25 heartbeats) short for ticks that must re-read the DB.
const clusterSection = { clusterName: 'sec-cluster', nodes: [NODE_A, NODE_B], heartbeatSeconds: 1, commandTimeoutSeconds: 30, leaseSeconds: 60 };

const mysqlConfig = (db: Record<string, unknown> = {}) => ({
  cluster: clusterSection,
  db: {
    dialect: 'mysql',
    host: mariaBase.host,
    port: mariaBase.port,
    database: maria.settings.database,
    user: mariaUser,
    passwordSecretId: SECRET_ID,
    tls: false,
    connectTimeoutSeconds: 2,
    queryTimeoutSeconds: 2,
    ...db,
  },
  aws: awsSection(),
});

const postgresConfig = (db: Record<string, unknown> = {}) => ({
  cluster: clusterSection,
  db: {
    dialect: 'postgres',
    host: pgBase.host,
    port: pgBase.port,
    database: pgdb.settings.database,
    user: pgRole,
    passwordParameterName: PARAMETER_NAME,
    tls: false,
    connectTimeoutSeconds: 2,
    queryTimeoutSeconds: 2,
    ...db,
  },
  aws: awsSection(),
});

const lambdaEnv = () => ({
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDSECURITYTEST',
  AWS_SECRET_ACCESS_KEY: 'security-test-not-a-secret',
  AWS_ENDPOINT_URL_DYNAMODB: dyn.endpoint,
  POWERTOOLS_LOG_LEVEL: 'DEBUG',
});

/** A fresh record per test: the table is shared by the file. */
const clearTable = async () => {
  const { items } = await scanTable(dyn);
  const { DeleteItemCommand } = await import('@aws-sdk/client-dynamodb');
  for (const item of items) await dyn.client.send(new DeleteItemCommand({ TableName: dyn.tableName, Key: { pk: item.pk as { S: string } } }));
};

const mysqlRows = async (rows: { hostname: string; age: number; ended?: boolean }[]) => {
  await maria.conn.query('DELETE FROM job');
  for (const r of rows) {
    await maria.conn.query(
      `INSERT INTO job (job_type, state, hostname, start_date, latest_heartbeat, end_date, executor_class, unixname)
       VALUES ('SchedulerJob', 'running', ?, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND, IF(?, UTC_TIMESTAMP(6), NULL), 'LocalExecutor', 'airflow')`,
      [r.hostname, Math.round(r.age * 1e6), r.ended ? 1 : 0],
    );
  }
};

const postgresRows = async (rows: { hostname: string; age: number }[]) => {
  await pgdb.client.query('DELETE FROM job');
  for (const r of rows) {
    await pgdb.client.query(
      `INSERT INTO job (job_type, state, hostname, start_date, latest_heartbeat, executor_class, unixname)
       VALUES ('SchedulerJob', 'running', $1, now() - interval '1 hour', clock_timestamp() - make_interval(secs => $2), 'LocalExecutor', 'airflow')`,
      [r.hostname, r.age],
    );
  }
};

/** Ends the watchdog's kept connections from the server side (the handler module offers no close). */
const killWatchdogSessions = async () => {
  if (maria) {
    const [rows] = await maria.conn.query<mysql.RowDataPacket[]>('SELECT id FROM information_schema.processlist WHERE user = ?', [mariaUser]);
    for (const r of rows) await maria.conn.query(`KILL ${Number(r.id)}`).catch(() => undefined);
  }
  if (pgdb) await pgdb.client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [pgRole]);
};

let corpus: Corpus;
let capture: ReturnType<typeof captureOutput> | undefined;

/** Adds the table and every SSM input to the corpus, then scans it for every secret. */
const finish = async () => {
  capture?.stop();
  capture = undefined;
  corpus.add('dynamodb', (await scanTable(dyn)).text);
  corpus.add('ssm-inputs', JSON.stringify(ssm.calls().map((c) => c.args[0].input)));
  corpus.add('secrets-inputs', JSON.stringify(secrets.calls().map((c) => c.args[0].input)));
  return findLeaks(corpus, ALL_SECRETS);
};

/** Everything the Logger and Metrics wrote (INFO/DEBUG and EMF to stdout, WARN/ERROR to stderr). */
const logText = () => `${corpus.text('stdout')}\n${corpus.text('stderr')}`;

/** Log lines the Logger wrote, parsed. */
const logLines = (): Record<string, unknown>[] =>
  logText()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const emfBlobs = () => logLines().filter((l) => typeof l._aws === 'object');
const messages = () => logLines().map((l) => l.message);

const report: string[] = [];

beforeAll(async () => {
  [mariaBase, pgBase] = await Promise.all([requireService('mariadb'), requireService('postgres')]);
  maria = await tempMariaDb(mariaBase, 'wd_sec');
  for (const stmt of airflowJobDdl('mysql')) await maria.conn.query(stmt);
  // Parameters are escaped by mysql2 on the client; the password holds ' " \ on purpose.
  await maria.conn.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [mariaUser, '%', PW.password]);
  await maria.conn.query(`GRANT SELECT ON \`${maria.settings.database}\`.\`job\` TO ?@?`, [mariaUser, '%']);
  // The user really logs in with that password (so the tests below exercise a real authenticated path).
  const probe = await mysql.createConnection({
    host: mariaBase.host,
    port: mariaBase.port,
    user: mariaUser,
    password: PW.password,
    database: maria.settings.database,
  });
  await probe.query('SELECT COUNT(*) FROM job');
  await probe.end();

  pgdb = await tempPostgres(pgBase, 'wd_sec');
  for (const stmt of airflowJobDdl('postgres')) await pgdb.client.query(stmt);
  // The local PostgreSQL uses trust auth on 127.0.0.1 (pg_hba.conf), so the role's password is not
  // checked at login: the PostgreSQL runs below still send it through the real pg driver and scan
  // every output for it, but a wrong-password case is only possible on MariaDB.
  await pgdb.client.query(`CREATE ROLE "${pgRole}" LOGIN PASSWORD ${pgdb.client.escapeLiteral(PW.password)}`);
  await pgdb.client.query(`GRANT SELECT ON job TO "${pgRole}"`);

  dyn = await startDynalite({ tableName: 'sec-watchdog' });
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await killWatchdogSessions().catch(() => undefined);
  for (const f of faults) await f.close();
  if (maria) {
    await maria.conn.query('DROP USER IF EXISTS ?@?', [mariaUser, '%']);
    await maria.drop();
  }
  if (pgdb) {
    await pgdb.drop();
    const admin = new pg.Client({ ...pgBase });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS "${pgRole}"`);
    await admin.end();
  }
  await dyn?.close();
  ssm.restore();
  secrets.restore();
  // One summary line per test (visible with --reporter=verbose via the console of the main process).
  process.stdout.write(`${report.join('\n')}\n`);
});

beforeEach(async () => {
  healthySsm();
  secrets.reset();
  secrets.on(GetSecretValueCommand).resolves({ Name: SECRET_ID, SecretString: rdsSecret(PW.password) });
  await clearTable();
  corpus = new Corpus();
  capture = captureOutput(corpus);
});

afterEach(async () => {
  capture?.stop();
  capture = undefined;
  vi.unstubAllEnvs();
  await killWatchdogSessions();
});

const expectNoLeaks = async (label: string) => {
  const leaks = await finish();
  report.push(`security/password-leak ${label}: scanned ${corpus.bytes} bytes, ${corpus.lines} lines, ${corpus.entries.length} chunks`);
  expect(leaks).toEqual([]);
};

describe('the scanner', () => {
  it('finds every form of the password it claims to look for', () => {
    const c = new Corpus();
    const forms = [...leakForms(PW.password, PW.core).values()];
    for (const f of forms) c.add('probe', `prefix ${f} suffix`);
    // Each probe chunk holds at least its own form.
    expect(new Set(findLeaks(c, [PW]).map((l) => l.form)).size).toBe(forms.length);
    expect(PW.password).toHaveLength(24);
    expect(PW.password).toMatch(/[@:/%'"\\$]/);
  });
});

describe('MariaDB, password from a Secrets Manager secret (RDS JSON shape)', () => {
  it('several ticks and every manual action never expose the password', async () => {
    const handler = await coldStart(mysqlConfig(), lambdaEnv());
    const tick = async () => {
      const r = await invoke(corpus, handler, SCHEDULED);
      expect(r.error).toBeUndefined();
      return r.result as { ok: boolean; ticks: { verdict: string; actions: { kind: string; outcome: string }[] }[] };
    };
    // 1. Nothing runs: start on A (real SSM adapter, mocked SSM API).
    await mysqlRows([]);
    const first = await tick();
    expect(first.ok).toBe(true);
    expect(first.ticks[0]?.actions.map((a) => `${a.kind}:${a.outcome}`)).toEqual(['start:success']);
    // 2-3. A heart-beats: healthy ticks.
    await mysqlRows([{ hostname: NODE_A.hostname, age: 2 }]);
    expect((await tick()).ticks[0]?.verdict).toBe('healthy');
    expect((await tick()).ticks[0]?.verdict).toBe('healthy');
    // Every manual action.
    const status = await invoke(corpus, handler, { action: 'status', caller: 'sec-test' });
    expect(status.result).toMatchObject({ ok: true, action: 'status' });
    expect(await invoke(corpus, handler, { action: 'reconcile', dryRun: true })).toMatchObject({ result: { ok: true, action: 'reconcile' } });
    expect(await invoke(corpus, handler, { action: 'reconcile' })).toMatchObject({ result: { ok: true } });
    const failover = await invoke(corpus, handler, { action: 'failover', to: NODE_B.id, reason: 'security test failover', caller: 'sec-test' });
    expect(failover.result).toMatchObject({ ok: true, action: 'failover' });
    await mysqlRows([{ hostname: NODE_B.hostname, age: 1 }]);
    expect(await invoke(corpus, handler, { action: 'pause', reason: 'security test pause', caller: 'sec-test' })).toMatchObject({ result: { ok: true } });
    expect((await tick()).ok).toBe(true);
    expect(await invoke(corpus, handler, { action: 'pause', reason: 'again' })).toMatchObject({ result: { ok: false, error: { code: 'Refused' } } });
    expect(await invoke(corpus, handler, { action: 'resume', reason: 'done', caller: 'sec-test' })).toMatchObject({ result: { ok: true } });
    expect(await invoke(corpus, handler, { action: 'history', limit: 50 })).toMatchObject({ result: { ok: true, action: 'history' } });
    expect(await invoke(corpus, handler, { action: 'failover', to: '$(cat /etc/passwd)', reason: 'x' })).toMatchObject({
      result: { ok: false, error: { code: 'InvalidRequest', field: 'to' } },
    });
    // A DB outage after a warm connection: the reason comes from the driver, then is shown everywhere.
    await killWatchdogSessions();
    await maria.conn.query(`REVOKE SELECT ON \`${maria.settings.database}\`.\`job\` FROM ?@?`, [mariaUser, '%']);
    try {
      const denied = await tick();
      expect(denied.ticks[0]?.verdict).toBe('unknown');
      expect(await invoke(corpus, handler, { action: 'failover', reason: 'while the DB is down' })).toMatchObject({
        result: { ok: false, error: { code: 'Refused' } },
      });
    } finally {
      await maria.conn.query(`GRANT SELECT ON \`${maria.settings.database}\`.\`job\` TO ?@?`, [mariaUser, '%']);
    }

    // The corpus is what it should be: the password really was fetched and used, and the run was observable.
    expect(secrets.commandCalls(GetSecretValueCommand).length).toBeGreaterThanOrEqual(1);
    expect(ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.DocumentName)).toEqual(['Sec-Start', 'Sec-Stop', 'Sec-Start']);
    const msgs = messages();
    expect(msgs.filter((m) => m === 'tick').length).toBeGreaterThanOrEqual(7);
    expect(msgs).toContain('manual action');
    expect(msgs).toContain('invalid request');
    expect(logLines().some((l) => l.message === 'tick' && l.dbReachable === true)).toBe(true);
    expect(logText()).toMatch(/permission denied|command denied|access denied/i);
    // Metrics are written only while non-zero (functions/core/limits.ts): the failover and the DB outage wrote some.
    expect(emfBlobs().some((b) => b.ComponentsDown === 1)).toBe(true);
    expect(emfBlobs().some((b) => b.MetadataDbUnreachable === 1)).toBe(true);
    const table = await scanTable(dyn);
    expect(table.items).toHaveLength(1);
    expect(table.text).toContain('security test failover');
    expect(corpus.text('result')).toContain('"action":"history"');
    await expectNoLeaks('mariadb ticks + manual actions');
  });

  it('a wrong password (authentication error) is reported without either password', async () => {
    secrets.on(GetSecretValueCommand).resolves({ Name: SECRET_ID, SecretString: rdsSecret(WRONG.password) });
    const handler = await coldStart(mysqlConfig(), lambdaEnv());
    const tick = await invoke(corpus, handler, SCHEDULED);
    expect(tick.result).toMatchObject({ ok: true, ticks: [{ verdict: 'unknown' }] });
    const status = await invoke(corpus, handler, { action: 'status' });
    expect(JSON.stringify(status.result)).toMatch(/authentication failed/);
    expect(await invoke(corpus, handler, { action: 'failover', reason: 'x', force: true, to: NODE_B.id })).toHaveProperty('result');
    // mysql2's own message names the user, and says a password was used.
    expect(logText()).toContain('using password: YES');
    expect(emfBlobs().some((b) => b.MetadataDbUnreachable === 1)).toBe(true);
    await expectNoLeaks('mariadb wrong password');
  });

  it('an unreachable or black-holed DB host is reported without the password', async () => {
    const refused = await closedPort();
    const hung = await hungServer();
    faults.push(hung);
    for (const port of [refused, hung.port]) {
      const handler = await coldStart(mysqlConfig({ port, connectTimeoutSeconds: 1, queryTimeoutSeconds: 1 }), lambdaEnv());
      await invoke(corpus, handler, SCHEDULED);
      await invoke(corpus, handler, { action: 'status' });
    }
    const text = logText();
    expect(text).toContain('connection refused');
    expect(text).toContain('timed out');
    expect(hung.accepted).toBeGreaterThanOrEqual(1);
    expect(messages().filter((m) => m === 'tick')).toHaveLength(2);
    await expectNoLeaks('mariadb unreachable');
  });

  it('DynamoDB unreachable: the failed scheduled invocation throws without the password', async () => {
    const handler = await coldStart(mysqlConfig(), { ...lambdaEnv(), AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${await closedPort()}` });
    await mysqlRows([{ hostname: NODE_A.hostname, age: 2 }]);
    const r = await invoke(corpus, handler, SCHEDULED);
    expect(r.error).toBeInstanceOf(Error);
    expect(corpus.text('thrown')).toMatch(/scheduled invocation failed/);
    expect(messages()).toContain('tick failed');
    await expectNoLeaks('dynamodb unreachable');
  }, 60_000);

  describe('a malformed secret', () => {
    const cases: [string, string, RegExp][] = [
      ['JSON without a password key', JSON.stringify({ username: 'u', pass: PW.password }), /JSON without a string/],
      ['JSON with a non-string password, the password under another key', JSON.stringify({ password: 12345, note: PW.password }), /JSON without a string/],
      ['truncated JSON (read as a plain password)', `{"password":"${PW.password}"`, /authentication failed/],
      ['a plain password with trailing newline', `${PW.password}\n`, /authentication failed/],
    ];
    it.each(cases)('%s: reported without the secret text', async (_name, secretString, expected) => {
      secrets.on(GetSecretValueCommand).resolves({ Name: SECRET_ID, SecretString: secretString });
      const handler = await coldStart(mysqlConfig(), lambdaEnv());
      await invoke(corpus, handler, SCHEDULED);
      await invoke(corpus, handler, { action: 'status' });
      expect(logText()).toMatch(expected);
      expect(messages()).toContain('tick');
      await expectNoLeaks(`malformed secret: ${_name}`);
    });

    it('Secrets Manager refusing the read: reported without the password', async () => {
      secrets
        .on(GetSecretValueCommand)
        .rejects(Object.assign(new Error('User is not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' }));
      const handler = await coldStart(mysqlConfig(), lambdaEnv());
      await invoke(corpus, handler, SCHEDULED);
      expect(logText()).toContain('could not read the DB password from Secrets Manager secret');
      await expectNoLeaks('secret read refused');
    });
  });
});

describe('PostgreSQL, password from an SSM SecureString parameter', () => {
  it('ticks, manual actions and an unreachable host never expose the password', async () => {
    const handler = await coldStart(postgresConfig(), lambdaEnv());
    await postgresRows([]);
    expect(await invoke(corpus, handler, SCHEDULED)).toMatchObject({ result: { ok: true, ticks: [{ actions: [{ kind: 'start', outcome: 'success' }] }] } });
    await postgresRows([{ hostname: NODE_A.hostname, age: 2 }]);
    expect(await invoke(corpus, handler, SCHEDULED)).toMatchObject({ result: { ok: true, ticks: [{ verdict: 'healthy' }] } });
    expect(await invoke(corpus, handler, { action: 'status' })).toMatchObject({ result: { ok: true } });
    expect(await invoke(corpus, handler, { action: 'reconcile', dryRun: true })).toMatchObject({ result: { ok: true } });
    expect(await invoke(corpus, handler, { action: 'failover', to: NODE_B.hostname, reason: 'pg failover', caller: 'sec-test' })).toMatchObject({
      result: { ok: true },
    });
    expect(await invoke(corpus, handler, { action: 'pause', reason: 'pg pause' })).toMatchObject({ result: { ok: true } });
    expect(await invoke(corpus, handler, { action: 'resume' })).toMatchObject({ result: { ok: true } });
    expect(await invoke(corpus, handler, { action: 'history' })).toMatchObject({ result: { ok: true } });
    const down = await coldStart(postgresConfig({ port: await closedPort(), connectTimeoutSeconds: 1 }), lambdaEnv());
    await invoke(corpus, down, SCHEDULED);

    expect(ssm.commandCalls(GetParameterCommand).length).toBeGreaterThanOrEqual(1);
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toMatchObject({ Name: PARAMETER_NAME, WithDecryption: true });
    expect(logLines().some((l) => l.message === 'tick' && l.dbReachable === true)).toBe(true);
    expect(logText()).toContain('connection refused');
    expect(emfBlobs().some((b) => b.MetadataDbUnreachable === 1)).toBe(true);
    expect((await scanTable(dyn)).text).toContain('pg failover');
    await expectNoLeaks('postgres ticks + manual actions');
  });
});

describe('an invalid configuration that carries the password', () => {
  const base = () => mysqlConfig({ passwordSecretId: undefined, password: PW.password });
  const url = () => `mysql://${mariaUser}:${encodeURIComponent(PW.password)}@127.0.0.1:3306/${maria.settings.database}`;
  const rawUrl = () => `mysql://${mariaUser}:${PW.password}@127.0.0.1/airflow`;
  const cases: [string, () => unknown, string][] = [
    ['a literal password next to a bad field', () => ({ ...base(), cluster: { ...clusterSection, staleAfterSeconds: 5 } }), 'staleAfterSeconds'],
    ['a literal password and a second password source', () => mysqlConfig({ password: PW.password }), 'choose one of'],
    ['a literal password of the wrong type', () => mysqlConfig({ passwordSecretId: undefined, password: [PW.password] }), 'db.password'],
    ['a password under an unknown key', () => mysqlConfig({ pasword: PW.password }), 'unknown field'],
    ['a connection URL instead of the db section', () => ({ ...base(), db: url() }), 'db:'],
    ['a raw-password connection URL instead of the db section', () => ({ ...base(), db: rawUrl() }), 'db:'],
    ['a connection URL as the whole configuration', () => JSON.stringify(url()), '(root)'],
    ['the configuration wrapped in an array', () => [base()], '(root)'],
    [
      'nodes given as an object holding the password',
      () => ({ ...base(), cluster: { ...clusterSection, nodes: { ...NODE_A, password: PW.password } } }),
      'cluster.nodes',
    ],
    ['JSON cut off inside the password', () => JSON.stringify(base()).slice(0, JSON.stringify(base()).indexOf(PW.core) + 6), 'not valid JSON'],
  ];
  it.each(cases)('%s: the configuration error names the field and redacts the password', async (_name, config, field) => {
    const handler = await coldStart(config(), lambdaEnv());
    const manual = await invoke(corpus, handler, { action: 'status' });
    expect(manual.result).toMatchObject({ ok: false, error: { code: 'ConfigError' } });
    expect(JSON.stringify(manual.result)).toContain(field);
    const scheduled = await invoke(corpus, handler, SCHEDULED);
    expect(scheduled.error).toBeInstanceOf(Error);
    expect(messages()).toContain('configuration invalid');
    await expectNoLeaks(`invalid config: ${_name}`);
  });

  it('replays bug-config-error-echoes-db-url-password', () => {
    const bug = loadBugCase<{ config: unknown }, { errorContains: string[]; errorNotContains: string[] }>('bug-config-error-echoes-db-url-password');
    let message = '';
    try {
      settingsFromEnv({ WATCHDOG_CONFIG: JSON.stringify(bug.input.config) });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const s of bug.expect.errorContains) expect(message).toContain(s);
    for (const s of bug.expect.errorNotContains) expect(message).not.toContain(s);
  });
});
