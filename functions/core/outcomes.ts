import { addFailure, label, pushHistory, WATCHDOG_CALLER } from './bookkeeping.js';
import type { OtherComponent } from './components.js';
import { type ClusterConfig, componentsOf } from './config.js';
import type { Action, CommandOutcome, HistoryEvent, RecordState } from './model.js';
import { mergeComponentState, projectConfig, projectState } from './projection.js';

/**
 * What the record learns from each SSM outcome (SPEC §4.3 "write each outcome back"). Pure, like decide().
 */

const describeOutcome = (o: CommandOutcome): string => {
  switch (o.status) {
    case 'success':
      return `succeeded in ${o.durationMs} ms`;
    case 'failed':
      return `failed (exit ${o.exitCode ?? 'unknown'}): ${o.stderrTail.trim().split('\n').slice(-3).join(' | ') || 'no output'}`;
    case 'timeout':
      return `timed out in ${o.phase} after ${o.durationMs} ms: ${o.detail}`;
    case 'undeliverable':
      return `undeliverable: ${o.detail}`;
    case 'stale-epoch':
      return `refused by the node: it has seen epoch ${o.nodeEpoch ?? '?'}, newer than this command's (${o.detail})`;
  }
};

const nodeOf = (a: Action) => ({ id: a.nodeId, hostname: a.hostname });

/**
 * A command SSM never accepted (throttled past retries, access denied, ambiguous 5xx): the node did nothing
 * and is not to blame, so it does not count towards the node's ban.
 */
const neverSent = (o: CommandOutcome | undefined): boolean => o?.status === 'failed' && o.commandId === undefined;

/** Did the node never see the command? Then nothing ran there. */
const unreachable = (o: CommandOutcome): boolean => o.status === 'undeliverable' || (o.status === 'timeout' && o.phase === 'delivery');

/** Key of a stop's outcome among a tick's: the node id for the scheduler, `<component>:<node>` for the others. */
const stopKey = (component: OtherComponent | undefined, nodeId: string): string => (component === undefined ? nodeId : `${component}:${nodeId}`);

/** The first required stop (of the same component) that blocks this start, if any. */
const blockingStop = (action: Action, done: ReadonlyMap<string, CommandOutcome>): { nodeId: string; outcome: CommandOutcome | undefined } | undefined => {
  for (const nodeId of action.requiresStopped ?? []) {
    const outcome = done.get(stopKey(action.component, nodeId));
    if (outcome?.status === 'success') continue;
    if (outcome !== undefined && action.proceedIfUnreachable === true && unreachable(outcome) && nodeId !== action.nodeId) continue;
    return { nodeId, outcome };
  }
  return undefined;
};

const withEvent = (state: RecordState, e: HistoryEvent): RecordState => ({ ...state, history: pushHistory(state.history, [e]) });

const fail = (state: RecordState, nodeId: string, reason: string, config: ClusterConfig, now: number): RecordState => {
  const r = addFailure(state.failures, nodeId, now, reason, config);
  let next: RecordState = { ...state, failures: r.failures };
  if (r.banned) {
    next = withEvent(next, {
      at: now,
      kind: 'ban',
      node: nodeId,
      epoch: state.epoch,
      reason: `banned until ${new Date(r.failures[nodeId]?.bannedUntil ?? now).toISOString()} after ${config.banAfterFailures} failures`,
      caller: WATCHDOG_CALLER,
    });
  }
  return next;
};

/**
 * How far a node's epoch may be ahead of the record's and still be adopted. Epochs grow by one per change
 * of the intended active node; a recreated record restarts from 0 while nodes remember theirs, so a gap
 * is normal, but not of this size: a corrupted or forged state file would otherwise lock every later
 * command out (999999999999 would).
 */
const MAX_EPOCH_JUMP = 1000;

const epochJump = (state: RecordState, o: CommandOutcome): boolean =>
  o.status === 'stale-epoch' && o.nodeEpoch !== null && o.nodeEpoch > state.epoch + MAX_EPOCH_JUMP;

/** A node that refuses our epoch has seen a newer one (e.g. the record was recreated): adopt it so the next tick's commands pass. */
const adoptEpoch = (state: RecordState, o: CommandOutcome): RecordState =>
  o.status === 'stale-epoch' && o.nodeEpoch !== null && o.nodeEpoch > state.epoch && !epochJump(state, o) ? { ...state, epoch: o.nodeEpoch } : state;

/** A start whose answer never came (command timed out, answer lost) may still come up: startupGraceSeconds decides. */
const mayStillStart = (o: CommandOutcome): boolean => o.status === 'timeout';

