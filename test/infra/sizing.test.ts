import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../functions/core/config.js';
import { functionMemoryMiB, functionTimeout, loopSeconds } from '../../infra/lib/sizing.js';

const settings = (cluster: Record<string, unknown>, db: Record<string, unknown> = {}) =>
  parseSettings({
    cluster: { clusterName: 'c', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'a' }], ...cluster },
    db: { dialect: 'mysql', host: 'h', database: 'd', user: 'u', passwordParameterName: '/p', ...db },
    aws: { tableName: 'tbl', startDocument: 'start', stopDocument: 'stop', statusDocument: 'status' },
  });

describe('Function: functionTimeout', () => {
  it('is one worst-case tick plus margin at 60 s checks: 5 + 5 + 3 × 60 + 5 + 10 = 205 s', () => {
    expect(functionTimeout(settings({}))).toEqual({ loopSeconds: 0, tickSeconds: 195, marginSeconds: 10, timeoutSeconds: 205 });
  });

  it.each([
    [10, 50, 255],
    [12, 48, 253],
    [15, 45, 250],
    [20, 40, 245],
    [30, 30, 235],
  ])('adds the loop window when checkIntervalSeconds is %i (%i s) → %i s', (ci, loop, timeout) => {
    const t = functionTimeout(settings({ checkIntervalSeconds: ci, startupGraceSeconds: 120 }));
    expect(t.loopSeconds).toBe(loop);
    expect(t.timeoutSeconds).toBe(timeout);
  });

  it('follows commandTimeoutSeconds and the DB timeouts', () => {
    const t = functionTimeout(settings({ commandTimeoutSeconds: 120, leaseSeconds: 150 }, { connectTimeoutSeconds: 10, queryTimeoutSeconds: 20 }));
    expect(t.timeoutSeconds).toBe(10 + 20 + 360 + 5 + 10);
  });
});

describe('Function: functionMemoryMiB and loopSeconds', () => {
  it.each([
    [60, 256, 0],
    [30, 192, 30],
    [10, 192, 50],
  ])('checkIntervalSeconds %i → %i MiB, %i s of looping', (ci, mem, loop) => {
    expect(functionMemoryMiB(ci)).toBe(mem);
    expect(loopSeconds(ci)).toBe(loop);
  });
});
