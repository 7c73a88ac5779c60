import net from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { passwordSource } from '../../functions/adapters/db-credentials.js';
import { createMetadataDb } from '../../functions/adapters/metadata-db.js';
import { APPLICATION_NAME, postgresHeartbeatSql } from '../../functions/adapters/metadata-db-postgres.js';
import { type DbConfig, dbSchema } from '../../functions/core/config.js';
import type { DbObservation } from '../../functions/core/model.js';
import type { MetadataDb } from '../../functions/core/ports.js';
import { airflowJobDdl, airflowJobTable } from '../../local/airflow-schema.js';
import { expectAge, type JobSpec, ok, STALE, whichRowsCount } from './metadata-db.rows.js';
import { closedPort, faultProxy, hungServer, requireService, type ServiceSettings, type TempPostgres, tempPostgres } from '../helpers/services.js';

/**
 * The metadata DB adapter against a real PostgreSQL with Airflow's real `job` DDL. Heartbeats are
 * computed by the DB (`now() - interval …`), so ages can be checked against a known value.
 */

let base: ServiceSettings;
let tmp: TempPostgres;
const opened: MetadataDb[] = [];

const config = (over: Record<string, unknown> = {}): DbConfig =>
  dbSchema.parse({
    dialect: 'postgres',
    host: tmp.settings.host,
    port: tmp.settings.port,
    database: tmp.settings.database,
    user: tmp.settings.user,
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
  const result = await tmp.client.query<{ id: number }>(
    `INSERT INTO ${spec.table ?? 'job'} (job_type, state, hostname, start_date, latest_heartbeat, end_date, executor_class, unixname)
     VALUES ($1, $2, $3, now() - interval '1 hour', now() - make_interval(secs => $4::float8), CASE WHEN $5 THEN now() END, 'LocalExecutor', 'airflow')
     RETURNING id`,
    [spec.jobType ?? 'SchedulerJob', spec.state === undefined ? 'running' : spec.state, spec.hostname, spec.age, spec.ended ?? false],
  );
  return result.rows[0]!.id;
};

const unreachable = (obs: DbObservation): string => {
  if (obs.status !== 'unreachable') throw new Error(`expected unreachable, got ${JSON.stringify(obs)}`);
  return obs.reason;
};

/** latest_heartbeat of a row rendered in UTC. */
const heartbeatText = async (id: number, table = 'job'): Promise<string> => {
  const result = await tmp.client.query<{ t: string }>(
    `SELECT to_char(latest_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM ${table} WHERE id = $1`,
    [id],
  );
  return result.rows[0]!.t;
};

/** Backend pids of the adapters' connections to the test database. */
const adapterPids = async (): Promise<number[]> => {
  const result = await tmp.client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 ORDER BY pid', [
    tmp.settings.database,
    APPLICATION_NAME,
  ]);
  return result.rows.map((r) => r.pid);
};

/**
 * Speaks just enough of the PostgreSQL protocol to ask for a cleartext password and reject it with an
 * error that quotes it: a server (or driver) that echoes the secret.
 */
