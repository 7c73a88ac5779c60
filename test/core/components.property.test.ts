import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OtherComponent } from '../../functions/core/components.js';
import { componentsOf, parseClusterConfig } from '../../functions/core/config.js';
import { decide } from '../../functions/core/decide.js';
import type { ComponentState, JobRows, Observation, RecordState, SchedulerRow, UnitProbe } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import { projectState } from '../../functions/core/projection.js';

/**
 * Property tests of decide() over the Airflow 3 control plane: random component sets, rows per job type,
 * per-component record state and liveness evidence. For every input: no plan stops the last healthy
 * instance of a component in single mode, no plan touches a component that is not configured, no
 * component's epoch goes back, and nothing is done while the DB is unreachable.
 */

const NODES = [
  { id: 'i-0aaaaaaa', hostname: 'a.internal' },
  { id: 'i-0bbbbbbb', hostname: 'b.internal' },
  { id: 'i-0ccccccc', hostname: 'c.internal' },
];
const NOW = 1_800_000_000_000;
const ages = fc.oneof(fc.integer({ min: 0, max: 29 }), fc.integer({ min: 31, max: 200 }));
const rowArb = (hostname: string) =>
  fc.record({ jobId: fc.integer({ min: 1, max: 1e6 }), age: ages }).map(
    ({ jobId, age }): SchedulerRow => ({ jobId, hostname, state: 'running', ageSeconds: age, latestHeartbeat: new Date(NOW - age * 1000).toISOString(), freshRows: age <= 30 ? 1 : 0 }),
  );
const jobRowsArb: fc.Arbitrary<JobRows> = fc
  .tuple(...NODES.map((n) => fc.option(rowArb(n.hostname), { nil: undefined })))
  .map((rows) => ({ rows: Object.fromEntries(rows.flatMap((r) => (r === undefined ? [] : [[r.hostname, r]]))), foreign: [] }));
const stateArb: fc.Arbitrary<ComponentState> = fc.record({
  epoch: fc.integer({ min: 0, max: 20 }),
  active: fc.subarray(NODES.map((n) => n.id), { maxLength: 2 }),
  pending: fc.constant([]),
  failures: fc.constant({}),
  failoverTimes: fc.constant([]),
  restartAttempts: fc.integer({ min: 0, max: 2 }),
  nodes: fc.constant(NODES.map((n) => ({ ...n }))),
});
const unitArb: fc.Arbitrary<UnitProbe> = fc.oneof(
  fc.constantFrom('active', 'failed', 'inactive', 'activating').map((unitState) => ({ ok: true as const, report: { unitState, running: unitState === 'active', permitEpoch: 1, nodeEpoch: 1 } })),
  fc.constant({ ok: false as const, error: 'malformed' }),
);
const unitsArb = fc.dictionary(fc.constantFrom(...NODES.map((n) => n.id)), unitArb, { maxKeys: 3 });

const caseArb = fc
  .record({
    others: fc.subarray<OtherComponent>(['dagProcessor', 'triggerer']),
    multi: fc.boolean(),
    sched: jobRowsArb,
    dp: jobRowsArb,
    tr: jobRowsArb,
    record: fc.record({ epoch: fc.integer({ min: 0, max: 20 }), active: fc.subarray(NODES.map((n) => n.id), { maxLength: 1 }) }),
    dpState: stateArb,
    trState: stateArb,
    units: unitsArb,
    otherUnits: fc.record({ dagProcessor: unitsArb, triggerer: unitsArb }),
    dbDown: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
    online: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  })
  .map((c) => {
    const components = Object.fromEntries(c.others.map((k) => [k, k === 'triggerer' && c.multi ? { mode: 'multi', desired: 2 } : {}]));
    const config = parseClusterConfig({ clusterName: 'prop', nodes: NODES, ...(c.others.length === 0 ? {} : { components }) });
    const observation: Observation = {
      db: c.dbDown ? { status: 'unreachable', reason: 'refused' } : { status: 'ok', ...c.sched, others: { dagProcessor: c.dp, triggerer: c.tr } },
      reachability: Object.fromEntries(NODES.map((n, i) => [n.id, c.online[i] ? 'Online' : 'ConnectionLost'])),
      units: c.units,
      otherUnits: c.otherUnits,
    };
    const record: RecordState = {
      ...EMPTY_RECORD_STATE,
      ...c.record,
      nodes: NODES.map((n) => ({ ...n })),
      components: { dagProcessor: c.dpState, triggerer: c.trState },
    };
    return { config, observation, record };
  });

