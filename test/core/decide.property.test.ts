import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClusterConfig, parseClusterConfig } from '../../functions/core/config.js';
import { isBanned } from '../../functions/core/bookkeeping.js';
import { decide } from '../../functions/core/decide.js';
import { planManualFailover } from '../../functions/core/manual.js';
import { RefusedError } from '../../functions/core/errors.js';
import type {
  Action,
  CommandOutcome,
  HistoryEvent,
  NodeFailures,
  NodeRef,
  Observation,
  Plan,
  Reachability,
  RecordState,
  SchedulerRow,
} from '../../functions/core/model.js';
import { HISTORY_LIMIT } from '../../functions/core/model.js';
import { applyOutcome, applySkippedStart, blockingStop, MAX_EPOCH_JUMP, markSent } from '../../functions/core/outcomes.js';

/**
 * Property tests of decide() and the outcome bookkeeping (SPEC §10: "the decide function is covered by
 * scenario files and property tests"). Inputs are deep-frozen, so any mutation of an input also fails.
 */

const POOL: readonly NodeRef[] = [
  { id: 'i-0aaaaaaa', hostname: 'airflow-a.internal' },
  { id: 'i-0bbbbbbb', hostname: 'airflow-b.internal' },
  { id: 'i-0ccccccc', hostname: 'airflow-c.internal' },
  { id: 'i-0ddddddd', hostname: 'airflow-d.internal' },
  { id: 'mi-0123456789abcdef0', hostname: 'airflow-e.corp.example' },
  { id: 'i-0fffffff', hostname: 'airflow-f.internal' },
];
const FOREIGN_HOSTS = ['legacy-1.internal', 'legacy-2.internal'];

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
};

// ---------------------------------------------------------------------------------------------
// Arbitraries

const configArb: fc.Arbitrary<ClusterConfig> = fc
  .record({
    nodes: fc.shuffledSubarray([...POOL], { minLength: 1, maxLength: 5 }),
    multi: fc.boolean(),
    desiredPick: fc.nat(),
    staleAfterSeconds: fc.constantFrom(15, 30, 60),
    startupGraceSeconds: fc.constantFrom(60, 120, 300),
    restartInPlaceAttempts: fc.integer({ min: 0, max: 2 }),
    banAfterFailures: fc.integer({ min: 1, max: 4 }),
    failureResetSeconds: fc.constantFrom(600, 3600),
    maxFailoversPerHour: fc.integer({ min: 0, max: 4 }),
    enforcement: fc.constantFrom('enforce', 'enforce', 'enforce', 'dry-run', 'observe'),
  })
  .map(({ nodes, multi, desiredPick, ...rest }) =>
    parseClusterConfig({
      clusterName: 'prop',
      nodes,
      mode: multi ? 'multi' : 'single',
      desiredSchedulers: multi ? 1 + (desiredPick % nodes.length) : 1,
      ...rest,
    }),
  );

const nowArb = fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 });

/** Seconds, weighted towards the interesting region around the thresholds, including negative ages (clock skew). */
const ageArb = fc.oneof(
  fc.integer({ min: -90, max: 0 }),
  fc.integer({ min: 0, max: 70 }),
  fc.double({ min: -5, max: 65, noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: 70, max: 90_000 }),
);

const reachArb: fc.Arbitrary<Reachability> = fc.constantFrom('Online', 'Online', 'Online', 'ConnectionLost', 'Inactive', 'absent', 'unknown');

interface RowSeed {
  readonly age: number;
  readonly state: string | null;
  readonly freshRows: number;
  readonly jobId: number;
}
const rowSeedArb: fc.Arbitrary<RowSeed> = fc.record({
  age: ageArb,
  state: fc.constantFrom('running', 'running', 'failed', null),
  freshRows: fc.integer({ min: 0, max: 3 }),
  jobId: fc.integer({ min: 1, max: 1_000_000 }),
});

