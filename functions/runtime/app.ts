import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { WatchdogSettings } from '../core/config.js';
import { runManual, runTick, type TickReport } from '../core/engine.js';
import { errorMessage, InvalidRequestError, RecordUnavailableError, RefusedError } from '../core/errors.js';
import { ReadingLog } from '../core/evidence.js';
import { DB_WATCH_SECONDS, tickWindowSeconds, worstCaseTickSeconds } from '../core/limits.js';
import type { Clock, Fencer, Fleet, MetadataDb, RecordStore } from '../core/ports.js';
import { parseRequest } from '../core/requests.js';
import { failedCount, reportObservation, reportTick } from './telemetry.js';
import { minuteOfTicks, parseQueuedTick, type TickQueue } from './tick-queue.js';

/**
 * The invocation logic behind the Lambda handler, with every dependency injected so the local runner
 * and the tests drive exactly what runs in AWS. Three kinds of invocation run ticks: the every-minute
 * schedule (one tick, and below 60 s checks the minute's other ticks queued), a queued tick from the
 * tick queue (one tick), and a manual `reconcile` (one tick).
 */

interface AppDeps {
  readonly db: MetadataDb;
  readonly store: RecordStore;
  readonly fleet: Fleet;
  readonly clock: Clock;
  /** EC2 power fencing, when fenceUnreachable is `ec2-stop`. */
  readonly fencer?: Fencer;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Where a scheduled invocation queues the minute's other ticks when checkIntervalSeconds < 60 (the
   * function's tick queue). Without one, those ticks are looped inside the scheduled invocation: the
   * local runner's way, never a deployment's.
   */
  readonly tickQueue?: TickQueue;
}

/** The part of the Lambda context the app uses. */
interface InvocationContext {
  readonly awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

type ErrorCode = 'InvalidRequest' | 'Refused' | 'ConfigError' | 'Internal';

type Response =
  | ({ readonly ok: true; readonly action: string } & Record<string, unknown>)
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly field?: string } };

/** Without a tick queue, a scheduled invocation loops its ticks over one minute when checkIntervalSeconds < 60. */
const LOOP_WINDOW_MS = 60_000;
/** A scheduled tick that finds the DB down watches it until this long before the next scheduled invocation. */
const DB_WATCH_MARGIN_MS = 5_000;

/** One SQS record as the event source mapping delivers it (the fields the app reads). */
interface QueueRecord {
  readonly eventSource: 'aws:sqs';
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly ApproximateReceiveCount?: string };
}

/** A batch from the tick queue's event source mapping (batch size 1). */
const isQueueEvent = (event: unknown): event is { Records: QueueRecord[] } => {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => (r as Partial<QueueRecord> | null)?.eventSource === 'aws:sqs' && typeof (r as QueueRecord).body === 'string')
  );
};

const summarise = (r: TickReport) => ({
  verdict: r.plan.verdict,
  disposition: r.disposition,
  epoch: r.plan.next?.epoch ?? r.observed.record.epoch,
  actions: r.executed.map((e) => ({
    kind: e.action.kind,
    nodeId: e.action.nodeId,
    purpose: e.action.purpose,
    reason: e.action.reason,
    outcome: e.outcome?.status ?? 'skipped',
  })),
  planned: r.disposition === 'dry-run' ? r.plan.actions : undefined,
  reasons: r.plan.reasons,
  alarms: r.plan.alarms,
  ...(r.note === undefined ? {} : { note: r.note }),
});

