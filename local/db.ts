import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import type { DbConfig } from '../functions/core/config.js';
import { type AirflowDialect, airflowJobDdl, airflowJobTable } from './airflow-schema.js';

/**
 * The metadata DB of a local cluster: embedded PostgreSQL (PGlite behind pglite-socket, so every client
 * talks real wire protocol over TCP) or a real MySQL/MariaDB/PostgreSQL server given by URL; TCP proxies
 * in front of it so outages and per-node partitions can be injected; and a sampler that reads the
 * ground truth (heartbeat ages by the DB's clock) for the timeline.
 *
 * Two ways to use a real server: the demo's and the tests' (prepareAirflowDatabase: the harness creates
 * the database with Airflow's `job` table, and refuses one holding tables it did not create), and the
 * conformance run's (attachAirflowDatabase: an existing database migrated by `airflow db migrate`,
 * checked to be Airflow's and then only read; nothing is created, altered or dropped).
 */

interface DbTarget {
  readonly dialect: AirflowDialect;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
}

interface DbBackend {
  readonly target: DbTarget;
  /** Human label, e.g. "PGlite 0.5 (embedded PostgreSQL)". */
  readonly label: string;
  close(): Promise<void>;
}

const urlOf = (t: DbTarget, port = t.port): string => {
  const auth = `${encodeURIComponent(t.user)}${t.password ? `:${encodeURIComponent(t.password)}` : ''}`;
  return `${t.dialect === 'mysql' ? 'mysql' : 'postgres'}://${auth}@${t.host}:${port}/${encodeURIComponent(t.database)}`;
};

const parseDbUrl = (url: string): DbTarget => {
  const u = new URL(url);
  const proto = u.protocol.replace(/:$/, '');
  const dialect: AirflowDialect | undefined =
    proto === 'mysql' || proto === 'mariadb' ? 'mysql' : proto === 'postgres' || proto === 'postgresql' ? 'postgres' : undefined;
  if (dialect === undefined) throw new Error(`--db: unsupported URL scheme "${proto}" (mysql://, mariadb://, postgres://, postgresql://)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database === '') throw new Error('--db: the URL must name a database, e.g. mysql://root@127.0.0.1:3306/airflow_demo');
  return {
    dialect,
    host: u.hostname || '127.0.0.1',
    port: u.port === '' ? (dialect === 'mysql' ? 3306 : 5432) : Number(u.port),
    user: decodeURIComponent(u.username) || (dialect === 'mysql' ? 'root' : 'postgres'),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    database,
  };
};

/** PGlite (in this process) served over TCP by pglite-socket's multiplexing server. */
const startPglite = async (): Promise<DbBackend> => {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 64 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    target: { dialect: 'postgres', host: '127.0.0.1', port, user: 'postgres', database: 'postgres' },
    label: 'PGlite (embedded PostgreSQL, served over TCP by pglite-socket)',
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
};

// ---------------------------------------------------------------------------------------------
// A tiny SQL client over the same drivers the adapters use.

interface SqlClient {
  query(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const openSql = async (t: DbTarget, opts: { database?: string | null; timeoutMs?: number } = {}): Promise<SqlClient> => {
  const database = opts.database === undefined ? t.database : opts.database;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  if (t.dialect === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({
      host: t.host,
      port: t.port,
      user: t.user,
      ...(t.password === undefined ? {} : { password: t.password }),
      database: database ?? 'postgres',
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
    });
    client.on('error', () => {});
    await client.connect();
    return {
      query: async (text, params = []) => (await client.query(text, params as unknown[])).rows as Record<string, unknown>[],
      close: async () => {
        await client.end().catch(() => {});
      },
    };
  }
  const mysql = (await import('mysql2/promise')).default;
  const conn = await mysql.createConnection({
    host: t.host,
    port: t.port,
    user: t.user,
    ...(t.password === undefined ? {} : { password: t.password }),
    ...(database === null ? {} : { database }),
    connectTimeout: timeoutMs,
  });
  conn.on('error', () => {});
  await conn.query("SET time_zone = '+00:00'");
  return {
    query: async (text, params = []) => {
      const [rows] = await conn.query({ sql: text, timeout: timeoutMs }, params as unknown[]);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    },
    close: async () => {
      await conn.end().catch(() => conn.destroy());
    },
  };
};

/** A table the harness creates in databases it owns, so it never drops a database it did not create. */
const MARKER_TABLE = 'airflow_watchdog_local_marker';

/**
 * Makes `t.database` exist, empty, with Airflow's `job` table in it. On a real server it drops and
 * recreates the database only when it is new, empty, or was created by this harness (marker table), or
 * when `reset` is set (tests, each with its own database name); otherwise it refuses, so pointing the
 * demo at a real Airflow database cannot destroy it. PGlite has one fresh database: the table is created.
 */
const prepareAirflowDatabase = async (t: DbTarget, opts: { embedded?: boolean; reset?: boolean } = {}): Promise<void> => {
  const table = airflowJobTable(t.dialect);
  if (!opts.embedded) {
    const admin = await openSql(t, { database: t.dialect === 'mysql' ? null : 'postgres' });
    try {
      const exists =
        t.dialect === 'mysql'
          ? (await admin.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [t.database])).length > 0
          : (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [t.database])).length > 0;
      if (exists && !opts.reset) {
        const db = await openSql(t);
        try {
          const tables = (
            t.dialect === 'mysql'
              ? await db.query('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()')
              : await db.query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
          ).map((r) => String(r.name));
          if (tables.length > 0 && !tables.includes(MARKER_TABLE)) {
            throw new Error(
              `database "${t.database}" exists and holds tables (${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}) that this harness did not create; ` +
                'refusing to drop it. Name a new or empty database in the URL (it is created), e.g. …/airflow_watchdog_demo',
            );
          }
        } finally {
          await db.close();
        }
      }
      if (t.dialect === 'mysql') {
        const q = `\`${t.database.replaceAll('`', '``')}\``;
        if (exists) await admin.query(`DROP DATABASE ${q}`);
        await admin.query(`CREATE DATABASE ${q}`);
      } else {
        const q = `"${t.database.replaceAll('"', '""')}"`;
        if (exists) {
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [t.database]);
          await admin.query(`DROP DATABASE ${q}`);
        }
        await admin.query(`CREATE DATABASE ${q}`);
      }
    } finally {
      await admin.close();
    }
  }
  const c = await openSql(t);
  try {
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    for (const stmt of airflowJobDdl(t.dialect, { ifNotExists: true })) await c.query(stmt);
    if (!opts.embedded) await c.query(`CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (created_by VARCHAR(100))`);
  } finally {
    await c.close();
  }
};

