import mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { passwordSource } from '../../functions/adapters/db-credentials.js';
import { createMetadataDb } from '../../functions/adapters/metadata-db.js';
import { mysqlHeartbeatSql } from '../../functions/adapters/metadata-db-mysql.js';
import { type DbConfig, dbSchema } from '../../functions/core/config.js';
import type { DbObservation } from '../../functions/core/model.js';
import type { MetadataDb } from '../../functions/core/ports.js';
import { airflowJobDdl, airflowJobTable } from '../../local/airflow-schema.js';
import { expectAge, type JobSpec, ok, STALE, whichRowsCount } from './metadata-db.rows.js';
import { closedPort, faultProxy, hungServer, requireService, type ServiceSettings, type TempMariaDb, tempMariaDb } from '../helpers/services.js';

/**
 * The metadata DB adapter against a real MariaDB with Airflow's real `job` DDL. Heartbeats are computed
 * by the DB (`UTC_TIMESTAMP(6) - INTERVAL …`), so ages can be checked against a known value.
 */

let base: ServiceSettings;
let tmp: TempMariaDb;
const opened: MetadataDb[] = [];

const config = (over: Record<string, unknown> = {}): DbConfig =>
  dbSchema.parse({
    dialect: 'mysql',
    host: tmp.settings.host,
    port: tmp.settings.port,
    database: tmp.settings.database,
    user: tmp.settings.user,
    password: tmp.settings.password,
    tls: false,
    ...over,
  });

const adapter = (over: Record<string, unknown> = {}, warn?: (m: string) => void): MetadataDb => {
  const c = config(over);
  const db = createMetadataDb(c, { password: passwordSource(c), warn });
  opened.push(db);
  return db;
};

const insert = async (spec: JobSpec): Promise<number> => {
  const micros = spec.age === null ? null : Math.round(spec.age * 1e6);
  const [result] = await tmp.conn.query<mysql.ResultSetHeader>(
    `INSERT INTO ${spec.table ?? 'job'} (job_type, state, hostname, start_date, latest_heartbeat, end_date, executor_class, unixname)
     VALUES (?, ?, ?, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, IF(? IS NULL, NULL, UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND), IF(?, UTC_TIMESTAMP(6), NULL), 'LocalExecutor', 'airflow')`,
    [spec.jobType ?? 'SchedulerJob', spec.state === undefined ? 'running' : spec.state, spec.hostname, micros, micros, spec.ended ? 1 : 0],
  );
  return result.insertId;
};

const unreachable = (obs: DbObservation): string => {
  if (obs.status !== 'unreachable') throw new Error(`expected unreachable, got ${JSON.stringify(obs)}`);
  return obs.reason;
};

/** latest_heartbeat of a row as the DB renders it in UTC. */
const heartbeatText = async (id: number, table = 'job'): Promise<string> => {
  const [rows] = await tmp.conn.query<mysql.RowDataPacket[]>(`SELECT DATE_FORMAT(latest_heartbeat, '%Y-%m-%dT%H:%i:%s.%fZ') AS t FROM ${table} WHERE id = ?`, [
    id,
  ]);
  return rows[0]!.t as string;
};

/** Server-side ids of the connections other than the test's own, to the test database. */
const adapterConnectionIds = async (): Promise<number[]> => {
  const [rows] = await tmp.conn.query<mysql.RowDataPacket[]>(
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND COMMAND <> 'Killed' ORDER BY ID",
    [tmp.settings.database],
  );
  return rows.map((r) => Number(r.id));
};

beforeAll(async () => {
  base = await requireService('mariadb');
  tmp = await tempMariaDb(base, 'wd_mdb');
  for (const statement of airflowJobDdl('mysql')) await tmp.conn.query(statement);
});

afterAll(async () => {
  await tmp?.drop();
});

beforeEach(async () => {
  await tmp.conn.query('TRUNCATE TABLE job');
});

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

describe('MetadataDb (MariaDB): which rows count', () => {
  whichRowsCount({ adapter, insert, heartbeatText });

  it('reads a table in another database with a table prefix', async () => {
    const other = await tmp.addDatabase('alt');
    for (const statement of airflowJobDdl('mysql', { schema: other, tablePrefix: 'af_' })) await tmp.conn.query(statement);
    const table = airflowJobTable('mysql', { schema: other, tablePrefix: 'af_' });
    const id = await insert({ hostname: 'sched-alt', age: 7, table });
    await insert({ hostname: 'sched-default', age: 7 });
    const obs = ok(await adapter({ schema: other, tablePrefix: 'af_' }).observe({ hostnames: ['sched-alt', 'sched-default'], staleAfterSeconds: STALE }));
    expect(Object.keys(obs.rows)).toEqual(['sched-alt']);
    expect(obs.rows['sched-alt']).toMatchObject({ jobId: id, latestHeartbeat: await heartbeatText(id, table) });
  });

  it('measures the age in UTC even when the server default time zone is not UTC', async () => {
    const id = await insert({ hostname: 'sched-a', age: 12 });
    const [[before]] = await tmp.conn.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.time_zone AS tz');
    let probe: mysql.RowDataPacket | undefined;
    let obs: DbObservation;
    // Global, so only for as long as it takes to open two sessions: one naive probe and the adapter's.
    await tmp.conn.query("SET GLOBAL time_zone = '+05:00'");
    try {
      const naive = await mysql.createConnection({ ...tmp.settings, dateStrings: true });
      [[probe]] = await naive.query<mysql.RowDataPacket[]>(
        'SELECT @@SESSION.time_zone AS tz, TIMESTAMPDIFF(SECOND, latest_heartbeat, UTC_TIMESTAMP(6)) AS naive_age FROM job WHERE id = ?',
        [id],
      );
      await naive.end();
      obs = await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE });
    } finally {
      await tmp.conn.query('SET GLOBAL time_zone = ?', [before!.tz]);
    }
    // The trap is real: a session that keeps the server default sees the heartbeat 5 h off.
    expect(probe!.tz).toBe('+05:00');
    expect(Number(probe!.naive_age)).toBeLessThan(-17_000);
    const row = ok(obs).rows['sched-a'];
    expectAge(row, 12);
    expect(row!.latestHeartbeat).toBe(await heartbeatText(id));
  });
});

