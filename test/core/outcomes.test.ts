import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from '../../functions/core/config.js';
import type { Action, CommandOutcome, RecordState } from '../../functions/core/model.js';
import { HISTORY_LIMIT } from '../../functions/core/model.js';
import { MAX_EPOCH_JUMP, applyOutcome, applySkippedStart, blockingStop } from '../../functions/core/outcomes.js';

/** What the record learns from each SSM outcome (functions/core/outcomes.ts), one rule per test. */

const NOW = Date.UTC(2026, 10, 24, 12);
const A = { id: 'i-0aaaaaaa', hostname: 'airflow-a.internal' };
const B = { id: 'i-0bbbbbbb', hostname: 'airflow-b.internal' };
const config = parseClusterConfig({ clusterName: 'prod', nodes: [A, B], banAfterFailures: 2, failureResetSeconds: 600, restartInPlaceAttempts: 1 });

const ok: CommandOutcome = { status: 'success', commandId: 'c1', output: 'ok', durationMs: 900 };
const failed: CommandOutcome = { status: 'failed', commandId: 'c2', exitCode: 1, stderrTail: 'line 1\nunit still active', durationMs: 60_000 };
const undeliverable: CommandOutcome = { status: 'undeliverable', detail: 'InvalidInstanceId', durationMs: 200 };
const deliveryTimeout: CommandOutcome = { status: 'timeout', phase: 'delivery', detail: 'never picked up', durationMs: 60_000 };
const executionTimeout: CommandOutcome = { status: 'timeout', phase: 'execution', detail: 'still InProgress', durationMs: 60_000 };
const staleEpoch = (nodeEpoch: number | null): CommandOutcome => ({ status: 'stale-epoch', nodeEpoch, detail: 'refused', durationMs: 300 });

/** The record right after a failover A → B was committed (epoch 5, B pending). */
const afterFailover: RecordState = {
  epoch: 5,
  active: [B.id],
  pending: [{ nodeId: B.id, epoch: 5, issuedAt: NOW }],
  failures: {},
  history: [],
  failoverTimes: [NOW],
  restartAttempts: 0,
  nodes: [A, B],
};
const fence: Action = { kind: 'stop', nodeId: A.id, hostname: A.hostname, epoch: 5, purpose: 'fence', reason: 'fence' };
const failoverStart: Action = {
  kind: 'start',
  nodeId: B.id,
  hostname: B.hostname,
  epoch: 5,
  purpose: 'failover-start',
  reason: 'failover',
  requiresStopped: [A.id],
  proceedIfUnreachable: true,
};

describe('blockingStop', () => {
  it('lets the start go when its required stop succeeded', () => {
    expect(blockingStop(failoverStart, new Map([[A.id, ok]]))).toBeUndefined();
  });

  it.each([
    ['undeliverable', undeliverable],
    ['timed out in delivery', deliveryTimeout],
  ])('lets a fenced failover start go when the fencing stop was %s (the old heartbeat is already stale)', (_name, outcome) => {
    expect(blockingStop(failoverStart, new Map([[A.id, outcome]]))).toBeUndefined();
  });

  it.each([
    ['failed', failed],
    ['timed out in execution', executionTimeout],
    ['refused for a stale epoch', staleEpoch(9)],
  ])('blocks the start when the fencing stop %s (something ran there)', (_name, outcome) => {
    expect(blockingStop(failoverStart, new Map([[A.id, outcome]]))).toEqual({ nodeId: A.id, outcome });
  });

  it('blocks when a required stop never ran', () => {
    expect(blockingStop(failoverStart, new Map())).toEqual({ nodeId: A.id, outcome: undefined });
  });

  it('never lets an unreachable clear-stale stop on the start’s own node through', () => {
    const start: Action = { ...failoverStart, requiresStopped: [A.id, B.id] };
    expect(
      blockingStop(
        start,
        new Map([
          [A.id, undeliverable],
          [B.id, undeliverable],
        ]),
      ),
    ).toEqual({ nodeId: B.id, outcome: undeliverable });
  });

  it('without proceedIfUnreachable an undeliverable stop blocks', () => {
    const { proceedIfUnreachable: _p, ...gated } = failoverStart;
    expect(blockingStop(gated, new Map([[A.id, undeliverable]]))).toEqual({ nodeId: A.id, outcome: undeliverable });
  });
});

