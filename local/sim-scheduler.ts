/**
 * A simulated Airflow control-plane process (`airflow scheduler`, or on Airflow 3 `airflow
 * dag-processor` / `airflow triggerer`): a process that writes to Airflow's `job` table what the real
 * one writes (research/airflow-real.md, SPEC §9), and nothing else.
 *
 * - Start: after an import delay, one INSERT of a `running` row of its job type with its hostname.
 *   A SchedulerJob then, like `adopt_or_reset_orphaned_tasks`, marks other `running` SchedulerJob rows
 *   older than the health threshold `failed` (end_date stays NULL), again every orphan-check interval.
 *   Nobody marks DagProcessorJob or TriggererJob rows. A start while the DB is unreachable exits 1 and
 *   writes no row.
 * - Main loop: like the scheduling loop it touches the DB every `loopSec` (a cheap query) and heartbeats
 *   every `heartbeatSec` with its own clock (plus `skewSec`), one statement at a time on one connection,
 *   with no client-side timeout: a query that gets no answer (a black-holed DB) blocks the loop, and
 *   the loop goes on when the answer comes; the overdue beat then runs at once.
 * - Flavors: `2.5` (2.5–2.7) and `3.0` (3.x): the stored heartbeat is one beat old (`lag`), and each
 *   beat writes `state='running'` back over whatever the DB holds (SQLAlchemy's merge), so a row
 *   someone marked `failed` goes back to `running`. `2.8` (2.8–2.11): no lag, the state is never
 *   rewritten, it keeps beating on a `failed` row. Only `2.5` fills `executor_class`.
 * - DB loss (`onDbLoss`): `exit` (default, what 2.7.3 and 3.0.2 do): a connection error (refused,
 *   reset, terminated, login failed) on any DB operation logs "Exception when executing …" and
 *   "Exited execute loop", ends the children and exits 1, writing nothing (the row stays `running`).
 *   `survive`: the failed heartbeat is logged, the in-memory value kept, the process goes on.
 * - SIGTERM/SIGINT: `success`, `end_date` and the last in-memory heartbeat, children ended, exit 0.
 * - SIGKILL: nothing (optionally leaving `orphans` children running, as a real scheduler's executor,
 *   workers and DAG processor are, and a log server holding `logServerPort`). SIGSTOP freezes it;
 *   after SIGCONT the overdue beat writes the stale pre-stop value first, then fresh ones (with lag).
 * - A log server (`logServerPort`) that cannot bind its port (an orphan of a killed predecessor holds
 *   it) logs gunicorn's `Connection in use` five times and `Can't connect`, and exits; the main
 *   process runs on.
 *
 * Configured by environment variables (it runs as the systemd unit's ExecStart through the fake
 * systemctl), all optional except the DB URL:
 *   SIM_DB_URL            postgres://user[:pw]@host:port/db or mysql://user[:pw]@host:port/db
 *   SIM_HOSTNAME          job.hostname (default WATCHDOG_HOSTNAME_OVERRIDE, else os.hostname())
 *   SIM_JOB_TYPE          SchedulerJob | DagProcessorJob | TriggererJob (SchedulerJob)
 *   SIM_HEARTBEAT_SEC     scheduler_heartbeat_sec / job_heartbeat_sec (5)
 *   SIM_LOOP_SEC          how often the main loop touches the DB (heartbeat / 5, at most 1)
 *   SIM_ON_DB_LOSS        exit | survive (exit)
 *   SIM_SKEW_SEC          this host's clock offset in seconds (0; positive = ahead)
 *   SIM_CLOCK_FILE        a file whose number, while it exists, replaces SIM_SKEW_SEC: the host's clock
 *                         stepped while the process runs (NTP lost or stepping it)
 *   SIM_FLAVOR            2.5 | 2.8 | 3.0 (2.5)
 *   SIM_LAG               1 | 0 (default: 1 for 2.5 and 3.0, 0 for 2.8)
 *   SIM_HEALTH_THRESHOLD_SEC  scheduler_health_check_threshold for the orphan check (30)
 *   SIM_ORPHAN_CHECK_SEC  orphaned_tasks_check_interval (300)
 *   SIM_START_DELAY_SEC   import time before the INSERT (0.2)
 *   SIM_SHUTDOWN_SEC      time a clean shutdown takes before writing success (0.1)
 *   SIM_ORPHANS           children left running after SIGKILL (0)
 *   SIM_LOG_SERVER_PORT   a log-server child listening on 127.0.0.1:<port>, left running after SIGKILL (none)
 *   SIM_CRASH_AFTER_SEC   crash this long after the INSERT; SIM_CRASH_MODE abort | exception
 *   SIM_FAIL_AT_START     1: exit 1 before writing anything (a broken install: a flapping node)
 *   SIM_SCHEMA, SIM_TABLE_PREFIX  where the job table lives
 *   SIM_EVENTS_FILE       append one JSON line per lifecycle event (for the harness timeline)
 *   SIM_OWNER_PID         exit when this process is gone, children too (no leftovers if the harness dies)
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { hostname as osHostname, userInfo } from 'node:os';

type Dialect = 'mysql' | 'postgres';
type JobType = 'SchedulerJob' | 'DagProcessorJob' | 'TriggererJob';

interface Sql {
  query(text: string, params: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; insertId?: number }>;
  close(): void;
}

const env = process.env;

const configError = (msg: string): never => {
  process.stderr.write(`sim-scheduler: ${msg}\n`);
  process.exit(2);
};
const num = (name: string, dflt: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) configError(`${name} must be a number (got ${v})`);
  return n;
};
const oneOf = <T extends string>(name: string, allowed: readonly T[], dflt: T): T => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  if (!(allowed as readonly string[]).includes(v)) configError(`${name} must be one of ${allowed.join(', ')} (got ${v})`);
  return v as T;
};

const url = env.SIM_DB_URL ?? '';
const dialect: Dialect = url.startsWith('mysql') ? 'mysql' : 'postgres';
const hostname = env.SIM_HOSTNAME ?? env.WATCHDOG_HOSTNAME_OVERRIDE ?? osHostname();
const jobType = oneOf<JobType>('SIM_JOB_TYPE', ['SchedulerJob', 'DagProcessorJob', 'TriggererJob'], 'SchedulerJob');
const component = { SchedulerJob: 'airflow scheduler', DagProcessorJob: 'airflow dag-processor', TriggererJob: 'airflow triggerer' }[jobType];
const heartbeatMs = num('SIM_HEARTBEAT_SEC', 5) * 1000;
const loopMs = num('SIM_LOOP_SEC', Math.min(1, heartbeatMs / 5000)) * 1000;
const onDbLoss = oneOf('SIM_ON_DB_LOSS', ['exit', 'survive'] as const, 'exit');
const skewMs = num('SIM_SKEW_SEC', 0) * 1000;
const flavor = oneOf('SIM_FLAVOR', ['2.5', '2.8', '3.0'] as const, '2.5');
const lag = env.SIM_LAG === undefined || env.SIM_LAG === '' ? flavor !== '2.8' : env.SIM_LAG === '1';
/** 2.5–2.7 and (observed) 3.0: the beat's merge writes the in-memory `state='running'` over the row. */
const mergeWritesState = flavor !== '2.8';
const thresholdMs = num('SIM_HEALTH_THRESHOLD_SEC', 30) * 1000;
const orphanCheckMs = num('SIM_ORPHAN_CHECK_SEC', 300) * 1000;
const startDelayMs = num('SIM_START_DELAY_SEC', 0.2) * 1000;
const shutdownMs = num('SIM_SHUTDOWN_SEC', 0.1) * 1000;
const orphans = num('SIM_ORPHANS', 0);
const logServerPort = env.SIM_LOG_SERVER_PORT ? num('SIM_LOG_SERVER_PORT', 0) : undefined;
const crashAfterMs = env.SIM_CRASH_AFTER_SEC ? num('SIM_CRASH_AFTER_SEC', 0) * 1000 : undefined;
const crashMode = env.SIM_CRASH_MODE === 'exception' ? 'exception' : 'abort';
const ownerPid = env.SIM_OWNER_PID ? Number(env.SIM_OWNER_PID) : undefined;
const eventsFile = env.SIM_EVENTS_FILE;
const ident = (s: string): string => (dialect === 'mysql' ? `\`${s}\`` : `"${s}"`);
const table = `${env.SIM_SCHEMA ? `${ident(env.SIM_SCHEMA)}.` : ''}${ident(`${env.SIM_TABLE_PREFIX ?? ''}job`)}`;

