import { expect } from 'vitest';
import { type ClusterConfigInput, parseClusterConfig } from '../../functions/core/config.js';
import { type Budgets, type ExploreReport, exploreModel, formatReport, INVARIANTS, type ModelSpec } from './protocol-model.js';

/**
 * Shared pieces of the interleaving suites (interleaving*.test.ts): the nodes, the default configuration
 * (the production defaults: staleAfterSeconds 30, startupGraceSeconds 120, leaseSeconds 90, one tick a
 * minute), and the runner that prints the figures and fails on any violation.
 *
 * With one time step = 60 s: a crashed or frozen scheduler's row is stale after one step; a lease (90 s)
 * and a pending start's grace (120 s) have run out after two; the liveness window (2.25 × heartbeatSeconds
 * = 11.25 s) and the DB watch's recheck (2 s) have passed after one, so a tick that waits for its second
 * reading sleeps through one step (during which anything else may happen).
 *
 * MODEL_MAX_STATES raises the state cap, for measuring a spec whose budgets are being tuned.
 */

const A = { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a.internal' } as const;
const B = { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b.internal' } as const;
const C = { id: 'mi-0ccccccccccccccc3', hostname: 'sched-c.corp.example' } as const;

const config = (nodes: readonly { id: string; hostname: string }[], over: Partial<ClusterConfigInput> = {}) =>
  parseClusterConfig({ clusterName: 'model', nodes: nodes.map((n) => ({ ...n })), ...over });

const NO_FAULTS: Budgets = { time: 0, schedulerFault: 0, partition: 0, dbOutage: 0, lostReply: 0, badStatus: 0, sendFail: 0 };

const BASE = { timeStepSeconds: 60, observe: 'atomic', settleRounds: 6, maxDepth: 80, maxStates: Number(process.env.MODEL_MAX_STATES ?? 250_000) } as const;

const totals = { states: 0, transitions: 0, runs: 0 };

/**
 * Explores `spec` exhaustively, prints its figures, and asserts: no invariant violated, the whole bounded
 * space covered (no cap hit), at least `minStates` states, and each event of `mustReach` reached (so a
 * change that made the model trivial fails instead of passing vacuously).
 */
const explore = async (spec: ModelSpec, opts: { minStates: number; mustReach: readonly string[] }): Promise<ExploreReport> => {
  const r = await exploreModel(spec);
  console.log(formatReport(r));
  totals.states += r.distinctStates;
  totals.transitions += r.transitions;
  totals.runs += 1;
  expect(r.violations.map((v) => `(${v.invariant}) ${v.message}\n    ${v.trace.join('\n    ')}`)).toEqual([]);
  expect(r.stateCapHit, 'state cap hit: the exploration is incomplete').toBe(false);
  expect(r.depthCapHit, 'depth cap hit: the exploration is incomplete').toBe(false);
  expect(r.distinctStates).toBeGreaterThanOrEqual(opts.minStates);
  for (const event of opts.mustReach) expect(r.coverage[event] ?? 0, `never reached: ${event}`).toBeGreaterThan(0);
  return r;
};

const printTotals = (suite: string): void => {
  console.log(
    `${suite}: ${totals.runs} explorations, ${totals.states} distinct states, ${totals.transitions} transitions; invariants checked at every step:\n${Object.entries(
      INVARIANTS,
    )
      .map(([k, v]) => `  (${k}) ${v}`)
      .join('\n')}`,
  );
};

export { A, B, BASE, C, config, explore, NO_FAULTS, printTotals };
