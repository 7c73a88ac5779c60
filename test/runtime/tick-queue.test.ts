import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSettings } from '../../functions/core/config.js';
import { createApp, type QueueRecord } from '../../functions/runtime/app.js';
import { minuteOfTicks, parseQueuedTick, SqsTickQueue, type TickQueue } from '../../functions/runtime/tick-queue.js';
import { captureTelemetry, FakeDb, FakeFleet, ManualClock, MemoryStore, row } from '../helpers/fakes.js';

/**
 * Checks every 10–30 s without a function that runs all minute: the scheduled invocation queues the
 * minute's other ticks as delayed SQS messages (one SendMessageBatch), and each delivered message runs
 * one tick. SQS through aws-sdk-client-mock; the rest through the in-memory fakes.
 */

const sqs = mockClient(SQSClient);
afterEach(() => sqs.reset());

const settingsAt = (checkIntervalSeconds: number) =>
  parseSettings({
    cluster: {
      clusterName: 'prod',
      nodes: [
        { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
        { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
      ],
      checkIntervalSeconds,
    },
    db: { dialect: 'postgres', host: 'db', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/db' },
    aws: { tableName: 'watchdog', startDocument: 'Wd-Start', stopDocument: 'Wd-Stop', statusDocument: 'Wd-Status' },
  });

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ticks';

const setup = (checkIntervalSeconds: number, tickQueue?: TickQueue) => {
  const db = new FakeDb();
  const store = new MemoryStore();
  const fleet = new FakeFleet();
  const clock = new ManualClock();
  const tel = captureTelemetry('prod');
  fleet.reach = { 'i-0aaaaaaaaaaaaaaa1': 'Online', 'i-0bbbbbbbbbbbbbbb2': 'Online' };
  db.setRows([row('sched-a', 6)]);
  const queue = tickQueue ?? new SqsTickQueue({ queueUrl: QUEUE_URL, region: 'eu-west-1', client: new SQSClient({ region: 'eu-west-1' }) });
  const app = createApp(settingsAt(checkIntervalSeconds), { db, store, fleet, clock, logger: tel.logger, metrics: tel.metrics, tickQueue: queue });
  let n = 0;
  const ctx = () => ({ awsRequestId: `req-${++n}`, getRemainingTimeInMillis: () => 205_000 });
  return { db, store, fleet, clock, tel, app, ctx };
};

const scheduled = { source: 'aws.scheduler', 'detail-type': 'Scheduled Event' };
const delivery = (body: unknown, receives = 1): { Records: QueueRecord[] } => ({
  Records: [
    {
      eventSource: 'aws:sqs',
      messageId: 'm-1',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: { ApproximateReceiveCount: String(receives) },
    },
  ],
});

describe('Function: minuteOfTicks', () => {
  it('queues the minute’s other ticks at 10 s checks: 10, 20, 30, 40, 50 s after the scheduled one, each with its due time', () => {
    const now = Date.UTC(2026, 10, 24, 12, 0, 3);
    const ticks = minuteOfTicks(10, now, 'req-1');
    expect(ticks.map((t) => t.delaySeconds)).toEqual([10, 20, 30, 40, 50]);
    expect(ticks.map((t) => t.body.dueAt - now)).toEqual([10_000, 20_000, 30_000, 40_000, 50_000]);
    expect(parseQueuedTick(JSON.stringify(ticks[0]?.body))).toEqual({ kind: 'watchdog-tick', dueAt: now + 10_000, queuedBy: 'req-1' });
  });

  it.each([
    ['not JSON', '{'],
    ['another kind', '{"kind":"other","dueAt":1}'],
    ['no due time', '{"kind":"watchdog-tick"}'],
  ])('reads no queued tick from a body that is %s', (_what, body) => {
    expect(parseQueuedTick(body)).toBeUndefined();
  });
});

describe('Class: SqsTickQueue', () => {
  it('sends the minute in one SendMessageBatch call with per-message delays', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const queue = new SqsTickQueue({ queueUrl: QUEUE_URL, client: new SQSClient({ region: 'eu-west-1' }) });
    await queue.enqueue(minuteOfTicks(15, 1_000, 'req-9'));
    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.QueueUrl).toBe(QUEUE_URL);
    expect(input?.Entries?.map((e) => [e.Id, e.DelaySeconds, JSON.parse(e.MessageBody ?? '{}').dueAt])).toEqual([
      ['t0', 15, 16_000],
      ['t1', 30, 31_000],
      ['t2', 45, 46_000],
    ]);
  });

  it('throws, naming the entries SQS refused', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: 't1', Code: 'InternalError', SenderFault: false, Message: 'try again' }] });
    const queue = new SqsTickQueue({ queueUrl: QUEUE_URL, client: new SQSClient({ region: 'eu-west-1' }) });
    await expect(queue.enqueue(minuteOfTicks(30, 0, 'r'))).rejects.toThrow('tick queue: SQS refused 1 of 1 queued ticks (t1: InternalError try again)');
  });
});

