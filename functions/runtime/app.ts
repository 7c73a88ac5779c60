import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { WatchdogSettings } from '../core/config.js';
import { runManual, runTick, type TickReport } from '../core/engine.js';
import { errorMessage, InvalidRequestError, RecordUnavailableError, RefusedError } from '../core/errors.js';
import { ReadingLog } from '../core/evidence.js';
import type { Clock, Fencer, Fleet, MetadataDb, RecordStore } from '../core/ports.js';
import { parseRequest } from '../core/requests.js';
import { reportObservation, reportTick } from './telemetry.js';

/**
 * The invocation logic behind the Lambda handler, with every dependency injected so the local runner
 * and the tests drive exactly what runs in AWS.
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

/** Worst case of one tick: DB observe, then up to three sequential SSM commands (clear/fence stop, stop, start), plus writes. */
const worstCaseTickSeconds = (s: WatchdogSettings): number =>
  s.db.connectTimeoutSeconds + s.db.queryTimeoutSeconds + 3 * s.cluster.commandTimeoutSeconds + 5;

/** Ticks run inside one invocation: one per minute, or looped over the minute when checkIntervalSeconds < 60. */
const LOOP_WINDOW_MS = 60_000;
/** A tick that finds the DB down watches it until this long before the next scheduled invocation. */
const DB_WATCH_MARGIN_MS = 5_000;

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

  const tickLoop = async (ctx: InvocationContext, opts: { dryRun: boolean; loop: boolean }): Promise<{ reports: TickReport[]; errors: string[] }> => {
    const intervalMs = config.checkIntervalSeconds * 1000;
    const budgetMs = worstCaseTickSeconds(settings) * 1000;
    const start = deps.clock.now();
    const reports: TickReport[] = [];
    const errors: string[] = [];
    // This invocation's DB readings: the second observation of the liveness evidence, across looped ticks.
    const readings = new ReadingLog();
    // Only the scheduled invocation watches a DB outage (a manual reconcile answers at once), never past
    // the next scheduled invocation nor so late that a worst-case tick would not fit before the timeout.
    const watchDbUntil = opts.loop
      ? Math.min(start + LOOP_WINDOW_MS - DB_WATCH_MARGIN_MS, start + ctx.getRemainingTimeInMillis() - budgetMs)
      : undefined;
    for (let k = 0; ; k++) {
      const owner = `${ctx.awsRequestId}#${k}`;
      try {
        const report = await runTick({ ...deps, owner }, config, { dryRun: opts.dryRun, readings, ...(watchDbUntil === undefined ? {} : { watchDbUntil }) });
        reportTick(report, config, deps.logger, deps.metrics, { tick: k, owner });
        reports.push(report);
      } catch (err) {
        // One failed tick (e.g. DynamoDB unavailable) must not end the loop; the invocation still fails at the end.
        deps.logger.error('tick failed', { tick: k, owner, error: err as Error });
        // What the tick did read still counts: the DB reading keeps the healthy-schedulers metric true.
        if (err instanceof RecordUnavailableError) reportObservation(err.observation, config, deps.logger, deps.metrics, { tick: k, owner });
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

  const handle = async (event: unknown, ctx: InvocationContext): Promise<Response> => {
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

    if (request.action === 'scheduled' || request.action === 'reconcile') {
      const scheduled = request.action === 'scheduled';
      const dryRun = request.action === 'reconcile' && request.dryRun === true;
      const { reports, errors } = await tickLoop(ctx, { dryRun, loop: scheduled });
      if (scheduled && errors.length > 0) {
        // Surface as a Lambda error so the "watchdog errors" alarm fires.
        throw new Error(`${errors.length} tick(s) failed: ${errors.join('; ')}`);
      }
      if (errors.length > 0) return { ok: false, error: { code: 'Internal', message: errors.join('; ') } };
      return { ok: true, action: 'reconcile', ticks: reports.map(summarise) };
    }

    const caller = request.caller ?? `direct invoke ${ctx.awsRequestId}`;
    try {
      const result = await runManual({ ...deps, owner: `${ctx.awsRequestId}#manual` }, config, request, caller);
      deps.logger.info('manual action', { action: request.action, caller, ...('reason' in request ? { reason: request.reason } : {}) });
      if (result.kind === 'status') return { ok: true, action: 'status', status: result.status };
      if (result.kind === 'history') return { ok: true, action: 'history', history: result.history };
      reportTick(result.report, config, deps.logger, deps.metrics, { manual: request.action, caller });
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

export { createApp, worstCaseTickSeconds };
export type { AppDeps, InvocationContext, Response };
