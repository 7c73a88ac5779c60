import type { ComponentName, ComponentSpec, OtherComponent } from './components.js';
import { type ClusterConfig, componentsOf } from './config.js';
import { dbBackAtOf, judgeLiveness, livenessWindowSeconds } from './liveness.js';
import type { CommandOutcome, DbObservation, EarlierReading, NodeRef, Observation, RecordState, SchedulerRow, UnitProbe } from './model.js';
import { projectState } from './projection.js';

/**
 * Which liveness evidence a tick still needs before deciding, and the invocation's log of earlier DB
 * readings that supplies part of it (docs/design.md, "Liveness"). Pure apart from the log, which lives
 * for one invocation only.
 */

/** How many earlier readings an invocation keeps: enough for the liveness window at any tick interval. */
const MAX_READINGS = 16;

const rowsIn = (r: EarlierReading, component: ComponentName): Readonly<Record<string, SchedulerRow>> =>
  component === 'scheduler' ? r.rows : (r.others?.[component] ?? {});

/**
 * The DB readings of one invocation, oldest first. A reading with the DB unreachable clears it, and the
 * next reading that answers marks when the DB came back.
 */
class ReadingLog {
  readonly #readings: EarlierReading[] = [];
  #down = false;
  #downAt: number | undefined;
  #backAt: number | undefined;