describe('Function: handler app with a tick queue', () => {
  it('at 10 s checks, a scheduled invocation queues five ticks, then runs its own, once (no loop)', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const { app, db, ctx, clock } = setup(10);
    const t0 = clock.now();
    const res = await app.handle(scheduled, ctx());
    expect(res).toMatchObject({ ok: true, action: 'reconcile' });
    expect(db.calls).toBe(1);
    expect(clock.now()).toBe(t0); // no sleeping: the invocation ends after one tick
    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => e.DelaySeconds)).toEqual([10, 20, 30, 40, 50]);
  });

  it('at 60 s checks, queues nothing even with a queue configured', async () => {
    const { app, db, ctx } = setup(60);
    await app.handle(scheduled, ctx());
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(db.calls).toBe(1);
  });

  it('still ticks when the queue refuses, then fails the invocation so the errors alarm fires', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('AccessDenied: not allowed'));
    const { app, db, ctx, tel } = setup(20);
    await expect(app.handle(scheduled, ctx())).rejects.toThrow(/could not queue this minute's ticks: AccessDenied: not allowed/);
    expect(db.calls).toBe(1);
    expect(tel.json().some((l) => l.message === 'tick queue failed' && l.level === 'ERROR')).toBe(true);
  });

  it('runs one tick for a queued message that is due, and queues nothing itself (no chain)', async () => {
    const { app, db, ctx, clock } = setup(10);
    const res = await app.handle(delivery({ kind: 'watchdog-tick', dueAt: clock.now() - 800, queuedBy: 'req-0' }), ctx());
    expect(res).toMatchObject({ ok: true, action: 'reconcile', ticks: [{ verdict: expect.any(String) }] });
    expect(db.calls).toBe(1);
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it.each([
    ['redelivered (an earlier delivery failed)', (now: number) => delivery({ kind: 'watchdog-tick', dueAt: now, queuedBy: 'r' }, 2), 'delivery 2'],
    ['later than the next tick’s due time', (now: number) => delivery({ kind: 'watchdog-tick', dueAt: now - 10_001, queuedBy: 'r' }), '10 s late'],
    ['not a queued tick', () => delivery('hello'), 'not a queued tick'],
  ])('drops a message that is %s, without reading anything', async (_what, event, reason) => {
    const { app, db, store, ctx, clock, tel } = setup(10);
    const res = await app.handle(event(clock.now()), ctx());
    expect(res).toEqual({ ok: true, action: 'reconcile', ticks: [] });
    expect(db.calls + store.reads).toBe(0);
    expect(tel.json().find((l) => l.message === 'queued tick dropped')?.reason).toContain(reason);
  });

  it('fails the invocation of a queued tick that failed, so the errors alarm fires', async () => {
    const { app, store, ctx, clock } = setup(10);
    store.read = async () => {
      throw new Error('DynamoDB unavailable');
    };
    await expect(app.handle(delivery({ kind: 'watchdog-tick', dueAt: clock.now(), queuedBy: 'r' }), ctx())).rejects.toThrow(
      'queued tick failed: record unavailable: DynamoDB unavailable',
    );
  });
});
