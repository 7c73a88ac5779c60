import { afterAll, describe, expect, it } from 'vitest';
import { exploreModel } from './protocol-model.js';
import { A, B, BASE, C, config, explore, NO_FAULTS, printTotals } from './specs.js';

/**
 * Interleaving check of the record protocol (issue "Prove it under faults", part 2): concurrent watchdogs,
 * a manual failover and crashes, explored exhaustively over the real function (createApp's handler, the
 * real runTick with its liveness evidence, runManual). The model, what it abstracts and why the search is
 * exhaustive are described in protocol-model.ts; the invariants are INVARIANTS there (printed after the
 * run). This file covers the coordination itself; faults of the outside world are in
 * interleaving-faults.test.ts, and the negative control of the liveness rules in
 * interleaving-liveness-control.test.ts.
 *
 * A tick now gathers evidence before it decides: a status command to a stale intended-active node, a
 * sleep until the liveness window has passed, a second DB reading. Each is a step of its own, so other
 * watchdogs, the manual actor and the world move while a tick waits; so is the onSent write a start
 * makes once SSM has accepted it.
 *
 * Watchdog crashes: a crashed watchdog is one that is never scheduled again, which the search already
 * contains at every step; what a crash adds is a world where nobody finishes its tick. So every state
 * reached is also checked as "all watchdogs now mid-tick crashed here" (invariant e): leases they hold
 * expire, and sequential ticks must converge from there. That is a crash at every step, of every
 * watchdog (asleep, awaiting a status answer, between SSM's acceptance of a start and its onSent write),
 * without multiplying the state space.
 *
 * Transient duplicates: SPEC §4 and §10 allow two schedulers for one tick plus a stop (a frozen old active
 * that wakes after a failover, a node SSM could not reach for the fencing stop). The model does not
 * forbid two processes in a state; it requires (e) that the protocol converges to one.
 *
 * Run `npx vitest run test/model` to see the figures (states, transitions, depth, checks per invariant).
 */

const TIMEOUT = 180_000;

