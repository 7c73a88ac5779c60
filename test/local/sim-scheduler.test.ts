import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { airflowJobDdl, airflowJobTable } from '../../local/airflow-schema.js';
import { buildSimScheduler } from '../../local/build.js';
import { type DbBackend, type DbTarget, openSql, prepareAirflowDatabase, type SqlClient, startPglite, TcpProxy, urlOf } from '../../local/db.js';
import { closedPort, requireService, tempMariaDb, tempPostgres } from '../helpers/services.js';

/**
 * The scheduler simulator (local/sim-scheduler.ts) against what real Airflow was seen doing
 * (research/airflow-real.md §3, §5, §7, §8): the rows it leaves in the `job` table and how the process
 * behaves, through the same TcpProxy the local cluster puts in front of the DB. The embedded PGlite for
 * everything; the DB-loss cases also on the local MariaDB and PostgreSQL services (this file's own
 * databases; a service that is down fails its block with the command that starts it).
 */

type Backend = 'pglite' | 'mariadb' | 'postgres';

interface Db {
  readonly target: DbTarget;
  /** A direct connection (past every proxy): the ground truth. */
  readonly sql: SqlClient;
  /** Server-side ids of the harness's own connections (not to be terminated). */
  readonly own: readonly number[];
  close(): Promise<void>;
}

const openDb = async (kind: Backend): Promise<Db> => {
  if (kind === 'pglite') {
    const backend: DbBackend = await startPglite();
    await prepareAirflowDatabase(backend.target, { embedded: true });
    const sql = await openSql(backend.target);
    return {
      target: backend.target,
      sql,
      own: [],
      close: async () => {
        await sql.close();
        await backend.close();
      },
    };
  }
  const base = await requireService(kind);
  const tmp = kind === 'mariadb' ? await tempMariaDb(base, 'wd_sim') : await tempPostgres(base, 'wd_sim');
  const s = tmp.settings;
  const target: DbTarget = {
    dialect: kind === 'mariadb' ? 'mysql' : 'postgres',
    host: s.host,
    port: s.port,
    user: s.user,
    ...(s.password === '' ? {} : { password: s.password }),
    database: s.database,
  };
  const sql = await openSql(target);
  const own = 'conn' in tmp ? [tmp.conn.threadId] : [(tmp.client as unknown as { processID: number }).processID];
  return {
    target,
    sql,
    own,
    close: async () => {
      await sql.close();
      await tmp.drop();
    },
  };
};

interface Row {
  readonly id: number;
  readonly state: string | null;
  readonly jobType: string;
  readonly ended: boolean;
  /** latest_heartbeat, epoch ms. */
  readonly hb: number;
  readonly start: number;
  readonly executorClass: string | null;
  readonly hostname: string;
}

interface SimEvent {
  readonly t: number;
  readonly pid: number;
  readonly event: string;
  readonly jobType: string;
  readonly jobId?: number;
  readonly childPid?: number;
  readonly role?: string;
  readonly wrote?: string;
}

