import { describe, expect, it, vi } from 'vitest';
import {
  type DbDriver,
  type DbSession,
  DbTimeoutError,
  describeFailure,
  PhaseError,
  type RawHeartbeatRow,
  reduceRows,
  SqlMetadataDb,
  scrub,
} from '../../functions/adapters/metadata-db.js';
import { mysqlHeartbeatSql } from '../../functions/adapters/metadata-db-mysql.js';
import { postgresHeartbeatSql } from '../../functions/adapters/metadata-db-postgres.js';
import { dbSchema } from '../../functions/core/config.js';
import type { DbObservation } from '../../functions/core/model.js';

/**
 * The adapter's logic without a database: row reduction, failure wording and the connection
 * lifecycle (reuse, one retry on a kept connection, overall deadline), driven by a scripted driver.
 */

const raw = (id: number, hostname: unknown, age: unknown, heartbeat = '2026-11-24T12:00:00.000000', state: unknown = 'running'): RawHeartbeatRow => ({
  id,
  hostname,
  state,
  heartbeat_utc: heartbeat,
  age_seconds: age,
});

const query = { hostnames: ['a', 'b'], staleAfterSeconds: 30 };

describe('reduceRows', () => {
  it('keeps the newest row per wanted host by heartbeat, then id, whatever the input order', () => {
    const { rows } = reduceRows(
      [raw(1, 'a', 40, '2026-11-24T12:00:00.000000'), raw(3, 'a', 5, '2026-11-24T12:00:35.000001'), raw(2, 'a', 5, '2026-11-24T12:00:35.000001')],
      query,
    );
    expect(rows.a).toMatchObject({ jobId: 3, freshRows: 2, latestHeartbeat: '2026-11-24T12:00:35.000001Z' });
  });

  it('with every row of a host stale, keeps the latest inserted, not the newest heartbeat (an orphan after a backward clock step)', () => {
    // Job 18 was SIGKILLed and left running; job 19 started after it and beats, but the host's clock was
    // stepped back, so 19's heartbeats are older than 18's last one.
    const { rows } = reduceRows([raw(18, 'a', 40, '2026-11-24T12:00:10.000000'), raw(19, 'a', 42, '2026-11-24T12:00:08.000000')], query);
    expect(rows.a).toMatchObject({ jobId: 19, freshRows: 0 });
    // A fresh row still wins over a later-inserted stale one (a start by hand that died beside a live scheduler).
    const { rows: mixed } = reduceRows([raw(18, 'a', 3, '2026-11-24T12:00:47.000000'), raw(19, 'a', 40, '2026-11-24T12:00:10.000000')], query);
    expect(mixed.a).toMatchObject({ jobId: 18, freshRows: 1 });
  });

  it("chooses a host's row by its own job type's threshold, not the longest of the components", () => {
    // Scheduler stale after 30 s, triggerer after 60 s: the scheduler's rows aged 40 and 42 s are stale.
    const q = { ...query, staleAfterSeconds: 60, staleAfterSecondsByJobType: { SchedulerJob: 30, TriggererJob: 60 }, others: { triggerer: 'TriggererJob' } };
    const { rows } = reduceRows([raw(18, 'a', 40, '2026-11-24T12:00:10.000000'), raw(19, 'a', 42, '2026-11-24T12:00:08.000000')], q);
    expect(rows.a?.jobId).toBe(19);
  });

  it('accepts numeric strings (DECIMAL, BIGINT) and counts only fresh rows of foreign hosts', () => {
    const { rows, foreign } = reduceRows([raw(1, 'a', '12.5'), raw(2, 'x', '31'), raw(3, 'y', 2), raw(4, 'z', -3)], query);
    expect(rows.a!.ageSeconds).toBe(12.5);
    expect(foreign.map((r) => r.hostname)).toEqual(['z', 'y']);
  });

  it('skips unreadable rows and reports each', () => {
    const warn = vi.fn();
    const { rows, foreign } = reduceRows(
      [
        raw(1, null, 3),
        raw(2, 'a', 'soon'),
        raw(3, 'a', null),
        { ...raw(4, 'a', 1), heartbeat_utc: 'yesterday' },
        { ...raw(5, 'a', 1), id: 'x' },
        raw(6, 'b', 2, undefined, 7),
      ],
      query,
      warn,
    );
    expect(rows).toEqual({});
    expect(foreign).toEqual([]);
    expect(warn.mock.calls.map((c) => c[0])).toEqual([
      'metadata DB: skipped job 1: no hostname',
      'metadata DB: skipped job 2: unreadable heartbeat age "soon"',
      'metadata DB: skipped job 3: unreadable heartbeat age "null"',
      'metadata DB: skipped job 4: unreadable latest_heartbeat',
      'metadata DB: skipped job row with unreadable id "x"',
      'metadata DB: skipped job 6: unreadable state',
    ]);
  });
});