const echoingPostgres = async (): Promise<{ port: number; close(): Promise<void> }> => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let stage: 'startup' | 'password' = 'startup';
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 'startup' && buffer.length >= 4 && buffer.length >= buffer.readInt32BE(0)) {
        buffer = buffer.subarray(buffer.readInt32BE(0));
        stage = 'password';
        const ask = Buffer.alloc(9);
        ask.write('R', 0);
        ask.writeInt32BE(8, 1);
        ask.writeInt32BE(3, 5); // AuthenticationCleartextPassword
        socket.write(ask);
      } else if (stage === 'password' && buffer.length >= 5 && buffer.length >= 1 + buffer.readInt32BE(1)) {
        const password = buffer.subarray(5, buffer.readInt32BE(1)).toString('utf8').replace(/\0$/, '');
        const fields = Buffer.from(`SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed: got "${password}"\0\0`);
        const header = Buffer.alloc(5);
        header.write('E', 0);
        header.writeInt32BE(4 + fields.length, 1);
        socket.end(Buffer.concat([header, fields]));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

beforeAll(async () => {
  base = await requireService('postgres');
  tmp = await tempPostgres(base, 'wd_pg');
  for (const statement of airflowJobDdl('postgres')) await tmp.client.query(statement);
});

afterAll(async () => {
  await tmp?.drop();
});

beforeEach(async () => {
  await tmp.client.query('TRUNCATE TABLE job');
});

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

describe('MetadataDb (PostgreSQL): which rows count', () => {
  whichRowsCount({ adapter, insert, heartbeatText });

  it('reads a table in another schema with a table prefix', async () => {
    await tmp.client.query('CREATE SCHEMA "Airflow_Alt"');
    for (const statement of airflowJobDdl('postgres', { schema: 'Airflow_Alt', tablePrefix: 'af_' })) await tmp.client.query(statement);
    const table = airflowJobTable('postgres', { schema: 'Airflow_Alt', tablePrefix: 'af_' });
    const id = await insert({ hostname: 'sched-alt', age: 7, table });
    await insert({ hostname: 'sched-default', age: 7 });
    const obs = ok(
      await adapter({ schema: 'Airflow_Alt', tablePrefix: 'af_' }).observe({ hostnames: ['sched-alt', 'sched-default'], staleAfterSeconds: STALE }),
    );
    expect(Object.keys(obs.rows)).toEqual(['sched-alt']);
    expect(obs.rows['sched-alt']).toMatchObject({ jobId: id, latestHeartbeat: await heartbeatText(id, table) });
  });

  it('measures the age and renders the heartbeat in UTC when the database time zone is not UTC', async () => {
    const id = await insert({ hostname: 'sched-a', age: 12 });
    await tmp.client.query(`ALTER DATABASE "${tmp.settings.database}" SET timezone = 'Asia/Kolkata'`);
    try {
      // The setting is real: a new session renders timestamps at +05:30.
      const naive = new pg.Client({ ...tmp.settings });
      await naive.connect();
      const probe = await naive.query<{ tz: string; hb: string }>('SELECT current_setting($1) AS tz, latest_heartbeat::text AS hb FROM job WHERE id = $2', [
        'TimeZone',
        id,
      ]);
      await naive.end();
      expect(probe.rows[0]).toMatchObject({ tz: 'Asia/Kolkata', hb: expect.stringMatching(/\+05:30$/) });

      const row = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE })).rows['sched-a'];
      expectAge(row, 12);
      expect(row!.latestHeartbeat).toBe(await heartbeatText(id));
    } finally {
      await tmp.client.query(`ALTER DATABASE "${tmp.settings.database}" RESET timezone`);
    }
  });
});

describe('MetadataDb (PostgreSQL): failures are values', () => {
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

  it('reports a rejected password as an authentication failure and scrubs it when the server echoes it', async () => {
    const server = await echoingPostgres();
    try {
      const password = 'Echoed-S3cret';
      const reason = unreachable(await adapter({ port: server.port, password }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
      expect(reason).toMatch(/authentication failed while connecting .*got "\*\*\*"/);
      expect(reason).not.toContain(password);
    } finally {
      await server.close();
    }
  });

  it('reports an unknown role as an authentication failure without the password', async () => {
    const password = 'Unkn0wn-R0le-Secret';
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

  it('reports a missing database', async () => {
    const reason = unreachable(await adapter({ database: `${tmp.settings.database}_gone` }).observe({ hostnames: ['a'], staleAfterSeconds: STALE }));
    expect(reason).toMatch(/database not found/);
  });
});

describe('MetadataDb (PostgreSQL): connection lifecycle', () => {
  it('reuses its connection across observes, reconnects after the server kills it, and closes it', async () => {
    await insert({ hostname: 'sched-a', age: 5 });
    const db = adapter();
    const q = { hostnames: ['sched-a'], staleAfterSeconds: STALE };
    ok(await db.observe(q));
    const first = await adapterPids();
    expect(first).toHaveLength(1);
    ok(await db.observe(q));
    expect(await adapterPids()).toEqual(first);

    await tmp.client.query('SELECT pg_terminate_backend($1)', [first[0]]);
    expect(ok(await db.observe(q)).rows['sched-a']).toBeDefined();
    const second = await adapterPids();
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);

    await db.close();
    await expect.poll(adapterPids, { timeout: 5000 }).toEqual([]);
  });

  it('reads the job_type_heart index range on a table full of task rows', async () => {
    await tmp.client.query(
      `INSERT INTO job (job_type, state, hostname, dag_id, latest_heartbeat)
       SELECT 'LocalTaskJob', 'success', 'worker-' || (i % 7), 'dag_' || (i % 50), now() - make_interval(mins => i) FROM generate_series(1, 5000) AS i`,
    );
    for (let i = 0; i < 20; i += 1) await insert({ hostname: `sched-${i % 3}`, age: i * 600 });
    await tmp.client.query('ANALYZE job');
    const plan = await tmp.client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${postgresHeartbeatSql(config())}`, [86_400]);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan Backward using job_type_heart/);
  });
});
