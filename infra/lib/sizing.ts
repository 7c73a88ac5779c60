import type { WatchdogSettings } from '../../functions/core/config.js';
import { type TickBudgetTerm, tickBudget, worstCaseTickSeconds } from '../../functions/core/limits.js';

/**
 * Function timeout and memory, derived from the settings (pure, unit-tested).
 *
 * Every invocation runs one tick: the every-minute schedule's, a queued one (checks below 60 s, see
 * docs/deploy.md#checks-every-10-to-30-s), or a manual one. So the timeout is one worst-case tick
 * (`worstCaseTickSeconds` in functions/core/limits.ts, term by term) plus a runtime margin:
 *
 *   timeout = 55 (DB watch) + observe + evidence + 3 × commandTimeoutSeconds + 5 + 10
 *
 * Defaults (5 s + 5 s DB timeouts, 5 s heartbeat, 60 s commands): 273.25 + 10 → 284 s. A normal tick takes well under a
 * second; only a tick that runs node commands comes near the bound, and duration is billed as used.
 */

const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
const RUNTIME_MARGIN_SECONDS = 10;

interface TimeoutBreakdown {
  /** The worst-case tick, term by term. */
  readonly terms: readonly TickBudgetTerm[];
  readonly tickSeconds: number;
  readonly marginSeconds: number;
  readonly timeoutSeconds: number;
}

const functionTimeout = (settings: WatchdogSettings): TimeoutBreakdown => {
  const tick = worstCaseTickSeconds(settings);
  return { terms: tickBudget(settings), tickSeconds: tick, marginSeconds: RUNTIME_MARGIN_SECONDS, timeoutSeconds: Math.ceil(tick + RUNTIME_MARGIN_SECONDS) };
};

/**
 * Memory: 128 MiB, Lambda's smallest. A tick waits on the network (DB, DynamoDB, SSM) far more than it
 * computes, and Lambda bills per MiB-second; the code's resident size after import is about 65 MB
 * (`npm run bench:bundle`), which leaves room for connections. Raise it with `memorySizeMiB` for faster
 * cold starts (CPU grows with memory).
 */
const FUNCTION_MEMORY_MIB = 128;

export type { TimeoutBreakdown };
export { FUNCTION_MEMORY_MIB, functionTimeout, LAMBDA_MAX_TIMEOUT_SECONDS, RUNTIME_MARGIN_SECONDS };
