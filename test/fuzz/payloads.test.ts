import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../functions/core/config.js';
import type { Reachability, StoredRecord } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import { createApp, type Response } from '../../functions/runtime/app.js';
import { captureTelemetry, FakeDb, FakeFleet, ManualClock, MemoryStore, row } from '../helpers/fakes.js';
import { loadBugCase } from './bug-cases.js';

/**
 * Fuzzing the manual payloads (SPEC §5) through the real app (createApp, the code behind the Lambda
 * handler) with the in-memory record store, fleet and metadata DB. Payloads are JSON (what Lambda hands
 * the function after parsing the invoke body): fully random JSON values, structurally near-valid ones
 * (right action, wrong/missing/extra fields, wrong types, huge and non-ASCII strings, `__proto__` /
 * `constructor` keys, shell metacharacters, duplicate keys, numbers where strings go) and valid ones,
 * each against a random cluster state.
 *
 * The expectation comes from a small oracle of SPEC §5 written here, not from the parser: an invalid
 * payload gets `InvalidRequest` naming one of its offending fields, with nothing read, written or run;
 * a valid one gets the decision SPEC §5 describes (pause sets `paused`, resume clears it, status and
 * history change nothing, failover commits an intent for the named node or is refused naming `to`).
 * Nothing throws out of the handler, and Object.prototype is never touched.
 */

const RANDOM_RUNS = Number(process.env.FUZZ_PAYLOAD_RANDOM_RUNS ?? 3000);
const NEAR_RUNS = Number(process.env.FUZZ_PAYLOAD_NEAR_RUNS ?? 5000);
const VALID_RUNS = Number(process.env.FUZZ_PAYLOAD_VALID_RUNS ?? 2500);
const TEXT_RUNS = Number(process.env.FUZZ_PAYLOAD_TEXT_RUNS ?? 500);

