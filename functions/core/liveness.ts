import type { SchedulerRow, UnitProbe } from './model.js';

/**
 * Dead means evidence, not absence (docs/design.md, "Liveness"). A heartbeat older than
 * staleAfterSeconds makes a scheduler *unhealthy*; only evidence makes it *dead*:
 *
 * (a) its node reports the unit `failed` or `inactive` (status command, asked only of nodes whose
 *     heartbeat is stale), or
 * (b) two readings with the DB reachable, at least the liveness window apart by both the watchdog's
 *     and the DB's clock (two heartbeats plus a quarter), both show the same `latest_heartbeat`, older
 *     than staleAfterSeconds; and, after an outage a tick saw, the second at least staleAfterSeconds
 *     after the DB's return (a
 *     scheduler that survived a black-holed DB resumes when its blocked socket does, which can take
 *     longer than the window).
 *
 * A heartbeat that advanced but is still old belongs to a live scheduler: one catching up after a
 * freeze or an outage, or one whose clock runs behind the DB's (the age stays about the same: clock
 * skew). Without evidence either way the scheduler is only *suspect*, and nothing is done to it.
 */

type Liveness =
  | { readonly kind: 'fresh' }
  /** No live row: a clean exit wrote `success`, or nothing ran within the lookback window. */
  | { readonly kind: 'absent' }
  | { readonly kind: 'dead'; readonly evidence: string }
  | { readonly kind: 'alive'; readonly evidence: string; readonly skewed: boolean }
  | { readonly kind: 'suspect'; readonly why: string; readonly badReport?: string };

/** Two heartbeats plus a quarter: a live scheduler writes at least once per beat, twice with Airflow 2.5–2.7's lag. */
const livenessWindowSeconds = (heartbeatSeconds: number): number => 2.25 * heartbeatSeconds;

const DEAD_UNIT_STATES = new Set(['failed', 'inactive']);

interface LivenessInput {
  readonly row: SchedulerRow | undefined;
  /** The same host's row in an earlier reading, and when that reading was taken. */
  readonly earlier?: { readonly row: SchedulerRow | undefined; readonly observedAt: number };
  readonly unit?: UnitProbe;
  readonly staleAfterSeconds: number;
  readonly heartbeatSeconds: number;
  /** When `row` was read. */
  readonly now: number;
  /** When the DB answered again after an outage a tick saw, this invocation's or the record's (dbBackAtOf). */
  readonly dbBackAt?: number;
}

const judgeLiveness = (input: LivenessInput): Liveness => {
  const { row, earlier, unit, staleAfterSeconds, heartbeatSeconds, now, dbBackAt } = input;
  if (row !== undefined && row.ageSeconds <= staleAfterSeconds) return { kind: 'fresh' };
  // Bad input from a node never drives an action on that node, whatever else the readings say.
  if (unit !== undefined && !unit.ok) {
    return { kind: 'suspect', why: `its node's status answer is unusable (${unit.error})`, badReport: unit.error };
  }
  if (row === undefined) return { kind: 'absent' };
  if (unit?.ok === true && DEAD_UNIT_STATES.has(unit.report.unitState)) {
    return { kind: 'dead', evidence: `the node reports the unit ${unit.report.unitState}` };
  }
  const sinceBack = dbBackAt === undefined ? undefined : (now - dbBackAt) / 1000;
  const grace: Liveness | undefined =
    sinceBack !== undefined && sinceBack < staleAfterSeconds
      ? {
          kind: 'suspect',
          why: `the metadata DB came back ${sinceBack.toFixed(1)} s ago: a scheduler that lived through the outage gets staleAfterSeconds (${staleAfterSeconds} s) from then to beat again`,
        }
      : undefined;
  const before = earlier?.row;
  if (earlier !== undefined && before !== undefined && before.jobId === row.jobId) {
    const apart = (now - earlier.observedAt) / 1000;
    if (before.latestHeartbeat !== row.latestHeartbeat) {
      // A beating scheduler keeps its age about constant; one catching up after a freeze or outage gets younger.
      const skewed = before.ageSeconds > staleAfterSeconds && Math.abs(row.ageSeconds - before.ageSeconds) < 2 * heartbeatSeconds;
      return {
        kind: 'alive',
        skewed,
        evidence: skewed
          ? `its heartbeat advances but stays ${Math.round(row.ageSeconds)} s old: its host's clock runs about ${Math.round(row.ageSeconds - heartbeatSeconds)} s behind the DB's`
          : `its heartbeat advanced in the last ${Math.round(apart)} s (catching up)`,
      };
    }
    const window = livenessWindowSeconds(heartbeatSeconds);
    // With the heartbeat unchanged, the ages differ by exactly the DB time between the two reads: the
    // span that counts. A reading delivered late (a query queued behind a recovering network) was
    // stamped later than the DB answered it, so the watchdog's clock alone would overstate the span.
    const unchangedFor = Math.min(apart, row.ageSeconds - before.ageSeconds);
    if (before.ageSeconds > staleAfterSeconds && unchangedFor >= window) {
      if (grace !== undefined) return grace;
      return { kind: 'dead', evidence: `heartbeat unchanged over ${unchangedFor.toFixed(1)} s with the DB reachable` };
    }
  }
  return grace ?? { kind: 'suspect', why: 'no evidence yet that it stopped beating' };
};

/**
 * When the metadata DB last answered again after an outage a tick saw: this invocation's own readings
 * (`obs.dbBackAt`) or the record's memory of an earlier tick's (`dbOutageSeen`), whichever is later. A
 * record that still shows the DB down while this reading answered makes this reading the return.
 */
const dbBackAtOf = (
  obs: { readonly dbBackAt?: number; readonly db: { readonly status: string } },
  record: { readonly dbOutageSeen?: { readonly downAt: number; readonly backAt?: number } },
  now: number,
): number | undefined => {
  const seen = record.dbOutageSeen;
  const fromRecord = seen === undefined ? undefined : (seen.backAt ?? (obs.db.status === 'ok' ? now : undefined));
  if (fromRecord === undefined) return obs.dbBackAt;
  return obs.dbBackAt === undefined ? fromRecord : Math.max(fromRecord, obs.dbBackAt);
};

export { dbBackAtOf, judgeLiveness, livenessWindowSeconds };
export type { Liveness, LivenessInput };
