import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RawHeartbeatRow, reduceRows, SqlMetadataDb } from '../../functions/adapters/metadata-db.js';
import { type ClusterConfig, parseClusterConfig, parseSettings } from '../../functions/core/config.js';
import { decide } from '../../functions/core/decide.js';
import type { Observation, RecordState } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { HeartbeatQuery } from '../../functions/core/ports.js';
import { loadBugCase } from './bug-cases.js';

/**
 * Fuzzing what the metadata DB hands back (issue "Prove it under faults", part 3): raw `job` rows with
 * NULLs, wrong types, heartbeats in the future, NaN / Infinity / huge ages and ids, duplicate hostnames,
 * 500-character and non-ASCII hostnames, go through `reduceRows` (and the adapter around it), and the
 * observation through decide(). No crash; an unreadable row is skipped and reported, never used; the
 * freshest readable row per host wins (of stale ones the latest inserted); and no plan starts a scheduler in single mode while a readable row
 * shows one alive, nor stops a node on the strength of an unreadable row.
 */

const RUNS = Number(process.env.FUZZ_DB_RUNS ?? 2000);
const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);
const STALE = 30;

const HOSTS = ['ip-10-0-1-12.eu-west-1.compute.internal', `${'h'.repeat(490)}.internal`, 'スケジューラ-1.example', 'sched-ä.intern', 'ⓢⓒⓗⓔⓓ-😀'];
const IDS = ['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'mi-0ccccccccccccccc3'];
const FOREIGN = ['legacy-scheduler.internal', `${'f'.repeat(500)}`, 'ホスト-外'];

const HEARTBEAT_TEXT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

const idArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 10_000_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 53, 2 ** 60, -1, 0, Number.NaN, Number.POSITIVE_INFINITY) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 99_999 }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 2n ** 64n }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 'abc', '', ' ', '0x10', {}, true) },
);
const hostArb = (configured: readonly string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...configured) },
    { weight: 2, arbitrary: fc.constantFrom(...FOREIGN) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 500 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, '', 42, undefined) },
  );
const ageArb = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -120, max: 400, noNaN: true }) },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, -0) },
  { weight: 1, arbitrary: fc.double({ min: -50, max: 200, noNaN: true }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom(null, 'abc', '', ' ', '\t', '0x1e', '12abc', '1e2', 10n, {}) },
);
/** A heartbeat consistent with the age (one query, one DB clock), or garbage. */
const heartbeatArb = (age: unknown) => {
  const n = typeof age === 'number' ? age : typeof age === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(age) ? Number(age) : Number.NaN;
  const at = NOW - (Number.isFinite(n) ? Math.max(-1e9, Math.min(1e9, n)) : 0) * 1000;
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(`${new Date(at).toISOString().slice(0, 19)}.${String(Math.round((at % 1000) * 1000)).padStart(6, '0')}`) },
    { weight: 1, arbitrary: fc.constantFrom('2026-11-24 12:00:00', '2026-11-24T12:00:00.1234567', '', 'yesterday', '2026-11-24T12:00:00Z') },
    { weight: 1, arbitrary: fc.constantFrom(null, 0, undefined) },
  );
};

const rawRowArb = (configured: readonly string[]): fc.Arbitrary<RawHeartbeatRow> =>
  fc
    .record({ id: idArb, hostname: hostArb(configured), state: fc.constantFrom('running', 'failed', 'restarting', null, 7), age: ageArb })
    .chain((r) => heartbeatArb(r.age).map((hb) => ({ id: r.id, hostname: r.hostname, state: r.state, heartbeat_utc: hb, age_seconds: r.age })));