interface Sim {
  readonly child: ChildProcess;
  readonly pid: number;
  stderr(): string;
  events(): SimEvent[];
  /** Resolves when the main process has exited: its exit code (null when killed by a signal) and when. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  alive(): boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const waitFor = async <T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 25): Promise<T> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
};

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portTaken = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

let simPath = '';
const workDir = mkdtempSync(join(tmpdir(), 'sim-scheduler-test-'));
/** Everything a test started, ended in afterEach: main processes and the children they reported. */
const started: Sim[] = [];
const owners: ChildProcess[] = [];
let simCount = 0;

/**
 * One test's world: a table of its own (prefix) in the backend's database and a proxy in front of it.
 * The simulator's orphan check marks stale rows of any earlier test otherwise.
 */
interface World {
  readonly db: Db;
  readonly proxy: TcpProxy;
  readonly prefix: string;
  readonly table: string;
  start(env?: Record<string, string>): Sim;
  rows(): Promise<Row[]>;
  row(id: number): Promise<Row>;
  /** Polls one row's (state, heartbeat) and records every change, until `stop()`. */
  watch(id: number): { changes: Row[]; stop(): void };
}

let worldCount = 0;
const worlds: World[] = [];

const makeWorld = async (db: Db): Promise<World> => {
  worldCount += 1;
  const prefix = `t${worldCount}_`;
  const dialect = db.target.dialect;
  for (const stmt of airflowJobDdl(dialect, { tablePrefix: prefix })) await db.sql.query(stmt);
  const table = airflowJobTable(dialect, { tablePrefix: prefix });
  const proxy = new TcpProxy(prefix, db.target);
  await proxy.listen();
  const epoch = (col: string): string => (dialect === 'mysql' ? `UNIX_TIMESTAMP(${col}) * 1000` : `EXTRACT(EPOCH FROM ${col}) * 1000`);
  const select = `SELECT id, state, job_type, end_date IS NOT NULL AS ended, ${epoch('latest_heartbeat')} AS hb, ${epoch('start_date')} AS st, executor_class, hostname FROM ${table}`;
  const toRow = (r: Record<string, unknown>): Row => ({
    id: Number(r.id),
    state: r.state === null ? null : String(r.state),
    jobType: String(r.job_type),
    ended: Boolean(Number(r.ended)) || r.ended === true,
    hb: Number(r.hb),
    start: Number(r.st),
    executorClass: r.executor_class === null ? null : String(r.executor_class),
    hostname: String(r.hostname),
  });
  const w: World = {
    db,
    proxy,
    prefix,
    table,
    start(env = {}) {
      simCount += 1;
      const eventsFile = join(workDir, `events-${simCount}.jsonl`);
      const child = spawn(process.execPath, [simPath], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH,
          SIM_DB_URL: urlOf(db.target, proxy.port),
          SIM_TABLE_PREFIX: prefix,
          SIM_HOSTNAME: `sim-${simCount}.test`,
          SIM_HEARTBEAT_SEC: '0.5',
          SIM_START_DELAY_SEC: '0.05',
          SIM_SHUTDOWN_SEC: '0.05',
          SIM_EVENTS_FILE: eventsFile,
          SIM_OWNER_PID: String(process.pid),
          ...env,
        },
      });
      let err = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        err += d;
      });
      let done = false;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
        child.once('exit', (code, signal) => {
          done = true;
          resolve({ code, signal, at: Date.now() });
        });
      });
      const sim: Sim = {
        child,
        pid: child.pid as number,
        stderr: () => err,
        events: () => {
          try {
            return readFileSync(eventsFile, 'utf8')
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => JSON.parse(l) as SimEvent);
          } catch {
            return [];
          }
        },
        exited,
        alive: () => !done,
      };
      started.push(sim);
      return sim;
    },
    rows: async () => (await db.sql.query(`${select} ORDER BY id`)).map(toRow),
    row: async (id) => {
      const r = (await db.sql.query(`${select} WHERE id = ${Number(id)}`))[0];
      if (r === undefined) throw new Error(`no row ${id} in ${table}`);
      return toRow(r);
    },
    watch(id) {
      const changes: Row[] = [];
      let on = true;
      void (async () => {
        while (on) {
          const r = await w.row(id).catch(() => undefined);
          const last = changes.at(-1);
          if (r !== undefined && (last === undefined || last.hb !== r.hb || last.state !== r.state)) changes.push(r);
          await sleep(15);
        }
      })();
      return {
        changes,
        stop: () => {
          on = false;
        },
      };
    },
  };
  worlds.push(w);
  return w;
};

/** The simulator's job id once its row is inserted. */
const inserted = (sim: Sim, timeoutMs = 10_000): Promise<number> =>
  waitFor(
    `the simulator's INSERT (stderr: ${sim.stderr()})`,
    () => {
      if (!sim.alive()) throw new Error(`the simulator exited before inserting its row:\n${sim.stderr()}`);
      return sim.events().find((e) => e.event === 'inserted')?.jobId;
    },
    timeoutMs,
  );

