import { describe, expect, it } from 'vitest';
import { formatSoakReport, planSoak, runSoak, SOAK_FAULT_KINDS } from '../../local/soak.js';

/**
 * The randomized soak (local/soak.ts) on an embedded-PGlite local cluster: 50 faults drawn from a fixed
 * seed, every kind at least once, and SPEC §10's invariants over the whole timeline. A failure prints
 * the run's summary, with the command that reproduces its fault schedule and the path of the saved
 * timeline (.local/soak/, gitignored).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const FAULTS = 50;
const SEED = 7;

describe('randomized soak', () => {
  it('the fault schedule is a pure function of the seed and covers every kind', () => {
    expect(planSoak(FAULTS, SEED)).toEqual(planSoak(FAULTS, SEED));
    expect(planSoak(FAULTS, SEED + 1)).not.toEqual(planSoak(FAULTS, SEED));
    const kinds = new Set(planSoak(FAULTS, SEED).map((s) => s.kind));
    expect([...kinds].sort()).toEqual([...SOAK_FAULT_KINDS].sort());
    expect(planSoak(500, 2026)).toHaveLength(500);
  });

  it(`${FAULTS} random faults (seed ${SEED}): no invariant violated`, async () => {
    const report = await runSoak({ faults: FAULTS, seed: SEED });
    const summary = formatSoakReport(report).join('\n');
    process.stdout.write(`${summary}\n`);
    expect(report.violations, summary).toEqual([]);
    expect(report.injectedTotal, summary).toBeGreaterThanOrEqual(FAULTS);
    for (const kind of SOAK_FAULT_KINDS) expect(report.injected[kind], `${kind}\n${summary}`).toBeGreaterThan(0);
    expect(report.recoveries.measured, summary).toBeGreaterThan(0);
    expect(report.recoveries.measured, summary).toBe(report.recoveries.expected);
    // The must-change-nothing faults were checked, not merely drawn.
    expect(report.invariants.noChangeChecked, summary).toBeGreaterThan(0);
    expect(report.leftoverProcesses, summary).toEqual([]);
  }, 900_000);
});