describe('MetadataDb (MariaDB): failures are values', () => {
  it('reports a refused connection', async () => {
    const reason = unreachable(await adapter({ host: '127.0.0.1', port: await closedPort() }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/connection refused/);
  });

  it('reports a host name that does not resolve', async () => {
    const reason = unreachable(
      await adapter({ host: 'no-such-host.invalid', connectTimeoutSeconds: 3 }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }),
    );
    expect(reason).toMatch(/DNS lookup failed while connecting/);
  });

  it('reports a server that accepts and never answers as a timeout', async () => {
    const server = await hungServer();
    try {
      const db = adapter({ port: server.port, connectTimeoutSeconds: 1, queryTimeoutSeconds: 1 });
      const reason = unreachable(await db.observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
      expect(reason).toMatch(/timed out/);
      expect(server.accepted).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('reports a server that stops answering mid-session as a query timeout, then reconnects', async () => {
    await insert({ hostname: 'sched-a', age: 5 });
    const proxy = await faultProxy(tmp.settings);
    try {
      const db = adapter({ port: proxy.port, connectTimeoutSeconds: 2, queryTimeoutSeconds: 1 });
      const q = { hostnames: ['sched-a'], staleAfterSeconds: STALE };
      ok(await db.observe(q));
      proxy.blackhole();
      const reason = unreachable(await db.observe(q));
      expect(reason).toMatch(/timed out during the heartbeat query/);
      proxy.restore();
      expect(ok(await db.observe(q)).rows['sched-a']).toBeDefined();
      expect(proxy.accepted).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('reports a wrong password as an authentication failure without the password', async () => {
    const password = 'Wr0ng-Secret-Pa55';
    const reason = unreachable(await adapter({ password }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/authentication failed/);
    expect(reason).not.toContain(password);
  });

  it('scrubs the password when the server echoes it', async () => {
    const password = 'Echoed-S3cret';
    const reason = unreachable(await adapter({ user: `nobody_${password}`, password }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/authentication failed .*nobody_\*\*\*/);
    expect(reason).not.toContain(password);
  });

  it('reports TLS against a server without TLS', async () => {
    const reason = unreachable(await adapter({ tls: true }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/TLS failure/);
  });

  it('reports a missing job table', async () => {
    const reason = unreachable(await adapter({ tablePrefix: 'missing_' }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/job table not found/);
    expect(reason).toContain('missing_job');
  });

  it('reports a password source that fails, naming what failed', async () => {
    const c = config();
    const db = createMetadataDb(c, {
      password: async () => {
        throw new Error('could not read the DB password from SSM parameter "/airflow/db": AccessDeniedException');
      },
    });
    opened.push(db);
    const reason = unreachable(await db.observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/no password: could not read .*"\/airflow\/db"/);
  });
});

describe('MetadataDb (MariaDB): connection lifecycle', () => {
  it('reuses its connection across observes, reconnects after the server kills it, and closes it', async () => {
    await insert({ hostname: 'sched-a', age: 5 });
    const db = adapter();
    const q = { hostnames: ['sched-a'], staleAfterSeconds: STALE };
    ok(await db.observe(q));
    const first = await adapterConnectionIds();
    expect(first).toHaveLength(1);
    ok(await db.observe(q));
    expect(await adapterConnectionIds()).toEqual(first);

    await tmp.conn.query(`KILL CONNECTION ${first[0]}`);
    expect(ok(await db.observe(q)).rows['sched-a']).toBeDefined();
    const second = await adapterConnectionIds();
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);

    await db.close();
    await expect.poll(adapterConnectionIds, { timeout: 5000 }).toEqual([]);
  });

  it('reads the job_type_heart index range on a table full of task rows', async () => {
    const rows: unknown[][] = [];
    for (let i = 0; i < 5000; i += 1) rows.push(['LocalTaskJob', 'success', `worker-${i % 7}`, `dag_${i % 50}`, new Date(Date.now() - i * 60_000)]);
    await tmp.conn.query('INSERT INTO job (job_type, state, hostname, dag_id, latest_heartbeat) VALUES ?', [rows]);
    for (let i = 0; i < 20; i += 1) await insert({ hostname: `sched-${i % 3}`, age: i * 600 });
    await tmp.conn.query('ANALYZE TABLE job');
    const [plan] = await tmp.conn.query<mysql.RowDataPacket[]>(`EXPLAIN ${mysqlHeartbeatSql(config())}`, [86_400]);
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ key: 'job_type_heart', type: 'range' });
  });
});
