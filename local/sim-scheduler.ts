/**
 * A simulated `airflow scheduler`: a process that writes to Airflow's `job` table exactly what a real
 * scheduler writes (research/airflow-real.md, SPEC §9), and nothing else.
 *
 * - Start: after an import delay, one INSERT of a `running` SchedulerJob row with its hostname
 *   (`latest_heartbeat` = `start_date`), then, like `adopt_or_reset_orphaned_tasks`, marks other
 *   `running` SchedulerJob rows older than the health threshold `failed` (end_date stays NULL); repeated
 *   every orphan-check interval.
 * - Heartbeat every `heartbeatSec` with its own clock (plus `skewSec`). Flavor `2.5` (2.5–2.7): the
 *   stored value is one beat old (`lag`), and each beat writes `state='running'` back over whatever the DB
 *   holds (SQLAlchemy's merge). Flavor `2.8` (2.8+): no lag, the state is never rewritten, so it keeps
 *   beating on a row someone marked `failed`. `lag` can be set independently.
 * - A failed heartbeat (DB down) is logged; the in-memory value is kept, the process goes on.
 * - SIGTERM/SIGINT: `success`, `end_date` and the last in-memory heartbeat, children ended, exit 0.
 * - SIGKILL: nothing (optionally leaving `orphans` children running, as a real scheduler's executor,
 *   workers, DAG processor and log server are). SIGSTOP freezes it; after SIGCONT the overdue beat
 *   writes the stale pre-stop value first, then fresh ones (with lag).
 *
 * Configured by environment variables (it runs as the systemd unit's ExecStart through the fake
 * systemctl), all optional except the DB URL:
 *   SIM_DB_URL            postgres://user[:pw]@host:port/db or mysql://user[:pw]@host:port/db
 *   SIM_HOSTNAME          job.hostname (default WATCHDOG_HOSTNAME_OVERRIDE, else os.hostname())
 *   SIM_HEARTBEAT_SEC     scheduler_heartbeat_sec (5)
 *   SIM_SKEW_SEC          this host's clock offset in seconds (0; positive = ahead)
 *   SIM_FLAVOR            2.5 | 2.8 (2.5)
 *   SIM_LAG               1 | 0 (default: 1 for 2.5, 0 for 2.8)
 *   SIM_HEALTH_THRESHOLD_SEC  scheduler_health_check_threshold for the orphan check (30)
 *   SIM_ORPHAN_CHECK_SEC  orphaned_tasks_check_interval (300)
 *   SIM_START_DELAY_SEC   import time before the INSERT (0.2)
 *   SIM_SHUTDOWN_SEC      time a clean shutdown takes before writing success (0.1)
 *   SIM_ORPHANS           children left running after SIGKILL (0)
 *   SIM_CRASH_AFTER_SEC   crash this long after the INSERT; SIM_CRASH_MODE abort | exception
 *   SIM_FAIL_AT_START     1: exit 1 before writing anything (a broken install: a flapping node)
 *   SIM_SCHEMA, SIM_TABLE_PREFIX  where the job table lives
 *   SIM_EVENTS_FILE       append one JSON line per lifecycle event (for the harness timeline)
 *   SIM_OWNER_PID         exit when this process is gone (no leftovers if the harness dies)
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { hostname as osHostname, userInfo } from 'node:os';

type Dialect = 'mysql' | 'postgres';

interface Sql {
  query(text: string, params: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; insertId?: number }>;
  close(): void;
}

const env = process.env;
const num = (name: string, dflt: number): number => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number (got ${v})`);
  return n;
};

const url = env.SIM_DB_URL ?? '';
const dialect: Dialect = url.startsWith('mysql') ? 'mysql' : 'postgres';
const hostname = env.SIM_HOSTNAME ?? env.WATCHDOG_HOSTNAME_OVERRIDE ?? osHostname();
const heartbeatMs = num('SIM_HEARTBEAT_SEC', 5) * 1000;
const skewMs = num('SIM_SKEW_SEC', 0) * 1000;
const flavor = env.SIM_FLAVOR === '2.8' ? '2.8' : '2.5';
const lag = env.SIM_LAG === undefined || env.SIM_LAG === '' ? flavor === '2.5' : env.SIM_LAG === '1';
const thresholdMs = num('SIM_HEALTH_THRESHOLD_SEC', 30) * 1000;
const orphanCheckMs = num('SIM_ORPHAN_CHECK_SEC', 300) * 1000;
const startDelayMs = num('SIM_START_DELAY_SEC', 0.2) * 1000;
const shutdownMs = num('SIM_SHUTDOWN_SEC', 0.1) * 1000;
const orphans = num('SIM_ORPHANS', 0);
const crashAfterMs = env.SIM_CRASH_AFTER_SEC ? num('SIM_CRASH_AFTER_SEC', 0) * 1000 : undefined;
const crashMode = env.SIM_CRASH_MODE === 'exception' ? 'exception' : 'abort';
const ownerPid = env.SIM_OWNER_PID ? Number(env.SIM_OWNER_PID) : undefined;
const eventsFile = env.SIM_EVENTS_FILE;
const ident = (s: string): string => (dialect === 'mysql' ? `\`${s}\`` : `"${s}"`);
const table = `${env.SIM_SCHEMA ? `${ident(env.SIM_SCHEMA)}.` : ''}${ident(`${env.SIM_TABLE_PREFIX ?? ''}job`)}`;

/** This host's clock (with its skew). */
const clock = (): Date => new Date(Date.now() + skewMs);

