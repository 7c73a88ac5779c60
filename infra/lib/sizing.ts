import type { WatchdogSettings } from '../../functions/core/config.js';
import { worstCaseTickSeconds } from '../../functions/runtime/app.js';

/**
 * Function timeout and memory, derived from the cluster settings (pure, unit-tested).
 *
 * A tick is: the DB observation (connect + query timeouts), then at most three sequential SSM commands
 * (fence stop, clear-stale stop, start), each bounded by `commandTimeoutSeconds`, plus DynamoDB writes
 * (5 s). That is `worstCaseTickSeconds` of the function itself, so the function's loop and the timeout
 * use one formula. With `checkIntervalSeconds` < 60 a scheduled invocation loops ticks over one minute;
 * its last tick starts at most `60 − checkIntervalSeconds` after the first.
 *
 *   timeout = (checkIntervalSeconds < 60 ? 60 − checkIntervalSeconds : 0)
 *           + connectTimeoutSeconds + queryTimeoutSeconds + 3 × commandTimeoutSeconds + 5
 *           + 10 (runtime margin)
 *
 * Defaults (60 s checks, 5 s + 5 s DB timeouts, 60 s commands): 0 + 195 + 10 = 205 s. A normal tick takes
 * well under a second; only an invocation that runs commands comes near the bound, and duration is billed
 * as used, so a generous timeout costs nothing.
 */

const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
const RUNTIME_MARGIN_SECONDS = 10;
const LOOP_WINDOW_SECONDS = 60;

/** Seconds between the first and the last tick of one scheduled invocation. */
const loopSeconds = (checkIntervalSeconds: number): number => (checkIntervalSeconds < LOOP_WINDOW_SECONDS ? LOOP_WINDOW_SECONDS - checkIntervalSeconds : 0);

interface TimeoutBreakdown {
  readonly loopSeconds: number;
  readonly tickSeconds: number;
  readonly marginSeconds: number;
  readonly timeoutSeconds: number;
}

const functionTimeout = (settings: WatchdogSettings): TimeoutBreakdown => {
  const loop = loopSeconds(settings.cluster.checkIntervalSeconds);
  const tick = worstCaseTickSeconds(settings);
  return { loopSeconds: loop, tickSeconds: tick, marginSeconds: RUNTIME_MARGIN_SECONDS, timeoutSeconds: Math.ceil(loop + tick + RUNTIME_MARGIN_SECONDS) };
};

/**
 * Memory: 256 MiB when each invocation runs one tick (checkIntervalSeconds = 60): more memory buys CPU
 * for a faster cold start and TLS handshake, and the invocation is short. 192 MiB when ticks are looped:
 * the function mostly sleeps between ticks and idle time is billed per MiB-second, while the bundle's
 * resident size after import (≈ 85 MB with source maps, `npm run bench:bundle`) leaves 128 MiB too
 * little headroom for DB and SDK connections.
 */
const ONE_TICK_MEMORY_MIB = 256;
const LOOPED_MEMORY_MIB = 192;
const functionMemoryMiB = (checkIntervalSeconds: number): number => (checkIntervalSeconds < LOOP_WINDOW_SECONDS ? LOOPED_MEMORY_MIB : ONE_TICK_MEMORY_MIB);

export type { TimeoutBreakdown };
export { functionMemoryMiB, functionTimeout, LAMBDA_MAX_TIMEOUT_SECONDS, LOOPED_MEMORY_MIB, loopSeconds, ONE_TICK_MEMORY_MIB, RUNTIME_MARGIN_SECONDS };