/** The spec's reading of a row, written independently of the adapter: the row's parsed fields or why not. */
const oracle = (raw: RawHeartbeatRow): { host: string; age: number; id: number; hb: string } | undefined => {
  // Drivers hand numbers over as numbers, bigints or decimal text (pg's numeric, mysql2's DECIMAL); anything
  // else (blank text, hex, words) is unreadable, not zero.
  const num = (v: unknown) =>
    typeof v === 'number' || typeof v === 'bigint' ? Number(v) : typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v) ? Number(v) : Number.NaN;
  const id = num(raw.id);
  if (!Number.isSafeInteger(id)) return undefined;
  if (typeof raw.hostname !== 'string' || raw.hostname === '') return undefined;
  if (raw.state !== null && typeof raw.state !== 'string') return undefined;
  const age = num(raw.age_seconds);
  if (!Number.isFinite(age)) return undefined;
  if (typeof raw.heartbeat_utc !== 'string' || !HEARTBEAT_TEXT.test(raw.heartbeat_utc)) return undefined;
  return { host: raw.hostname, age, id, hb: raw.heartbeat_utc };
};

const newer = (a: { hb: string; id: number }, b: { hb: string; id: number }): boolean =>
  a.hb.padEnd(26, '0') > b.hb.padEnd(26, '0') || (a.hb.padEnd(26, '0') === b.hb.padEnd(26, '0') && a.id > b.id);

/** Stands for its host over `b`: fresh over stale; of fresh rows the newer heartbeat, of stale ones the later id. */
const standsFor = (a: { hb: string; id: number; age: number }, b: { hb: string; id: number; age: number }): boolean => {
  if (a.age <= STALE !== b.age <= STALE) return a.age <= STALE;
  return a.age <= STALE ? newer(a, b) : a.id > b.id;
};

const scenarioArb = fc
  .record({
    nodeCount: fc.integer({ min: 1, max: 3 }),
    hostPick: fc.shuffledSubarray(HOSTS, { minLength: 3, maxLength: 3 }),
    activeIdx: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    pendingIdx: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  })
  .chain((s) => {
    const nodes = s.hostPick.slice(0, s.nodeCount).map((hostname, i) => ({ id: IDS[i] as string, hostname }));
    return fc.record({
      nodes: fc.constant(nodes),
      activeIdx: fc.constant(s.activeIdx),
      pendingIdx: fc.constant(s.pendingIdx),
      rows: fc.array(rawRowArb(nodes.map((n) => n.hostname)), { maxLength: 12 }),
    });
  });

const configFor = (nodes: readonly { id: string; hostname: string }[]): ClusterConfig =>
  parseClusterConfig({ clusterName: 'fuzz', nodes: nodes.map((n) => ({ ...n })), staleAfterSeconds: STALE });

const recordFor = (config: ClusterConfig, activeIdx: number | undefined, pendingIdx: number | undefined): RecordState => {
  const active = activeIdx === undefined ? undefined : config.nodes[activeIdx % config.nodes.length];
  const pending = pendingIdx === undefined ? undefined : config.nodes[pendingIdx % config.nodes.length];
  return {
    ...EMPTY_RECORD_STATE,
    epoch: active === undefined ? 0 : 4,
    active: active === undefined ? [] : [active.id],
    pending: pending === undefined ? [] : [{ nodeId: pending.id, epoch: 4, issuedAt: NOW - 30_000 }],
    nodes: config.nodes.map(({ id, hostname }) => ({ id, hostname })),
  };
};