const event = (name: string, extra: Record<string, unknown> = {}): void => {
  const line = { t: Date.now(), pid: process.pid, pgid: process.pid, hostname, event: name, ...extra };
  if (eventsFile) {
    try {
      appendFileSync(eventsFile, `${JSON.stringify(line)}\n`);
    } catch {
      // diagnostics only
    }
  }
};

const log = (msg: string): void => {
  process.stderr.write(`${new Date().toISOString()} [sim-scheduler ${hostname} pid ${process.pid}] ${msg}\n`);
};

/** A timestamp as the driver should bind it: MySQL gets naive UTC (session time_zone '+00:00'), PG an ISO instant. */
const ts = (d: Date): string => (dialect === 'mysql' ? d.toISOString().replace('T', ' ').replace('Z', '') : d.toISOString());

const connect = async (): Promise<Sql> => {
  const u = new URL(url);
  const user = decodeURIComponent(u.username) || (dialect === 'mysql' ? 'root' : 'postgres');
  const password = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const port = u.port === '' ? undefined : Number(u.port);
  if (dialect === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({
      host: u.hostname,
      ...(port === undefined ? {} : { port }),
      user,
      ...(password === '' ? {} : { password }),
      database,
      connectionTimeoutMillis: Math.max(1000, heartbeatMs),
      query_timeout: Math.max(1000, heartbeatMs),
    });
    client.on('error', (e) => log(`connection error: ${e.message}`));
    await client.connect();
    return {
      query: async (text, params) => {
        const r = await client.query(text, params as unknown[]);
        return { rows: r.rows as Record<string, unknown>[] };
      },
      close: () => {
        void client.end().catch(() => {});
      },
    };
  }
  const mysql = (await import('mysql2/promise')).default;
  const conn = await mysql.createConnection({
    host: u.hostname,
    ...(port === undefined ? {} : { port }),
    user,
    ...(password === '' ? {} : { password }),
    database,
    connectTimeout: Math.max(1000, heartbeatMs),
  });
  conn.on('error', (e: Error) => log(`connection error: ${e.message}`));
  // What Airflow does on every MySQL connection (airflow/utils/orm_event_handlers.py).
  await conn.query("SET time_zone = '+00:00'");
  return {
    query: async (text, params) => {
      const [res] = await conn.query({ sql: text, timeout: Math.max(1000, heartbeatMs) }, params as unknown[]);
      if (Array.isArray(res)) return { rows: res as Record<string, unknown>[] };
      return { rows: [], insertId: (res as { insertId?: number }).insertId };
    },
    close: () => conn.destroy(),
  };
};

let sql: Sql | undefined;
const db = async (): Promise<Sql> => {
  if (sql === undefined) sql = await connect();
  return sql;
};
const dropConnection = (): void => {
  try {
    sql?.close();
  } catch {
    // ignore
  }
  sql = undefined;
};
const p = (i: number): string => (dialect === 'mysql' ? '?' : `$${i}`);

let jobId: number | undefined;
/** The in-memory latest_heartbeat (what the next write stores when `lag`). */
let inMemory = clock();
let stopping = false;
const children: ReturnType<typeof spawn>[] = [];

const insertRow = async (): Promise<number> => {
  const now = clock();
  inMemory = now;
  const cols = 'dag_id, state, job_type, start_date, end_date, latest_heartbeat, executor_class, hostname, unixname';
  const vals = [null, 'running', 'SchedulerJob', ts(now), null, ts(now), flavor === '2.5' ? 'LocalExecutor' : null, hostname, userInfo().username];
  const s = await db();
  if (dialect === 'mysql') {
    const r = await s.query(`INSERT INTO ${table} (${cols}) VALUES (${vals.map((_, i) => p(i + 1)).join(', ')})`, vals);
    return Number(r.insertId);
  }
  const r = await s.query(`INSERT INTO ${table} (${cols}) VALUES (${vals.map((_, i) => p(i + 1)).join(', ')}) RETURNING id`, vals);
  return Number(r.rows[0]?.id);
};

/** adopt_or_reset_orphaned_tasks' scheduler part: stale `running` SchedulerJob rows become `failed`, end_date untouched. */
const markStaleFailed = async (): Promise<void> => {
  const limit = new Date(clock().getTime() - thresholdMs);
  try {
    const s = await db();
    const r = await s.query(
      `UPDATE ${table} SET state = 'failed' WHERE job_type = 'SchedulerJob' AND state = 'running' AND latest_heartbeat < ${p(1)}${dialect === 'postgres' ? ' RETURNING id' : ''}`,
      [ts(limit)],
    );
    event('orphan-check', { marked: dialect === 'postgres' ? r.rows.map((x) => Number(x.id)) : undefined });
  } catch (e) {
    dropConnection();
    log(`orphan check failed: ${(e as Error).message}`);
  }
};

