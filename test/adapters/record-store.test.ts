import { type AttributeValue, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRecordStore, MAX_TEXT_CHARS, recordKey } from '../../functions/adapters/record-store.js';
import { ProtocolError, WatchdogError } from '../../functions/core/errors.js';
import type { HistoryEvent, RecordState, StoredRecord } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { LeaseClaim, WriteResult } from '../../functions/core/ports.js';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const LEASE_MS = 90_000;
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const C = 'i-0cccccccccccccccc';

let dyn: DynaliteHandle;
let store: DynamoRecordStore;

/** Every version this suite observes, per cluster, in observation order: it must never go down. */
const versionLog = new Map<string, number[]>();
const note = (r: StoredRecord | undefined): void => {
  if (r === undefined) return;
  versionLog.set(r.clusterName, [...(versionLog.get(r.clusterName) ?? []), r.version]);
};
const read = async (cluster: string): Promise<StoredRecord> => {
  const r = await store.read(cluster);
  note(r);
  return r;
};
const write = async (expected: StoredRecord, next: RecordState, lease: LeaseClaim): Promise<WriteResult> => {
  const w = await store.write(expected, next, lease);
  note(w.ok ? w.record : w.current);
  return w;
};
const hold = (owner: string, now: number): LeaseClaim => ({ owner, expiresAt: now + LEASE_MS, now });
const release = (owner: string, now: number): LeaseClaim => ({ owner, expiresAt: undefined, now });
const stateOf = (r: StoredRecord): RecordState => {
  const { clusterName: _c, version: _v, leaseOwner: _o, leaseExpiresAt: _e, ...state } = r;
  return state;
};
const withEpoch = (epoch: number): RecordState => ({ ...EMPTY_RECORD_STATE, epoch, active: [A], nodes: [{ id: A, hostname: 'ip-10-0-1-10' }] });

const ok = (w: WriteResult): StoredRecord => {
  if (!w.ok) throw new Error(`expected the write to commit, got ${w.reason} (current version ${w.current?.version})`);
  return w.record;
};

const rawItem = async (cluster: string): Promise<Record<string, AttributeValue> | undefined> =>
  (await dyn.client.send(new GetItemCommand({ TableName: dyn.tableName, Key: { pk: { S: recordKey(cluster) } }, ConsistentRead: true }))).Item;
const putRaw = (item: Record<string, AttributeValue>) => dyn.client.send(new PutItemCommand({ TableName: dyn.tableName, Item: item }));

const FULL_STATE: RecordState = {
  epoch: 7,
  active: [B],
  pending: [{ nodeId: B, epoch: 7, issuedAt: T0 - 5_000 }],
  failures: {
    [A]: {
      count: 3,
      firstFailureAt: T0 - 600_000,
      lastFailureAt: T0 - 60_000,
      bannedUntil: T0 + 3_540_000,
      lastReason: 'start on i-0a… failed (exit 1): unit not found',
    },
    [C]: { count: 1, firstFailureAt: T0 - 120_000, lastFailureAt: T0 - 120_000 },
  },
  paused: { reason: 'kernel patching → back at 14:00 ✓', since: T0 - 1_000, by: 'arn:aws:iam::123456789012:user/ops' },
  history: [
    { at: T0 - 600_000, kind: 'failover', node: B, epoch: 7, reason: `failover from ${A}: heartbeat 41 s old`, caller: 'watchdog' },
    { at: T0 - 1_000, kind: 'pause', epoch: 7, reason: 'kernel patching', caller: 'ops' },
    { at: T0 - 500, kind: 'outcome', node: B, epoch: 7, reason: '', caller: 'watchdog' },
    { at: T0 - 400, kind: 'restart', component: 'triggerer', node: C, epoch: 2, reason: 'triggerer heartbeat unchanged', caller: 'watchdog' },
  ],
  failoverTimes: [T0 - 1_800_000, T0 - 600_000],
  restartAttempts: 1,
  nodes: [
    { id: A, hostname: 'ip-10-0-1-10.ec2.internal' },
    { id: B, hostname: 'ip-10-0-1-11.ec2.internal' },
    { id: C, hostname: 'ip-10-0-1-12.ec2.internal' },
  ],
  lastAlarm: { kind: 'no-candidate', at: T0 - 700_000, reason: 'no node can take over' },
  components: {
    dagProcessor: {
      epoch: 4,
      active: [C],
      pending: [{ nodeId: C, epoch: 4, issuedAt: T0 - 3_000, sentAt: T0 - 2_900 }],
      failures: { [A]: { count: 1, firstFailureAt: T0 - 60_000, lastFailureAt: T0 - 60_000, lastReason: 'dag-processor start failed' } },
      failoverTimes: [T0 - 60_000],
      restartAttempts: 0,
      nodes: [{ id: C, hostname: 'ip-10-0-1-12.ec2.internal' }],
      lastAlarm: { kind: 'suppressed', at: T0 - 10_000, reason: 'too many failovers' },
    },
    triggerer: {
      epoch: 2,
      active: [B, C],
      pending: [],
      failures: {},
      failoverTimes: [],
      restartAttempts: 1,
      nodes: [
        { id: B, hostname: 'ip-10-0-1-11.ec2.internal' },
        { id: C, hostname: 'ip-10-0-1-12.ec2.internal' },
      ],
      paused: { reason: 'triggerer upgrade', since: T0 - 5_000, by: 'ops' },
    },
  },
};

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoRecordStore({ client: dyn.client, tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn?.close();
});

