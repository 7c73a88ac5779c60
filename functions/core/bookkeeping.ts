import type { ClusterConfig } from './config.js';
import type { HistoryEvent, HistoryKind, NodeFailures, NodeRef, RecordState, SchedulerRow } from './model.js';
import { HISTORY_LIMIT } from './model.js';

/**
 * Small pure helpers every decision shares: labels for reasons, the history ring, failure counting and
 * bans (Pacemaker's migration-threshold and failure-timeout), and "did the state change".
 */

const WATCHDOG_CALLER = 'watchdog';
const HOUR_MS = 3_600_000;

const label = (n: NodeRef): string => `${n.id} (${n.hostname})`;
const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;
const ageText = (row: SchedulerRow | undefined, noun = 'scheduler'): string =>
  row === undefined ? `no live ${noun} row` : `heartbeat ${Math.round(row.ageSeconds)} s old`;

const isBanned = (state: Pick<RecordState, 'failures'>, nodeId: string, now: number): boolean => {
  const f = state.failures[nodeId];
  return f?.bannedUntil !== undefined && now < f.bannedUntil;
};

/** Reasons can quote SSM stderr; cap them so 50 events always fit in one DynamoDB item. */
const HISTORY_REASON_CHARS = 1000;
const capReason = (e: HistoryEvent): HistoryEvent =>
  e.reason.length <= HISTORY_REASON_CHARS ? e : { ...e, reason: `${e.reason.slice(0, HISTORY_REASON_CHARS - 14)} …[truncated]` };

const pushHistory = (history: readonly HistoryEvent[], events: readonly HistoryEvent[]): HistoryEvent[] =>
  [...history, ...events.map(capReason)].slice(-HISTORY_LIMIT);

const event = (now: number, kind: HistoryKind, node: string | undefined, epoch: number, reason: string, caller = WATCHDOG_CALLER): HistoryEvent => ({
  at: now,
  kind,
  ...(node === undefined ? {} : { node }),
  epoch,
  reason,
  caller,
});

/** Records one failure of a node; returns the new failures map and whether this failure banned it. */
const addFailure = (
  failures: Readonly<Record<string, NodeFailures>>,
  nodeId: string,
  now: number,
  reason: string,
  config: Pick<ClusterConfig, 'banAfterFailures' | 'failureResetSeconds'>,
): { failures: Record<string, NodeFailures>; banned: boolean } => {
  const prev = failures[nodeId];
  const count = (prev?.count ?? 0) + 1;
  const banned = count >= config.banAfterFailures;
  const entry: NodeFailures = {
    count,
    firstFailureAt: prev?.firstFailureAt ?? now,
    lastFailureAt: now,
    lastReason: reason,
    ...(banned ? { bannedUntil: now + config.failureResetSeconds * 1000 } : {}),
  };
  return { failures: { ...failures, [nodeId]: entry }, banned: banned && prev?.bannedUntil === undefined };
};

/** Canonical JSON, so that "did the state change" does not depend on key order. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
const sameState = (a: RecordState, b: RecordState): boolean => canonical(a) === canonical(b);

export { addFailure, ageText, canonical, event, HOUR_MS, isBanned, label, pushHistory, sameState, secs, WATCHDOG_CALLER };