/** Waits until the row's stored heartbeat has advanced `n` times from now. */
const beats = async (w: World, id: number, n: number, timeoutMs = 10_000): Promise<Row> => {
  let last = (await w.row(id)).hb;
  let seen = 0;
  return waitFor(
    `${n} heartbeat advance(s) of job ${id}`,
    async () => {
      const r = await w.row(id);
      if (r.hb > last) {
        last = r.hb;
        seen += 1;
      }
      return seen >= n ? r : undefined;
    },
    timeoutMs,
  );
};

const childPids = (sim: Sim, role?: string): number[] =>
  sim
    .events()
    .filter((e) => e.event === 'child' && (role === undefined || e.role === role))
    .map((e) => e.childPid as number);

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);

beforeAll(async () => {
  simPath = await buildSimScheduler();
});

afterEach(async () => {
  for (const s of started.splice(0)) {
    for (const pid of childPids(s)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (s.alive()) {
      s.child.kill('SIGCONT');
      s.child.kill('SIGKILL');
      await s.exited;
    }
  }
  for (const o of owners.splice(0)) o.kill('SIGKILL');
  for (const w of worlds.splice(0)) await w.proxy.close();
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// DB loss on every backend: refused, terminated, black-holed, down at start.

describe.each(['pglite', 'mariadb', 'postgres'] as const)('DB loss (%s)', (kind) => {
  let db: Db;
  beforeAll(async () => {
    db = await openDb(kind);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('connections cut and refused: exits 1 within the loop period, writes nothing, the row stays running', async () => {
    const w = await makeWorld(db);
    // A long heartbeat and a short loop: an exit well before the next beat comes from the loop's own query.
    const sim = w.start({ SIM_HEARTBEAT_SEC: '4', SIM_LOOP_SEC: '0.2' });
    const id = await inserted(sim);
    await sleep(500);
    const before = await w.row(id);
    const cutAt = Date.now();
    w.proxy.setMode('refuse');
    const { code, at } = await withTimeout(sim.exited, 4000, 'the simulator to exit after the DB was cut');
    expect(code).toBe(1);
    expect(at - cutAt).toBeLessThan(4000 - 500);
    const err = sim.stderr();
    expect(err).toContain('ERROR - Exception when executing SchedulerJob._run_scheduler_loop');
    expect(err).toContain('Exited execute loop');
    expect(sim.events().some((e) => e.event === 'db-lost')).toBe(true);
    w.proxy.setMode('open');
    await sleep(300);
    const after = await w.row(id);
    expect(after).toEqual(before);
    expect(after.state).toBe('running');
    expect(after.ended).toBe(false);
  });

  if (kind !== 'pglite') {
    it('connection terminated by the server: exits 1, the row stays running', async () => {
      const w = await makeWorld(db);
      const sim = w.start();
      const id = await inserted(sim);
      await beats(w, id, 1);
      if (kind === 'postgres') {
        const ids = await db.sql.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        const victims = ids.map((r) => Number(r.pid)).filter((pid) => !db.own.includes(pid));
        expect(victims.length).toBeGreaterThan(0);
        for (const pid of victims) await db.sql.query('SELECT pg_terminate_backend($1)', [pid]);
      } else {
        const ids = await db.sql.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()');
        const victims = ids.map((r) => Number(r.id)).filter((id) => !db.own.includes(id));
        expect(victims.length).toBeGreaterThan(0);
        for (const id of victims) await db.sql.query(`KILL ${id}`);
      }
      const { code } = await withTimeout(sim.exited, 4000, 'the simulator to exit after its connection was terminated');
      expect(code).toBe(1);
      expect(sim.stderr()).toContain('Exited execute loop');
      const row = await w.row(id);
      expect(row.state).toBe('running');
      expect(row.ended).toBe(false);
    });
  }

  it('black hole: blocks with the heartbeat frozen, resumes when it heals (stale value first), never exits', async () => {
    const w = await makeWorld(db);
    // A hole longer than the health threshold: the first beat after it logs that it recovered.
    const sim = w.start({ SIM_HEALTH_THRESHOLD_SEC: '1.5' });
    const id = await inserted(sim);
    await beats(w, id, 2);
    const holeAt = Date.now();
    w.proxy.setMode('blackhole');
    await sleep(200);
    const frozen = await w.row(id);
    await sleep(2300);
    expect(sim.alive()).toBe(true);
    expect((await w.row(id)).hb).toBe(frozen.hb);
    const watch = w.watch(id);
    const healAt = Date.now();
    w.proxy.setMode('open');
    await waitFor('a fresh heartbeat after the heal', () => watch.changes.some((r) => r.hb > healAt), 5000);
    watch.stop();
    expect(sim.alive()).toBe(true);
    // Flavor 2.5's one-beat lag: the first write after the heal is the in-memory value from before the hole.
    const writes = watch.changes.filter((r) => r.hb !== frozen.hb);
    expect(writes[0]!.hb).toBeLessThan(holeAt);
    expect(writes.at(-1)!.hb).toBeGreaterThan(healAt);
    expect(sim.stderr()).toMatch(/Heartbeat recovered after \d+\.\d+ seconds/);
    expect((await beats(w, id, 1)).state).toBe('running');
    expect(sim.alive()).toBe(true);
  });

  it.each(['exit', 'survive'])('a simulator started while the DB is down (%s mode) exits non-zero and writes no row', async (mode) => {
    const w = await makeWorld(db);
    w.proxy.setMode('refuse');
    const sim = w.start({ SIM_ON_DB_LOSS: mode });
    const { code } = await withTimeout(sim.exited, 5000, 'the simulator to exit at start');
    expect(code).toBe(1);
    expect(sim.stderr()).toContain('could not insert the job row');
    w.proxy.setMode('open');
    expect(await w.rows()).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
// Everything else on PGlite.

describe('on PGlite', () => {
  let db: Db;
  beforeAll(async () => {
    db = await openDb('pglite');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('survive mode: logs the failed heartbeats through an outage and beats again after it', async () => {
    const w = await makeWorld(db);
    const sim = w.start({ SIM_ON_DB_LOSS: 'survive' });
    const id = await inserted(sim);
    await beats(w, id, 1);
    w.proxy.setMode('refuse');
    await sleep(1500);
    expect(sim.alive()).toBe(true);
    expect(sim.events().filter((e) => e.event === 'beat-failed').length).toBeGreaterThanOrEqual(2);
    expect(sim.stderr()).not.toContain('Exited execute loop');
    const backAt = Date.now();
    w.proxy.setMode('open');
    const r = await waitFor('a heartbeat newer than the outage', async () => {
      const x = await w.row(id);
      return x.hb > backAt ? x : undefined;
    });
    expect(r.state).toBe('running');
    expect(sim.alive()).toBe(true);
  });

  it('flavor 2.5: one-beat-old heartbeat, executor_class written, a failed row flips back to running', async () => {
    const w = await makeWorld(db);
    const sim = w.start({ SIM_FLAVOR: '2.5' });
    const id = await inserted(sim);
    const first = await w.row(id);
    expect(first.executorClass).toBe('LocalExecutor');
    expect(first.hb).toBe(first.start);
    await beats(w, id, 2);
    await db.sql.query(`UPDATE ${w.table} SET state = 'failed' WHERE id = $1`, [id]);
    const back = await waitFor('the row back to running', async () => {
      const r = await w.row(id);
      return r.state === 'running' ? r : undefined;
    }, 3000);
    expect(back.ended).toBe(false);
    // Every write after the first stores the value taken one beat (0.5 s) earlier.
    const ages = sim
      .events()
      .filter((e) => e.event === 'beat')
      .slice(1)
      .map((e) => e.t - Date.parse(e.wrote as string));
    expect(ages.length).toBeGreaterThanOrEqual(2);
    for (const a of ages) expect(a).toBeGreaterThanOrEqual(480);
  });

  it('flavor 2.8: no lag, executor_class NULL, keeps beating on a row marked failed', async () => {
    const w = await makeWorld(db);
    const sim = w.start({ SIM_FLAVOR: '2.8' });
    const id = await inserted(sim);
    const first = await w.row(id);
    expect(first.executorClass).toBeNull();
    expect(first.hb).toBeLessThan(first.start);
    await beats(w, id, 1);
    await db.sql.query(`UPDATE ${w.table} SET state = 'failed' WHERE id = $1`, [id]);
    const markedAt = Date.now();
    const r = await beats(w, id, 3);
    expect(r.state).toBe('failed');
    expect(r.hb).toBeGreaterThan(markedAt);
    const ages = sim
      .events()
      .filter((e) => e.event === 'beat')
      .map((e) => e.t - Date.parse(e.wrote as string));
    for (const a of ages) expect(a).toBeLessThan(400);
  });

  it('flavor 3.0: one-beat lag, executor_class NULL; frozen, marked failed by a new scheduler, back to running after SIGCONT (stale first)', async () => {
    const w = await makeWorld(db);
    const env = { SIM_FLAVOR: '3.0', SIM_HEALTH_THRESHOLD_SEC: '1.5' };
    const a = w.start(env);
    const idA = await inserted(a);
    expect((await w.row(idA)).executorClass).toBeNull();
    await beats(w, idA, 2);
    const lagged = a
      .events()
      .filter((e) => e.event === 'beat')
      .slice(1)
      .map((e) => e.t - Date.parse(e.wrote as string));
    for (const x of lagged) expect(x).toBeGreaterThanOrEqual(480);
    const stopAt = Date.now();
    a.child.kill('SIGSTOP');
    await sleep(2200);
    const b = w.start(env);
    const idB = await inserted(b);
    await waitFor('the frozen row marked failed', async () => (await w.row(idA)).state === 'failed', 3000);
    expect((await w.row(idA)).ended).toBe(false);
    const watch = w.watch(idA);
    await sleep(100);
    const contAt = Date.now();
    a.child.kill('SIGCONT');
    await waitFor('a fresh heartbeat of the resumed scheduler', () => watch.changes.some((r) => r.hb > contAt), 5000);
    watch.stop();
    const writes = watch.changes.filter((r) => r.state === 'running');
    expect(writes[0]!.hb, 'the first write after SIGCONT carries the pre-freeze heartbeat').toBeLessThan(stopAt);
    expect(writes.at(-1)!.hb).toBeGreaterThan(contAt);
    expect((await w.row(idB)).state).toBe('running');
    expect(a.alive()).toBe(true);
  });

  it.each([
    ['2.5', true],
    ['2.8', false],
  ] as const)('SIGSTOP then SIGCONT (flavor %s): stale pre-freeze heartbeat first = %s, then fresh ones', async (flavor, staleFirst) => {
    const w = await makeWorld(db);
    const sim = w.start({ SIM_FLAVOR: flavor });
    const id = await inserted(sim);
    await beats(w, id, 2);
    const stopAt = Date.now();
    sim.child.kill('SIGSTOP');
    await sleep(1500);
    const frozen = await w.row(id);
    expect(frozen.hb).toBeLessThan(stopAt);
    const watch = w.watch(id);
    await sleep(100);
    const contAt = Date.now();
    sim.child.kill('SIGCONT');
    await waitFor('a fresh heartbeat after SIGCONT', () => watch.changes.some((r) => r.hb > contAt), 5000);
    watch.stop();
    const writes = watch.changes.filter((r) => r.hb !== frozen.hb);
    if (staleFirst) {
      expect(writes[0]!.hb).toBeLessThan(stopAt);
      expect(writes.length).toBeGreaterThanOrEqual(2);
    } else {
      expect(writes[0]!.hb).toBeGreaterThanOrEqual(contAt);
    }
    expect(sim.alive()).toBe(true);
  });

  it('a log server orphaned by SIGKILL keeps its port; the next simulator fails to bind it (five tries) and runs normally', async () => {
    const w = await makeWorld(db);
    const port = await closedPort();
    const a = w.start({ SIM_LOG_SERVER_PORT: String(port) });
    const idA = await inserted(a);
    await waitFor('the log server to listen', () => portTaken(port), 5000);
    const [logServer] = childPids(a, 'log-server');
    expect(logServer).toBeDefined();
    a.child.kill('SIGKILL');
    await a.exited;
    await sleep(300);
    expect(pidAlive(logServer!)).toBe(true);
    expect(await portTaken(port)).toBe(true);
    expect((await w.row(idA)).state).toBe('running');

    const b = w.start({ SIM_LOG_SERVER_PORT: String(port) });
    const idB = await inserted(b);
    expect(idB).not.toBe(idA);
    const cantConnect = `Can't connect to ('::', ${port})`;
    await waitFor("the log server's give-up line", () => b.stderr().includes(cantConnect), 10_000);
    const inUse = b.stderr().split('\n').filter((l) => l.includes(`Connection in use: ('::', ${port})`));
    expect(inUse).toHaveLength(5);
    const [failed] = childPids(b, 'log-server');
    await waitFor('the failed log server to exit', () => !pidAlive(failed!), 3000);
    // The scheduler itself goes on.
    const r = await beats(w, idB, 2);
    expect(r.state).toBe('running');
    expect(b.alive()).toBe(true);
    expect(pidAlive(logServer!)).toBe(true);
    b.child.kill('SIGTERM');
    expect((await withTimeout(b.exited, 5000, 'a clean exit')).code).toBe(0);
    expect((await w.row(idB)).state).toBe('success');
  });

  it('SIGTERM: success with end_date, and every child (orphans and log server) ends', async () => {
    const w = await makeWorld(db);
    const port = await closedPort();
    const sim = w.start({ SIM_ORPHANS: '2', SIM_LOG_SERVER_PORT: String(port) });
    const id = await inserted(sim);
    await waitFor('the log server to listen', () => portTaken(port), 5000);
    await beats(w, id, 1);
    const kids = childPids(sim);
    expect(kids).toHaveLength(3);
    sim.child.kill('SIGTERM');
    expect((await withTimeout(sim.exited, 5000, 'a clean exit')).code).toBe(0);
    const r = await w.row(id);
    expect(r.state).toBe('success');
    expect(r.ended).toBe(true);
    await waitFor('all children gone', () => kids.every((k) => !pidAlive(k)), 3000);
    expect(await portTaken(port)).toBe(false);
  });

  it('children left by SIGKILL exit once SIM_OWNER_PID is gone', async () => {
    const w = await makeWorld(db);
    const port = await closedPort();
    const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
    owners.push(owner);
    const sim = w.start({ SIM_ORPHANS: '1', SIM_LOG_SERVER_PORT: String(port), SIM_OWNER_PID: String(owner.pid) });
    await inserted(sim);
    await waitFor('the log server to listen', () => portTaken(port), 5000);
    const kids = childPids(sim);
    expect(kids).toHaveLength(2);
    sim.child.kill('SIGKILL');
    await sim.exited;
    await sleep(700);
    expect(kids.every(pidAlive)).toBe(true);
    owner.kill('SIGKILL');
    await waitFor('the orphans to notice their owner is gone', () => kids.every((k) => !pidAlive(k)), 3000);
    expect(await portTaken(port)).toBe(false);
  });

  it('Airflow 3 components: each beats with its own job_type; a scheduler marks only stale SchedulerJob rows failed, at start and periodically', async () => {
    const w = await makeWorld(db);
    const env = { SIM_FLAVOR: '3.0', SIM_HEALTH_THRESHOLD_SEC: '1.5' };
    const s1 = w.start(env);
    const dp = w.start({ ...env, SIM_JOB_TYPE: 'DagProcessorJob' });
    const tr = w.start({ ...env, SIM_JOB_TYPE: 'TriggererJob' });
    const [idS1, idDp, idTr] = await Promise.all([inserted(s1), inserted(dp), inserted(tr)]);
    await Promise.all([beats(w, idS1, 2), beats(w, idDp, 2), beats(w, idTr, 2)]);
    const rows = new Map((await w.rows()).map((r) => [r.id, r]));
    expect(rows.get(idS1)!.jobType).toBe('SchedulerJob');
    expect(rows.get(idDp)!.jobType).toBe('DagProcessorJob');
    expect(rows.get(idTr)!.jobType).toBe('TriggererJob');
    expect(dp.stderr()).toContain('[airflow dag-processor ');
    expect(tr.stderr()).toContain('[airflow triggerer ');
    expect(s1.stderr()).toContain('[airflow scheduler ');
    expect(new Set(dp.events().map((e) => e.jobType))).toEqual(new Set(['DagProcessorJob']));
    expect(new Set(tr.events().map((e) => e.jobType))).toEqual(new Set(['TriggererJob']));
    for (const s of [s1, dp, tr]) s.child.kill('SIGKILL');
    await Promise.all([s1.exited, dp.exited, tr.exited]);
    await sleep(2000);

    // A dag-processor does not run the orphan check.
    const dp2 = w.start({ ...env, SIM_JOB_TYPE: 'DagProcessorJob' });
    const idDp2 = await inserted(dp2);
    await beats(w, idDp2, 1);
    expect((await w.row(idS1)).state).toBe('running');

    // A scheduler's start-up check marks the dead scheduler only.
    const s2 = w.start({ ...env, SIM_ORPHAN_CHECK_SEC: '0.5' });
    const idS2 = await inserted(s2);
    await waitFor('the dead scheduler marked failed', async () => (await w.row(idS1)).state === 'failed', 3000);
    expect((await w.row(idS1)).ended).toBe(false);
    // The periodic check: a second scheduler killed later is marked too; the killed dag-processor never is.
    const s3 = w.start(env);
    const idS3 = await inserted(s3);
    await beats(w, idS3, 1);
    s3.child.kill('SIGKILL');
    dp2.child.kill('SIGKILL');
    await waitFor('the periodic check to mark the second dead scheduler', async () => (await w.row(idS3)).state === 'failed', 5000);
    await sleep(600);
    const final = new Map((await w.rows()).map((r) => [r.id, r]));
    for (const id of [idDp, idTr, idDp2]) {
      expect(final.get(id)!.state, `job ${id} (${final.get(id)!.jobType})`).toBe('running');
      expect(final.get(id)!.ended).toBe(false);
    }
    expect(final.get(idS2)!.state).toBe('running');
  });
});

// ------------------------------------------------------------------------------------------------
// The proxy's black hole by itself.

describe('TcpProxy blackhole', () => {
  it('holds bytes both ways on existing and new connections and delivers them when opened again', async () => {
    const echo = net.createServer((s) => {
      s.on('error', () => {});
      s.on('data', (d) => s.write(d));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const proxy = new TcpProxy('echo', { host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
    await proxy.listen();
    const client = (): Promise<{ sock: net.Socket; got: () => string }> =>
      new Promise((resolve, reject) => {
        let got = '';
        const sock = net.connect(proxy.port, '127.0.0.1', () => resolve({ sock, got: () => got }));
        sock.on('data', (d) => {
          got += d.toString();
        });
        sock.on('error', reject);
      });
    try {
      const a = await client();
      a.sock.write('one');
      await waitFor('the echo', () => a.got() === 'one', 2000);
      proxy.setMode('blackhole');
      a.sock.write('two');
      const b = await client(); // accepted, kept open
      b.sock.write('three');
      await sleep(300);
      expect(a.got()).toBe('one');
      expect(b.got()).toBe('');
      expect(a.sock.destroyed || b.sock.destroyed).toBe(false);
      proxy.setMode('open');
      await waitFor('the held-back bytes', () => a.got() === 'onetwo' && b.got() === 'three', 2000);
      proxy.setMode('refuse');
      await waitFor('the connections cut', () => a.sock.destroyed && b.sock.destroyed, 2000);
    } finally {
      await proxy.close();
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });
});
