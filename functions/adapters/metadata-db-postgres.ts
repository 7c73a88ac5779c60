import pg from 'pg';
import type { DbConfig } from '../core/config.js';
import { type DbDriver, type DbSession, DbTimeoutError, driverLabel, jobTypeList, type RawHeartbeatRow, ROW_LIMIT } from './metadata-db-driver.js';

/**
 * PostgreSQL side of the metadata DB adapter (node-postgres). latest_heartbeat is timestamptz, so the
 * age does not depend on the session time zone; the ISO text is formatted at UTC explicitly.
 */

const APPLICATION_NAME = 'airflow-scheduler-watchdog';

const quotePostgres = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const postgresJobTable = (config: Pick<DbConfig, 'schema' | 'tablePrefix'>): string => {
  const table = quotePostgres(`${config.tablePrefix}job`);
  return config.schema ? `${quotePostgres(config.schema)}.${table}` : table;
};

/**
 * The one statement per observe. The range bound uses `now()` (stable, so index `job_type_heart` can
 * serve it); the age uses `clock_timestamp()`, the real time (`now()` is the transaction start).
 * `$1` = lookback seconds.
 */
const postgresHeartbeatSql = (config: Pick<DbConfig, 'schema' | 'tablePrefix'>, jobTypes: readonly string[] = ['SchedulerJob']): string =>
  `SELECT id, job_type, hostname, state,
  to_char(latest_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS heartbeat_utc,
  EXTRACT(EPOCH FROM clock_timestamp() - latest_heartbeat)::float8 AS age_seconds
FROM ${postgresJobTable(config)}
WHERE job_type IN (${jobTypeList(jobTypes)})
  AND latest_heartbeat >= now() - make_interval(secs => $1::float8)
  AND end_date IS NULL
  AND state IS DISTINCT FROM 'success'
ORDER BY latest_heartbeat DESC
LIMIT ${ROW_LIMIT}`;

/** Rejects after `ms`, destroying the socket first: a black-holed server never answers, and `end()` would wait for it. */
const bounded = <T>(work: Promise<T>, client: pg.Client, phase: 'connect' | 'query', ms: number, onTimeout: () => void): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      client.connection.stream.destroy();
      reject(new DbTimeoutError(phase, ms));
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
};

const postgresDriver = (config: DbConfig): DbDriver => {
  const statementTimeoutMs = Math.ceil(config.queryTimeoutSeconds * 1000);
  return {
    label: driverLabel(config),
    async open(password, timeoutMs) {
      const client = new pg.Client({
        host: config.host,
        port: config.port ?? 5432,
        user: config.user,
        password,
        database: config.database,
        ssl: config.tls ? { rejectUnauthorized: config.tlsRejectUnauthorized } : false,
        connectionTimeoutMillis: timeoutMs,
        // The server gives up too, so a slow plan does not keep running after we hung up.
        statement_timeout: statementTimeoutMs,
        keepAlive: true,
        application_name: APPLICATION_NAME,
      });
      const state = { alive: true };
      // An idle connection that fails must not crash the process; the next observe reconnects.
      client.on('error', () => {
        state.alive = false;
      });
      client.on('end', () => {
        state.alive = false;
      });
      const markDead = () => {
        state.alive = false;
      };
      try {
        await bounded(client.connect(), client, 'connect', timeoutMs, markDead);
      } catch (err) {
        markDead();
        client.connection.stream.destroy();
        throw err;
      }
      const session: DbSession = {
        get alive() {
          return state.alive;
        },
        async heartbeatRows(lookback, queryMs, jobTypes) {
          const result = await bounded(client.query<RawHeartbeatRow>({ text: postgresHeartbeatSql(config, jobTypes), values: [lookback] }), client, 'query', queryMs, markDead);
          return result.rows;
        },
        destroy() {
          markDead();
          client.connection.stream.destroy();
        },
        async end() {
          markDead();
          await bounded(client.end(), client, 'query', 1000, () => undefined).catch(() => undefined);
        },
      };
      return session;
    },
  };
};

export { APPLICATION_NAME, postgresDriver, postgresHeartbeatSql, postgresJobTable, quotePostgres };
