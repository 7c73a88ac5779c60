import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { errorMessage, ProtocolError, WatchdogError } from '../core/errors.js';
import { OTHER_COMPONENTS } from '../core/components.js';
import { type ComponentState, HISTORY_KINDS, type RecordState, type StoredRecord } from '../core/model.js';
import { EMPTY_RECORD_STATE, HISTORY_LIMIT } from '../core/model.js';
import type { LeaseClaim, RecordStore, WriteResult } from '../core/ports.js';

/**
 * The cluster record (SPEC §6) in one DynamoDB item, `pk = cluster#<name>`, written only with
 * conditional PutItem (version + lease). Each RecordState field is a top-level attribute so the item
 * stays readable in the console.
 *
 * Released lease: both `leaseOwner` and `leaseExpiresAt` are removed (not "owner without expiry"), so
 * an item either carries a complete lease or none, and a lone lease attribute is flagged as malformed.
 */


/** Free-text reasons are capped at write time: SSM stderr can be arbitrarily long and history keeps 50 of them. */
const MAX_TEXT_CHARS = 1000;
/** DynamoDB rejects items over 400 KB; refuse well before that with a message that names the culprit. */
const MAX_ITEM_BYTES = 300 * 1024;

const time = z.number().nonnegative().max(Number.MAX_SAFE_INTEGER);
const count = z.number().int().nonnegative();
const text = z.string();

const pendingSchema = z.object({ nodeId: text, epoch: count, issuedAt: time, sentAt: time.optional() }).strict();
const failuresSchema = z
  .object({
    count: z.number().int().min(1),
    firstFailureAt: time,
    lastFailureAt: time,
    bannedUntil: time.optional(),
    lastReason: text.optional(),
  })
  .strict();
const historySchema = z
  .object({ at: time, kind: z.enum(HISTORY_KINDS), component: z.enum(OTHER_COMPONENTS).optional(), node: text.optional(), epoch: count, reason: text, caller: text })
  .strict();
const pausedSchema = z.object({ reason: text, since: time, by: text }).strict();
const alarmSchema = z.object({ kind: text, at: time, reason: text }).strict();
const nodesSchema = z.array(z.object({ id: text, hostname: text }).strict());
/** The dag-processor's and triggerer's state: the same fields the scheduler keeps at the top level. */
const componentStateSchema = z
  .object({
    epoch: count,
    active: z.array(text),
    pending: z.array(pendingSchema),
    failures: z.record(z.string(), failuresSchema),
    failoverTimes: z.array(time),
    restartAttempts: count,
    nodes: nodesSchema,
    lastAlarm: alarmSchema.optional(),
    paused: pausedSchema.optional(),
  })
  .strict();

const itemSchema = z
  .object({
    pk: z.string().startsWith('cluster#'),
    version: z.number().int().min(1),
    leaseOwner: z.string().min(1).optional(),
    leaseExpiresAt: time.optional(),
    /** A token unique to the write that produced this version: recognises our own write after an SDK retry. */
    writeId: z.string().min(1).max(64).optional(),
    epoch: count,
    active: z.array(text),
    pending: z.array(pendingSchema),
    failures: z.record(z.string(), failuresSchema),
    paused: pausedSchema.optional(),
    history: z.array(historySchema).max(HISTORY_LIMIT),
    failoverTimes: z.array(time),
    restartAttempts: count,
    nodes: nodesSchema,
    lastAlarm: alarmSchema.optional(),
    components: z.object({ dagProcessor: componentStateSchema.optional(), triggerer: componentStateSchema.optional() }).strict().optional(),
    dbOutageSeen: z.object({ downAt: time, backAt: time.optional() }).strict().optional(),
    /** Written by versions before liveness from evidence (the post-outage hold); read and dropped. */
    dbOutage: z.object({ since: time, endedAt: time.optional() }).strict().optional(),
  })
  .strict()
  .superRefine((item, ctx) => {
    // The write never produces half a lease; a hand edit that leaves one would be judged inconsistently.
    if ((item.leaseOwner === undefined) !== (item.leaseExpiresAt === undefined)) {
      const present = item.leaseOwner === undefined ? 'leaseExpiresAt' : 'leaseOwner';
      const missing = present === 'leaseOwner' ? 'leaseExpiresAt' : 'leaseOwner';
      ctx.addIssue({
        code: 'custom',
        path: [present],
        input: item[present],
        message: `present without ${missing}: a lease needs both (remove both to release it)`,
      });
    }
  });

type Item = z.output<typeof itemSchema>;

const keyOf = (clusterName: string): string => `cluster#${clusterName}`;

const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