  /**
   * `slow`: the reading answered, but took longer than a healthy DB ever does (it may have waited out a
   * black hole that every scheduler on that path waited out too). No earlier reading may then serve as
   * evidence: a scheduler gets a whole liveness window from this answer to show it beats.
   */
  add(db: DbObservation, observedAt: number, slow = false): void {
    if (db.status !== 'ok') {
      this.#readings.length = 0;
      if (!this.#down) this.#downAt = observedAt;
      this.#down = true;
      return;
    }
    if (slow) this.#readings.length = 0;
    if (this.#down) {
      this.#down = false;
      this.#backAt = observedAt;
    }
    const others = db.others === undefined ? undefined : Object.fromEntries(Object.entries(db.others).map(([k, v]) => [k, v?.rows ?? {}]));
    this.#readings.push({ observedAt, rows: db.rows, ...(others === undefined ? {} : { others }) });
    if (this.#readings.length > MAX_READINGS) this.#readings.shift();
  }

  /** The newest reading at least `windowMs` before `now`; else the oldest one before `now`. */
  before(now: number, windowMs: number): EarlierReading | undefined {
    const older = this.#readings.filter((r) => r.observedAt < now);
    for (let i = older.length - 1; i >= 0; i--) {
      const r = older[i];
      if (r !== undefined && now - r.observedAt >= windowMs) return r;
    }
    return older[0];
  }

  /** When the log first saw this component's row on this host with exactly this heartbeat, already stale. */
  firstStale(component: ComponentName, hostname: string, row: SchedulerRow, staleAfterSeconds: number): number | undefined {
    for (const r of this.#readings) {
      const x = rowsIn(r, component)[hostname];
      if (x !== undefined && x.jobId === row.jobId && x.latestHeartbeat === row.latestHeartbeat && x.ageSeconds > staleAfterSeconds) return r.observedAt;
    }
    return undefined;
  }

  /** When the DB last answered again after this invocation found it unreachable (Observation.dbBackAt). */
  get dbBackAt(): number | undefined {
    return this.#backAt;
  }

  /** When this invocation first found the DB unreachable, in its latest outage. */
  get dbDownAt(): number | undefined {
    return this.#downAt;
  }

  get size(): number {
    return this.#readings.length;
  }
}

/** The liveness window of the slowest-beating component: an earlier reading that old serves every component. */
const evidenceWindowMs = (config: ClusterConfig): number => Math.max(...componentsOf(config).map((k) => livenessWindowSeconds(k.heartbeatSeconds))) * 1000;

interface EvidenceItem {
  readonly component: ComponentName;
  readonly spec: ComponentSpec;
  readonly node: NodeRef;
}

interface EvidenceNeed {
  /** Intended-active instances whose stale heartbeat nothing explains yet. */
  readonly items: readonly EvidenceItem[];
  /** Of those, the ones SSM can reach: ask their unit's state. */
  readonly probe: readonly EvidenceItem[];
  /** When a second DB reading can show a frozen heartbeat (the liveness window after the first). */
  readonly reobserveAt: number;
}

/**
 * Evidence is gathered only where the decision depends on it: each component's intended-active nodes
 * whose heartbeat is stale and not already judged by the log's earlier readings. A node with a start
 * still inside startupGraceSeconds is judged by the pending-start rule, not by evidence.
 */
const evidenceNeeded = (obs: Observation, record: RecordState, config: ClusterConfig, log: ReadingLog, now: number): EvidenceNeed | undefined => {
  if (obs.db.status !== 'ok') return undefined;
  const db = obs.db;
  const earlier = log.before(now, evidenceWindowMs(config));
  const back = dbBackAtOf(obs, record, now);
  const items: EvidenceItem[] = [];
  let reobserveAt = now;
  for (const spec of componentsOf(config)) {
    const state = projectState(record, spec.name, spec);
    if (state.paused !== undefined) continue;
    const windowMs = livenessWindowSeconds(spec.heartbeatSeconds) * 1000;
    const rows = spec.name === 'scheduler' ? db.rows : (db.others?.[spec.name as OtherComponent]?.rows ?? {});
    const pending = new Set(state.pending.filter((p) => now - p.issuedAt < spec.startupGraceSeconds * 1000).map((p) => p.nodeId));
    for (const n of spec.nodes) {
      if (!state.active.includes(n.id) || pending.has(n.id)) continue;
      const row = rows[n.hostname];
      const verdict = judgeLiveness({
        row,
        ...(earlier === undefined ? {} : { earlier: { row: rowsIn(earlier, spec.name)[n.hostname], observedAt: earlier.observedAt } }),
        staleAfterSeconds: spec.staleAfterSeconds,
        heartbeatSeconds: spec.heartbeatSeconds,
        now,
        ...(back === undefined ? {} : { dbBackAt: back }),
      });
      if (verdict.kind !== 'suspect' || row === undefined) continue;
      items.push({ component: spec.name, spec, node: n });
      // The window starts at the first reading that already showed this heartbeat stale. Within a
      // survivor's time after an outage a second reading could not prove anything: the status answer only.
      const windowEnd = (log.firstStale(spec.name, n.hostname, row, spec.staleAfterSeconds) ?? now) + windowMs;
      if (back !== undefined && back + spec.staleAfterSeconds * 1000 > windowEnd) continue;
      reobserveAt = Math.max(reobserveAt, windowEnd);
    }
  }
  if (items.length === 0) return undefined;
  return { items, probe: items.filter((i) => obs.reachability[i.node.id] === 'Online'), reobserveAt };
};

/**
 * A status command's outcome as liveness evidence: the node script's report (parsed strictly by the
 * fleet adapter), or why the answer cannot be trusted. No answer at all (timeout, undeliverable) is no
 * evidence: undefined.
 */
const unitProbeOf = (outcome: CommandOutcome): UnitProbe | undefined => {
  if (outcome.status !== 'success') return undefined;
  if (outcome.report !== undefined) {
    const r = outcome.report;
    return { ok: true, report: { unitState: r.unitState, running: r.running, permitEpoch: r.permitEpoch, nodeEpoch: r.nodeEpoch } };
  }
  return { ok: false, error: outcome.reportError ?? 'the status answer carried no report' };
};

/** Places a probe's answer in the observation (the scheduler's units, or the component's). */
const withUnit = (obs: Observation, component: ComponentName, nodeId: string, probe: UnitProbe): Observation => {
  if (component === 'scheduler') return { ...obs, units: { ...obs.units, [nodeId]: probe } };
  const mine = obs.otherUnits?.[component] ?? {};
  return { ...obs, otherUnits: { ...obs.otherUnits, [component]: { ...mine, [nodeId]: probe } } };
};

export { evidenceNeeded, evidenceWindowMs, ReadingLog, unitProbeOf, withUnit };
export type { EvidenceItem, EvidenceNeed };