describe('failure wording', () => {
  it('scrubs raw and URL-encoded secrets', () => {
    expect(scrub('a p@ss/w0rd b p%40ss%2Fw0rd', ['p@ss/w0rd', undefined, ''])).toBe('a *** b ***');
  });

  it.each([
    [
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:3306'), { code: 'ECONNREFUSED' }),
      /connection refused while connecting \(connect ECONNREFUSED 10.0.0.1:3306\)$/,
    ],
    [Object.assign(new Error('getaddrinfo ENOTFOUND db.example'), { code: 'ENOTFOUND' }), /DNS lookup failed/],
    [Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), /TLS failure/],
    [Object.assign(new Error('password authentication failed for user "x"'), { code: '28P01' }), /authentication failed/],
    [new DbTimeoutError('connect', 5000), /timed out while connecting \(not connected within 5 s\)$/],
  ])('names %s', (cause, expected) => {
    expect(describeFailure('mysql h:3306/airflow', new PhaseError('connect', cause), [])).toMatch(expected);
  });

  it('bounds the length of a reason', () => {
    expect(describeFailure('pg', new Error('x'.repeat(5000)), []).length).toBeLessThanOrEqual(400);
  });
});

interface Script {
  /** What each heartbeatRows call on each opened session does, in order of sessions. */
  sessions: Array<Array<'ok' | 'fail' | 'timeout' | 'hang'>>;
  openDelayMs?: number;
}

const scriptedDriver = (script: Script) => {
  const opened: Array<DbSession & { destroyed: boolean; ended: boolean; calls: number }> = [];
  const driver: DbDriver = {
    label: 'fake db',
    async open() {
      if (script.openDelayMs) await new Promise((r) => setTimeout(r, script.openDelayMs));
      const steps = script.sessions[opened.length] ?? [];
      const session = {
        destroyed: false,
        ended: false,
        calls: 0,
        get alive() {
          return !this.destroyed && !this.ended;
        },
        async heartbeatRows(): Promise<readonly RawHeartbeatRow[]> {
          const step = steps[session.calls++];
          if (step === 'ok') return [raw(session.calls, 'a', 3)];
          if (step === 'timeout') throw new DbTimeoutError('query', 1000);
          if (step === 'hang') return new Promise(() => undefined);
          throw Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' });
        },
        destroy() {
          session.destroyed = true;
        },
        async end() {
          session.ended = true;
        },
      };
      opened.push(session);
      return session;
    },
  };
  return { driver, opened };
};

const config = (over: Record<string, unknown> = {}) =>
  dbSchema.parse({ dialect: 'postgres', host: 'h', database: 'd', user: 'u', tls: false, connectTimeoutSeconds: 0.2, queryTimeoutSeconds: 0.2, ...over });

const status = (o: DbObservation) => (o.status === 'ok' ? 'ok' : `unreachable: ${o.reason}`);