const jobRows = (o: Observation, name: string): JobRows | undefined =>
  o.db.status !== 'ok' ? undefined : name === 'scheduler' ? o.db : o.db.others?.[name as OtherComponent];

describe('decide() properties over components', () => {
  it('never stops the last healthy instance of a component in single mode', () => {
    fc.assert(
      fc.property(caseArb, ({ config, observation, record }) => {
        const plan = decide(observation, record, config, NOW);
        for (const spec of componentsOf(config)) {
          if (spec.mode !== 'single') continue;
          const rows = jobRows(observation, spec.name)?.rows ?? {};
          const healthy = spec.nodes.filter((n) => (rows[n.hostname]?.ageSeconds ?? Number.POSITIVE_INFINITY) <= spec.staleAfterSeconds).map((n) => n.id);
          if (healthy.length === 0) continue;
          const stopped = new Set(plan.actions.filter((a) => a.kind === 'stop' && (a.component ?? 'scheduler') === spec.name).map((a) => a.nodeId));
          expect(healthy.some((id) => !stopped.has(id)), `${spec.name}: healthy ${healthy.join(',')}, stopped ${[...stopped].join(',')}`).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('touches no component that is not configured, and no component epoch goes back', () => {
    fc.assert(
      fc.property(caseArb, ({ config, observation, record }) => {
        const plan = decide(observation, record, config, NOW);
        const configured = new Set(componentsOf(config).map((k) => k.name));
        for (const a of plan.actions) expect(configured.has(a.component ?? 'scheduler')).toBe(true);
        for (const e of plan.next?.history.slice(record.history.length) ?? []) expect(configured.has(e.component ?? 'scheduler')).toBe(true);
        if (plan.next !== undefined) {
          for (const name of ['dagProcessor', 'triggerer'] as const) {
            if (!configured.has(name)) expect(plan.next.components?.[name]).toEqual(record.components?.[name]);
          }
          for (const spec of componentsOf(config)) {
            expect(projectState(plan.next, spec.name, spec).epoch).toBeGreaterThanOrEqual(projectState(record, spec.name, spec).epoch);
          }
        }
        if (observation.db.status === 'unreachable') expect(plan.actions).toEqual([]);
      }),
      { numRuns: 1500 },
    );
  });

  it('acts on no node whose status answer for that component was unusable', () => {
    fc.assert(
      fc.property(caseArb, ({ config, observation, record }) => {
        const plan = decide(observation, record, config, NOW);
        for (const a of plan.actions) {
          if (a.purpose === 'clear-stale' || a.purpose === 'stop-duplicate' || a.purpose === 'cancel-pending' || a.purpose === 'stop-removed') continue;
          const name = a.component ?? 'scheduler';
          const units = name === 'scheduler' ? observation.units : observation.otherUnits?.[name];
          // A restart or fence of an intended-active node rests on evidence; an unusable answer is none.
          const intended = projectState(record, name, componentsOf(config).find((k) => k.name === name)).active.includes(a.nodeId);
          if (intended && (a.purpose === 'restart-stop' || a.purpose === 'restart-start' || a.purpose === 'fence')) {
            expect(units?.[a.nodeId]?.ok, `${name} ${a.purpose} on ${a.nodeId}`).not.toBe(false);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});