/** The `job` columns every Airflow version from 1.10 to 3.x has (research/airflow.md §1.1). */
const AIRFLOW_JOB_COLUMNS = [
  'id',
  'dag_id',
  'state',
  'job_type',
  'start_date',
  'end_date',
  'latest_heartbeat',
  'executor_class',
  'hostname',
  'unixname',
] as const;

/** Alembic heads of the migrated databases seen here (informative: the version is asked of Airflow itself). */
const KNOWN_ALEMBIC_HEADS: Readonly<Record<string, string>> = {
  '290244fb8b83': 'Airflow 2.5.x',
  '405de8318b3a': 'Airflow 2.7.x',
  '29ce7909c52b': 'Airflow 3.0.x',
};

interface AirflowDbInfo {
  /** `alembic_version.version_num`. */
  readonly alembicRevision: string;
  /** What that revision is the head of, when known. */
  readonly releaseHint?: string;
  /** Tables in the database (for the report). */
  readonly tableCount: number;
}

/** Why an existing database cannot be attached to: unreachable, or not Airflow's schema. */
class AttachError extends Error {
  constructor(
    readonly reason: 'unreachable' | 'not-airflow',
    message: string,
  ) {
    super(message);
    this.name = 'AttachError';
  }
}

const where = (t: DbTarget): string => `${t.dialect === 'mysql' ? 'mysql' : 'postgres'} ${t.host}:${t.port}/${t.database}`;

/**
 * Checks that `t.database` is an Airflow metadata database (an `alembic_version` row and a `job` table
 * with Airflow's columns) and returns its revision. Read-only: it never creates, alters or drops
 * anything. Throws AttachError naming what is wrong (server unreachable, login refused, no such
 * database, or a schema that is not Airflow's, with the command that makes one).
 */
