import { describe, expect, it } from 'vitest';
import { loadScenario, renderScenario, scenarioSlugs } from './scenario-loader.js';

/**
 * Pacemaker-style scenario files (test/scenarios/README.md): each input is rendered to a
 * human-readable golden (`<slug>.plan.txt`, reviewed by hand) and checked against its `expect` block.
 */

const slugs = scenarioSlugs();

describe('decision scenarios', () => {
  it('has the scenario set', () => {
    expect(slugs.length).toBeGreaterThanOrEqual(30);
  });

  it.each(slugs)('%s', async (slug) => {
    const s = loadScenario(slug);
    const { text, plan, refused, after } = renderScenario(s);
    const want = s.file.expect;

    if (want.refused !== undefined) {
      expect(refused, 'manual action should be refused').toContain(want.refused);
    } else {
      expect(refused, 'manual action was refused').toBeUndefined();
      if (plan === undefined) throw new Error('no plan');
      if (want.verdict !== undefined) expect(plan.verdict).toBe(want.verdict);
      if (want.actions !== undefined) expect(plan.actions.map((a) => `${a.kind} ${a.nodeId} ${a.purpose}`)).toEqual(want.actions);
      if (want.write !== undefined) expect(plan.next !== undefined, 'writes the record').toBe(want.write);
      if (want.epoch !== undefined) expect(plan.next?.epoch ?? s.record.epoch).toBe(want.epoch);
      if (want.active !== undefined) expect(plan.next?.active ?? s.record.active).toEqual(want.active);
      if (want.alarms !== undefined) expect([...plan.alarms].sort()).toEqual([...want.alarms].sort());
      // Invariants every scenario must keep, whatever its golden says.
      for (const a of plan.actions) expect(a.reason.length).toBeGreaterThan(0);
      const firstStart = plan.actions.findIndex((a) => a.kind === 'start');
      if (firstStart >= 0) expect(plan.actions.slice(firstStart).every((a) => a.kind === 'start')).toBe(true);
      if (plan.next !== undefined) expect(plan.next.epoch).toBeGreaterThanOrEqual(s.record.epoch);
    }

    if (want.after !== undefined) {
      if (after === undefined) throw new Error('expect.after needs outcomes');
      const w = want.after;
      if (w.epoch !== undefined) expect(after.state.epoch).toBe(w.epoch);
      if (w.active !== undefined) expect(after.state.active).toEqual(w.active);
      if (w.pending !== undefined) expect(after.state.pending.map((p) => p.nodeId)).toEqual(w.pending);
      if (w.failures !== undefined) {
        expect(Object.fromEntries(Object.entries(after.state.failures).map(([id, f]) => [id, f.count]))).toEqual(w.failures);
      }
      if (w.skipped !== undefined) expect(after.skipped).toEqual(w.skipped);
    }

    await expect(text).toMatchFileSnapshot(`../scenarios/${slug}.plan.txt`);
  });
});