const toRow = (hostname: string, s: RowSeed, now: number): SchedulerRow => ({
  jobId: s.jobId,
  hostname,
  state: s.state,
  ageSeconds: s.age,
  latestHeartbeat: new Date(now - s.age * 1000).toISOString(),
  freshRows: s.freshRows,
});

/** An observation shaped as the engine builds it: rows for configured hosts, fresh rows of any other host as foreign. */
const observationArb = (config: ClusterConfig, now: number): fc.Arbitrary<Observation> =>
  fc
    .record({
      dbDown: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
      seeds: fc.array(fc.option(rowSeedArb, { nil: undefined }), { minLength: POOL.length, maxLength: POOL.length }),
      foreign: fc.array(fc.tuple(fc.constantFrom(...FOREIGN_HOSTS), rowSeedArb), { maxLength: 2 }),
      reach: fc.array(reachArb, { minLength: POOL.length, maxLength: POOL.length }),
      ssmDown: fc.integer({ min: 0, max: 14 }).map((k) => k === 0),
    })
    .map(({ dbDown, seeds, foreign, reach, ssmDown }) => {
      const configuredHosts = new Set(config.nodes.map((n) => n.hostname));
      const rows: Record<string, SchedulerRow> = {};
      const foreignRows: SchedulerRow[] = [];
      POOL.forEach((n, i) => {
        const s = seeds[i];
        if (s === undefined) return;
        const row = toRow(n.hostname, s, now);
        if (configuredHosts.has(n.hostname)) rows[n.hostname] = row;
        else if (s.age <= config.staleAfterSeconds) foreignRows.push(row);
      });
      const seenForeign = new Set<string>();
      for (const [h, s] of foreign) {
        if (seenForeign.has(h) || s.age > config.staleAfterSeconds) continue;
        seenForeign.add(h);
        foreignRows.push(toRow(h, s, now));
      }
      const reachability: Record<string, Reachability> = {};
      POOL.forEach((n, i) => {
        reachability[n.id] = ssmDown ? 'unknown' : (reach[i] ?? 'Online');
      });
      const obs: Observation = {
        db: dbDown ? { status: 'unreachable', reason: 'connect ETIMEDOUT' } : { status: 'ok', rows, foreign: foreignRows },
        reachability,
        ...(ssmDown ? { reachabilityError: 'ThrottlingException' } : {}),
      };
      return obs;
    });

const HISTORY_KINDS = ['start', 'restart', 'failover', 'adopt', 'stop-duplicate', 'outcome', 'ban'] as const;