describe('fuzz: metadata DB rows', () => {
  it(`${RUNS} random row sets: readable rows reduced exactly, unreadable ones skipped and reported, decide() keeps single mode`, () => {
    fc.assert(
      fc.property(scenarioArb, ({ nodes, activeIdx, pendingIdx, rows }) => {
        const config = configFor(nodes);
        const hostnames = config.nodes.map((n) => n.hostname);
        const warnings: string[] = [];
        const out = reduceRows(rows, { hostnames, staleAfterSeconds: STALE }, (m) => warnings.push(m));

        const readable = rows.map(oracle);
        expect(warnings).toHaveLength(readable.filter((r) => r === undefined).length);
        for (const w of warnings) expect(w.length).toBeLessThan(2000);

        const good = readable.filter((r): r is NonNullable<typeof r> => r !== undefined);
        // Configured hosts: the newest readable row, with the number of fresh readable rows.
        for (const h of hostnames) {
          const mine = good.filter((g) => g.host === h);
          const got = out.rows[h];
          if (mine.length === 0) {
            expect(got).toBeUndefined();
            continue;
          }
          const best = mine.reduce((a, b) => (standsFor(b, a) ? b : a));
          expect(got?.jobId).toBe(best.id);
          expect(got?.ageSeconds).toBe(best.age);
          expect(got?.freshRows).toBe(mine.filter((g) => g.age <= STALE).length);
        }
        expect(Object.keys(out.rows).every((h) => hostnames.includes(h))).toBe(true);
        // Other hosts: one entry per host with a fresh readable row, never a stale one.
        const foreignHosts = new Set(good.filter((g) => !hostnames.includes(g.host) && g.age <= STALE).map((g) => g.host));
        expect(new Set(out.foreign.map((f) => f.hostname))).toEqual(foreignHosts);
        expect(out.foreign).toHaveLength(foreignHosts.size);
        for (const f of out.foreign) expect(f.ageSeconds).toBeLessThanOrEqual(STALE);

        // decide() on what was reduced.
        const obs: Observation = { db: { status: 'ok', ...out }, reachability: Object.fromEntries(config.nodes.map((n) => [n.id, 'Online'])) };
        const record = recordFor(config, activeIdx, pendingIdx);
        const plan = decide(obs, record, config, NOW);
        const freshHosts = new Set(good.filter((g) => g.age <= STALE).map((g) => g.host));
        const starts = plan.actions.filter((a) => a.kind === 'start');
        expect(starts.length).toBeLessThanOrEqual(1);
        if (freshHosts.size > 0) expect(starts, 'a readable fresh row shows a live scheduler: nothing may start').toEqual([]);
        for (const a of plan.actions) {
          const host = config.nodes.find((n) => n.id === a.nodeId)?.hostname as string;
          if (a.purpose === 'stop-duplicate') expect(freshHosts.has(host), `stop-duplicate on ${a.nodeId} without a readable fresh row`).toBe(true);
          if (a.purpose === 'clear-stale') expect(good.some((g) => g.host === host)).toBe(true);
        }
        if (plan.next !== undefined) expect(plan.next.active.length).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS },
    );
  });

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-db-*.json)', () => {
    for (const name of ['bug-db-blank-text-read-as-fresh-heartbeat']) {
      const c = loadBugCase<{ query: HeartbeatQuery; rows: RawHeartbeatRow[] }, { rows: object; foreign: unknown[]; skipped: number }>(name);
      const warnings: string[] = [];
      const out = reduceRows(c.input.rows, c.input.query, (m) => warnings.push(m));
      expect({ rows: out.rows, foreign: out.foreign }, name).toEqual({ rows: c.expect.rows, foreign: c.expect.foreign });
      expect(warnings, name).toHaveLength(c.expect.skipped);
    }
  });

  it('the adapter (SqlMetadataDb over a driver returning random rows) answers ok with the same reduction and reports each skipped row', async () => {
    const settings = parseSettings({
      cluster: { clusterName: 'fuzz', nodes: [{ id: IDS[0], hostname: HOSTS[0] }] },
      db: { dialect: 'mysql', host: 'db', database: 'airflow', user: 'watchdog', password: 'not-used' },
      aws: { tableName: 'watchdog', startDocument: 'Start-Doc', stopDocument: 'Stop-Doc', statusDocument: 'Status-Doc' },
    });
    await fc.assert(
      fc.asyncProperty(fc.array(rawRowArb(HOSTS), { maxLength: 10 }), async (rows) => {
        const warnings: string[] = [];
        const driver = {
          label: 'mysql fake:3306/airflow',
          open: async () => ({ alive: true, heartbeatRows: async () => rows, destroy: () => undefined, end: async () => undefined }),
        };
        const db = new SqlMetadataDb(settings.db, { password: async () => undefined, warn: (m) => warnings.push(m) }, driver);
        const query = { hostnames: HOSTS.slice(0, 2), staleAfterSeconds: STALE };
        const obs = await db.observe(query);
        expect(obs.status).toBe('ok');
        if (obs.status !== 'ok') return;
        expect({ rows: obs.rows, foreign: obs.foreign }).toEqual(reduceRows(rows, query));
        expect(warnings).toHaveLength(rows.map(oracle).filter((r) => r === undefined).length);
        await db.close();
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
  });
});