const attachAirflowDatabase = async (t: DbTarget, opts: { timeoutMs?: number } = {}): Promise<AirflowDbInfo> => {
  let c: SqlClient;
  try {
    c = await openSql(t, { timeoutMs: opts.timeoutMs ?? 10_000 });
  } catch (err) {
    throw new AttachError('unreachable', `cannot reach the Airflow database at ${where(t)} as ${t.user}: ${(err as Error).message}`);
  }
  try {
    const tables = (
      t.dialect === 'mysql'
        ? await c.query('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()')
        : await c.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()')
    ).map((r) => String(r.name));
    const migrate = 'Point --db at a database migrated by `airflow db migrate` (`airflow db init` before 2.7)';
    const missing = ['alembic_version', 'job'].filter((x) => !tables.includes(x));
    if (missing.length > 0) {
      throw new AttachError(
        'not-airflow',
        `${where(t)} is not an Airflow metadata database: no ${missing.map((m) => `\`${m}\``).join(' or ')} table (${tables.length} tables${
          tables.length === 0 ? '' : `: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}`
        }). ${migrate}.`,
      );
    }
    const columns = (
      t.dialect === 'mysql'
        ? await c.query("SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'job'")
        : await c.query("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'job'")
    ).map((r) => String(r.name).toLowerCase());
    const absent = AIRFLOW_JOB_COLUMNS.filter((x) => !columns.includes(x));
    if (absent.length > 0) {
      throw new AttachError('not-airflow', `${where(t)}: table \`job\` lacks Airflow's column(s) ${absent.join(', ')}: not Airflow's schema. ${migrate}.`);
    }
    const versions = (await c.query('SELECT version_num FROM alembic_version')).map((r) => String(r.version_num));
    const rev = versions[0];
    if (rev === undefined) throw new AttachError('not-airflow', `${where(t)}: \`alembic_version\` is empty: the database was never migrated. ${migrate}.`);
    const hint = KNOWN_ALEMBIC_HEADS[rev];
    return { alembicRevision: rev, ...(hint === undefined ? {} : { releaseHint: hint }), tableCount: tables.length };
  } catch (err) {
    if (err instanceof AttachError) throw err;
    throw new AttachError('unreachable', `reading the schema of ${where(t)} failed: ${(err as Error).message}`);
  } finally {
    await c.close();
  }
};

/** The watchdog's DbConfig for a target reached at `port` (a proxy). */
const watchdogDbConfig = (t: DbTarget, port: number): DbConfig => ({
  dialect: t.dialect,
  host: t.host,
  port,
  database: t.database,
  user: t.user,
  ...(t.password === undefined ? {} : { password: t.password }),
  iamAuth: false,
  tls: false,
  tlsRejectUnauthorized: false,
  tablePrefix: '',
  connectTimeoutSeconds: 5,
  queryTimeoutSeconds: 5,
  lookbackSeconds: 86_400,
  passwordCacheSeconds: 300,
});

// ---------------------------------------------------------------------------------------------

type ProxyMode = 'open' | 'refuse' | 'blackhole';

/** One proxied connection: the client's socket, the upstream one (none yet for a connection accepted in a black hole), bytes held back. */
interface ProxyLink {
  readonly client: Socket;
  upstream?: Socket;
  readonly toUpstream: Buffer[];
  readonly toClient: Buffer[];
  /** One side closed while black-holed: the other side learns it only when the network heals. */
  halfClosed: boolean;
  done: boolean;
}

/**
 * A TCP forwarder. `refuse` cuts every open connection and closes new ones at once: the database is
 * down or partitioned away for whoever connects through this proxy. `blackhole` keeps existing and new
 * connections open but forwards nothing in either direction (bytes are held back; a close on one side
 * is not passed on): packets dropped by the network, the DB's TCP port still open. Back to `open`, what
 * was held back is delivered and forwarding goes on, as when a partition heals.
 */
class TcpProxy {
  readonly #server: Server;
  readonly #links = new Set<ProxyLink>();
  mode: ProxyMode = 'open';
  port = 0;

  constructor(
    readonly name: string,
    private readonly target: { host: string; port: number },
  ) {
    this.#server = createServer((client) => this.#accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.address() as AddressInfo).port;
    return this.port;
  }