describe('DynamoRecordStore on dynalite', () => {
  it('reads a missing item as version 0 with the empty state', async () => {
    expect(await read('missing')).toStrictEqual({ clusterName: 'missing', version: 0, ...EMPTY_RECORD_STATE });
    expect(await rawItem('missing')).toBeUndefined();
  });

  it('creates the item with the first write (version 1) under pk cluster#<name>', async () => {
    const empty = await read('first');
    const rec = ok(await write(empty, withEpoch(1), hold('w1', T0)));
    expect(rec).toStrictEqual({ clusterName: 'first', version: 1, leaseOwner: 'w1', leaseExpiresAt: T0 + LEASE_MS, ...withEpoch(1) });
    const raw = await rawItem('first');
    expect(raw?.pk).toEqual({ S: 'cluster#first' });
    expect(raw?.version).toEqual({ N: '1' });
    expect(raw?.leaseOwner).toEqual({ S: 'w1' });
    // A second creation from version 0 must not overwrite it.
    const again = await write(empty, withEpoch(99), hold('w2', T0 + 10 * LEASE_MS));
    expect(again).toMatchObject({ ok: false, reason: 'version', current: { version: 1, epoch: 1 } });
  });

  it('round-trips every field of RecordState', async () => {
    const rec = ok(await write(await read('full'), FULL_STATE, hold('w1', T0)));
    const back = await read('full');
    const expected: StoredRecord = { clusterName: 'full', version: 1, leaseOwner: 'w1', leaseExpiresAt: T0 + LEASE_MS, ...FULL_STATE };
    expect(back).toStrictEqual(expected);
    expect(rec).toStrictEqual(expected);
    // An explicitly undefined optional (decide() writes `lastAlarm: undefined`) is simply absent afterwards.
    const cleared = ok(await write(back, { ...FULL_STATE, lastAlarm: undefined, paused: undefined }, release('w1', T0 + 1)));
    const after = await read('full');
    expect(after).toStrictEqual(cleared);
    expect('lastAlarm' in after || 'paused' in after).toBe(false);
    expect(Object.keys((await rawItem('full')) ?? {})).not.toContain('lastAlarm');
  });

  it('ignores the StoredRecord fields that decide() leaves in plan.next (stale version, lease, clusterName)', async () => {
    const first = ok(await write(await read('leaky'), withEpoch(1), hold('w1', T0)));
    // What decide() returns at run time: the read record spread into the next state.
    const leaky = { ...first, epoch: 2, version: 1, leaseOwner: 'someone-else', clusterName: 'other' } as unknown as RecordState;
    const second = ok(await write(first, leaky, hold('w1', T0 + 1)));
    expect(second).toMatchObject({ clusterName: 'leaky', version: 2, epoch: 2, leaseOwner: 'w1' });
    expect(await read('leaky')).toStrictEqual(second);
    expect(await read('other')).toMatchObject({ version: 0 });
  });

  it('lets exactly one of 5 racing watchdogs commit the same version, 20 rounds', async () => {
    for (let round = 0; round < 20; round++) {
      const cluster = `race-${round}`;
      // Even rounds race to create the item, odd rounds race on an existing version.
      let base = await read(cluster);
      if (round % 2 === 1) base = ok(await write(base, withEpoch(1), release('seed', T0)));
      // Half the rounds write without a lease, so only the version can stop the losers.
      const claim = (i: number) => (round < 10 ? hold(`contender-${i}`, T0 + round) : release(`contender-${i}`, T0 + round));
      const results = await Promise.all([0, 1, 2, 3, 4].map((i) => write(base, withEpoch(10 + i), claim(i))));
      const winners = results.filter((r) => r.ok);
      expect(winners, `round ${round}`).toHaveLength(1);
      const winner = ok(winners[0] as WriteResult);
      expect(winner.version).toBe(base.version + 1);
      for (const r of results.filter((x) => !x.ok)) {
        expect(r).toStrictEqual({ ok: false, reason: 'version', current: winner });
      }
      expect(await read(cluster)).toStrictEqual(winner);
    }
  });

  describe('lease', () => {
    const cluster = 'lease';
    let a1: StoredRecord;

    it('a live lease held by A blocks B even at the right version', async () => {
      a1 = ok(await write(await read(cluster), withEpoch(1), hold('A', T0)));
      const seenByB = await read(cluster);
      expect(seenByB.version).toBe(a1.version);
      const blocked = await write(seenByB, withEpoch(2), hold('B', T0 + 10_000));
      expect(blocked).toStrictEqual({ ok: false, reason: 'lease', current: a1 });
      // Expiry is exclusive: at exactly leaseExpiresAt the lease still holds.
      const atExpiry = await write(seenByB, withEpoch(2), hold('B', T0 + LEASE_MS));
      expect(atExpiry).toMatchObject({ ok: false, reason: 'lease' });
      expect(await read(cluster)).toStrictEqual(a1);
    });

    it("A's own write-back while holding the lease succeeds and renews it", async () => {
      const a2 = ok(await write(a1, { ...stateOf(a1), restartAttempts: 1 }, hold('A', T0 + 20_000)));
      expect(a2).toMatchObject({ version: a1.version + 1, leaseOwner: 'A', leaseExpiresAt: T0 + 20_000 + LEASE_MS, restartAttempts: 1 });
      a1 = a2;
    });

    it('an expired lease is taken over by B; a write-back by A after that is refused', async () => {
      const now = (a1.leaseExpiresAt ?? 0) + 1;
      const seenByB = await read(cluster);
      const b = ok(await write(seenByB, withEpoch(2), hold('B', now)));
      expect(b).toMatchObject({ version: a1.version + 1, leaseOwner: 'B', epoch: 2 });
      // A resumes with the record it last wrote: the version moved on.
      const stale = await write(a1, { ...stateOf(a1), epoch: 99 }, hold('A', now + 1));
      expect(stale).toStrictEqual({ ok: false, reason: 'version', current: b });
      // A re-reads and tries again at the right version: B's live lease refuses it.
      const fresh = await write(await read(cluster), { ...stateOf(b), epoch: 99 }, hold('A', now + 2));
      expect(fresh).toStrictEqual({ ok: false, reason: 'lease', current: b });
      expect(await read(cluster)).toStrictEqual(b);
    });

    it('release removes both lease attributes so A can write at once', async () => {
      const b = await read(cluster);
      const now = b.leaseExpiresAt ?? 0;
      const released = ok(await write(b, stateOf(b), release('B', now - 60_000)));
      expect(released.leaseOwner).toBeUndefined();
      expect(released.leaseExpiresAt).toBeUndefined();
      const raw = await rawItem(cluster);
      expect(raw).toBeDefined();
      expect(Object.keys(raw ?? {})).not.toContain('leaseOwner');
      expect(Object.keys(raw ?? {})).not.toContain('leaseExpiresAt');
      // A write-back from before the release is still refused: no lease left, but the version moved on.
      const stale = await write(b, withEpoch(98), hold('B', now - 59_500));
      expect(stale).toStrictEqual({ ok: false, reason: 'version', current: released });
      // Well before B's old expiry.
      const a = ok(await write(released, withEpoch(3), hold('A', now - 59_000)));
      expect(a).toMatchObject({ version: released.version + 1, leaseOwner: 'A', epoch: 3 });
    });

    it("the owner's write-back still succeeds after its lease expired if nobody took over", async () => {
      const a = await read(cluster);
      const late = ok(await write(a, stateOf(a), hold('A', (a.leaseExpiresAt ?? 0) + 3_600_000)));
      expect(late.version).toBe(a.version + 1);
    });
  });

  describe('malformed items', () => {
    const cluster = 'handmade';
    /** A valid raw item (written through the store under another key), re-keyed for editing by hand. */
    const valid = async (): Promise<Record<string, AttributeValue>> => {
      const source = 'handmade-source';
      if ((await rawItem(source)) === undefined) ok(await write(await read(source), FULL_STATE, hold('w', T0)));
      const base = await rawItem(source);
      if (base === undefined) throw new Error('fixture missing');
      return { ...base, pk: { S: recordKey(cluster) }, version: { N: '5' } };
    };
    const historyOf = (item: Record<string, AttributeValue>): AttributeValue[] => item.history?.L ?? [];

    type Edit = (item: Record<string, AttributeValue>) => void;
    const set =
      (name: string, value: AttributeValue): Edit =>
      (item) => {
        item[name] = value;
      };
    const cases: readonly [string, Edit, RegExp][] = [
      [
        'a history time typed as a string',
        (item) => {
          const h = historyOf(item);
          h[1] = { M: { ...h[1]?.M, at: { S: 'yesterday' } } };
        },
        /history\[1\]\.at: .*expected number.*"yesterday"/,
      ],
      ['a missing version', (item) => void delete item.version, /version: missing \(expected number\)/],
      ['an unknown attribute (typo)', set('leaseOwnr', { S: 'ops' }), /unknown attribute\(s\) "leaseOwnr"/],
      ['half a lease', (item) => void delete item.leaseExpiresAt, /leaseOwner: present without leaseExpiresAt/],
      ['a number set instead of a list', set('failoverTimes', { NS: ['1', '2'] }), /failoverTimes: .*expected array.*DynamoDB set/],
      ['an unsafe integer', set('epoch', { N: '1e30' }), /epoch: /],
      [
        'an unknown history kind',
        (item) => {
          const h = historyOf(item);
          h[0] = { M: { ...h[0]?.M, kind: { S: 'reboot' } } };
        },
        /history\[0\]\.kind: /,
      ],
      [
        'a failure without a count',
        (item) => {
          const f = item.failures?.M?.[A]?.M;
          if (f !== undefined) delete f.count;
        },
        new RegExp(`failures\\.${A}\\.count: missing`),
      ],
      ['a version of 0', set('version', { N: '0' }), /version: /],
    ];

    it.each(cases)('%s → ProtocolError naming the attribute', async (_name, corrupt, message) => {
      const item = await valid();
      corrupt(item);
      await putRaw(item);
      const err = await store.read(cluster).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as Error).message).toContain(`record cluster#${cluster} in table ${dyn.tableName} is malformed`);
      expect((err as Error).message).toMatch(message);
    });

    it('the unmodified fixture reads fine (the cases above fail only because of their edit)', async () => {
      await putRaw(await valid());
      expect(await store.read(cluster)).toMatchObject({ version: 5, epoch: FULL_STATE.epoch });
    });
  });

  describe('write-side bounds', () => {
    it('refuses a history longer than 50 without writing', async () => {
      const base = ok(await write(await read('bounds'), withEpoch(1), release('w', T0)));
      const event: HistoryEvent = { at: T0, kind: 'outcome', epoch: 1, reason: 'x', caller: 'watchdog' };
      const tooLong = { ...withEpoch(1), history: Array.from({ length: 51 }, () => event) };
      await expect(store.write(base, tooLong, release('w', T0))).rejects.toThrow(/refusing to write record cluster#bounds: history: /);
      expect(await read('bounds')).toStrictEqual(base);
    });

    it('caps free-text reasons so history cannot grow the item without bound', async () => {
      const base = await read('bounds');
      const long = 'stderr line '.repeat(1000);
      const state: RecordState = {
        ...withEpoch(1),
        history: [{ at: T0, kind: 'outcome', node: A, epoch: 1, reason: long, caller: 'watchdog' }],
        failures: { [A]: { count: 1, firstFailureAt: T0, lastFailureAt: T0, lastReason: long } },
      };
      const rec = ok(await write(base, state, release('w', T0)));
      const reason = rec.history[0]?.reason ?? '';
      expect(reason.length).toBe(MAX_TEXT_CHARS);
      expect(reason.endsWith('…[truncated]')).toBe(true);
      expect(reason.startsWith('stderr line stderr line')).toBe(true);
      expect(rec.failures[A]?.lastReason?.length).toBe(MAX_TEXT_CHARS);
      expect(await read('bounds')).toStrictEqual(rec);
      // A cut never leaves half a surrogate pair behind.
      const emoji = ok(
        await write(rec, { ...state, history: [{ at: T0, kind: 'outcome', epoch: 1, reason: 'x😀'.repeat(600), caller: 'watchdog' }] }, release('w', T0)),
      );
      const cut = emoji.history[0]?.reason ?? '';
      expect(cut.length).toBeLessThanOrEqual(MAX_TEXT_CHARS);
      expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      expect(cut.endsWith('😀 …[truncated]')).toBe(true);
    });

    it('refuses an item over the size budget, naming the largest attribute', async () => {
      const base = await read('bounds');
      const reason = 'r'.repeat(MAX_TEXT_CHARS);
      const failures = Object.fromEntries(
        Array.from({ length: 400 }, (_, i) => [
          `i-${i.toString(16).padStart(17, '0')}`,
          { count: 1, firstFailureAt: T0, lastFailureAt: T0, lastReason: reason },
        ]),
      );
      await expect(store.write(base, { ...withEpoch(1), failures }, release('w', T0))).rejects.toThrow(/exceeds the \d+-byte budget \(largest: failures/);
      expect(await read('bounds')).toStrictEqual(base);
    });
  });

  it('a PutItem that succeeded but whose answer was lost, retried by the SDK, is our success, not a lost race', async () => {
    // A client whose first PutItem reaches dynalite and commits, then fails as a dropped connection would:
    // the SDK's retry sends it again, and that attempt meets its own condition (version) as failed.
    const flaky = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: dyn.endpoint,
      credentials: { accessKeyId: 'dynalite', secretAccessKey: 'dynalite' },
      maxAttempts: 3,
    });
    let puts = 0;
    flaky.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'PutItemCommand' && ++puts === 1) {
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $metadata: {}, code: 'ECONNRESET' });
        }
        return result;
      },
      { step: 'deserialize', name: 'loseFirstPutAnswer' },
    );
    const retrying = new DynamoRecordStore({ client: flaky, tableName: dyn.tableName });
    const base = ok(await write(await read('retried'), withEpoch(1), release('seed', T0)));
    const w = await retrying.write(base, withEpoch(2), hold('me', T0));
    expect(puts).toBe(2);
    expect(w.ok).toBe(true);
    const now = await read('retried');
    expect(now).toMatchObject({ version: base.version + 1, epoch: 2, leaseOwner: 'me' });
    // Another write from the same old version is still a lost race (its own token is not in the item).
    const other = await retrying.write(base, withEpoch(9), hold('other', T0));
    expect(other).toMatchObject({ ok: false, reason: 'version' });
    flaky.destroy();
  });

  it('propagates other errors with their cause', async () => {
    const broken = new DynamoRecordStore({ client: dyn.client, tableName: 'no-such-table' });
    const readErr = await broken.read('x').catch((e: unknown) => e);
    expect((readErr as Error).message).toMatch(/reading record cluster#x from table no-such-table failed/);
    expect(((readErr as Error).cause as Error).name).toBe('ResourceNotFoundException');
    const writeErr = await broken.write({ clusterName: 'x', version: 3, ...EMPTY_RECORD_STATE }, withEpoch(1), hold('w', T0)).catch((e: unknown) => e);
    expect(writeErr).not.toBeInstanceOf(WatchdogError);
    expect((writeErr as Error).message).toMatch(/writing record cluster#x \(version 3 → 4\) to table no-such-table failed/);
    expect(((writeErr as Error).cause as Error).name).toBe('ResourceNotFoundException');
  });

  it('never saw a version decrease, per cluster, across this suite', () => {
    expect(versionLog.size).toBeGreaterThan(20);
    for (const [cluster, versions] of versionLog) {
      const decreases = versions.filter((v, i) => i > 0 && v < (versions[i - 1] ?? 0));
      expect(decreases, `${cluster}: ${versions.join(' ')}`).toEqual([]);
    }
  });
});
