import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../functions/core/config.js';
import { queuedTickDelaysSeconds, tickBudget, ticksPerMinute, tickWindowSeconds, worstCaseTickSeconds } from '../../functions/core/limits.js';
import { FUNCTION_MEMORY_MIB, functionTimeout } from '../../infra/lib/sizing.js';

const settings = (cluster: Record<string, unknown>, db: Record<string, unknown> = {}) =>
  parseSettings({
    cluster: { clusterName: 'c', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'a' }], ...cluster },
    db: { dialect: 'mysql', host: 'h', database: 'd', user: 'u', passwordParameterName: '/p', ...db },
    aws: { tableName: 'tbl', startDocument: 'start', stopDocument: 'stop', statusDocument: 'status' },
  });

describe('Function: functionTimeout', () => {
  it('is one worst-case tick plus margin: 55 + (5 + 5) + (13.25 + 5 + 5) + 3 × 60 + 5, + 10 = 284 s', () => {
    const t = functionTimeout(settings({}));
    // The evidence term: a status command bounded by the liveness window (2.25 × 5 s) + 2 s, then a second query.
    expect(t.terms.map((x) => [x.name, x.seconds])).toEqual([
      ['db-watch', 55],
      ['observe', 10],
      ['evidence', 23.25],
      ['commands', 180],
      ['writes', 5],
    ]);
    expect({ tick: t.tickSeconds, margin: t.marginSeconds, timeout: t.timeoutSeconds }).toEqual({ tick: 273.25, margin: 10, timeout: 284 });
  });

  it.each([10, 12, 15, 20, 30])('does not grow below 60 s checks (%i s): every invocation runs one tick', (ci) => {
    expect(functionTimeout(settings({ checkIntervalSeconds: ci })).timeoutSeconds).toBe(284);
  });

  it('follows commandTimeoutSeconds and the DB timeouts', () => {
    const t = functionTimeout(settings({ commandTimeoutSeconds: 120, leaseSeconds: 150 }, { connectTimeoutSeconds: 10, queryTimeoutSeconds: 20 }));
    // The evidence term's status command is bounded by its window (13.25 s), not by the longer commands.
    expect(t.timeoutSeconds).toBe(Math.ceil(55 + 30 + (13.25 + 30) + 360 + 5 + 10));
  });

  it('is the sum of the tick budget, whatever its terms', () => {
    const s = settings({ commandTimeoutSeconds: 45, leaseSeconds: 60 });
    expect(worstCaseTickSeconds(s)).toBe(tickBudget(s).reduce((a, t) => a + t.seconds, 0));
  });
});

describe('Functions: tick cadence', () => {
  it.each([
    [60, 1, []],
    [30, 2, [30]],
    [20, 3, [20, 40]],
    [15, 4, [15, 30, 45]],
    [12, 5, [12, 24, 36, 48]],
    [10, 6, [10, 20, 30, 40, 50]],
  ])('checkIntervalSeconds %i: %i ticks a minute, the queued ones after %j s', (ci, perMinute, delays) => {
    expect(ticksPerMinute(ci)).toBe(perMinute);
    expect(queuedTickDelaysSeconds(ci)).toEqual(delays);
    expect(tickWindowSeconds(ci)).toBe(ci);
  });

  it('runs the function at 128 MiB', () => {
    expect(FUNCTION_MEMORY_MIB).toBe(128);
  });
});