const shown = (value: unknown): string => {
  if (value instanceof Set) return `a DynamoDB set of ${value.size}`;
  if (value instanceof Uint8Array) return 'binary';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** One line per problem, each starting with the attribute path (`history[3].at: …`). */
const describeIssues = (error: z.ZodError): string[] =>
  error.issues.map((issue) => {
    const path = formatPath(issue.path) || '(item)';
    if (issue.code === 'unrecognized_keys') return `${path}: unknown attribute(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${path}: missing (expected ${issue.expected})`;
    const got = 'input' in issue && issue.input !== undefined ? ` (got ${shown(issue.input)})` : '';
    return `${path}: ${issue.message}${got}`;
  });

/** Deep copy without `undefined` values: what DynamoDB will hold, so the returned record equals a later read. */
const dropUndefined = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(dropUndefined);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, dropUndefined(v)]),
    );
  }
  return value;
};

const TRUNCATED = ' …[truncated]';
const cap = (s: string): string => {
  if (s.length <= MAX_TEXT_CHARS) return s;
  let end = MAX_TEXT_CHARS - TRUNCATED.length;
  // Never split a surrogate pair: DynamoDB rejects strings that are not valid UTF-8.
  if (/[\uDC00-\uDFFF]/.test(s.charAt(end))) end -= 1;
  return `${s.slice(0, end)}${TRUNCATED}`;
};

const failuresItem = (failures: RecordState['failures']) =>
  Object.fromEntries(
    Object.entries(failures).map(([id, f]) => [
      id,
      { count: f.count, firstFailureAt: f.firstFailureAt, lastFailureAt: f.lastFailureAt, bannedUntil: f.bannedUntil, lastReason: f.lastReason === undefined ? undefined : cap(f.lastReason) },
    ]),
  );

const componentItem = (c: ComponentState): Record<string, unknown> => ({
  epoch: c.epoch,
  active: [...c.active],
  pending: c.pending.map(({ nodeId, epoch, issuedAt, sentAt }) => ({ nodeId, epoch, issuedAt, sentAt })),
  failures: failuresItem(c.failures),
  failoverTimes: [...c.failoverTimes],
  restartAttempts: c.restartAttempts,
  nodes: c.nodes.map(({ id, hostname }) => ({ id, hostname })),
  lastAlarm: c.lastAlarm === undefined ? undefined : { kind: c.lastAlarm.kind, at: c.lastAlarm.at, reason: cap(c.lastAlarm.reason) },
  paused: c.paused === undefined ? undefined : { reason: cap(c.paused.reason), since: c.paused.since, by: c.paused.by },
});

/**
 * The item to put, built field by field: `next` may be a StoredRecord at run time (decide() spreads the
 * record it read), and spreading it would write the stale version and lease back.
 */
const buildItem = (clusterName: string, version: number, next: RecordState, lease: LeaseClaim, writeId: string): Record<string, unknown> => ({
  pk: keyOf(clusterName),
  version,
  writeId,
  ...(lease.expiresAt === undefined ? {} : { leaseOwner: lease.owner, leaseExpiresAt: lease.expiresAt }),
  epoch: next.epoch,
  active: [...next.active],
  pending: next.pending.map(({ nodeId, epoch, issuedAt, sentAt }) => ({ nodeId, epoch, issuedAt, sentAt })),
  failures: Object.fromEntries(
    Object.entries(next.failures).map(([id, f]) => [
      id,
      {
        count: f.count,
        firstFailureAt: f.firstFailureAt,
        lastFailureAt: f.lastFailureAt,
        bannedUntil: f.bannedUntil,
        lastReason: f.lastReason === undefined ? undefined : cap(f.lastReason),
      },
    ]),
  ),
  paused: next.paused === undefined ? undefined : { reason: cap(next.paused.reason), since: next.paused.since, by: next.paused.by },
  history: next.history.map((e) => ({ at: e.at, kind: e.kind, component: e.component, node: e.node, epoch: e.epoch, reason: cap(e.reason), caller: e.caller })),
  failoverTimes: [...next.failoverTimes],
  restartAttempts: next.restartAttempts,
  nodes: next.nodes.map(({ id, hostname }) => ({ id, hostname })),
  lastAlarm: next.lastAlarm === undefined ? undefined : { kind: next.lastAlarm.kind, at: next.lastAlarm.at, reason: cap(next.lastAlarm.reason) },
  components:
    next.components === undefined
      ? undefined
      : Object.fromEntries(Object.entries(next.components).map(([name, c]) => [name, c === undefined ? undefined : componentItem(c)])),
  dbOutageSeen: next.dbOutageSeen === undefined ? undefined : { downAt: next.dbOutageSeen.downAt, backAt: next.dbOutageSeen.backAt },
});

const toRecord = (clusterName: string, item: Item): StoredRecord => {
  const { pk: _pk, dbOutage: _dropped, writeId: _w, ...rest } = item;
  return { clusterName, ...rest };
};