const createApp = (settings: WatchdogSettings, deps: AppDeps) => {
  const config = settings.cluster;

  const tickLoop = async (
    ctx: InvocationContext,
    opts: { dryRun: boolean; loop: boolean; watchDb?: boolean },
  ): Promise<{ reports: TickReport[]; errors: string[] }> => {
    const intervalMs = config.checkIntervalSeconds * 1000;
    const budgetMs = worstCaseTickSeconds(settings) * 1000;
    const start = deps.clock.now();
    const reports: TickReport[] = [];
    const errors: string[] = [];
    // This invocation's DB readings: the second observation of the liveness evidence, across looped ticks
    // (the local runner's; in AWS a queued tick is an invocation of its own, so the record keeps the outage).
    const readings = new ReadingLog();
    // Only the scheduled invocation watches a DB outage (queued and manual ticks answer at once), never past
    // the next scheduled invocation nor so late that a worst-case tick would not fit before the timeout.
    const afterWatchMs = budgetMs - DB_WATCH_SECONDS * 1000;
    const watchDbUntil =
      opts.watchDb === true ? Math.min(start + LOOP_WINDOW_MS - DB_WATCH_MARGIN_MS, start + ctx.getRemainingTimeInMillis() - afterWatchMs) : undefined;
    for (let k = 0; ; k++) {
      const owner = `${ctx.awsRequestId}#${k}`;
      try {
        const report = await runTick({ ...deps, owner }, config, {
          dryRun: opts.dryRun,
          readings,
          ...(watchDbUntil === undefined ? {} : { watchDbUntil }),
          // Logged when first seen: the tick's own line only comes once the DB is back or the watch ends.
          onDbWatch: (db, until) =>
            deps.logger.warn('metadata DB unreachable, watching it', {
              tick: k,
              owner,
              reason: db.status === 'unreachable' ? db.reason : undefined,
              watchSeconds: Math.max(0, Math.round((until - deps.clock.now()) / 1000)),
            }),
        });
        reportTick(report, { config, logger: deps.logger, metrics: deps.metrics, extra: { tick: k, owner } });
        reports.push(report);
      } catch (err) {
        // One failed tick (e.g. DynamoDB unavailable) must not end the loop; the invocation still fails at the end.
        deps.logger.error('tick failed', { tick: k, owner, error: err as Error });
        // What the tick did read still counts: the DB reading keeps the healthy-schedulers metric true.
        if (err instanceof RecordUnavailableError) reportObservation(err.observation, { config, logger: deps.logger, metrics: deps.metrics, extra: { tick: k, owner } });
        errors.push(errorMessage(err));
      }
      if (!opts.loop || intervalMs >= LOOP_WINDOW_MS) break;
      const nextAt = start + (k + 1) * intervalMs;
      if (nextAt - start >= LOOP_WINDOW_MS) break;
      const wait = nextAt - deps.clock.now();
      if (ctx.getRemainingTimeInMillis() - Math.max(0, wait) < budgetMs) break;
      if (wait > 0) await deps.clock.sleep(wait);
    }
    return { reports, errors };
  };

  /** Errors that fail a scheduled or queued invocation: failed ticks, and ticks whose node commands failed. */
  const invocationErrors = (reports: readonly TickReport[], errors: readonly string[]): string[] => [
    ...errors,
    ...reports
      .filter((r) => failedCount(r) > 0)
      .map((r) => `${failedCount(r)} node command(s) failed or were skipped (verdict ${r.plan.verdict}; see the tick line)`),
  ];

  /** A tick the scheduled invocation queued; dropped when redelivered or later than the next tick's due time. */
  const handleQueued = async (event: { Records: QueueRecord[] }, ctx: InvocationContext): Promise<Response> => {
    const now = deps.clock.now();
    const windowMs = tickWindowSeconds(config.checkIntervalSeconds) * 1000;
    let due = false;
    for (const record of event.Records) {
      const tick = parseQueuedTick(record.body);
      const receives = Number(record.attributes?.ApproximateReceiveCount ?? '1');
      const drop = (reason: string) => deps.logger.info('queued tick dropped', { messageId: record.messageId, reason });
      if (tick === undefined) drop('not a queued tick');
      else if (receives > 1) drop(`delivery ${receives}: an earlier delivery failed, and ticks are never retried (the next one is already queued)`);
      else if (now - tick.dueAt > windowMs) drop(`${Math.round((now - tick.dueAt) / 1000)} s late, past the next tick's due time`);
      else due = true;
    }
    if (!due) return { ok: true, action: 'reconcile', ticks: [] };
    const { reports, errors } = await tickLoop(ctx, { dryRun: false, loop: false });
    const failures = invocationErrors(reports, errors);
    // Fails the invocation, so the errors alarm fires; the message goes to the dead-letter queue, not back.
    if (failures.length > 0) throw new Error(`queued tick failed: ${failures.join('; ')}`);
    return { ok: true, action: 'reconcile', ticks: reports.map(summarise) };
  };

  /** The every-minute invocation: queue the minute's other ticks (checks below 60 s), then tick. */
  const handleScheduled = async (ctx: InvocationContext): Promise<Response> => {
    const queue = config.checkIntervalSeconds < 60 ? deps.tickQueue : undefined;
    const errors: string[] = [];
    if (queue !== undefined) {
      try {
        await queue.enqueue(minuteOfTicks(config.checkIntervalSeconds, deps.clock.now(), ctx.awsRequestId));
      } catch (err) {
        // This minute degrades to one check; the invocation fails at the end so the errors alarm fires.
        deps.logger.error('tick queue failed', { error: err as Error });
        errors.push(`could not queue this minute's ticks: ${errorMessage(err)}`);
      }
    }
    const looped = await tickLoop(ctx, { dryRun: false, loop: queue === undefined, watchDb: true });
    const failures = invocationErrors(looped.reports, [...errors, ...looped.errors]);
    // Surface as a Lambda error so the "watchdog errors" alarm fires.
    if (failures.length > 0) throw new Error(`scheduled invocation failed: ${failures.join('; ')}`);
    return { ok: true, action: 'reconcile', ticks: looped.reports.map(summarise) };
  };

  const handle = async (event: unknown, ctx: InvocationContext): Promise<Response> => {
    if (isQueueEvent(event)) return handleQueued(event, ctx);
    let request: ReturnType<typeof parseRequest>;
    try {
      request = parseRequest(event);
    } catch (err) {
      if (err instanceof InvalidRequestError) {
        deps.logger.warn('invalid request', { error: err.message, field: err.field });
        return { ok: false, error: { code: 'InvalidRequest', message: err.message, ...(err.field === undefined ? {} : { field: err.field }) } };
      }
      throw err;
    }

    if (request.action === 'scheduled') return handleScheduled(ctx);
    if (request.action === 'reconcile') {
      const { reports, errors } = await tickLoop(ctx, { dryRun: request.dryRun === true, loop: false });
      if (errors.length > 0) return { ok: false, error: { code: 'Internal', message: errors.join('; ') } };
      return { ok: true, action: 'reconcile', ticks: reports.map(summarise) };
    }

    const caller = request.caller ?? `direct invoke ${ctx.awsRequestId}`;
    try {
      const result = await runManual({ ...deps, owner: `${ctx.awsRequestId}#manual` }, config, request, caller);
      deps.logger.info('manual action', { action: request.action, caller, ...('reason' in request ? { reason: request.reason } : {}) });
      if (result.kind === 'status') return { ok: true, action: 'status', status: result.status };
      if (result.kind === 'history') return { ok: true, action: 'history', history: result.history };
      reportTick(result.report, { config, logger: deps.logger, metrics: deps.metrics, extra: { manual: request.action, caller } });
      return { ok: true, action: request.action, result: summarise(result.report), status: result.status };
    } catch (err) {
      if (err instanceof RefusedError) {
        deps.logger.warn('manual action refused', { action: request.action, caller, error: err.message });
        return { ok: false, error: { code: 'Refused', message: err.message } };
      }
      deps.logger.error('manual action failed', { action: request.action, caller, error: err as Error });
      return { ok: false, error: { code: 'Internal', message: errorMessage(err) } };
    }
  };

  return { handle };
};

/** Kept here for the local runner, which sizes its Lambda context with it. */
export { worstCaseTickSeconds } from '../core/limits.js';
export { createApp, isQueueEvent };
export type { AppDeps, InvocationContext, QueueRecord, Response };