const beat = async (): Promise<void> => {
  if (jobId === undefined) return;
  const fresh = clock();
  const value = lag ? inMemory : fresh;
  try {
    const s = await db();
    if (flavor === '2.5') {
      // session.merge(self): the in-memory object, state 'running' included, goes over the DB row.
      await s.query(`SELECT id, state FROM ${table} WHERE id = ${p(1)} AND job_type IN ('SchedulerJob')`, [jobId]);
      await s.query(`UPDATE ${table} SET state = 'running', latest_heartbeat = ${p(1)} WHERE id = ${p(2)}`, [ts(value), jobId]);
    } else {
      const r = await s.query(`SELECT state FROM ${table} WHERE id = ${p(1)}`, [jobId]);
      if (r.rows[0]?.state === 'restarting') {
        log('job state is restarting: shutting down');
        await shutdown('restarting');
        return;
      }
      await s.query(`UPDATE ${table} SET latest_heartbeat = ${p(1)} WHERE id = ${p(2)}`, [ts(value), jobId]);
    }
    inMemory = fresh;
    event('beat', { jobId, wrote: value.toISOString() });
  } catch (e) {
    // Airflow logs the OperationalError, restores the old in-memory value and goes on (all versions).
    dropConnection();
    event('beat-failed', { jobId, error: (e as Error).message });
    log(`heartbeat failed: ${(e as Error).message}`);
  }
};

const endChildren = (signal: NodeJS.Signals): void => {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {
      // gone
    }
  }
};

const shutdown = async (why: string): Promise<never> => {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  event('shutdown', { why, jobId });
  log(`Exiting gracefully upon receiving signal (${why})`);
  endChildren('SIGTERM');
  if (shutdownMs > 0) await new Promise((r) => setTimeout(r, shutdownMs));
  if (jobId !== undefined) {
    try {
      const s = await db();
      await s.query(`UPDATE ${table} SET state = 'success', end_date = ${p(1)}, latest_heartbeat = ${p(2)} WHERE id = ${p(3)}`, [
        ts(clock()),
        ts(inMemory),
        jobId,
      ]);
      event('success', { jobId });
    } catch (e) {
      log(`could not write success: ${(e as Error).message}`);
    }
  }
  dropConnection();
  event('exit', { code: 0, jobId });
  process.exit(0);
};

const startOrphans = (): void => {
  const code = `process.title=process.argv[1];const o=Number(process.env.SIM_OWNER_PID||0);process.on('SIGTERM',()=>process.exit(0));setInterval(()=>{if(o){try{process.kill(o,0)}catch{process.exit(0)}}},1000);`;
  const names = ['airflow executor -- LocalExecutor', 'airflow scheduler -- DagFileProcessorManager', 'gunicorn: master [airflow-serve-logs]'];
  for (let i = 0; i < orphans; i++) {
    const c = spawn(process.execPath, ['-e', code, names[i % names.length] ?? 'airflow worker'], { stdio: 'ignore', env: process.env });
    children.push(c);
    event('child', { childPid: c.pid });
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const main = async (): Promise<void> => {
  if (!url) {
    log('SIM_DB_URL is required');
    process.exit(2);
  }
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
  event('process-start', { flavor, lag, heartbeatSec: heartbeatMs / 1000, skewSec: skewMs / 1000 });
  await sleep(startDelayMs);
  if (env.SIM_FAIL_AT_START === '1') {
    log('simulated failure at start (SIM_FAIL_AT_START=1)');
    event('exit', { code: 1, error: 'failure at start' });
    process.exit(1);
  }
  try {
    jobId = await insertRow();
  } catch (e) {
    // Airflow exits when it cannot create its job row; systemd's Restart=always brings it back.
    log(`could not insert the job row: ${(e as Error).message}`);
    event('exit', { code: 1, error: (e as Error).message });
    process.exit(1);
  }
  event('inserted', { jobId, at: inMemory.toISOString() });
  log(`started, job ${jobId}`);
  startOrphans();
  await markStaleFailed();
  let lastOrphanCheck = Date.now();
  const startedAt = Date.now();
  let nextBeat = Date.now() + heartbeatMs;
  for (;;) {
    const wait = nextBeat - Date.now();
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
    const beatStart = Date.now();
    await beat();
    if (stopping) return;
    if (Date.now() - lastOrphanCheck >= orphanCheckMs) {
      lastOrphanCheck = Date.now();
      await markStaleFailed();
    }
    // Like `heartbeat(only_if_necessary=True)`: the next beat is due a heartrate after this one began, so
    // after a freeze the overdue beat runs at once (stale value) and the fresh one a heartrate later.
    nextBeat = beatStart + heartbeatMs;
  }
};

main().catch((e: unknown) => {
  log(`fatal: ${(e as Error).stack ?? String(e)}`);
  event('exit', { code: 1, error: String(e) });
  process.exit(1);
});