describe('interleaving model: coordination', () => {
  afterAll(() => printTotals('interleaving model: coordination'));

  it(
    'two watchdogs, two ticks each, a scheduler crash or freeze, three minutes',
    async () => {
      await explore(
        {
          ...BASE,
          name: 'two watchdogs',
          config: config([A, B]),
          initial: 'steady',
          watchdogs: 2,
          ticksPerWatchdog: 2,
          budgets: { ...NO_FAULTS, time: 3, schedulerFault: 1 },
        },
        { minStates: 5_000, mustReach: ['tick lease-lost', 'tick lost-race', 'start stale-epoch', 'stop stale-epoch', 'verdict recovering'] },
      );
    },
    TIMEOUT,
  );

  it(
    'three watchdogs bootstrapping an empty record, two minutes',
    async () => {
      await explore(
        {
          ...BASE,
          name: 'three watchdogs, empty record',
          config: config([A, B]),
          initial: 'empty',
          watchdogs: 3,
          ticksPerWatchdog: 1,
          budgets: { ...NO_FAULTS, time: 2 },
        },
        { minStates: 5_000, mustReach: ['tick acted', 'tick lost-race', 'verdict recovering', 'pending start expired sent', 'pending start expired unsent (dropped)'] },
      );
    },
    TIMEOUT,
  );

  it(
    'a manual failover racing a watchdog, a scheduler crash or freeze, two minutes',
    async () => {
      await explore(
        {
          ...BASE,
          name: 'manual failover vs tick',
          config: config([A, B]),
          initial: 'steady',
          watchdogs: 1,
          ticksPerWatchdog: 1,
          manual: { to: B.id },
          budgets: { ...NO_FAULTS, time: 2, schedulerFault: 1 },
        },
        { minStates: 5_000, mustReach: ['manual done', 'manual refused', 'tick lost-race'] },
      );
    },
    TIMEOUT,
  );

  it(
    'a manual failover to the third node racing two watchdogs, two minutes',
    async () => {
      await explore(
        {
          ...BASE,
          name: 'manual failover vs two ticks',
          config: config([A, B, C]),
          initial: 'steady',
          watchdogs: 2,
          ticksPerWatchdog: 1,
          manual: { to: C.id },
          budgets: { ...NO_FAULTS, time: 2 },
        },
        { minStates: 10_000, mustReach: ['manual done', 'tick lost-race'] },
      );
    },
    TIMEOUT,
  );

  it(
    'observe reads answered one by one, with other watchdogs acting in between',
    async () => {
      await explore(
        {
          ...BASE,
          observe: 'split',
          name: 'split observe',
          config: config([A, B]),
          initial: 'steady',
          watchdogs: 2,
          ticksPerWatchdog: 1,
          budgets: { ...NO_FAULTS, time: 1, schedulerFault: 1 },
        },
        { minStates: 5_000, mustReach: ['tick acted', 'tick lost-race'] },
      );
    },
    TIMEOUT,
  );

  it(
    'no restart in place and one failover an hour: suppression, two minutes, two scheduler faults',
    async () => {
      await explore(
        {
          ...BASE,
          name: 'suppression',
          config: config([A, B, C], { restartInPlaceAttempts: 0, maxFailoversPerHour: 1 }),
          initial: 'steady',
          watchdogs: 2,
          ticksPerWatchdog: 2,
          budgets: { ...NO_FAULTS, time: 2, schedulerFault: 2 },
        },
        { minStates: 10_000, mustReach: ['verdict suppressed', 'tick lost-race'] },
      );
    },
    TIMEOUT,
  );

  describe('negative controls: the checks fail on a broken protocol', () => {
    it('a store without the conditional write lets two plans interleave: epochs go back, one epoch names two actives', async () => {
      const r = await exploreModel({
        ...BASE,
        name: 'control: unconditional store',
        brokenStore: true,
        stopAfter: ['a', 'b'],
        config: config([A, B, C]),
        initial: 'steady',
        watchdogs: 1,
        ticksPerWatchdog: 1,
        manual: { to: C.id },
        budgets: { ...NO_FAULTS, time: 1, schedulerFault: 1 },
      });
      const kinds = new Set(r.violations.map((v) => v.invariant));
      expect(kinds).toContain('a');
      expect(kinds).toContain('b');
    });

    it('a watchdog that acts on its plan without committing it is caught', async () => {
      // From an empty record the plan is an initial start, which needs no liveness evidence.
      const r = await exploreModel({
        ...BASE,
        name: 'control: acting without intent',
        rogueW1: true,
        config: config([A, B]),
        initial: 'empty',
        watchdogs: 2,
        ticksPerWatchdog: 1,
        budgets: { ...NO_FAULTS, time: 1, schedulerFault: 1 },
      });
      expect(r.violations.map((v) => v.invariant)).toContain('c');
      expect(r.violations[0]?.message).toContain('without a committed intent');
    });

    it('nodes whose stop does nothing leave two schedulers running: the convergence check fails', async () => {
      const r = await exploreModel({
        ...BASE,
        name: 'control: stop does nothing',
        brokenStop: true,
        config: config([A, B], { restartInPlaceAttempts: 0 }),
        initial: 'steady',
        watchdogs: 1,
        ticksPerWatchdog: 1,
        budgets: { ...NO_FAULTS, time: 2, schedulerFault: 1 },
      });
      expect(r.violations.map((v) => v.invariant)).toContain('e');
      expect(r.violations.find((v) => v.invariant === 'e')?.message).toContain('2 schedulers still run');
    });

    it('a fleet that reports a start sent before SSM accepted it lets a start that never left be charged: (i) fails', async () => {
      const r = await exploreModel({
        ...BASE,
        name: 'control: onSent before SendCommand',
        earlyOnSent: true,
        config: config([A, B]),
        initial: 'empty',
        watchdogs: 1,
        ticksPerWatchdog: 1,
        budgets: { ...NO_FAULTS, time: 2, sendFail: 1 },
      });
      expect(r.violations.map((v) => v.invariant)).toContain('i');
      expect(r.violations.find((v) => v.invariant === 'i')?.message).toContain('SSM never accepted it');
    });
  });
});