const applyOutcomeHere = (state: RecordState, action: Action, outcome: CommandOutcome, config: ClusterConfig, now: number): RecordState => {
  const what = `${action.kind} on ${label(nodeOf(action))} (${action.purpose}) ${describeOutcome(outcome)}`;
  let next = withEvent(adoptEpoch(state, outcome), { at: now, kind: 'outcome', node: action.nodeId, epoch: state.epoch, reason: what, caller: WATCHDOG_CALLER });
  if (epochJump(state, outcome) && outcome.status === 'stale-epoch') {
    const why = `${label(nodeOf(action))} reports epoch ${outcome.nodeEpoch}, more than ${MAX_EPOCH_JUMP} ahead of the record's ${state.epoch}: not adopted (a corrupted or forged epoch file would lock every command out); fix the node's epoch file, see the runbook`;
    next = withEvent({ ...next, lastAlarm: { kind: 'epoch-jump', at: now, reason: why } }, { at: now, kind: 'epoch-jump', node: action.nodeId, epoch: state.epoch, reason: why, caller: WATCHDOG_CALLER });
  }
  if (action.kind === 'start' && outcome.status !== 'success' && !mayStillStart(outcome)) {
    next = { ...next, pending: next.pending.filter((p) => p.nodeId !== action.nodeId) };
    const charged = (outcome.status !== 'stale-epoch' || epochJump(state, outcome)) && !neverSent(outcome);
    if (charged) next = fail(next, action.nodeId, what, config, now);
  }
  return next;
};

/** The record once SSM has accepted a start: the pending start is marked sent (its expiry is then a failure). */
const markSentHere = (state: RecordState, action: Action, now: number): RecordState => ({
  ...state,
  pending: state.pending.map((p) => (p.nodeId === action.nodeId && p.epoch === action.epoch && p.sentAt === undefined ? { ...p, sentAt: now } : p)),
});

/** A start not attempted because a stop it depends on did not succeed. */
const applySkippedStartHere = (
  state: RecordState,
  action: Action,
  blocking: { nodeId: string; outcome: CommandOutcome | undefined },
  config: ClusterConfig,
  now: number,
): RecordState => {
  const because = blocking.outcome === undefined ? 'it was not attempted' : describeOutcome(blocking.outcome);
  const reason = `start on ${label(nodeOf(action))} skipped: the stop on ${blocking.nodeId} did not succeed (${because})`;
  let next: RecordState = withEvent({ ...state, pending: state.pending.filter((p) => p.nodeId !== action.nodeId) }, {
    at: now,
    kind: 'outcome',
    node: action.nodeId,
    epoch: state.epoch,
    reason,
    caller: WATCHDOG_CALLER,
  });
  if (blocking.outcome?.status !== 'stale-epoch' && !neverSent(blocking.outcome)) next = fail(next, blocking.nodeId, reason, config, now);
  if (action.purpose === 'failover-start' && blocking.nodeId !== action.nodeId && state.active.includes(action.nodeId)) {
    // Fencing failed: the old node stays the intended active, so no later tick starts elsewhere unfenced.
    next = { ...next, active: [blocking.nodeId], restartAttempts: config.restartInPlaceAttempts };
  }
  return next;
};

/**
 * Runs one of the appliers above on the part of the record that belongs to the action's component (its
 * projection, with that component's settings), and merges the result back, events tagged.
 */
const inComponent = (state: RecordState, action: Action, config: ClusterConfig, apply: (s: RecordState, c: ClusterConfig) => RecordState): RecordState => {
  const name = action.component ?? 'scheduler';
  const spec = componentsOf(config).find((k) => k.name === name);
  // An action of a component the configuration no longer lists: settle it with the cluster's budgets.
  const projectedConfig = spec === undefined ? config : projectConfig(config, spec);
  const after = apply(projectState(state, name, spec), projectedConfig);
  const merged = mergeComponentState(state, name, after);
  return merged.events.length === 0 ? merged.state : { ...merged.state, history: pushHistory(state.history, merged.events) };
};

const applyOutcome = (state: RecordState, action: Action, outcome: CommandOutcome, config: ClusterConfig, now: number): RecordState =>
  inComponent(state, action, config, (s, c) => applyOutcomeHere(s, action, outcome, c, now));

const applySkippedStart = (
  state: RecordState,
  action: Action,
  blocking: { nodeId: string; outcome: CommandOutcome | undefined },
  config: ClusterConfig,
  now: number,
): RecordState => inComponent(state, action, config, (s, c) => applySkippedStartHere(s, action, blocking, c, now));

/** The record once SSM has accepted a start: the pending start is marked sent (its expiry is then a failure). */
const markSent = (state: RecordState, action: Action, now: number, config: ClusterConfig): RecordState =>
  inComponent(state, action, config, (s) => markSentHere(s, action, now));

export { applyOutcome, applySkippedStart, blockingStop, describeOutcome, MAX_EPOCH_JUMP, markSent, stopKey };
