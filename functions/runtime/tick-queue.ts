import type { SQSClient } from '@aws-sdk/client-sqs';
import { queuedTickDelaysSeconds } from '../core/limits.js';

/**
 * Checks more often than once a minute without a function that runs all minute (docs/deploy.md#checks-every-10-to-30-s):
 * each scheduled invocation runs its own tick at once and sends the minute's other ticks to an SQS queue
 * as delayed messages, in one SendMessageBatch call; the queue's event source mapping invokes the
 * function for each when its delay ends. No message sends another, so nothing chains: a lost message
 * costs one tick, and the next scheduled invocation sends the next minute's ticks.
 */

/** The body of a queued tick message. */
interface QueuedTick {
  readonly kind: 'watchdog-tick';
  /** When the tick is due (epoch ms): scheduled invocation time + delay. */
  readonly dueAt: number;
  /** Request id of the scheduled invocation that queued it (for the log line). */
  readonly queuedBy: string;
}

/** The tick queue port: the app sends the minute's delayed ticks through it. */
interface TickQueue {
  /** Sends one delayed message per delay; throws when SQS refused any of them. */
  enqueue(ticks: readonly { readonly delaySeconds: number; readonly body: QueuedTick }[]): Promise<void>;
}

/** The messages one scheduled invocation queues at `now`: one per queued tick of the minute. */
const minuteOfTicks = (checkIntervalSeconds: number, now: number, queuedBy: string): { delaySeconds: number; body: QueuedTick }[] =>
  queuedTickDelaysSeconds(checkIntervalSeconds).map((delaySeconds) => ({
    delaySeconds,
    body: { kind: 'watchdog-tick', dueAt: now + delaySeconds * 1000, queuedBy },
  }));

const isQueuedTick = (value: unknown): value is QueuedTick => {
  const v = value as Partial<QueuedTick> | null;
  return v !== null && typeof v === 'object' && v.kind === 'watchdog-tick' && typeof v.dueAt === 'number' && Number.isFinite(v.dueAt);
};

/** Parses a message body; undefined for anything that is not a queued tick. */
const parseQueuedTick = (body: string): QueuedTick | undefined => {
  try {
    const parsed: unknown = JSON.parse(body);
    return isQueuedTick(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
};

/** SQS allows at most 10 entries per SendMessageBatch; a minute holds at most 5 queued ticks (10 s checks). */
const MAX_BATCH_ENTRIES = 10;

/** The SQS implementation. The SQS client is imported on first use, so a 60 s deployment never loads it. */
class SqsTickQueue implements TickQueue {
  readonly #queueUrl: string;
  readonly #region: string | undefined;
  #client: Promise<{ client: SQSClient; send: typeof import('./tick-queue-sqs.js').SendMessageBatchCommand }> | undefined;

  constructor(opts: { queueUrl: string; region?: string; client?: SQSClient }) {
    this.#queueUrl = opts.queueUrl;
    this.#region = opts.region;
    if (opts.client !== undefined) {
      const client = opts.client;
      this.#client = import('./tick-queue-sqs.js').then((m) => ({ client, send: m.SendMessageBatchCommand }));
    }
  }

  /** Imports the SQS client now (at cold start) instead of at the first scheduled invocation. */
  preload(): Promise<unknown> {
    return this.#sdk();
  }

  #sdk() {
    this.#client ??= import('./tick-queue-sqs.js').then((m) => ({
      client: new m.SQSClient({ maxAttempts: 3, ...(this.#region === undefined ? {} : { region: this.#region }) }),
      send: m.SendMessageBatchCommand,
    }));
    return this.#client;
  }

  async enqueue(ticks: readonly { readonly delaySeconds: number; readonly body: QueuedTick }[]): Promise<void> {
    if (ticks.length === 0) return;
    if (ticks.length > MAX_BATCH_ENTRIES) throw new Error(`tick queue: ${ticks.length} ticks do not fit one SendMessageBatch (at most ${MAX_BATCH_ENTRIES})`);
    const { client, send } = await this.#sdk();
    const res = await client.send(
      new send({
        QueueUrl: this.#queueUrl,
        Entries: ticks.map((t, i) => ({ Id: `t${i}`, DelaySeconds: t.delaySeconds, MessageBody: JSON.stringify(t.body) })),
      }),
    );
    const failed = res.Failed ?? [];
    if (failed.length > 0) {
      throw new Error(
        `tick queue: SQS refused ${failed.length} of ${ticks.length} queued ticks (${failed.map((f) => `${f.Id}: ${f.Code ?? '?'} ${f.Message ?? ''}`.trim()).join('; ')})`,
      );
    }
  }
}

export type { QueuedTick, TickQueue };
export { isQueuedTick, MAX_BATCH_ENTRIES, minuteOfTicks, parseQueuedTick, SqsTickQueue };
