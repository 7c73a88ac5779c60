import type { ClusterConfig } from './config.js';
import type { ComponentName, ComponentSpec, OtherComponent } from './components.js';
import type { ComponentState, DbObservation, EarlierReading, HistoryEvent, JobRows, Observation, RecordState, SchedulerRow } from './model.js';
import { EMPTY_RECORD_STATE } from './model.js';

/**
 * Every component is decided by the same rules (rules/*.ts) on a *projection* of the world onto it: the
 * configuration with the component's settings and eligible nodes in the scheduler's fields, the
 * observation with its job type's rows, the record with its state. The scheduler's projection is the
 * world itself, which is why a scheduler-only cluster decides exactly as before components existed.
 * Results are merged back with mergeComponentState, history events tagged with their component.
 */

const isScheduler = (name: ComponentName): name is 'scheduler' => name === 'scheduler';

/** The cluster configuration as the rules see it for one component. */
const projectConfig = (config: ClusterConfig, spec: ComponentSpec): ClusterConfig => ({
  ...config,
  nodes: spec.nodes.map((n) => ({ ...n })),
  mode: spec.mode,
  desiredSchedulers: spec.desired,
  staleAfterSeconds: spec.staleAfterSeconds,
  heartbeatSeconds: spec.heartbeatSeconds,
  startupGraceSeconds: spec.startupGraceSeconds,
  restartInPlaceAttempts: spec.restartInPlaceAttempts,
  banAfterFailures: spec.banAfterFailures,
  failureResetSeconds: spec.failureResetSeconds,
  maxFailoversPerHour: spec.maxFailoversPerHour,
  components: undefined,
});

const jobRowsOf = (db: Extract<DbObservation, { status: 'ok' }>, name: ComponentName): JobRows =>
  isScheduler(name) ? { rows: db.rows, foreign: db.foreign } : (db.others?.[name] ?? { rows: {}, foreign: [] });

const earlierRowsOf = (e: EarlierReading, name: ComponentName): Readonly<Record<string, SchedulerRow>> =>
  isScheduler(name) ? e.rows : (e.others?.[name] ?? {});

/**
 * The observation for one component. Rows of configured nodes the component may not run on become
 * foreign rows (fresh ones count as running and are never stopped), as rows of unknown hosts are.
 */
const projectObservation = (obs: Observation, spec: ComponentSpec): Observation => {
  const eligible = new Set(spec.nodes.map((n) => n.hostname));
  const restrict = (rows: Readonly<Record<string, SchedulerRow>>): Record<string, SchedulerRow> =>
    Object.fromEntries(Object.entries(rows).filter(([h]) => eligible.has(h)));
  let db: DbObservation = obs.db;
  if (obs.db.status === 'ok') {
    const own = jobRowsOf(obs.db, spec.name);
    const outside = Object.values(own.rows).filter((r) => !eligible.has(r.hostname) && r.ageSeconds <= spec.staleAfterSeconds);
    db = { status: 'ok', rows: restrict(own.rows), foreign: [...own.foreign, ...outside] };
  }
  const units = isScheduler(spec.name) ? obs.units : obs.otherUnits?.[spec.name];
  const { earlier: _e, units: _u, otherUnits: _o, ...rest } = obs;
  return {
    ...rest,
    db,
    ...(obs.earlier === undefined ? {} : { earlier: { observedAt: obs.earlier.observedAt, rows: restrict(earlierRowsOf(obs.earlier, spec.name)) } }),
    ...(units === undefined ? {} : { units }),
  };
};

const emptyComponentState = (): ComponentState => ({
  epoch: 0,
  active: [],
  pending: [],
  failures: {},
  failoverTimes: [],
  restartAttempts: 0,
  nodes: [],
});

/**
 * The record as the rules see it for one component; `history` starts empty so that whatever the
 * decision appends is exactly the new events (mergeComponentState tags and appends them).
 */
const projectState = (record: RecordState, name: ComponentName, spec?: ComponentSpec): RecordState => {
  if (isScheduler(name)) {
    const { components: _c, ...scheduler } = record;
    return { ...scheduler, history: [] };
  }
  const c = record.components?.[name] ?? { ...emptyComponentState(), nodes: spec?.nodes.map((n) => ({ ...n })) ?? [] };
  return {
    ...EMPTY_RECORD_STATE,
    epoch: c.epoch,
    active: c.active,
    pending: c.pending,
    failures: c.failures,
    failoverTimes: c.failoverTimes,
    restartAttempts: c.restartAttempts,
    nodes: c.nodes,
    ...(c.lastAlarm === undefined ? {} : { lastAlarm: c.lastAlarm }),
    ...(c.paused === undefined ? {} : { paused: c.paused }),
    history: [],
  };
};

const tag = (events: readonly HistoryEvent[], name: ComponentName): HistoryEvent[] =>
  isScheduler(name) ? [...events] : events.map((e) => ({ ...e, component: name as OtherComponent }));

/** Writes a component's projected state back into the record; returns the record and the new events (tagged). */
const mergeComponentState = (
  record: RecordState,
  name: ComponentName,
  projected: RecordState,
): { state: RecordState; events: HistoryEvent[] } => {
  const events = tag(projected.history, name);
  if (isScheduler(name)) {
    const { history: _h, ...scheduler } = projected;
    const merged: RecordState = { ...scheduler, history: record.history, ...(record.components === undefined ? {} : { components: record.components }) };
    return { state: merged, events };
  }
  const c: ComponentState = {
    epoch: projected.epoch,
    active: projected.active,
    pending: projected.pending,
    failures: projected.failures,
    failoverTimes: projected.failoverTimes,
    restartAttempts: projected.restartAttempts,
    nodes: projected.nodes,
    ...(projected.lastAlarm === undefined ? {} : { lastAlarm: projected.lastAlarm }),
    ...(projected.paused === undefined ? {} : { paused: projected.paused }),
  };
  return { state: { ...record, components: { ...record.components, [name]: c } }, events };
};

export { emptyComponentState, isScheduler, jobRowsOf, mergeComponentState, projectConfig, projectObservation, projectState };
