import type { ClusterConfig } from './config.js';
import { judgeLiveness, livenessWindowSeconds } from './liveness.js';
import type { CommandOutcome, DbObservation, EarlierReading, NodeRef, Observation, RecordState, SchedulerRow, UnitProbe, UnitReport } from './model.js';

/**
 * Which liveness evidence a tick still needs before deciding, and the invocation's log of earlier DB
 * readings that supplies part of it (docs/design.md, "Liveness"). Pure apart from the log, which lives
 * for one invocation only.
 */

/** How many earlier readings an invocation keeps: enough for the liveness window at any tick interval. */
const MAX_READINGS = 16;

/** The DB readings of one invocation, oldest first. A reading with the DB unreachable clears it. */
class ReadingLog {
  readonly #readings: EarlierReading[] = [];

  add(db: DbObservation, observedAt: number): void {
    if (db.status !== 'ok') {
      this.#readings.length = 0;
      return;
    }
    this.#readings.push({ observedAt, rows: db.rows });
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

  /** When the log first saw this host with exactly this heartbeat (same job, same value) already stale. */
  firstStale(hostname: string, row: SchedulerRow, staleAfterSeconds: number): number | undefined {
    for (const r of this.#readings) {
      const x = r.rows[hostname];
      if (x !== undefined && x.jobId === row.jobId && x.latestHeartbeat === row.latestHeartbeat && x.ageSeconds > staleAfterSeconds) return r.observedAt;
    }
    return undefined;
  }

  get size(): number {
    return this.#readings.length;
  }
}

interface EvidenceNeed {
  /** Intended-active nodes whose stale heartbeat nothing explains yet. */
  readonly nodes: readonly NodeRef[];
  /** Of those, the ones SSM can reach: ask their unit's state. */
  readonly probe: readonly NodeRef[];
  /** When a second DB reading can show a frozen heartbeat (the liveness window after the first). */
  readonly reobserveAt: number;
}

/**
 * Evidence is gathered only where the decision depends on it: the record's intended-active nodes whose
 * heartbeat is stale and not already judged by the log's earlier readings. A node with a start still
 * inside startupGraceSeconds is judged by the pending-start rule, not by evidence.
 */
const evidenceNeeded = (obs: Observation, record: RecordState, config: ClusterConfig, log: ReadingLog, now: number): EvidenceNeed | undefined => {
  if (obs.db.status !== 'ok') return undefined;
  const windowMs = livenessWindowSeconds(config.heartbeatSeconds) * 1000;
  const earlier = log.before(now, windowMs);
  const pending = new Set(record.pending.filter((p) => now - p.issuedAt < config.startupGraceSeconds * 1000).map((p) => p.nodeId));
  const nodes: NodeRef[] = [];
  let reobserveAt = now;
  for (const n of config.nodes) {
    if (!record.active.includes(n.id) || pending.has(n.id)) continue;
    const row = obs.db.rows[n.hostname];
    const verdict = judgeLiveness({
      row,
      ...(earlier === undefined ? {} : { earlier: { row: earlier.rows[n.hostname], observedAt: earlier.observedAt } }),
      staleAfterSeconds: config.staleAfterSeconds,
      heartbeatSeconds: config.heartbeatSeconds,
      now,
    });
    if (verdict.kind !== 'suspect' || row === undefined) continue;
    nodes.push(n);
    // The window starts at the first reading that already showed this heartbeat stale.
    reobserveAt = Math.max(reobserveAt, (log.firstStale(n.hostname, row, config.staleAfterSeconds) ?? now) + windowMs);
  }
  if (nodes.length === 0) return undefined;
  return { nodes, probe: nodes.filter((n) => obs.reachability[n.id] === 'Online'), reobserveAt };
};

const lastJsonLine = (text: string): unknown => {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new Error('no JSON report line in the output');
  try {
    return JSON.parse(last) as unknown;
  } catch {
    throw new Error(`the last report line is not valid JSON (${JSON.stringify(last.slice(0, 80))})`);
  }
};

const epochOrNull = (v: unknown, field: string): number | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new Error(`${field}: expected a non-negative integer or null, got ${JSON.stringify(v)}`);
};

/** The unit report inside a status command's stdout; throws with the field at fault. */
const parseUnitReport = (stdout: string): UnitReport => {
  const r = lastJsonLine(stdout);
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('report: expected a JSON object');
  const o = r as Record<string, unknown>;
  // Older node scripts report the unit's state as the status result word.
  const unitState = o.unitState ?? (o.action === 'status' ? o.result : undefined);
  if (typeof unitState !== 'string' || !/^[a-z-]{1,32}$/.test(unitState)) throw new Error(`unitState: expected a systemd state word, got ${JSON.stringify(unitState)}`);
  if (typeof o.running !== 'boolean') throw new Error(`running: expected true or false, got ${JSON.stringify(o.running)}`);
  return { unitState, running: o.running, permitEpoch: epochOrNull(o.permitEpoch, 'permitEpoch'), nodeEpoch: epochOrNull(o.nodeEpoch, 'nodeEpoch') };
};

/**
 * A status command's outcome as liveness evidence: a trusted report, or why the answer cannot be
 * trusted. No answer at all (timeout, undeliverable) is no evidence: undefined.
 */
const unitProbeOf = (outcome: CommandOutcome): UnitProbe | undefined => {
  if (outcome.status !== 'success') return undefined;
  try {
    return { ok: true, report: parseUnitReport(outcome.output) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
};

export { evidenceNeeded, parseUnitReport, ReadingLog, unitProbeOf };
export type { EvidenceNeed };