const recordArb = (config: ClusterConfig, now: number): fc.Arbitrary<RecordState> => {
  const ids = POOL.map((n) => n.id);
  const past = (maxSeconds: number) => fc.integer({ min: 0, max: maxSeconds }).map((s) => now - s * 1000);
  const failureArb: fc.Arbitrary<NodeFailures> = fc
    .record({
      count: fc.integer({ min: 1, max: 5 }),
      last: past(3 * 3600),
      span: fc.integer({ min: 0, max: 3600 }),
      ban: fc.option(fc.integer({ min: -3600, max: 3 * 3600 }), { nil: undefined }),
    })
    .map(({ count, last, span, ban }) => ({
      count,
      firstFailureAt: last - span * 1000,
      lastFailureAt: last,
      ...(ban === undefined ? {} : { bannedUntil: last + ban * 1000 }),
    }));
  return fc
    .record({
      epoch: fc.integer({ min: 0, max: 40 }),
      active: fc.subarray(ids, { maxLength: 3 }),
      pending: fc.array(fc.record({ nodeId: fc.constantFrom(...ids), age: fc.integer({ min: 0, max: 600 }) }), { maxLength: 2 }),
      failures: fc.dictionary(fc.constantFrom(...ids), failureArb, { maxKeys: 4 }),
      paused: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
      history: fc.integer({ min: 0, max: 55 }),
      failoverTimes: fc.array(past(2 * 3600), { maxLength: 5 }),
      restartAttempts: fc.integer({ min: 0, max: 3 }),
      extraKnown: fc.subarray([...POOL], { maxLength: 2 }),
      forgetConfigured: fc.boolean(),
      lastAlarm: fc.option(fc.constantFrom('no-candidate', 'suppressed'), { nil: undefined }),
    })
    .map((r) => {
      const known = new Map<string, NodeRef>();
      if (!r.forgetConfigured) for (const n of config.nodes) known.set(n.id, { id: n.id, hostname: n.hostname });
      for (const n of r.extraKnown) known.set(n.id, n);
      const history: HistoryEvent[] = Array.from({ length: r.history }, (_, i) => ({
        at: now - (r.history - i) * 60_000,
        kind: HISTORY_KINDS[i % HISTORY_KINDS.length] ?? 'start',
        epoch: Math.min(r.epoch, i),
        reason: `event ${i}`,
        caller: 'watchdog',
      }));
      const state: RecordState = {
        epoch: r.epoch,
        active: r.active,
        pending: r.pending.map((p) => ({ nodeId: p.nodeId, epoch: r.epoch, issuedAt: now - p.age * 1000 })),
        failures: r.failures,
        ...(r.paused ? { paused: { reason: 'maintenance', since: now - 600_000, by: 'ops' } } : {}),
        history,
        failoverTimes: r.failoverTimes,
        restartAttempts: r.restartAttempts,
        nodes: [...known.values()],
        ...(r.lastAlarm === undefined ? {} : { lastAlarm: { kind: r.lastAlarm, at: now - 60_000, reason: 'earlier' } }),
      };
      return state;
    });
};