const NODES = [
  { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
  { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b.eu-west-1.compute.internal' },
  { id: 'mi-0ccccccccccccccc3', hostname: 'sched-c' },
] as const;
const STALE = 30;
/** Bound on an InvalidRequest message: it echoes only bounded pieces of what was sent. */
const MAX_MESSAGE = 300;

const settings = parseSettings({
  cluster: { clusterName: 'prod', nodes: NODES.map((n) => ({ ...n })), staleAfterSeconds: STALE },
  db: { dialect: 'postgres', host: 'db', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/db' },
  aws: { tableName: 'watchdog', startDocument: 'Watchdog-Start', stopDocument: 'Watchdog-Stop', statusDocument: 'Watchdog-Status' },
});

// ---------------------------------------------------------------------------------------------
// The oracle (SPEC §5, plus the `history` action the function documents).

type Kind = 'text' | 'optText' | 'caller' | 'bool' | 'nodeRef' | 'limit';
const FIELDS: Readonly<Record<string, Readonly<Record<string, Kind>>>> = {
  reconcile: { dryRun: 'bool', caller: 'caller' },
  status: { caller: 'caller' },
  history: { limit: 'limit', caller: 'caller' },
  failover: { to: 'nodeRef', reason: 'text', force: 'bool', caller: 'caller' },
  pause: { reason: 'text', caller: 'caller' },
  resume: { reason: 'optText', caller: 'caller' },
};
const MAX_TEXT: Readonly<Record<Kind, number>> = { text: 500, optText: 500, caller: 200, bool: 0, nodeRef: 255, limit: 0 };
const NODE_REF_CHARS = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-');

const hasControl = (s: string): boolean =>
  [...s].some((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
  });
/** Free text: after trimming, 1..max characters (code points), no control characters. */
const goodText = (v: unknown, max: number): v is string => {
  if (typeof v !== 'string') return false;
  const chars = [...v.trim()];
  return chars.length >= 1 && chars.length <= max && !hasControl(v.trim());
};
const goodValue = (kind: Kind, v: unknown): boolean => {
  switch (kind) {
    case 'bool':
      return typeof v === 'boolean';
    case 'limit':
      return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 50;
    case 'nodeRef':
      return typeof v === 'string' && v.length >= 1 && v.length <= 255 && [...v].every((ch) => NODE_REF_CHARS.has(ch));
    default:
      return goodText(v, MAX_TEXT[kind]);
  }
};

type Verdict =
  | { readonly valid: false; readonly fields: ReadonlySet<string> }
  | { readonly valid: true; readonly action: 'scheduled' }
  | { readonly valid: true; readonly action: string; readonly p: Readonly<Record<string, unknown>> };

const own = (o: object, k: string): boolean => Object.hasOwn(o, k);

const oracle = (payload: unknown): Verdict => {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { valid: false, fields: new Set(['payload']) };
  const p = payload as Record<string, unknown>;
  if (!own(p, 'action')) {
    const scheduled = (p.source === 'aws.events' || p.source === 'aws.scheduler') && (!own(p, 'detail-type') || typeof p['detail-type'] === 'string');
    return scheduled ? { valid: true, action: 'scheduled' } : { valid: false, fields: new Set(['action']) };
  }
  const action = p.action;
  if (typeof action !== 'string' || !own(FIELDS, action)) return { valid: false, fields: new Set(['action']) };
  const spec = FIELDS[action] as Readonly<Record<string, Kind>>;
  const bad = new Set<string>();
  for (const k of Object.keys(p)) {
    if (k === 'action') continue;
    const kind = own(spec, k) ? spec[k] : undefined;
    if (kind === undefined || !goodValue(kind, p[k])) bad.add(k);
  }
  for (const [k, kind] of Object.entries(spec)) if (kind === 'text' && !own(p, k)) bad.add(k);
  return bad.size > 0 ? { valid: false, fields: bad } : { valid: true, action, p };
};

// ---------------------------------------------------------------------------------------------
// The cluster state each payload meets.

interface World {
  readonly dbUp: boolean;
  /** Heartbeat age per node (null: no live row). */
  readonly ages: readonly (number | null)[];
  readonly reach: readonly Reachability[];
  /** Index of the record's active node, or -1. */
  readonly active: number;
  readonly paused: boolean;
  readonly epoch: number;
}
const worldArb: fc.Arbitrary<World> = fc.record({
  dbUp: fc.constantFrom(true, true, true, false),
  ages: fc.tuple(...NODES.map(() => fc.constantFrom(null, 4, 12, 29, 31, 95, 4000))),
  reach: fc.tuple(...NODES.map(() => fc.constantFrom<Reachability>('Online', 'Online', 'ConnectionLost', 'absent'))),
  active: fc.integer({ min: -1, max: NODES.length - 1 }),
  paused: fc.boolean(),
  epoch: fc.integer({ min: 0, max: 1_000_000 }),
});
const healthy = (w: World, i: number): boolean => {
  const age = w.ages[i];
  return w.dbUp && age !== null && age !== undefined && age <= STALE;
};

const tel = captureTelemetry('prod');
let requestNo = 0;

const setup = (w: World) => {
  const db = new FakeDb();
  const store = new MemoryStore();
  const fleet = new FakeFleet();
  const clock = new ManualClock();
  tel.lines.length = 0;
  if (w.dbUp) db.setRows(NODES.flatMap((n, i) => (w.ages[i] === null ? [] : [row(n.hostname, w.ages[i] as number, 100 + i)])));
  else db.observation = { status: 'unreachable', reason: 'connect ECONNREFUSED 10.0.0.5:5432' };
  fleet.reach = Object.fromEntries(NODES.map((n, i) => [n.id, w.reach[i] as Reachability]));
  const activeNode = NODES[w.active];
  const item: StoredRecord = {
    clusterName: 'prod',
    version: 7,
    ...EMPTY_RECORD_STATE,
    epoch: w.epoch,
    active: activeNode === undefined ? [] : [activeNode.id],
    nodes: NODES.map((n) => ({ ...n })),
    ...(w.paused ? { paused: { reason: 'maintenance', since: clock.now() - 600_000, by: 'ops' } } : {}),
  };
  store.item = item;
  const app = createApp(settings, { db, store, fleet, clock, logger: tel.logger, metrics: tel.metrics });
  requestNo += 1;
  const ctx = { awsRequestId: `req-${requestNo}`, getRemainingTimeInMillis: () => 900_000 };
  return { db, store, fleet, app, ctx, before: item };
};

// ---------------------------------------------------------------------------------------------
// The property.

let payloadsRun = 0;
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

const expectNothingTouched = (s: ReturnType<typeof setup>): void => {
  expect(s.store.writes).toBe(0);
  expect(s.store.reads).toBe(0);
  expect(s.db.calls).toBe(0);
  expect(s.fleet.reachCalls).toBe(0);
  expect(s.fleet.runs).toHaveLength(0);
  expect(s.store.item).toBe(s.before);
};

/** Status commands only read the node (liveness evidence a dry run needs too); nothing else may run. */
const changing = (s: ReturnType<typeof setup>) => s.fleet.runs;

const expectNoChange = (s: ReturnType<typeof setup>): void => {
  expect(s.store.writes).toBe(0);
  expect(changing(s)).toHaveLength(0);
  expect(s.store.item).toBe(s.before);
};

const refusedWith = (res: Response): string => {
  expect(res.ok, JSON.stringify(res).slice(0, 400)).toBe(false);
  if (res.ok) return '';
  expect(res.error.code).toBe('Refused');
  return res.error.message;
};

const accepted = (res: Response, action: string): Record<string, unknown> => {
  expect(res.ok, JSON.stringify(res).slice(0, 400)).toBe(true);
  if (!res.ok) return {};
  expect(res.action).toBe(action);
  return res;
};

/** Sends one payload through the app and checks the answer against the oracle. */
const check = async (payload: unknown, w: World): Promise<void> => {
  payloadsRun += 1;
  const s = setup(w);
  const verdict = oracle(payload);
  let res: Response;
  try {
    res = await s.app.handle(payload, s.ctx);
  } catch (err) {
    throw new Error(`the handler threw on ${JSON.stringify(payload)?.slice(0, 300)}: ${String(err)}`);
  }
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_KEYS);
  expect(() => JSON.stringify(res)).not.toThrow();
  const shown = () => `${JSON.stringify(payload)?.slice(0, 300)} → ${JSON.stringify(res).slice(0, 300)}`;

  if (!verdict.valid) {
    expect(res.ok, shown()).toBe(false);
    if (res.ok) return;
    expect(res.error.code, shown()).toBe('InvalidRequest');
    const field = res.error.field ?? '';
    // A field is named as sent when it reads as a name, else JSON-quoted; either way at most 60 characters.
    const display = (f: string): string => {
      const q = [.../^[A-Za-z0-9_.$-]+$/.test(f) ? f : JSON.stringify(f)];
      return q.length > 60 ? `${q.slice(0, 57).join('')}...` : q.join('');
    };
    const named = [...verdict.fields].some((f) => f === field || display(f) === field);
    expect(named, `named ${JSON.stringify(field)}, offending ${JSON.stringify([...verdict.fields])}: ${shown()}`).toBe(true);
    expect([...field].length, shown()).toBeLessThanOrEqual(60);
    expect(/\p{Cc}/u.test(field), shown()).toBe(false);
    expect(res.error.message.includes(field.slice(0, 40)), shown()).toBe(true);
    // What was sent is echoed in bounded form only.
    expect(res.error.message.length, shown()).toBeLessThanOrEqual(MAX_MESSAGE);
    expectNothingTouched(s);
    return;
  }

  if (verdict.action === 'scheduled' || verdict.action === 'reconcile') {
    const p = 'p' in verdict ? verdict.p : {};
    const body = accepted(res, 'reconcile');
    const ticks = body.ticks as { disposition: string }[];
    expect(ticks).toHaveLength(1);
    if (p.dryRun === true) {
      expect(ticks[0]?.disposition).toBe('dry-run');
      expectNoChange(s);
    }
    // SPEC §4.2: no action while the DB is unreachable or paused.
    if (!w.dbUp || w.paused) expect(s.fleet.runs, shown()).toHaveLength(0);
    // Evidence is asked only of the record's intended-active node, and only with the DB reachable.
    for (const r of s.fleet.probes) expect(s.before.active, shown()).toContain(r.nodeId);
    if (!w.dbUp || w.paused) expect(s.fleet.probes, shown()).toHaveLength(0);
    return;
  }

  if (!('p' in verdict)) throw new Error('oracle: a manual action without its payload');
  const p = verdict.p;
  const caller = typeof p.caller === 'string' ? p.caller.trim() : `direct invoke ${s.ctx.awsRequestId}`;
  const last = () => s.store.item?.history.at(-1);
  switch (verdict.action) {
    case 'status': {
      const status = accepted(res, 'status').status as { clusterName: string; verdict: string; nodes: unknown[] };
      expect(status.clusterName).toBe('prod');
      expect(status.nodes).toHaveLength(NODES.length);
      if (!w.dbUp) expect(status.verdict).toBe('unknown');
      expectNoChange(s);
      return;
    }
    case 'history': {
      const history = accepted(res, 'history').history as unknown[];
      expect(history.length).toBeLessThanOrEqual(typeof p.limit === 'number' ? p.limit : 50);
      expectNoChange(s);
      return;
    }
    case 'pause': {
      if (w.paused) {
        refusedWith(res);
        expectNoChange(s);
        return;
      }
      accepted(res, 'pause');
      expect(s.store.item?.paused).toMatchObject({ reason: (p.reason as string).trim(), by: caller });
      expect(last()).toMatchObject({ kind: 'pause', reason: (p.reason as string).trim(), caller });
      expect(s.fleet.runs).toHaveLength(0);
      return;
    }
    case 'resume': {
      if (!w.paused) {
        refusedWith(res);
        expectNoChange(s);
        return;
      }
      accepted(res, 'resume');
      expect(s.store.item?.paused).toBeUndefined();
      expect(last()).toMatchObject({ kind: 'resume', caller });
      if (typeof p.reason === 'string') expect(last()?.reason).toContain(p.reason.trim());
      expect(s.fleet.runs).toHaveLength(0);
      return;
    }
    case 'failover': {
      const force = p.force === true;
      if (!w.dbUp && !force) {
        expect(refusedWith(res)).toContain('force');
        expectNoChange(s);
        return;
      }
      const to = p.to as string | undefined;
      const target = to === undefined ? undefined : NODES.findIndex((n) => n.id === to || n.hostname === to);
      if (target === -1) {
        const message = refusedWith(res);
        expect(message, shown()).toMatch(/^to: /);
        expect(message).toContain(`"${to}"`);
        expectNoChange(s);
        return;
      }
      if (target !== undefined) {
        const targetHealthy = healthy(w, target);
        const refuse = (target === w.active && targetHealthy) || (w.reach[target] !== 'Online' && !targetHealthy && !force);
        if (refuse) {
          expect(refusedWith(res), shown()).toMatch(/^to: /);
          expectNoChange(s);
          return;
        }
      }
      if (target === undefined && !res.ok) {
        // No `to`: refused only when no node can take over.
        expect(refusedWith(res)).toContain('no failover candidate');
        expectNoChange(s);
        return;
      }
      accepted(res, 'failover');
      const chosen = target ?? NODES.findIndex((n) => n.id === s.store.item?.active[0]);
      const node = NODES[chosen];
      expect(node, shown()).toBeDefined();
      if (node === undefined) return;
      if (target === undefined) expect(chosen).not.toBe(w.active);
      const epoch = w.epoch + 1;
      expect(s.store.item?.epoch).toBe(epoch);
      expect(s.store.item?.active).toEqual([node.id]);
      expect(s.store.item?.history.find((e) => e.kind === 'manual-failover')).toMatchObject({ node: node.id, epoch, caller });
      const runs = s.fleet.runs;
      expect(runs.every((r) => r.epoch === epoch && NODES.some((n) => n.id === r.nodeId))).toBe(true);
      expect(runs.filter((r) => r.kind === 'start').every((r) => r.nodeId === node.id)).toBe(true);
      expect(runs.some((r) => r.kind === 'start')).toBe(!healthy(w, chosen));
      const firstStart = runs.findIndex((r) => r.kind === 'start');
      if (firstStart >= 0) expect(runs.slice(firstStart).every((r) => r.kind === 'start')).toBe(true);
      return;
    }
    default:
      throw new Error(`oracle let through unknown action ${verdict.action}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Payload generators.

const ACTIONS = Object.keys(FIELDS);
const KEYS = ['action', 'to', 'reason', 'caller', 'force', 'dryRun', 'limit', 'source', 'detail-type'];
const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
  'Reason',
  'to ',
  'node',
  'reason\u0000',
  'ação',
  '😀',
  'a\nb: c',
  'k'.repeat(3000),
];
const SHELL = [
  '; rm -rf /',
  '$(reboot)',
  '`id`',
  '| nc evil 1',
  '&& shutdown -h now',
  "'; DROP TABLE job; --",
  ['$', '{IFS}cat$', '{IFS}/etc/passwd'].join(''),
  '> /etc/hosts',
  '\\"',
  '%s%n',
];
const NODE_REFS = [...NODES.flatMap((n) => [n.id, n.hostname]), 'i-0ddddddddddddddd4', 'sched-z', 'SCHED-A', 'sched-a.', '.', '-', '_'];

const textArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('kernel patching', 'DB maintenance', '  padded  ', '\tindented\n', 'ok') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('patch ', 'x', ''), fc.constantFrom(...SHELL)).map(([a, b]) => a + b) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('Wartung für Knoten ä', '再起動', 'mañana 😀', '\u202eevil', 'a\u0007b', 'x\u0085y', 'a\nb', ' \u00a0 ', '\ufeff', '\u2028'),
  },
  { weight: 1, arbitrary: fc.constantFrom(199, 200, 201, 499, 500, 501, 5000).map((n) => 'r'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(`${' '.repeat(600)}x`, `${'é'.repeat(500)}`, `${'😀'.repeat(260)}`) },
);
const jsonish = fc.jsonValue({ maxDepth: 2 });
const valueArb = fc.oneof(
  { weight: 4, arbitrary: textArb },
  { weight: 2, arbitrary: fc.constantFrom(...NODE_REFS) },
  { weight: 1, arbitrary: fc.constantFrom(...SHELL).map((s) => `i-0aaaaaaaaaaaaaaa1${s}`) },
  { weight: 2, arbitrary: fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', 0, 1, null)) },
  {
    weight: 2,
    arbitrary: fc.oneof(fc.integer({ min: -3, max: 60 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1.5, 50.0000001, 2 ** 53)),
  },
  { weight: 1, arbitrary: fc.oneof(fc.array(textArb, { maxLength: 2 }), fc.constantFrom({}, [], { toString: 'x' }, { __proto__: null })) },
  { weight: 1, arbitrary: jsonish },
  { weight: 1, arbitrary: fc.constantFrom(...ACTIONS) },
);
const actionValue = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ACTIONS) },
  { weight: 1, arbitrary: fc.constantFrom('Status', 'PAUSE', ' pause', 'failover ', 'reboot', '', 'scheduled', '__proto__', 'constructor', 'toString') },
  { weight: 1, arbitrary: valueArb },
);

/** Builds the payload the way Lambda does: from JSON text (own `__proto__` keys, last duplicate wins). */
const fromEntries = (entries: readonly (readonly [string, unknown])[]): unknown =>
  JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);
const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null');

const randomArb = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom(...KEYS, ...ODD_KEYS), jsonish, { maxKeys: 5 }).map(json) },
  {
    weight: 2,
    arbitrary: fc
      .record({ action: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })
      .chain((a) => fc.dictionary(fc.string({ maxLength: 8 }), jsonish, { maxKeys: 3 }).map((d) => json({ ...d, ...a }))),
  },
);

const nearArb = fc
  .tuple(
    fc.option(actionValue, { freq: 8, nil: undefined }),
    fc.array(fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_KEYS) }), valueArb), {
      maxLength: 4,
    }),
    fc.boolean(),
  )
  .map(([action, rest, actionFirst]) => {
    const head: [string, unknown][] = action === undefined ? [] : [['action', action]];
    return fromEntries(actionFirst ? [...head, ...rest] : [...rest, ...head]);
  });

const scheduledArb = fc
  .record(
    {
      source: fc.constantFrom('aws.events', 'aws.scheduler', 'aws.ec2', 'AWS.events', 5),
      'detail-type': fc.oneof(fc.constant('Scheduled Event'), fc.constant(7), fc.constant(null)),
      detail: fc.constant({}),
      id: fc.uuid(),
    },
    { requiredKeys: ['source'] },
  )
  .map(json);

const validArb = fc
  .oneof(
    fc.record({ action: fc.constant('status'), caller: textArb }, { requiredKeys: ['action'] }),
    fc.record({ action: fc.constant('reconcile'), dryRun: fc.boolean(), caller: textArb }, { requiredKeys: ['action'] }),
    fc.record({ action: fc.constant('history'), limit: fc.integer({ min: 1, max: 50 }), caller: textArb }, { requiredKeys: ['action'] }),
    fc.record({ action: fc.constant('pause'), reason: textArb, caller: textArb }, { requiredKeys: ['action', 'reason'] }),
    fc.record({ action: fc.constant('resume'), reason: textArb, caller: textArb }, { requiredKeys: ['action'] }),
    fc.record(
      { action: fc.constant('failover'), to: fc.constantFrom(...NODE_REFS), reason: textArb, force: fc.boolean(), caller: textArb },
      { requiredKeys: ['action', 'reason'] },
    ),
    scheduledArb,
  )
  .map(json);

/** JSON texts whose parse differs from what a generator would build: duplicate keys, 1e400, 5e0, -0. */
const textPayloadArb = fc
  .tuple(
    fc.constantFrom(...ACTIONS),
    fc.constantFrom(
      '"limit":1e400',
      '"limit":5e0',
      '"limit":1.0',
      '"limit":-0',
      '"dryRun":true,"dryRun":"yes"',
      '"action":"pause","reason":"dup"',
      '"reason":"x","reason":""',
      '"__proto__":{"polluted":true},"reason":"x"',
      '"constructor":{"prototype":{"polluted":true}}',
      '"to":"sched-a","to":"i-0ccccccccccccccc3","reason":"dup to"',
      '"reason":"\\u0000"',
      '"reason":"\\ud800"',
      '"caller":"\\u00e9\\u0301"',
    ),
  )
  .map(([action, tail]) => JSON.parse(`{"action":${JSON.stringify(action)},${tail}}`) as unknown);

// ---------------------------------------------------------------------------------------------

describe('fuzz: manual payloads through the app', () => {
  afterAll(() => {
    console.log(`fuzz payloads: ${payloadsRun} payloads sent through the app`);
  });

  it(`${RANDOM_RUNS} random JSON values: InvalidRequest naming a field and nothing touched, or the decision SPEC §5 describes`, async () => {
    await fc.assert(fc.asyncProperty(randomArb, worldArb, check), { numRuns: RANDOM_RUNS });
  }, 120_000);

  it(`${NEAR_RUNS} near-valid payloads (wrong, missing, extra, odd and duplicate fields)`, async () => {
    await fc.assert(fc.asyncProperty(nearArb, worldArb, check), { numRuns: NEAR_RUNS });
  }, 120_000);

  it(`${VALID_RUNS} valid payloads and scheduled events: the right decision against a random cluster state`, async () => {
    await fc.assert(fc.asyncProperty(validArb, worldArb, check), { numRuns: VALID_RUNS });
  }, 120_000);

  it(`${TEXT_RUNS} JSON texts with duplicate keys, prototype keys and odd numbers`, async () => {
    await fc.assert(fc.asyncProperty(textPayloadArb, worldArb, check), { numRuns: TEXT_RUNS });
  }, 120_000);

  it('the oracle is not vacuous: it sees valid and invalid payloads of every action', () => {
    const seen = new Set<string>();
    for (const p of fc.sample(fc.oneof(validArb, nearArb), 2000)) {
      const v = oracle(p);
      seen.add(v.valid ? `valid:${v.action}` : 'invalid');
    }
    expect([...seen].sort()).toEqual(['invalid', ...ACTIONS.map((a) => `valid:${a}`), 'valid:scheduled'].sort());
  });

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-request-*.json)', async () => {
    const c = loadBugCase<{ payloads: unknown[] }, { code: string; messageStarts: string[]; maxMessageLength: number }>(
      'bug-request-unknown-field-name-unreadable',
    );
    for (const [i, payload] of c.input.payloads.entries()) {
      const s = setup({ dbUp: true, ages: [4, null, null], reach: ['Online', 'Online', 'Online'], active: 0, paused: false, epoch: 1 });
      const res = await s.app.handle(payload, s.ctx);
      expect(res).toMatchObject({ ok: false, error: { code: c.expect.code } });
      if (res.ok) continue;
      expect(res.error.message.startsWith(c.expect.messageStarts[i] as string), res.error.message.slice(0, 100)).toBe(true);
      expect(res.error.message.length).toBeLessThanOrEqual(c.expect.maxMessageLength);
      expectNothingTouched(s);
    }
  });

  it('sends at least 10,000 payloads in all', () => {
    expect(RANDOM_RUNS + NEAR_RUNS + VALID_RUNS + TEXT_RUNS).toBeGreaterThanOrEqual(10_000);
    // Counted where they are sent (the file's tests run in order), so a property that stops early shows here.
    expect(payloadsRun).toBeGreaterThanOrEqual(10_000);
  });
});
