import type { DbConfig } from '../core/config.js';

/**
 * The contract between the metadata DB adapter (metadata-db.ts) and its dialect drivers
 * (metadata-db-mysql.ts, metadata-db-postgres.ts). The drivers import only this module, and the adapter
 * loads the configured driver with a dynamic import, so a function never evaluates the driver (and the
 * DB client library) it does not use, and no import circle joins the adapter and its drivers.
 */

/**
 * Cap on rows read per observe. Rows come newest first, so hitting it drops only the oldest (long
 * stale) rows; it takes more than this many live scheduler rows inside the lookback window.
 */
const ROW_LIMIT = 1000;

/** One row as the heartbeat statement returns it; drivers hand over whatever types they parsed. */
interface RawHeartbeatRow {
  readonly id: unknown;
  /** Absent from drivers and fakes that read SchedulerJob rows only. */
  readonly job_type?: unknown;
  readonly hostname: unknown;
  readonly state: unknown;
  /** latest_heartbeat in UTC as `YYYY-MM-DDTHH:MM:SS.ffffff`, formatted by the DB. */
  readonly heartbeat_utc: unknown;
  /** Seconds between latest_heartbeat and the DB's current time. */
  readonly age_seconds: unknown;
}

interface DbSession {
  /** False once the driver saw the connection fail or end. */
  readonly alive: boolean;
  /** Runs the heartbeat statement; bounded by `timeoutMs`, destroying the socket when it expires. */
  heartbeatRows(lookbackSeconds: number, timeoutMs: number, jobTypes: readonly string[]): Promise<readonly RawHeartbeatRow[]>;
  /** Hard stop, no goodbye: for broken or black-holed connections. */
  destroy(): void;
  /** Polite close, bounded. */
  end(): Promise<void>;
}

interface DbDriver {
  /** `mysql host:port/database`, for reasons. */
  readonly label: string;
  /** Connects and prepares the session (MySQL: UTC time zone); bounded by `timeoutMs`. */
  open(password: string | undefined, timeoutMs: number): Promise<DbSession>;
}

class DbTimeoutError extends Error {
  constructor(
    readonly phase: 'connect' | 'query' | 'deadline',
    readonly ms: number,
  ) {
    const limit = `${ms / 1000} s`;
    super(phase === 'deadline' ? `no answer within ${limit} overall` : phase === 'connect' ? `not connected within ${limit}` : `no result within ${limit}`);
    this.name = 'DbTimeoutError';
  }
}

const PORTS = { mysql: 3306, postgres: 5432 } as const;

/** Airflow's job types the statement may name; anything else never reaches SQL text. */
const KNOWN_JOB_TYPES = new Set(['SchedulerJob', 'DagProcessorJob', 'TriggererJob']);

/** `'SchedulerJob', 'TriggererJob'`: the IN list of the statement, from the fixed set of job types only. */
const jobTypeList = (jobTypes: readonly string[]): string => {
  for (const t of jobTypes) if (!KNOWN_JOB_TYPES.has(t)) throw new Error(`unknown job type ${JSON.stringify(t)}`);
  return [...new Set(jobTypes)].map((t) => `'${t}'`).join(', ');
};

const driverLabel = (config: DbConfig): string => `${config.dialect} ${config.host}:${config.port ?? PORTS[config.dialect]}/${config.database}`;

export type { DbDriver, DbSession, RawHeartbeatRow };
export { DbTimeoutError, driverLabel, jobTypeList, PORTS, ROW_LIMIT };