interface Case {
  readonly config: ClusterConfig;
  readonly obs: Observation;
  readonly record: RecordState;
  readonly now: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .tuple(configArb, nowArb)
  .chain(([config, now]) =>
    fc.record({ obs: observationArb(config, now), record: recordArb(config, now) }).map(({ obs, record }) => deepFreeze({ config, obs, record, now })),
  );

/** Cases that reach the enforcing rules (DB up, not paused, enforce), so the interesting properties get their runs. */
const enforcingCaseArb = caseArb.map((c) =>
  deepFreeze({
    ...c,
    config: { ...c.config, enforcement: 'enforce' as const },
    obs: c.obs.db.status === 'ok' ? c.obs : { ...c.obs, db: { status: 'ok' as const, rows: {}, foreign: [] } },
    record: (({ paused: _p, ...rest }) => rest)(c.record),
  }),
);

const outcomeArb: fc.Arbitrary<CommandOutcome> = fc.oneof(
  fc.constant<CommandOutcome>({ status: 'success', commandId: 'c', output: 'ok', durationMs: 10 }),
  fc.integer({ min: 1, max: 255 }).map<CommandOutcome>((exitCode) => ({ status: 'failed', exitCode, stderrTail: 'boom', durationMs: 10 })),
  fc
    .constantFrom('delivery', 'execution')
    .map<CommandOutcome>((phase) => ({ status: 'timeout', phase: phase as 'delivery' | 'execution', detail: 't', durationMs: 10 })),
  fc.constant<CommandOutcome>({ status: 'undeliverable', detail: 'u', durationMs: 10 }),
  fc
    .option(fc.integer({ min: 0, max: 80 }), { nil: null })
    .map<CommandOutcome>((nodeEpoch) => ({ status: 'stale-epoch', nodeEpoch, detail: 's', durationMs: 10 })),
);

// ---------------------------------------------------------------------------------------------
// Helpers over a case

const fresh = (c: Case, row: SchedulerRow | undefined): boolean => row !== undefined && row.ageSeconds <= c.config.staleAfterSeconds;
const configuredHealthy = (c: Case): NodeRef[] =>
  c.obs.db.status === 'ok' ? c.config.nodes.filter((n) => fresh(c, (c.obs.db as { rows: Record<string, SchedulerRow> }).rows[n.hostname])) : [];
const removedNodes = (c: Case): NodeRef[] => {
  const ids = new Set(c.config.nodes.map((n) => n.id));
  const hosts = new Set(c.config.nodes.map((n) => n.hostname));
  return c.record.nodes.filter((n) => !ids.has(n.id) && !hosts.has(n.hostname));
};
const foreignHealthy = (c: Case): SchedulerRow[] => {
  if (c.obs.db.status !== 'ok') return [];
  const known = new Set([...c.config.nodes, ...removedNodes(c)].map((n) => n.hostname));
  return c.obs.db.foreign.filter((r) => !known.has(r.hostname) && fresh(c, r));
};
const removedHealthy = (c: Case): NodeRef[] => {
  if (c.obs.db.status !== 'ok') return [];
  const db = c.obs.db;
  return removedNodes(c).filter((n) => fresh(c, db.rows[n.hostname] ?? db.foreign.find((r) => r.hostname === n.hostname)));
};

const run = (c: Case): Plan => decide(c.obs, c.record, c.config, c.now);
const starts = (p: Plan): Action[] => p.actions.filter((a) => a.kind === 'start');

/** Replays the engine's act loop over the given outcomes (functions/core/engine.ts commitAndAct). */
const execute = (c: Case, plan: Plan, outcomes: readonly CommandOutcome[]): RecordState[] => {
  let state = plan.next ?? c.record;
  const states = [state];
  const stops = new Map<string, CommandOutcome>();
  plan.actions.forEach((action, i) => {
    const blocking = action.kind === 'start' ? blockingStop(action, stops) : undefined;
    if (blocking !== undefined) state = applySkippedStart(state, action, blocking, c.config, c.now + i);
    else {
      const outcome = outcomes[i % Math.max(outcomes.length, 1)] ?? { status: 'success', commandId: 'c', output: '', durationMs: 1 };
      if (action.kind === 'stop') stops.set(action.nodeId, outcome);
      if (action.kind === 'start' && outcome.commandId !== undefined) state = markSent(state, action, c.now + i, c.config);
      state = applyOutcome(state, action, outcome, c.config, c.now + i);
    }
    states.push(state);
  });
  return states;
};

const RUNS = 1000;

describe('decide() properties', () => {
  it('(a) DB unreachable: no action, and no write but the outage memory (once per outage, never observe-only or paused)', () => {
    fc.assert(
      fc.property(
        caseArb.map((c) => deepFreeze({ ...c, obs: { ...c.obs, db: { status: 'unreachable' as const, reason: 'ECONNREFUSED' } } })),
        (c) => {
          const plan = run(c);
          expect(plan.actions).toEqual([]);
          expect(plan.verdict).toBe('unknown');
          const open = c.record.dbOutageSeen !== undefined && c.record.dbOutageSeen.backAt === undefined;
          if (open || c.config.enforcement === 'observe' || c.record.paused !== undefined) {
            expect(plan.next).toBeUndefined();
          } else {
            const { dbOutageSeen, history, ...rest } = plan.next ?? ({} as RecordState);
            const { dbOutageSeen: _before, history: oldHistory, ...restBefore } = c.record;
            expect(dbOutageSeen).toEqual({ downAt: c.now });
            expect(rest).toEqual(restBefore);
            expect(history).toEqual(oldHistory.slice(-HISTORY_LIMIT));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('(b) single mode: at most one start, none while a configured or foreign scheduler is healthy, and a healthy removed one gates it', () => {
    fc.assert(
      fc.property(
        enforcingCaseArb.map((c) => deepFreeze({ ...c, config: { ...c.config, mode: 'single' as const, desiredSchedulers: 1 } })),
        (c) => {
          const plan = run(c);
          const s = starts(plan);
          expect(s.length).toBeLessThanOrEqual(1);
          if (configuredHealthy(c).length > 0 || foreignHealthy(c).length > 0) expect(s).toEqual([]);
          for (const start of s) {
            for (const r of removedHealthy(c)) {
              expect(start.requiresStopped ?? []).toContain(r.id);
              expect(start.proceedIfUnreachable ?? false).toBe(false);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('(c) the epoch never decreases, through decide() and every outcome written back', () => {
    fc.assert(
      fc.property(caseArb, fc.array(outcomeArb, { minLength: 1, maxLength: 6 }), (c, outcomes) => {
        const plan = run(c);
        if (plan.next !== undefined) expect(plan.next.epoch).toBeGreaterThanOrEqual(c.record.epoch);
        const states = execute(c, plan, outcomes);
        for (let i = 1; i < states.length; i++) expect(states[i]?.epoch).toBeGreaterThanOrEqual(states[i - 1]?.epoch ?? 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('(c) a stale-epoch outcome raises the record epoch to the node’s and counts no failure, up to MAX_EPOCH_JUMP ahead', () => {
    fc.assert(
      fc.property(enforcingCaseArb, fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 900, max: 1200 }), fc.constant(999_999_999_999)), (c, nodeEpoch) => {
        const plan = run(c);
        const state = plan.next ?? c.record;
        for (const action of plan.actions) {
          const after = applyOutcome(state, action, { status: 'stale-epoch', nodeEpoch, detail: 'refused', durationMs: 1 }, c.config, c.now);
          if (nodeEpoch <= state.epoch + MAX_EPOCH_JUMP) {
            expect(after.epoch).toBe(Math.max(state.epoch, nodeEpoch));
            expect(after.failures).toEqual(state.failures);
          } else {
            // Beyond the bound: not adopted, alarmed; a refused start is a failure of that node.
            expect(after.epoch).toBe(state.epoch);
            expect(after.lastAlarm?.kind).toBe('epoch-jump');
            if (action.kind === 'start') expect(after.failures[action.nodeId]?.count).toBe((state.failures[action.nodeId]?.count ?? 0) + 1);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('(d) never starts on a banned node or on a node that is not Online', () => {
    fc.assert(
      fc.property(enforcingCaseArb, (c) => {
        const plan = run(c);
        const state = plan.next ?? c.record;
        for (const a of starts(plan)) {
          expect(c.obs.reachability[a.nodeId]).toBe('Online');
          expect(isBanned(state, a.nodeId, c.now)).toBe(false);
          expect(c.config.nodes.some((n) => n.id === a.nodeId)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('(f) stops precede starts; (g) every action has a reason and carries the committed epoch', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const plan = run(c);
        const firstStart = plan.actions.findIndex((a) => a.kind === 'start');
        if (firstStart >= 0) expect(plan.actions.slice(firstStart).every((a) => a.kind === 'start')).toBe(true);
        if (plan.actions.length > 0) expect(plan.next).toBeDefined();
        for (const a of plan.actions) {
          expect(a.reason.trim().length).toBeGreaterThan(0);
          expect(a.epoch).toBe(plan.next?.epoch);
          for (const id of a.requiresStopped ?? []) expect(plan.actions.some((b) => b.kind === 'stop' && b.nodeId === id)).toBe(true);
        }
        expect(plan.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('(h) paused or observe: no action and nothing to write', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), (c0, observe) => {
        const c = deepFreeze(
          observe
            ? { ...c0, config: { ...c0.config, enforcement: 'observe' as const } }
            : { ...c0, record: { ...c0.record, paused: { reason: 'maintenance', since: c0.now - 1000, by: 'ops' } } },
        );
        const plan = run(c);
        expect(plan.actions).toEqual([]);
        expect(plan.next).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('(i) multi mode never stops a healthy scheduler on a configured node', () => {
    fc.assert(
      fc.property(
        enforcingCaseArb.map((c) => deepFreeze({ ...c, config: { ...c.config, mode: 'multi' as const } })),
        (c) => {
          const plan = run(c);
          const healthy = new Set(configuredHealthy(c).map((n) => n.id));
          for (const a of plan.actions) if (a.kind === 'stop') expect(healthy.has(a.nodeId)).toBe(false);
          const started = new Set(starts(plan).map((a) => a.nodeId));
          expect(started.size).toBe(starts(plan).length);
          for (const id of started) expect(healthy.has(id)).toBe(false);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('(j) history never exceeds its limit, through decide() and outcomes', () => {
    fc.assert(
      fc.property(caseArb, fc.array(outcomeArb, { minLength: 1, maxLength: 6 }), (c, outcomes) => {
        const plan = run(c);
        for (const s of execute(c, plan, outcomes)) expect(s.history.length).toBeLessThanOrEqual(Math.max(HISTORY_LIMIT, c.record.history.length));
        if (plan.next !== undefined) expect(plan.next.history.length).toBeLessThanOrEqual(HISTORY_LIMIT);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('(e) an observation already in the desired state gives an empty plan and no write', () => {
  /** Builds the record a previous tick would have written for exactly this healthy set. */
  const settledRecord = (
    config: ClusterConfig,
    active: readonly string[],
    epoch: number,
    history: readonly HistoryEvent[],
    failoverTimes: readonly number[],
  ): RecordState => ({
    epoch,
    active,
    pending: [],
    failures: {},
    history,
    failoverTimes,
    restartAttempts: 0,
    nodes: config.nodes.map(({ id, hostname }) => ({ id, hostname })),
  });

  const steadyArb = fc
    .tuple(configArb, nowArb)
    .chain(([config, now]) =>
      fc.record({
        config: fc.constant({ ...config, enforcement: config.enforcement === 'observe' ? ('enforce' as const) : config.enforcement }),
        now: fc.constant(now),
        pick: fc.nat(),
        extraHealthy: fc.subarray(config.nodes.map((n) => n.id)),
        others: fc.array(fc.option(fc.integer({ min: config.staleAfterSeconds + 1, max: 90_000 }), { nil: undefined }), { minLength: 5, maxLength: 5 }),
        ages: fc.array(fc.integer({ min: -60, max: config.staleAfterSeconds }), { minLength: 5, maxLength: 5 }),
        reach: fc.array(reachArb, { minLength: POOL.length, maxLength: POOL.length }),
        epoch: fc.integer({ min: 0, max: 50 }),
        historyLength: fc.integer({ min: 0, max: HISTORY_LIMIT }),
        failoverTimes: fc.array(
          fc.integer({ min: 0, max: 3599 }).map((s) => now - s * 1000),
          { maxLength: 3 },
        ),
        foreign: fc.option(fc.integer({ min: 0, max: config.staleAfterSeconds }), { nil: undefined }),
      }),
    )
    .map(({ config, now, pick, extraHealthy, others, ages, reach, epoch, historyLength, failoverTimes, foreign }) => {
      const single = config.mode === 'single';
      // single: exactly the record's active node is healthy; multi: the recorded set is exactly the healthy set, at least desired.
      let healthy: string[];
      if (single) healthy = [config.nodes[pick % config.nodes.length]?.id ?? ''];
      else {
        const set = new Set(extraHealthy);
        for (const n of config.nodes) if (set.size < config.desiredSchedulers) set.add(n.id);
        healthy = config.nodes.filter((n) => set.has(n.id)).map((n) => n.id);
      }
      const rows: Record<string, SchedulerRow> = {};
      config.nodes.forEach((n, i) => {
        if (healthy.includes(n.id)) rows[n.hostname] = toRow(n.hostname, { age: ages[i] ?? 5, state: 'running', freshRows: 1, jobId: 100 + i }, now);
        else {
          const age = others[i];
          if (age !== undefined) rows[n.hostname] = toRow(n.hostname, { age, state: 'failed', freshRows: 0, jobId: 200 + i }, now);
        }
      });
      const history: HistoryEvent[] = Array.from({ length: historyLength }, (_, i) => ({
        at: now - (i + 1) * 1000,
        kind: 'outcome',
        epoch,
        reason: 'x',
        caller: 'watchdog',
      }));
      const c: Case = {
        config,
        now,
        obs: {
          db: {
            status: 'ok',
            rows,
            foreign: single && foreign !== undefined ? [toRow('legacy-1.internal', { age: foreign, state: 'running', freshRows: 1, jobId: 9 }, now)] : [],
          },
          reachability: Object.fromEntries(POOL.map((n, i) => [n.id, reach[i] ?? 'Online'])),
        },
        record: settledRecord(config, healthy, epoch, history, failoverTimes),
      };
      return deepFreeze(c);
    });

  it('holds in single and multi mode', () => {
    fc.assert(
      fc.property(steadyArb, (c) => {
        const plan = run(c);
        expect(plan.actions).toEqual([]);
        expect(plan.next).toBeUndefined();
        expect(['healthy', 'degraded']).toContain(plan.verdict);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('manual failover properties', () => {
  it('plans at most one start, never on the node it stops, stops before starts, all at the new epoch', () => {
    fc.assert(
      fc.property(
        enforcingCaseArb.map((c) => deepFreeze({ ...c, config: { ...c.config, mode: 'single' as const, desiredSchedulers: 1 } })),
        fc.option(fc.constantFrom(...POOL.map((n) => n.id), ...POOL.map((n) => n.hostname)), { nil: undefined }),
        fc.boolean(),
        (c, to, force) => {
          let plan: Plan;
          try {
            plan = planManualFailover(c.obs, c.record, c.config, { ...(to === undefined ? {} : { to }), reason: 'test', force, caller: 'ops' }, c.now);
          } catch (err) {
            expect(err).toBeInstanceOf(RefusedError);
            return;
          }
          const s = starts(plan);
          expect(s.length).toBeLessThanOrEqual(1);
          expect(plan.next?.epoch).toBe(c.record.epoch + 1);
          const firstStart = plan.actions.findIndex((a) => a.kind === 'start');
          if (firstStart >= 0) expect(plan.actions.slice(firstStart).every((a) => a.kind === 'start')).toBe(true);
          for (const a of plan.actions) expect(a.epoch).toBe(plan.next?.epoch);
          const target = plan.next?.active[0];
          expect(plan.actions.some((a) => a.kind === 'stop' && a.nodeId === target && a.purpose !== 'clear-stale')).toBe(false);
          // Stopping a healthy scheduler must succeed before the start: never proceed past an unreachable healthy one.
          const healthy = new Set(configuredHealthy(c).map((n) => n.id));
          for (const a of s) if ((a.requiresStopped ?? []).some((id) => healthy.has(id))) expect(a.proceedIfUnreachable ?? false).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('outcome bookkeeping properties', () => {
  it('a start that does not succeed (and did not time out) leaves no pending start for its node', () => {
    fc.assert(
      fc.property(enforcingCaseArb, outcomeArb, (c, outcome) => {
        const plan = run(c);
        const state = plan.next ?? c.record;
        for (const a of starts(plan)) {
          const after = applyOutcome(state, a, outcome, c.config, c.now);
          // A start whose answer never came stays pending: startupGraceSeconds decides.
          if (outcome.status === 'success' || outcome.status === 'timeout') expect(after.pending).toEqual(state.pending);
          else expect(after.pending.some((p) => p.nodeId === a.nodeId)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('ages drawn around the threshold still classify by staleAfterSeconds only', () => {
    // Guard for the arbitraries themselves: both healthy and unhealthy configured nodes occur often enough.
    let healthy = 0;
    let unhealthy = 0;
    fc.assert(
      fc.property(enforcingCaseArb, (c) => {
        const h = configuredHealthy(c).length;
        healthy += h;
        unhealthy += c.config.nodes.length - h;
      }),
      { numRuns: 300 },
    );
    expect(healthy).toBeGreaterThan(100);
    expect(unhealthy).toBeGreaterThan(100);
  });
});