/** What each component logs when its loop dies (the scheduler's two lines are the observed ones). */
const LOOP_EXIT_LINES: Record<JobType, readonly [string, string]> = {
  SchedulerJob: ['Exception when executing SchedulerJob._run_scheduler_loop', 'Exited execute loop'],
  DagProcessorJob: ['Exception when executing DagProcessorJob._execute', 'Exited execute loop'],
  TriggererJob: ['Exception when executing TriggererJobRunner._run_trigger_loop', 'Exited trigger loop'],
};

const clockFile = env.SIM_CLOCK_FILE;
/** The host's offset now: the clock file's (the harness steps it at run time), else SIM_SKEW_SEC. */
const offsetMs = (): number => {
  if (!clockFile) return skewMs;
  let text: string;
  try {
    text = readFileSync(clockFile, 'utf8');
  } catch {
    return skewMs;
  }
  // Empty: being replaced (the harness renames a new file over it); the configured skew meanwhile.
  if (text.trim() === '') return skewMs;
  const sec = Number(text.trim());
  if (!Number.isFinite(sec)) throw new Error(`SIM_CLOCK_FILE ${clockFile}: "${text.trim()}" is not a number of seconds`);
  return sec * 1000;
};

/** This host's clock (with its skew). */
const clock = (): Date => new Date(Date.now() + offsetMs());