/** DynamoDB's item size rule, approximately and erring high: names + values, 21 bytes per number. */
const sizeOf = (value: unknown): number => {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return 21;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce<number>((n, v) => n + 1 + sizeOf(v), 0);
  if (typeof value === 'object') {
    return 3 + Object.entries(value as Record<string, unknown>).reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k, 'utf8') + sizeOf(v), 0);
  }
  return 0;
};

const isConditionalCheckFailed = (err: unknown): boolean => err instanceof Error && err.name === 'ConditionalCheckFailedException';

interface DynamoRecordStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

class DynamoRecordStore implements RecordStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(opts: DynamoRecordStoreOptions) {
    this.tableName = opts.tableName;
    this.doc = DynamoDBDocumentClient.from(opts.client, {
      marshallOptions: { removeUndefinedValues: true },
      // Plain numbers even when a hand edit put in an unsafe one: the schema then names it instead of the SDK throwing.
      unmarshallOptions: { wrapNumbers: (s: string) => Number(s) },
    });
  }

  async #readItem(key: string): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: key }, ConsistentRead: true }))).Item;
    } catch {
      return undefined;
    }
  }

  async read(clusterName: string): Promise<StoredRecord> {
    const key = keyOf(clusterName);
    let raw: Record<string, unknown> | undefined;
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: key }, ConsistentRead: true }));
      raw = out.Item;
    } catch (err) {
      throw new Error(`reading record ${key} from table ${this.tableName} failed: ${errorMessage(err)}`, { cause: err });
    }
    if (raw === undefined) return { clusterName, version: 0, ...EMPTY_RECORD_STATE };
    const parsed = itemSchema.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      throw new ProtocolError(`record ${key} in table ${this.tableName} is malformed (edited by hand?): ${describeIssues(parsed.error).join('; ')}`);
    }
    return toRecord(clusterName, parsed.data);
  }

  async write(expected: StoredRecord, next: RecordState, lease: LeaseClaim): Promise<WriteResult> {
    const key = keyOf(expected.clusterName);
    const writeId = randomUUID();
    const item = dropUndefined(buildItem(expected.clusterName, expected.version + 1, next, lease, writeId)) as Record<string, unknown>;
    // Validate what we write with the schema we read with: a record we could not read back is never stored.
    const checked = itemSchema.safeParse(item, { reportInput: true });
    if (!checked.success) {
      throw new WatchdogError(`refusing to write record ${key}: ${describeIssues(checked.error).join('; ')}`);
    }
    const bytes = sizeOf(item);
    if (bytes > MAX_ITEM_BYTES) {
      const largest = Object.entries(item)
        .map(([k, v]) => [k, sizeOf(v)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([k, n]) => `${k} ≈ ${n} B`)
        .join(', ');
      throw new WatchdogError(`refusing to write record ${key}: about ${bytes} bytes exceeds the ${MAX_ITEM_BYTES}-byte budget (largest: ${largest})`);
    }
    const condition: Pick<PutCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> =
      expected.version === 0
        ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } }
        : {
            ConditionExpression: '#version = :v AND (attribute_not_exists(#leaseExpiresAt) OR #leaseOwner = :me OR #leaseExpiresAt < :now)',
            ExpressionAttributeNames: { '#version': 'version', '#leaseOwner': 'leaseOwner', '#leaseExpiresAt': 'leaseExpiresAt' },
            ExpressionAttributeValues: { ':v': expected.version, ':me': lease.owner, ':now': lease.now },
          };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition }));
    } catch (err) {
      if (!isConditionalCheckFailed(err)) {
        throw new Error(
          `writing record ${key} (version ${expected.version} → ${expected.version + 1}) to table ${this.tableName} failed: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
      // DynamoDB Local emulators ignore ReturnValuesOnConditionCheckFailure, so re-read to explain the refusal.
      const raw = await this.#readItem(key);
      // The SDK retried a PutItem whose first attempt had succeeded (its answer was lost): the refusal is
      // our own write. It is a success, not a lost race.
      if (raw?.writeId === writeId && raw.version === expected.version + 1) return { ok: true, record: toRecord(expected.clusterName, checked.data) };
      const current = await this.read(expected.clusterName);
      const heldByOther =
        current.version === expected.version &&
        current.leaseOwner !== undefined &&
        current.leaseOwner !== lease.owner &&
        current.leaseExpiresAt !== undefined &&
        current.leaseExpiresAt >= lease.now;
      return { ok: false, reason: heldByOther ? 'lease' : 'version', current };
    }
    return { ok: true, record: toRecord(expected.clusterName, checked.data) };
  }
}

export type { DynamoRecordStoreOptions };
export { DynamoRecordStore, keyOf as recordKey, MAX_ITEM_BYTES, MAX_TEXT_CHARS };