describe('applySkippedStart', () => {
  it('fence stop failed: start skipped, active reverted to the old node, its failure counted, restart budget spent', () => {
    const next = applySkippedStart(afterFailover, failoverStart, { nodeId: A.id, outcome: failed }, config, NOW + 1000);
    expect(next.active).toEqual([A.id]);
    expect(next.pending).toEqual([]);
    expect(next.failures[A.id]?.count).toBe(1);
    expect(next.failures[B.id]).toBeUndefined();
    expect(next.restartAttempts).toBe(config.restartInPlaceAttempts);
    expect(next.epoch).toBe(5);
    expect(next.history.at(-1)).toMatchObject({ kind: 'outcome', node: B.id });
    expect(next.history.at(-1)?.reason).toContain('skipped: the stop on i-0aaaaaaa did not succeed (failed (exit 1)');
  });

  it('a stop refused for a stale epoch blocks without counting a failure', () => {
    const next = applySkippedStart(afterFailover, failoverStart, { nodeId: A.id, outcome: staleEpoch(9) }, config, NOW);
    expect(next.failures).toEqual({});
    expect(next.pending).toEqual([]);
  });

  it('a skipped restart keeps the active node (nothing to revert to)', () => {
    const restarting: RecordState = { ...afterFailover, active: [A.id], pending: [{ nodeId: A.id, epoch: 5, issuedAt: NOW }], restartAttempts: 1 };
    const restart: Action = { kind: 'start', nodeId: A.id, hostname: A.hostname, epoch: 5, purpose: 'restart-start', reason: 'r', requiresStopped: [A.id] };
    const next = applySkippedStart(restarting, restart, { nodeId: A.id, outcome: executionTimeout }, config, NOW);
    expect(next.active).toEqual([A.id]);
    expect(next.pending).toEqual([]);
    expect(next.failures[A.id]?.count).toBe(1);
  });
});