const event = (name: string, extra: Record<string, unknown> = {}): void => {
  const line = { t: Date.now(), pid: process.pid, pgid: process.pid, hostname, jobType, event: name, ...extra };
  if (eventsFile) {
    try {
      appendFileSync(eventsFile, `${JSON.stringify(line)}\n`);
    } catch {
      // diagnostics only
    }
  }
};

const log = (msg: string): void => {
  process.stderr.write(`${new Date().toISOString()} [${component} ${hostname} pid ${process.pid}] ${msg}\n`);
};

/** A timestamp as the driver should bind it: MySQL gets naive UTC (session time_zone '+00:00'), PG an ISO instant. */
const ts = (d: Date): string => (dialect === 'mysql' ? d.toISOString().replace('T', ' ').replace('Z', '') : d.toISOString());

const errText = (e: unknown): string => {
  const err = e as { message?: string; code?: unknown };
  return err?.message || (err?.code === undefined ? String(e) : String(err.code));
};

// ---- the connection ------------------------------------------------------------------------------

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_READ_ERROR',
]);
const CONNECTION_ERROR_TEXT =
  /connection terminated|connection (?:is )?closed|closed state|connection lost|not queryable|server closed the connection|terminating connection|can't connect|connect econnrefused/i;

/**
 * A connection error as SQLAlchemy reports it with an OperationalError that ends the loop: refused,
 * reset, terminated by the server, login refused (PostgreSQL SQLSTATE classes 08 and 28, 57P01–57P03;
 * the MySQL client's and server's equivalents).
 */