describe('connection lifecycle', () => {
  it('keeps one session across observes and ends it on close', async () => {
    const { driver, opened } = scriptedDriver({ sessions: [['ok', 'ok']] });
    const db = new SqlMetadataDb(config(), { password: async () => 'pw' }, driver);
    expect(status(await db.observe(query))).toBe('ok');
    expect(status(await db.observe(query))).toBe('ok');
    await db.close();
    expect(opened).toHaveLength(1);
    expect(opened[0]!.ended).toBe(true);
  });

  it('retries once on a fresh session when a kept one fails', async () => {
    const { driver, opened } = scriptedDriver({ sessions: [['ok', 'fail'], ['ok']] });
    const db = new SqlMetadataDb(config(), { password: async () => 'pw' }, driver);
    await db.observe(query);
    expect(status(await db.observe(query))).toBe('ok');
    expect(opened).toHaveLength(2);
    expect(opened[0]!.destroyed).toBe(true);
  });

  it('does not retry a new session, nor a timeout, and reconnects on the next observe', async () => {
    const { driver, opened } = scriptedDriver({ sessions: [['fail'], ['ok', 'timeout'], ['ok']] });
    const db = new SqlMetadataDb(config(), { password: async () => 'pw' }, driver);
    expect(status(await db.observe(query))).toMatch(/connection lost during the heartbeat query/);
    expect(status(await db.observe(query))).toBe('ok');
    expect(status(await db.observe(query))).toMatch(/timed out during the heartbeat query/);
    expect(opened).toHaveLength(2);
    expect(status(await db.observe(query))).toBe('ok');
    expect(opened).toHaveLength(3);
    expect(opened.slice(0, 2).map((s) => s.destroyed)).toEqual([true, true]);
  });

  it('gives up at the overall deadline when a query hangs, destroying the session', async () => {
    const { driver, opened } = scriptedDriver({ sessions: [['hang'], ['ok']] });
    const db = new SqlMetadataDb(config(), { password: async () => 'pw' }, driver);
    expect(status(await db.observe(query))).toMatch(/^unreachable: fake db: timed out \(no answer within 0.9 s overall\)$/);
    expect(opened[0]!.destroyed).toBe(true);
    expect(status(await db.observe(query))).toBe('ok');
  });

  it('destroys a session that opens after the deadline gave up on it', async () => {
    const { driver, opened } = scriptedDriver({ sessions: [['ok'], ['ok']], openDelayMs: 1200 });
    const db = new SqlMetadataDb(config(), { password: async () => 'pw' }, driver);
    expect(status(await db.observe(query))).toMatch(/no answer within/);
    await vi.waitFor(() => expect(opened[0]?.destroyed).toBe(true), { timeout: 3000 });
  });

  it('scrubs the password the source returned from a reason', async () => {
    const driver: DbDriver = {
      label: 'fake db',
      open: async (password) => {
        throw new Error(`login failed for password ${password}`);
      },
    };
    const db = new SqlMetadataDb(config(), { password: async () => 'hunter2!' }, driver);
    const reason = status(await db.observe(query));
    expect(reason).toContain('login failed for password ***');
    expect(reason).not.toContain('hunter2');
  });
});

describe('heartbeat statements', () => {
  it('quote schema and prefixed table names and take the lookback as a parameter', () => {
    const c = { schema: 'air`flow', tablePrefix: 'af_', queryTimeoutSeconds: 5 };
    expect(mysqlHeartbeatSql(c)).toContain('FROM `air``flow`.`af_job`');
    expect(mysqlHeartbeatSql(c)).toContain('INTERVAL ? SECOND');
    expect(postgresHeartbeatSql({ schema: 'Air"flow', tablePrefix: '' })).toContain('FROM "Air""flow"."job"');
    expect(postgresHeartbeatSql({ schema: undefined, tablePrefix: '' })).toMatch(/FROM "job"\nWHERE .*\$1::float8/s);
  });
});
