import { type Connection, createConnection } from 'mysql2';
import type { DbConfig } from '../core/config.js';
import { type DbDriver, type DbSession, DbTimeoutError, driverLabel, jobTypeList, type RawHeartbeatRow, ROW_LIMIT } from './metadata-db-driver.js';

/**
 * MySQL / MariaDB side of the metadata DB adapter (mysql2). TIMESTAMP columns are rendered in the
 * session time zone, so every new connection pins it to UTC, as Airflow's own connections do; age is
 * then `UTC_TIMESTAMP(6) - latest_heartbeat` on the server's clock.
 */

const quoteMysql = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

const mysqlJobTable = (config: Pick<DbConfig, 'schema' | 'tablePrefix'>): string => {
  const table = quoteMysql(`${config.tablePrefix}job`);
  return config.schema ? `${quoteMysql(config.schema)}.${table}` : table;
};

/**
 * The one statement per observe. The range on latest_heartbeat (with job_type fixed) reads index
 * `job_type_heart` backwards; NULL heartbeats fall outside the range. The optimizer hint bounds the
 * query on MySQL's side too (MariaDB reads it as a comment). `?` = lookback seconds.
 */
const mysqlHeartbeatSql = (config: Pick<DbConfig, 'schema' | 'tablePrefix' | 'queryTimeoutSeconds'>, jobTypes: readonly string[] = ['SchedulerJob']): string =>
  `SELECT /*+ MAX_EXECUTION_TIME(${Math.ceil(config.queryTimeoutSeconds * 1000)}) */ id, job_type, hostname, state,
  DATE_FORMAT(latest_heartbeat, '%Y-%m-%dT%H:%i:%s.%f') AS heartbeat_utc,
  TIMESTAMPDIFF(MICROSECOND, latest_heartbeat, UTC_TIMESTAMP(6)) / 1e6 AS age_seconds
FROM ${mysqlJobTable(config)}
WHERE job_type IN (${jobTypeList(jobTypes)})
  AND latest_heartbeat >= UTC_TIMESTAMP(6) - INTERVAL ? SECOND
  AND end_date IS NULL
  AND NOT (state <=> 'success')
ORDER BY latest_heartbeat DESC
LIMIT ${ROW_LIMIT}`;

const run = (conn: Connection, sql: string, values: unknown[] = []): Promise<unknown> =>
  new Promise((resolve, reject) => {
    conn.query({ sql, values }, (err, rows) => (err ? reject(err) : resolve(rows)));
  });

/** Rejects after `ms`, destroying the connection first: a black-holed socket never answers. */
const bounded = <T>(work: Promise<T>, conn: Connection, phase: 'connect' | 'query', ms: number, onTimeout: () => void): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      conn.destroy();
      reject(new DbTimeoutError(phase, ms));
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
};

const mysqlDriver = (config: DbConfig): DbDriver => {
  const lookbackSeconds = (seconds: number) => Math.ceil(seconds);
  return {
    label: driverLabel(config),
    async open(password, timeoutMs) {
      const conn = createConnection({
        host: config.host,
        port: config.port ?? 3306,
        user: config.user,
        password,
        database: config.database,
        connectTimeout: timeoutMs,
        ssl: config.tls ? { rejectUnauthorized: config.tlsRejectUnauthorized } : undefined,
        // RDS IAM tokens travel as cleartext, which TLS (required with iamAuth) protects.
        enableCleartextPlugin: config.iamAuth,
        enableKeepAlive: true,
        dateStrings: true,
        supportBigNumbers: true,
        multipleStatements: false,
        connectAttributes: { program_name: 'airflow-scheduler-watchdog' },
      });
      const state = { alive: true };
      // An idle connection that fails must not crash the process; the next observe reconnects.
      conn.on('error', () => {
        state.alive = false;
      });
      conn.on('end', () => {
        state.alive = false;
      });
      const ready = new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve()))).then(() =>
        run(conn, "SET time_zone = '+00:00'"),
      );
      try {
        await bounded(ready, conn, 'connect', timeoutMs, () => {
          state.alive = false;
        });
      } catch (err) {
        state.alive = false;
        conn.destroy();
        throw err;
      }
      const session: DbSession = {
        get alive() {
          return state.alive;
        },
        async heartbeatRows(lookback, queryMs, jobTypes) {
          const rows = await bounded(run(conn, mysqlHeartbeatSql(config, jobTypes), [lookbackSeconds(lookback)]), conn, 'query', queryMs, () => {
            state.alive = false;
          });
          return rows as RawHeartbeatRow[];
        },
        destroy() {
          state.alive = false;
          conn.destroy();
        },
        async end() {
          state.alive = false;
          await bounded(new Promise<void>((resolve) => conn.end(() => resolve())), conn, 'query', 1000, () => undefined).catch(() => undefined);
        },
      };
      return session;
    },
  };
};

export { mysqlDriver, mysqlHeartbeatSql, mysqlJobTable, quoteMysql };