const isConnectionError = (e: unknown): boolean => {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (CONNECTION_ERROR_CODES.has(code)) return true;
  if (/^(08|28)[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03'].includes(code)) return true;
  return CONNECTION_ERROR_TEXT.test(typeof err?.message === 'string' ? err.message : '');
};

const connect = async (): Promise<Sql> => {
  const u = new URL(url);
  const user = decodeURIComponent(u.username) || (dialect === 'mysql' ? 'root' : 'postgres');
  const password = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const port = u.port === '' ? undefined : Number(u.port);
  // No connect or query timeout, like psycopg2's and mysqlclient's defaults under Airflow: a DB that
  // accepts TCP but never answers blocks the caller until it answers.
  if (dialect === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({
      host: u.hostname,
      ...(port === undefined ? {} : { port }),
      user,
      ...(password === '' ? {} : { password }),
      database,
    });
    const self: Sql = {
      query: async (text, params) => {
        const r = await client.query(text, params as unknown[]);
        return { rows: r.rows as Record<string, unknown>[] };
      },
      close: () => {
        void client.end().catch(() => {});
      },
    };
    client.on('error', (e) => connectionBroke(self, e));
    client.on('end', () => connectionBroke(self));
    await client.connect();
    return self;
  }
  const mysql = (await import('mysql2/promise')).default;
  const conn = await mysql.createConnection({
    host: u.hostname,
    ...(port === undefined ? {} : { port }),
    user,
    ...(password === '' ? {} : { password }),
    database,
    connectTimeout: 0,
  });
  const self: Sql = {
    query: async (text, params) => {
      const [res] = await conn.query({ sql: text }, params as unknown[]);
      if (Array.isArray(res)) return { rows: res as Record<string, unknown>[] };
      return { rows: [], insertId: (res as { insertId?: number }).insertId };
    },
    close: () => conn.destroy(),
  };
  conn.on('error', (e: Error) => connectionBroke(self, e));
  conn.on('end', () => connectionBroke(self));
  // What Airflow does on every MySQL connection (airflow/utils/orm_event_handlers.py).
  await conn.query("SET time_zone = '+00:00'");
  return self;
};

let sql: Promise<Sql> | undefined;
let current: Sql | undefined;
const db = (): Promise<Sql> => {
  if (sql === undefined) {
    const p = connect().then((s) => {
      current = s;
      return s;
    });
    // A failed connect leaves no connection behind: the next operation connects again.
    p.catch(() => {
      if (sql === p) sql = undefined;
    });
    sql = p;
  }
  return sql;
};
const dropConnection = (): void => {
  try {
    current?.close();
  } catch {
    // ignore
  }
  current = undefined;
  sql = undefined;
};
/**
 * The server or the network closed the connection (reset, terminated by the server, the proxy cut it).
 * `exit`: what 2.7.3 and 3.0.2 did when their connections were cut or terminated, the loop dies.
 * `survive`: the next operation opens a new connection (and fails while the DB is unreachable).
 */
function connectionBroke(s: Sql, e?: Error): void {
  if (current !== s) return;
  dropConnection();
  const err = e ?? new Error('Connection terminated unexpectedly');
  if (onDbLoss === 'exit' && !stopping && !exiting) dbLost('connection', err);
  log(`connection error: ${err.message}`);
}
const p = (i: number): string => (dialect === 'mysql' ? '?' : `$${i}`);

let jobId: number | undefined;
/** The in-memory latest_heartbeat (what the next write stores when `lag`). */
let inMemory = clock();
let stopping = false;
let exiting = false;
const children: ReturnType<typeof spawn>[] = [];

const endChildren = (signal: NodeJS.Signals): void => {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {
      // gone
    }
  }
};

/** No row yet: Airflow exits when it cannot create its job row (2.7.3: OperationalError 2002 "Can't connect"). */
const startFailed = (e: unknown): never => {
  exiting = true;
  log(`ERROR - could not insert the job row: sqlalchemy.exc.OperationalError: ${errText(e)}`);
  event('exit', { code: 1, error: errText(e) });
  process.exit(1);
};

/** The loop died on a DB connection error: what 2.7.3 and 3.0.2 log and do. Nothing is written. */
const dbLost = (what: string, e: unknown): never => {
  if (jobId === undefined) return startFailed(e);
  exiting = true;
  const [first, last] = LOOP_EXIT_LINES[jobType];
  log(`ERROR - ${first}`);
  log(`sqlalchemy.exc.OperationalError (in ${what}): ${errText(e)}`);
  endChildren('SIGTERM');
  log(`INFO - ${last}`);
  event('db-lost', { jobId, during: what, error: errText(e) });
  event('exit', { code: 1, jobId, error: errText(e) });
  process.exit(1);
};

/**
 * One DB operation. A failure drops the connection (the next operation reconnects); a connection error
 * ends the process when `onDbLoss` is `exit` (not during a clean shutdown, which logs and exits 0).
 */
const dbOp = async <T>(what: string, f: (s: Sql) => Promise<T>, inLoop = true): Promise<T> => {
  try {
    return await f(await db());
  } catch (e) {
    dropConnection();
    if (inLoop && onDbLoss === 'exit' && !stopping && isConnectionError(e)) dbLost(what, e);
    throw e;
  }
};

// ---- what it writes ------------------------------------------------------------------------------

const insertRow = async (): Promise<number> => {
  const start = clock();
  // 2.5: start_date and latest_heartbeat from one utcnow() (µs apart). 2.6+: Job.__init__ sets the
  // heartbeat, prepare_for_execution() sets start_date again just before the INSERT (8–184 ms later).
  const heartbeat = flavor === '2.5' ? start : new Date(start.getTime() - 10);
  inMemory = heartbeat;
  const cols = 'dag_id, state, job_type, start_date, end_date, latest_heartbeat, executor_class, hostname, unixname';
  const vals = [null, 'running', jobType, ts(start), null, ts(heartbeat), flavor === '2.5' ? 'LocalExecutor' : null, hostname, userInfo().username];
  const placeholders = vals.map((_, i) => p(i + 1)).join(', ');
  // Before the loop: any failure ends the process (main), in either DB-loss mode.
  return dbOp('insert', async (s) => {
    if (dialect === 'mysql') {
      const r = await s.query(`INSERT INTO ${table} (${cols}) VALUES (${placeholders})`, vals);
      return Number(r.insertId);
    }
    const r = await s.query(`INSERT INTO ${table} (${cols}) VALUES (${placeholders}) RETURNING id`, vals);
    return Number(r.rows[0]?.id);
  }, false);
};

/** adopt_or_reset_orphaned_tasks' scheduler part: stale `running` SchedulerJob rows become `failed`, end_date untouched. */
const markStaleFailed = async (): Promise<void> => {
  if (jobType !== 'SchedulerJob') return;
  const limit = new Date(clock().getTime() - thresholdMs);
  try {
    const r = await dbOp('adopt_or_reset_orphaned_tasks', (s) =>
      s.query(
        `UPDATE ${table} SET state = 'failed' WHERE job_type = 'SchedulerJob' AND state = 'running' AND latest_heartbeat < ${p(1)}${dialect === 'postgres' ? ' RETURNING id' : ''}`,
        [ts(limit)],
      ),
    );
    const marked = dialect === 'postgres' ? r.rows.map((x) => Number(x.id)) : undefined;
    if (marked !== undefined && marked.length > 0) log(`INFO - Marked ${marked.length} SchedulerJob instances as failed`);
    event('orphan-check', { marked });
  } catch (e) {
    log(`orphan check failed: ${errText(e)}`);
  }
};

/** One iteration's DB work of the main loop (the scheduling queries), reduced to a round trip. */
let loopFailing = false;
const loopQuery = async (): Promise<void> => {
  try {
    await dbOp('loop', (s) => s.query('SELECT 1 AS ok', []));
    loopFailing = false;
  } catch (e) {
    if (!loopFailing) log(`loop query failed: ${errText(e)}`);
    loopFailing = true;
  }
};

let lastBeatOkAt = Date.now();
let lastBeatFailed = false;
const beat = async (): Promise<void> => {
  if (jobId === undefined) return;
  const id = jobId;
  const fresh = clock();
  const value = lag ? inMemory : fresh;
  try {
    const restarting = await dbOp('heartbeat', async (s) => {
      if (mergeWritesState) {
        // session.merge(self): the in-memory object, state 'running' included, goes over the DB row.
        await s.query(`SELECT id, state FROM ${table} WHERE id = ${p(1)} AND job_type IN (${p(2)})`, [id, jobType]);
        await s.query(`UPDATE ${table} SET state = 'running', latest_heartbeat = ${p(1)} WHERE id = ${p(2)}`, [ts(value), id]);
        return false;
      }
      const r = await s.query(`SELECT state FROM ${table} WHERE id = ${p(1)}`, [id]);
      if (r.rows[0]?.state === 'restarting') return true;
      await s.query(`UPDATE ${table} SET latest_heartbeat = ${p(1)} WHERE id = ${p(2)}`, [ts(value), id]);
      return false;
    });
    if (restarting) {
      log('job state is restarting: shutting down');
      await shutdown('restarting');
      return;
    }
    inMemory = fresh;
    const sinceOk = Date.now() - lastBeatOkAt;
    if (lastBeatFailed || sinceOk > thresholdMs) log(`INFO - Heartbeat recovered after ${(sinceOk / 1000).toFixed(2)} seconds`);
    lastBeatOkAt = Date.now();
    lastBeatFailed = false;
    event('beat', { jobId: id, wrote: value.toISOString() });
  } catch (e) {
    // Survive mode (and errors that are not connection errors): Airflow logs the failure, restores the
    // old in-memory value and goes on.
    lastBeatFailed = true;
    event('beat-failed', { jobId: id, error: errText(e) });
    log(`ERROR - ${jobType} heartbeat failed with error: ${errText(e)}`);
  }
};

const shutdown = async (why: string): Promise<never> => {
  if (stopping || exiting) return new Promise<never>(() => {});
  stopping = true;
  event('shutdown', { why, jobId });
  log(`INFO - Exiting gracefully upon receiving signal (${why})`);
  endChildren('SIGTERM');
  if (shutdownMs > 0) await new Promise((r) => setTimeout(r, shutdownMs));
  if (jobId !== undefined) {
    const id = jobId;
    try {
      await dbOp('complete_execution', (s) =>
        s.query(`UPDATE ${table} SET state = 'success', end_date = ${p(1)}, latest_heartbeat = ${p(2)} WHERE id = ${p(3)}`, [ts(clock()), ts(inMemory), id]),
      );
      event('success', { jobId: id });
    } catch (e) {
      log(`could not write success: ${errText(e)}`);
    }
  }
  dropConnection();
  event('exit', { code: 0, jobId });
  process.exit(0);
};

// ---- children ------------------------------------------------------------------------------------

/** Exits on SIGTERM, or when SIM_OWNER_PID is gone: never a leftover once the harness is gone. */
const CHILD_PRELUDE = `process.title=process.argv[1];const o=Number(process.env.SIM_OWNER_PID||0);process.on('SIGTERM',()=>process.exit(0));setInterval(()=>{if(o){try{process.kill(o,0)}catch{process.exit(0)}}},500);`;

/**
 * gunicorn serving task logs: binds the port, or, when it is taken, does what gunicorn's arbiter does
 * (five tries a second apart, then gives up and exits).
 */
const LOG_SERVER_CODE = `${CHILD_PRELUDE}
const net=require('node:net');const port=Number(process.argv[2]);let tries=0;
const say=(l,m)=>process.stderr.write('['+new Date().toISOString()+'] ['+process.pid+'] ['+l+'] '+m+'\\n');
const bind=()=>{const s=net.createServer((c)=>{c.on('error',()=>{});c.end('HTTP/1.1 404 Not Found\\r\\ncontent-length: 0\\r\\n\\r\\n');});
s.once('error',(e)=>{if(e.code!=='EADDRINUSE'){say('ERROR',String(e.message));process.exit(1);}
say('ERROR',"Connection in use: ('::', "+port+")");tries+=1;
if(tries>=5){say('ERROR',"Can't connect to ('::', "+port+")");process.exit(1);}
say('ERROR','Retrying in 1 second.');setTimeout(bind,1000);});
s.listen(port,'127.0.0.1',()=>say('INFO','Listening at: http://[::]:'+port));};
bind();`;

const spawnChild = (code: string, title: string, role: string, args: string[] = [], stderr: 'ignore' | 'inherit' = 'ignore'): void => {
  const c = spawn(process.execPath, ['-e', code, title, ...args], { stdio: ['ignore', 'ignore', stderr], env: process.env });
  children.push(c);
  event('child', { childPid: c.pid, role });
};

const startChildren = (): void => {
  const names = ['airflow executor -- LocalExecutor', 'airflow scheduler -- DagFileProcessorManager', 'gunicorn: master [airflow-serve-logs]'];
  for (let i = 0; i < orphans; i++) spawnChild(CHILD_PRELUDE, names[i % names.length] ?? 'airflow worker', 'orphan');
  if (logServerPort !== undefined) spawnChild(LOG_SERVER_CODE, 'gunicorn: master [airflow-serve-logs]', 'log-server', [String(logServerPort)], 'inherit');
};

// ---- main ----------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const main = async (): Promise<void> => {
  if (!url) configError('SIM_DB_URL is required');
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (ownerPid !== undefined) {
    setInterval(() => {
      try {
        process.kill(ownerPid, 0);
      } catch {
        endChildren('SIGKILL');
        process.exit(0);
      }
    }, 1000).unref();
  }
  event('process-start', { flavor, lag, component, onDbLoss, heartbeatSec: heartbeatMs / 1000, loopSec: loopMs / 1000, skewSec: skewMs / 1000 });
  await sleep(startDelayMs);
  if (env.SIM_FAIL_AT_START === '1') {
    log('simulated failure at start (SIM_FAIL_AT_START=1)');
    event('exit', { code: 1, error: 'failure at start' });
    process.exit(1);
  }
  try {
    jobId = await insertRow();
  } catch (e) {
    // In either DB-loss mode; systemd's Restart= (if configured) brings it back.
    startFailed(e);
  }
  event('inserted', { jobId, at: inMemory.toISOString() });
  log(`INFO - started, job ${jobId} (${jobType}, flavor ${flavor})`);
  startChildren();
  await markStaleFailed();
  let lastOrphanCheck = Date.now();
  const startedAt = Date.now();
  let nextBeat = Date.now() + heartbeatMs;
  let nextLoop = Date.now() + loopMs;
  for (;;) {
    const wait = Math.min(nextBeat, nextLoop) - Date.now();
    if (wait > 0) await sleep(wait);
    if (stopping) return;
    if (crashAfterMs !== undefined && Date.now() - startedAt >= crashAfterMs) {
      event('crash', { mode: crashMode, jobId });
      log(`simulated crash (${crashMode})`);
      if (crashMode === 'exception') {
        try {
          const s = await db();
          await s.query(`UPDATE ${table} SET state = 'failed', end_date = ${p(1)} WHERE id = ${p(2)}`, [ts(clock()), jobId]);
        } catch {
          // as written
        }
      }
      event('exit', { code: 1, jobId });
      process.exit(1);
    }
    if (Date.now() >= nextLoop) {
      await loopQuery();
      if (stopping) return;
      nextLoop = Date.now() + loopMs;
    }
    if (Date.now() >= nextBeat) {
      const beatStart = Date.now();
      await beat();
      if (stopping) return;
      // Like `heartbeat(only_if_necessary=True)`: the next beat is due a heartrate after this one began,
      // so after a freeze or a blocked query the overdue beat runs at once (stale value with lag) and the
      // fresh one a heartrate later.
      nextBeat = beatStart + heartbeatMs;
    }
    if (Date.now() - lastOrphanCheck >= orphanCheckMs) {
      lastOrphanCheck = Date.now();
      await markStaleFailed();
    }
  }
};

main().catch((e: unknown) => {
  log(`fatal: ${(e as Error).stack ?? String(e)}`);
  event('exit', { code: 1, error: String(e) });
  process.exit(1);
});
