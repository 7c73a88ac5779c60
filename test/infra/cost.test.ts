import { describe, expect, it } from 'vitest';
import { costTable, documentedTable, dynamoBytes } from '../../scripts/cost.js';

/**
 * The cost table of docs/deploy.md is generated (scripts/cost.ts) from the synthesized templates, the
 * measured log lines and record, and the price table; this regenerates it and fails when the doc is
 * stale, and holds the totals to the goals: ≤ $1.00 a month at 60 s checks, ≤ $1.50 at 10 s (outside a
 * VPC, alarms included, dashboard excluded).
 */

describe('Cost table (docs/deploy.md#monthly-cost)', async () => {
  const { markdown, totals, model } = await costTable();

  it('is what docs/deploy.md shows (run `npm run cost -- --write` after a change)', () => {
    expect(documentedTable()).toBe(markdown);
  });

  it('stays within the goals: ≤ $1.00 at 60 s checks, ≤ $1.50 at 10 s', () => {
    expect(totals.at60).toBeLessThanOrEqual(1.0);
    expect(totals.at10).toBeLessThanOrEqual(1.5);
  });

  it('reads what drives cost from the templates: one tick a minute at 60 s; at 10 s five more through the queue; five one-metric alarms; 128 MiB arm64', () => {
    const [at60, at10] = model.drivers;
    expect({ ...at60 }).toMatchObject({ checkIntervalSeconds: 60, scheduledPerMinute: 1, queuedPerMinute: 0, alarms: 5, alarmMetrics: 5, dashboards: 1, memoryGb: 0.125, arm: true });
    expect({ ...at10 }).toMatchObject({ checkIntervalSeconds: 10, scheduledPerMinute: 1, queuedPerMinute: 5, alarms: 5, alarmMetrics: 5 });
    expect(model.vpc.map((v) => v.interfaceEndpointAzs)).toEqual([2, 4]);
  });

  it('measures a tick that changes nothing as one application log line plus the platform’s three', () => {
    expect(model.logs.events).toBe(4);
    expect(model.logs.bytes).toBeGreaterThan(500);
    expect(model.logs.bytes).toBeLessThan(2000);
  });

  it('measures the record with a full history (50 events)', () => {
    expect(model.record.events).toBe(50);
    expect(model.record.readUnits).toBe(Math.ceil(model.record.bytes / 4096));
  });
});

describe('Function: dynamoBytes (DynamoDB item size rule)', () => {
  it.each([
    ['a string', 'abc', 3],
    ['a multi-byte string', 'ü', 2],
    ['a number by significant digits', 12345, 4],
    ['a boolean', true, 1],
    ['a list: 3 bytes + 1 per element', ['a', 'b'], 3 + 2 + 2],
    ['a map: 3 bytes + name + 1 per entry', { ab: 'c' }, 3 + 1 + 2 + 1],
  ])('sizes %s', (_what, value, bytes) => {
    expect(dynamoBytes(value)).toBe(bytes);
  });
});