describe('applyOutcome', () => {
  it('fence stop undeliverable, then the start succeeds: B stays active and pending, no failure', () => {
    let state = applyOutcome(afterFailover, fence, undeliverable, config, NOW);
    expect(blockingStop(failoverStart, new Map([[A.id, undeliverable]]))).toBeUndefined();
    state = applyOutcome(state, failoverStart, ok, config, NOW + 1);
    expect(state.active).toEqual([B.id]);
    expect(state.pending.map((p) => p.nodeId)).toEqual([B.id]);
    expect(state.failures).toEqual({});
    expect(state.history.map((e) => e.kind)).toEqual(['outcome', 'outcome']);
  });

  it('start failed: failure counted and the pending start removed at once', () => {
    const next = applyOutcome(afterFailover, failoverStart, failed, config, NOW);
    expect(next.pending).toEqual([]);
    expect(next.failures[B.id]).toMatchObject({ count: 1, firstFailureAt: NOW, lastFailureAt: NOW });
    expect(next.failures[B.id]?.bannedUntil).toBeUndefined();
  });

  it('the failure that reaches banAfterFailures bans the node for failureResetSeconds and says so in history', () => {
    const once: RecordState = { ...afterFailover, failures: { [B.id]: { count: 1, firstFailureAt: NOW - 60_000, lastFailureAt: NOW - 60_000 } } };
    const next = applyOutcome(once, failoverStart, failed, config, NOW);
    expect(next.failures[B.id]).toMatchObject({ count: 2, firstFailureAt: NOW - 60_000, bannedUntil: NOW + 600_000 });
    expect(next.history.map((e) => e.kind)).toEqual(['outcome', 'ban']);
  });

  it('a start whose command timed out (delivery or execution, or its answer lost) stays pending and charges nothing yet', () => {
    for (const timedOut of [deliveryTimeout, { ...deliveryTimeout, phase: 'execution' as const }]) {
      const next = applyOutcome(afterFailover, failoverStart, timedOut, config, NOW);
      expect(next.pending.map((p) => p.nodeId)).toEqual([B.id]);
      expect(next.failures).toEqual({});
    }
  });

  it('an epoch more than MAX_EPOCH_JUMP ahead is not adopted: alarm, history event, and a start counts as failed', () => {
    const next = applyOutcome(afterFailover, failoverStart, staleEpoch(afterFailover.epoch + MAX_EPOCH_JUMP + 1), config, NOW);
    expect(next.epoch).toBe(afterFailover.epoch);
    expect(next.lastAlarm?.kind).toBe('epoch-jump');
    expect(next.history.map((e) => e.kind)).toEqual(['outcome', 'epoch-jump']);
    expect(next.failures[B.id]?.count).toBe(1);
    expect(next.pending).toEqual([]);
    // At the bound it is still adopted.
    expect(applyOutcome(afterFailover, failoverStart, staleEpoch(afterFailover.epoch + MAX_EPOCH_JUMP), config, NOW).epoch).toBe(afterFailover.epoch + MAX_EPOCH_JUMP);
  });

  it('stale-epoch on a start: the node’s higher epoch is adopted, the pending start dropped, no failure', () => {
    const next = applyOutcome(afterFailover, failoverStart, staleEpoch(12), config, NOW);
    expect(next.epoch).toBe(12);
    expect(next.pending).toEqual([]);
    expect(next.failures).toEqual({});
  });

  it('stale-epoch never lowers the epoch (unknown or lower node epoch)', () => {
    expect(applyOutcome(afterFailover, fence, staleEpoch(3), config, NOW).epoch).toBe(5);
    expect(applyOutcome(afterFailover, fence, staleEpoch(null), config, NOW).epoch).toBe(5);
  });

  it('a failed stop on its own counts no failure and keeps the plan’s state', () => {
    const next = applyOutcome(afterFailover, fence, failed, config, NOW);
    expect(next.failures).toEqual({});
    expect(next.active).toEqual([B.id]);
    expect(next.pending).toEqual(afterFailover.pending);
  });

  it('keeps history at its limit', () => {
    const full: RecordState = {
      ...afterFailover,
      history: Array.from({ length: HISTORY_LIMIT }, (_, i) => ({ at: NOW - i, kind: 'outcome' as const, epoch: 5, reason: `e${i}`, caller: 'watchdog' })),
    };
    const next = applyOutcome(full, failoverStart, failed, config, NOW);
    expect(next.history).toHaveLength(HISTORY_LIMIT);
    expect(next.history.at(-1)?.reason).toContain('failed (exit 1)');
  });
});

describe('commands SSM never accepted', () => {
  // SendCommand refused (throttled past retries, access denied): no commandId, nothing ran on the node.
  const notSent: CommandOutcome = { status: 'failed', exitCode: null, stderrTail: 'SendCommand failed: ThrottlingException', durationMs: 5_000 };

  it('a start that was never sent drops the pending start but does not count against the node', () => {
    const next = applyOutcome(afterFailover, { ...failoverStart, requiresStopped: [] }, notSent, config, NOW);
    expect(next.pending).toEqual([]);
    expect(next.failures[B.id]).toBeUndefined();
  });

  it('a fencing stop that was never sent blocks the start and reverts the active node without blaming it', () => {
    const next = applySkippedStart(afterFailover, failoverStart, { nodeId: A.id, outcome: notSent }, config, NOW);
    expect(next.active).toEqual([A.id]);
    expect(next.failures[A.id]).toBeUndefined();
  });

  it('a start that was sent and failed still counts', () => {
    const next = applyOutcome(afterFailover, { ...failoverStart, requiresStopped: [] }, failed, config, NOW);
    expect(next.failures[B.id]?.count).toBe(1);
  });
});

describe('history reasons', () => {
  it('caps a huge reason (quoted stderr) so 50 events always fit in one item', () => {
    const next = applyOutcome(afterFailover, { ...failoverStart, requiresStopped: [] }, { ...failed, stderrTail: 'y'.repeat(5000) }, config, NOW);
    for (const e of next.history) expect(e.reason.length).toBeLessThanOrEqual(1000);
    expect(next.history.some((e) => e.reason.endsWith('…[truncated]'))).toBe(true);
  });
});
