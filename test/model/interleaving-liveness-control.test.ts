import { describe, expect, it, vi } from 'vitest';
import { exploreModel, formatReport } from './protocol-model.js';
import { A, B, BASE, config, NO_FAULTS } from './specs.js';

/**
 * Negative control for the liveness invariants (h, "never restart what lives"): the real engine and the
 * real app, with the liveness judge patched back to the rule before evidence (a heartbeat older than
 * staleAfterSeconds makes a scheduler dead). The patch goes through the module seam (vi.mock of
 * functions/core/liveness.js, for this file only); functions/** is untouched. Everything that imports
 * the judge (the cluster view, the evidence need) sees the patched one, and so does the model's own plan,
 * so only the liveness invariants can object.
 */

vi.mock('../../functions/core/liveness.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/core/liveness.js')>();
  return {
    ...real,
    judgeLiveness: (input: Parameters<typeof real.judgeLiveness>[0]) =>
      input.row !== undefined && input.row.ageSeconds > input.staleAfterSeconds
        ? { kind: 'dead' as const, evidence: 'control: stale is dead' }
        : real.judgeLiveness(input),
  };
});

describe('interleaving model: negative control for the liveness rules', () => {
  it('a judge that calls a stale heartbeat dead restarts a scheduler that kept running through a DB outage: (h) fails', async () => {
    const r = await exploreModel({
      ...BASE,
      name: 'control: stale is dead',
      config: config([A, B]),
      initial: 'steady',
      watchdogs: 1,
      ticksPerWatchdog: 1,
      budgets: { ...NO_FAULTS, time: 2, dbOutage: 1 },
      stopAfter: ['h'],
    });
    console.log(formatReport(r));
    expect(r.violations.map((v) => v.invariant)).toContain('h');
    expect(r.violations.find((v) => v.invariant === 'h')?.message).toContain('up and beating');
  }, 60_000);
});