  setMode(mode: ProxyMode): void {
    const was = this.mode;
    this.mode = mode;
    if (mode === 'refuse') for (const l of [...this.#links]) this.#destroy(l);
    if (mode === 'open' && was === 'blackhole') for (const l of [...this.#links]) this.#heal(l);
  }

  #accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const link: ProxyLink = { client, toUpstream: [], toClient: [], halfClosed: false, done: false };
    this.#links.add(link);
    client.on('error', () => this.#closed(link));
    client.on('close', () => this.#closed(link));
    client.on('data', (chunk: Buffer) => this.#forward(link, chunk, 'up'));
    if (this.mode === 'open') this.#connectUpstream(link);
  }

  #connectUpstream(link: ProxyLink): void {
    const upstream = tcpConnect(this.target.port, this.target.host);
    link.upstream = upstream;
    upstream.on('error', () => this.#closed(link));
    upstream.on('close', () => this.#closed(link));
    upstream.on('data', (chunk: Buffer) => this.#forward(link, chunk, 'down'));
  }

  #forward(link: ProxyLink, chunk: Buffer, dir: 'up' | 'down'): void {
    const from = dir === 'up' ? link.client : link.upstream;
    const to = dir === 'up' ? link.upstream : link.client;
    if (this.mode !== 'open' || to === undefined) {
      // Held back; stop reading so that the rest waits in the kernel's buffers.
      (dir === 'up' ? link.toUpstream : link.toClient).push(chunk);
      from?.pause();
      return;
    }
    if (!to.write(chunk)) {
      from?.pause();
      to.once('drain', () => {
        if (this.mode === 'open') from?.resume();
      });
    }
  }

  /** The network is back: a side that closed meanwhile closes the other; otherwise held-back bytes go through. */
  #heal(link: ProxyLink): void {
    if (link.halfClosed) {
      this.#destroy(link);
      return;
    }
    if (link.upstream === undefined) this.#connectUpstream(link);
    const upstream = link.upstream as Socket;
    for (const chunk of link.toUpstream.splice(0)) upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
    link.client.resume();
    upstream.resume();
  }

  #closed(link: ProxyLink): void {
    if (link.done) return;
    if (this.mode === 'blackhole') {
      link.halfClosed = true;
      return;
    }
    this.#destroy(link);
  }

  #destroy(link: ProxyLink): void {
    link.done = true;
    link.client.destroy();
    link.upstream?.destroy();
    this.#links.delete(link);
  }

  async close(): Promise<void> {
    for (const l of [...this.#links]) this.#destroy(l);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------

/** One live control-plane row as the sampler saw it. */
interface SampledRow {
  readonly jobId: number;
  readonly hostname: string;
  readonly state: string | null;
  /** Heartbeat age by the DB's clock, seconds. */
  readonly age: number;
  /** SchedulerJob, DagProcessorJob or TriggererJob. */
  readonly jobType: string;
}

/** The job types of Airflow's control plane (the rows the watchdog reads; never LocalTaskJob). */
const CONTROL_PLANE_JOB_TYPES = ['SchedulerJob', 'DagProcessorJob', 'TriggererJob'] as const;

/**
 * Reads all live control-plane rows (SchedulerJob, DagProcessorJob, TriggererJob; end_date NULL, state
 * not success; SPEC §2) with their age by the DB's clock. Its own direct connection, so it sees the
 * truth during an injected outage.
 */
const sampleLiveRows = async (c: SqlClient, dialect: AirflowDialect, lookbackSeconds = 600): Promise<SampledRow[]> => {
  const table = airflowJobTable(dialect);
  const types = CONTROL_PLANE_JOB_TYPES.map((x) => `'${x}'`).join(', ');
  const rows =
    dialect === 'postgres'
      ? await c.query(
          `SELECT id, job_type, hostname, state, EXTRACT(EPOCH FROM (clock_timestamp() - latest_heartbeat))::float8 AS age FROM ${table}
           WHERE job_type IN (${types}) AND end_date IS NULL AND (state IS NULL OR state <> 'success')
             AND latest_heartbeat > clock_timestamp() - make_interval(secs => $1) ORDER BY id`,
          [lookbackSeconds],
        )
      : await c.query(
          `SELECT id, job_type, hostname, state, TIMESTAMPDIFF(MICROSECOND, latest_heartbeat, UTC_TIMESTAMP(6)) / 1000000 AS age FROM ${table}
           WHERE job_type IN (${types}) AND end_date IS NULL AND (state IS NULL OR state <> 'success')
             AND latest_heartbeat > UTC_TIMESTAMP(6) - INTERVAL ? SECOND ORDER BY id`,
          [lookbackSeconds],
        );
  return rows.map((r) => ({
    jobId: Number(r.id),
    jobType: String(r.job_type),
    hostname: String(r.hostname),
    state: r.state === null ? null : String(r.state),
    age: Number(r.age),
  }));
};

export type { AirflowDbInfo, DbBackend, DbTarget, ProxyMode, SampledRow, SqlClient };
export {
  AIRFLOW_JOB_COLUMNS,
  AttachError,
  attachAirflowDatabase,
  CONTROL_PLANE_JOB_TYPES,
  openSql,
  parseDbUrl,
  prepareAirflowDatabase,
  sampleLiveRows,
  startPglite,
  TcpProxy,
  urlOf,
  watchdogDbConfig,
};
