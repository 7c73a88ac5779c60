import type { ClusterConfig } from './config.js';
import { RefusedError } from './errors.js';
import type {
  Action,
  AlarmKind,
  HistoryEvent,
  HistoryKind,
  NodeFailures,
  NodeRef,
  Observation,
  PendingStart,
  Plan,
  RecordState,
  SchedulerRow,
  Verdict,
} from './model.js';
import { HISTORY_LIMIT } from './model.js';

/**
 * decide(): the pure heart of the watchdog (SPEC §4.2). Given what a tick observed, the record, the
 * configuration and the time, it returns the plan: ordered actions, each with a human reason, and the
 * record state to commit before acting. No I/O, no clock, no environment.
 */

const WATCHDOG_CALLER = 'watchdog';
const HOUR_MS = 3_600_000;
/** Heartbeats further in the future than this (by the DB's clock) raise a clock-skew warning. */
const SKEW_WARN_SECONDS = 5;

const label = (n: NodeRef): string => `${n.id} (${n.hostname})`;
const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;
const ageText = (row: SchedulerRow | undefined): string =>
  row === undefined ? 'no live scheduler row' : `heartbeat ${Math.round(row.ageSeconds)} s old`;

const isBanned = (state: RecordState, nodeId: string, now: number): boolean => {
  const f = state.failures[nodeId];
  return f?.bannedUntil !== undefined && now < f.bannedUntil;
};

/** Reasons can quote SSM stderr; cap them so 50 events always fit in one DynamoDB item. */
const HISTORY_REASON_CHARS = 1000;
const capReason = (e: HistoryEvent): HistoryEvent =>
  e.reason.length <= HISTORY_REASON_CHARS ? e : { ...e, reason: `${e.reason.slice(0, HISTORY_REASON_CHARS - 14)} …[truncated]` };

const pushHistory = (history: readonly HistoryEvent[], events: readonly HistoryEvent[]): HistoryEvent[] =>
  [...history, ...events.map(capReason)].slice(-HISTORY_LIMIT);

/** Records one failure of a node; returns the new failures map and whether this failure banned it. */
const addFailure = (
  failures: Readonly<Record<string, NodeFailures>>,
  nodeId: string,
  now: number,
  reason: string,
  config: ClusterConfig,
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

interface Classified {
  readonly healthy: NodeRef[];
  readonly rows: Map<string, SchedulerRow | undefined>;
  readonly removed: NodeRef[];
  readonly removedHealthy: NodeRef[];
  readonly foreignHealthy: SchedulerRow[];
  readonly warnings: string[];
  readonly alarms: AlarmKind[];
}

const classify = (obs: Observation & { db: { status: 'ok' } }, state: RecordState, config: ClusterConfig): Classified => {
  const configuredIds = new Set(config.nodes.map((n) => n.id));
  const configuredHosts = new Set(config.nodes.map((n) => n.hostname));
  // A removed node whose hostname now belongs to a configured node (an instance replaced under the same
  // name) is gone: that hostname's row is the configured node's.
  const removed = state.nodes.filter((n) => !configuredIds.has(n.id) && !configuredHosts.has(n.hostname));
  const rows = new Map<string, SchedulerRow | undefined>();
  const fresh = (row: SchedulerRow | undefined): boolean => row !== undefined && row.ageSeconds <= config.staleAfterSeconds;
  const warnings: string[] = [];
  const alarms = new Set<AlarmKind>();
  for (const n of config.nodes) rows.set(n.id, obs.db.rows[n.hostname]);
  // Removed nodes are not in the DB query; a scheduler still running there shows up among the foreign rows.
  for (const n of removed) rows.set(n.id, obs.db.rows[n.hostname] ?? obs.db.foreign.find((r) => r.hostname === n.hostname));
  const healthy = config.nodes.filter((n) => fresh(rows.get(n.id)));
  const removedHealthy = removed.filter((n) => fresh(rows.get(n.id)));
  const knownHosts = new Set([...config.nodes, ...removed].map((n) => n.hostname));
  const foreignHealthy = obs.db.foreign.filter((r) => !knownHosts.has(r.hostname) && fresh(r));
  for (const r of foreignHealthy) {
    warnings.push(`foreign scheduler on host "${r.hostname}" (job ${r.jobId}, ${ageText(r)}) is not a configured node; it counts as running and is never stopped`);
    alarms.add('foreign-scheduler');
  }
  for (const row of [...rows.values(), ...foreignHealthy]) {
    if (row === undefined) continue;
    if (row.ageSeconds < -SKEW_WARN_SECONDS) {
      warnings.push(
        `heartbeat of "${row.hostname}" is ${Math.round(-row.ageSeconds)} s in the future by the DB's clock: that scheduler's clock runs ahead, so its staleness is seen that much later`,
      );
      alarms.add('clock-skew');
    }
    if (row.freshRows > 1) {
      warnings.push(`host "${row.hostname}" has ${row.freshRows} fresh scheduler rows: more than one scheduler process on one host`);
      alarms.add('duplicate-on-host');
    }
  }
  return { healthy, rows, removed, removedHealthy, foreignHealthy, warnings, alarms: [...alarms] };
};

/** The bookkeeping every enforcing decision starts from: forget old failures and failovers, settle pending starts. */
const settle = (
  state: RecordState,
  c: Classified,
  config: ClusterConfig,
  now: number,
  hold: boolean,
): { state: RecordState; inGrace: PendingStart[]; events: HistoryEvent[]; reasons: string[] } => {
  const events: HistoryEvent[] = [];
  const reasons: string[] = [];
  let failures: Record<string, NodeFailures> = {};
  for (const [id, f] of Object.entries(state.failures)) {
    if (now - f.lastFailureAt < config.failureResetSeconds * 1000) failures[id] = f;
    else reasons.push(`failures of ${id} forgotten after ${config.failureResetSeconds} s without a new one`);
  }
  const healthyIds = new Set(c.healthy.map((n) => n.id));
  const byId = new Map(config.nodes.map((n) => [n.id, n]));
  const inGrace: PendingStart[] = [];
  for (const p of state.pending) {
    const node = byId.get(p.nodeId);
    if (node === undefined) continue;
    if (healthyIds.has(p.nodeId)) {
      reasons.push(`start on ${label(node)} came up after ${secs(now - p.issuedAt)}`);
    } else if (hold || now - p.issuedAt < config.startupGraceSeconds * 1000) {
      // Right after a DB outage a started scheduler may simply not have been able to write yet.
      inGrace.push(p);
    } else {
      const why = `start on ${label(node)} issued ${secs(now - p.issuedAt)} ago wrote no fresh heartbeat within startupGraceSeconds (${config.startupGraceSeconds} s)`;
      const r = addFailure(failures, p.nodeId, now, why, config);
      failures = r.failures;
      reasons.push(`${why}: failure ${failures[p.nodeId]?.count} of ${config.banAfterFailures}`);
      events.push({ at: now, kind: 'start-expired', node: p.nodeId, epoch: state.epoch, reason: why, caller: WATCHDOG_CALLER });
      if (r.banned) {
        const ban = `${label(node)} banned until ${new Date(failures[p.nodeId]?.bannedUntil ?? now).toISOString()} after ${config.banAfterFailures} failures`;
        reasons.push(ban);
        events.push({ at: now, kind: 'ban', node: p.nodeId, epoch: state.epoch, reason: ban, caller: WATCHDOG_CALLER });
      }
    }
  }
  // Keep removed nodes known while a scheduler still runs there, so it can be stopped.
  const removedStillRunning = c.removedHealthy;
  return {
    state: {
      ...state,
      failures,
      pending: inGrace,
      failoverTimes: state.failoverTimes.filter((t) => now - t < HOUR_MS),
      nodes: [...config.nodes.map(({ id, hostname }) => ({ id, hostname })), ...removedStillRunning],
    },
    inGrace,
    events,
    reasons,
  };
};

interface Draft {
  /** Within staleAfterSeconds of the end of a DB outage: stale heartbeats prove nothing, start nothing. */
  hold: boolean;
  state: RecordState;
  actions: Action[];
  reasons: string[];
  events: HistoryEvent[];
  alarms: AlarmKind[];
  verdict: Verdict;
  counts: { failovers: number; restarts: number; duplicateStops: number; suppressed: number; noCandidate: number };
}

const event = (now: number, kind: HistoryKind, node: string | undefined, epoch: number, reason: string, caller = WATCHDOG_CALLER): HistoryEvent => ({
  at: now,
  kind,
  ...(node === undefined ? {} : { node }),
  epoch,
  reason,
  caller,
});

const stop = (node: NodeRef, epoch: number, purpose: Action['purpose'], reason: string): Action => ({
  kind: 'stop',
  nodeId: node.id,
  hostname: node.hostname,
  epoch,
  purpose,
  reason,
});

/**
 * Actions to start a scheduler on `node`. A live row with a stale heartbeat may be a hung process, which
 * `systemctl start` would leave in place, so it is stopped first.
 */
const startOn = (
  node: NodeRef,
  row: SchedulerRow | undefined,
  epoch: number,
  purpose: Action['purpose'],
  reason: string,
  requires: { ids: string[]; proceedIfUnreachable: boolean } = { ids: [], proceedIfUnreachable: false },
): Action[] => {
  const clear = row !== undefined;
  const requiresStopped = clear ? [...requires.ids, node.id] : requires.ids;
  return [
    ...(clear ? [stop(node, epoch, 'clear-stale', `clear the stale scheduler on ${label(node)} (job ${row.jobId}, ${ageText(row)}) before starting`)] : []),
    {
      kind: 'start',
      nodeId: node.id,
      hostname: node.hostname,
      epoch,
      purpose,
      reason,
      ...(requiresStopped.length > 0 ? { requiresStopped } : {}),
      ...(requires.proceedIfUnreachable ? { proceedIfUnreachable: true } : {}),
    },
  ];
};

/** Stops first, then starts, keeping each group's order. */
const ordered = (actions: Action[]): Action[] => [...actions.filter((a) => a.kind === 'stop'), ...actions.filter((a) => a.kind === 'start')];

const raiseAlarm = (d: Draft, kind: 'no-candidate' | 'suppressed', reason: string, now: number): void => {
  d.alarms.push(kind);
  d.verdict = kind;
  d.reasons.push(reason);
  if (kind === 'suppressed') d.counts.suppressed = 1;
  else d.counts.noCandidate = 1;
  // Write the alarm once, not every tick, so a long outage does not cost a write per tick.
  if (d.state.lastAlarm?.kind !== kind) {
    d.state = { ...d.state, lastAlarm: { kind, at: now, reason } };
    d.events.push(event(now, kind, undefined, d.state.epoch, reason));
  }
};

/** Next node in priority order after `afterId` (wrapping), Online and not banned. */
const nextCandidate = (
  config: ClusterConfig,
  obs: Observation,
  state: RecordState,
  afterId: string | undefined,
  now: number,
  exclude: ReadonlySet<string>,
): NodeRef | undefined => {
  const n = config.nodes.length;
  const start = afterId === undefined ? -1 : config.nodes.findIndex((x) => x.id === afterId);
  for (let k = 1; k <= n; k++) {
    const node = config.nodes[(start + k + n) % n];
    if (node === undefined || exclude.has(node.id)) continue;
    if (obs.reachability[node.id] === 'Online' && !isBanned(state, node.id, now)) return node;
  }
  return undefined;
};

const whyNotCandidate = (config: ClusterConfig, obs: Observation, state: RecordState, now: number): string =>
  config.nodes
    .map((n) => `${n.id} ${isBanned(state, n.id, now) ? 'banned' : (obs.reachability[n.id] ?? 'absent')}`)
    .join(', ');

const decideSingle = (d: Draft, obs: Observation, c: Classified, inGrace: PendingStart[], config: ClusterConfig, now: number): void => {
  const byId = new Map(config.nodes.map((n) => [n.id, n]));
  const activeId = d.state.active[0];
  const active = activeId === undefined ? undefined : byId.get(activeId);

  if (c.healthy.length > 0) {
    const keep = active !== undefined && c.healthy.some((n) => n.id === active.id) ? active : (c.healthy[0] as NodeRef);
    let epoch = d.state.epoch;
    if (keep.id !== activeId) {
      epoch += 1;
      const why =
        activeId === undefined
          ? `adopt the running scheduler on ${label(keep)} as active (epoch ${epoch})`
          : `adopt ${label(keep)} as active (epoch ${epoch}): the recorded active ${activeId} is not healthy (${ageText(c.rows.get(activeId))})`;
      d.reasons.push(why);
      d.events.push(event(now, 'adopt', keep.id, epoch, why));
    } else {
      d.reasons.push(`active ${label(keep)} is healthy (${ageText(c.rows.get(keep.id))})`);
    }
    for (const n of c.healthy) {
      if (n.id === keep.id) continue;
      const why = `stop duplicate scheduler on ${label(n)} (${ageText(c.rows.get(n.id))}): single mode keeps only ${label(keep)}`;
      d.actions.push(stop(n, epoch, 'stop-duplicate', why));
      d.events.push(event(now, 'stop-duplicate', n.id, epoch, why));
      d.counts.duplicateStops += 1;
    }
    for (const p of inGrace) {
      const n = byId.get(p.nodeId);
      if (n === undefined || n.id === keep.id) continue;
      d.actions.push(stop(n, epoch, 'cancel-pending', `cancel the pending start on ${label(n)}: ${label(keep)} is healthy`));
    }
    for (const n of c.removedHealthy) {
      const why = `stop the scheduler on ${label(n)}: node removed from configuration`;
      d.actions.push(stop(n, epoch, 'stop-removed', why));
      d.events.push(event(now, 'stop-removed', n.id, epoch, why));
    }
    d.state = { ...d.state, epoch, active: [keep.id], pending: [], restartAttempts: 0 };
    if (d.state.lastAlarm !== undefined) d.state = { ...d.state, lastAlarm: undefined };
    d.verdict = d.actions.length > 0 || c.foreignHealthy.length > 0 ? 'degraded' : 'healthy';
    return;
  }

  // No configured node is healthy.
  const stopRemoved = (epoch: number): void => {
    for (const n of c.removedHealthy) {
      const why = `stop the scheduler on ${label(n)}: node removed from configuration`;
      d.actions.push(stop(n, epoch, 'stop-removed', why));
      d.events.push(event(now, 'stop-removed', n.id, epoch, why));
    }
  };
  if (c.removedHealthy.length > 0) {
    const unreachable = c.removedHealthy.filter((n) => obs.reachability[n.id] !== 'Online');
    if (unreachable.length > 0) {
      d.reasons.push(
        `scheduler on removed node(s) ${unreachable.map(label).join(', ')} is healthy but not Online in SSM: not starting another until it is stopped`,
      );
      d.verdict = 'degraded';
      return;
    }
  }
  if (d.hold) {
    d.reasons.push(
      `metadata DB back since ${secs(now - (d.state.dbOutage?.endedAt ?? now))}: schedulers could not write heartbeats during the outage, so nothing is started or restarted until staleAfterSeconds (${config.staleAfterSeconds} s) after it`,
    );
    d.verdict = 'recovering';
    return;
  }
  if (c.foreignHealthy.length > 0) {
    // A removed node's scheduler is a duplicate of the foreign one: stop it, start nothing.
    stopRemoved(d.state.epoch);
    d.reasons.push('a foreign scheduler is healthy: not starting another in single mode');
    d.verdict = 'degraded';
    return;
  }
  if (inGrace.length > 0) {
    for (const p of inGrace) {
      const n = byId.get(p.nodeId);
      d.reasons.push(
        `waiting for the start on ${n === undefined ? p.nodeId : label(n)} issued ${secs(now - p.issuedAt)} ago (grace ${config.startupGraceSeconds} s)`,
      );
    }
    if (c.removedHealthy.length > 0) {
      // The pending start was gated on stopping it; a SIGKILLed scheduler's row stays fresh until staleAfterSeconds.
      // Planning a second start now could clear-stale the one that is coming up.
      d.reasons.push(
        `removed node(s) ${c.removedHealthy.map(label).join(', ')} still show a fresh heartbeat; stopped again once the pending start is settled if it persists`,
      );
    }
    d.verdict = 'recovering';
    return;
  }
  if (c.removedHealthy.length > 0) {
    const target = nextCandidate(config, obs, d.state, undefined, now, new Set());
    if (target === undefined) {
      raiseAlarm(d, 'no-candidate', `no configured node can take over from removed node(s) (${whyNotCandidate(config, obs, d.state, now)})`, now);
      return;
    }
    const epoch = d.state.epoch + 1;
    stopRemoved(epoch);
    const why = `start scheduler on ${label(target)} (epoch ${epoch}) once the removed node's scheduler is stopped`;
    d.reasons.push(
      `no configured node runs a scheduler; the one on removed node(s) ${c.removedHealthy.map(label).join(', ')} moves to ${label(target)} (epoch ${epoch})`,
    );
    d.actions.push(
      ...startOn(target, c.rows.get(target.id), epoch, 'initial-start', why, { ids: c.removedHealthy.map((n) => n.id), proceedIfUnreachable: false }),
    );
    d.events.push(event(now, 'start', target.id, epoch, why));
    d.state = { ...d.state, epoch, active: [target.id], pending: [{ nodeId: target.id, epoch, issuedAt: now }], restartAttempts: 0 };
    d.verdict = 'recovering';
    return;
  }

  if (active === undefined) {
    const target = nextCandidate(config, obs, d.state, undefined, now, new Set());
    const previously = activeId === undefined ? 'no active node recorded' : `recorded active ${activeId} is no longer configured`;
    if (target === undefined) {
      raiseAlarm(d, 'no-candidate', `no scheduler is healthy and ${previously}, but no node can take it (${whyNotCandidate(config, obs, d.state, now)})`, now);
      return;
    }
    const epoch = d.state.epoch + 1;
    const why = `start scheduler on ${label(target)} (epoch ${epoch}): no scheduler is healthy and ${previously}`;
    d.reasons.push(`no scheduler is healthy and ${previously}: start on ${label(target)} (epoch ${epoch})`);
    d.actions.push(...startOn(target, c.rows.get(target.id), epoch, 'initial-start', why));
    d.events.push(event(now, 'start', target.id, epoch, why));
    d.state = { ...d.state, epoch, active: [target.id], pending: [{ nodeId: target.id, epoch, issuedAt: now }], restartAttempts: 0 };
    d.verdict = 'recovering';
    return;
  }

  const activeRow = c.rows.get(active.id);
  const activeOnline = obs.reachability[active.id] === 'Online';
  const activeBanned = isBanned(d.state, active.id, now);
  const down = `active ${label(active)} is not healthy (${ageText(activeRow)}${activeRow !== undefined ? `, stale after ${config.staleAfterSeconds} s` : ''})`;

  const restartInPlace = (why: string): void => {
    const epoch = d.state.epoch;
    d.actions.push(stop(active, epoch, 'restart-stop', `stop before restart: ${why}`));
    d.actions.push({
      kind: 'start',
      nodeId: active.id,
      hostname: active.hostname,
      epoch,
      purpose: 'restart-start',
      reason: `restart scheduler in place on ${label(active)}: ${why}`,
      requiresStopped: [active.id],
    });
    d.events.push(event(now, 'restart', active.id, epoch, why));
    d.reasons.push(`restart in place on ${label(active)}: ${why}`);
    d.state = {
      ...d.state,
      pending: [{ nodeId: active.id, epoch, issuedAt: now }],
      restartAttempts: d.state.restartAttempts + 1,
    };
    d.counts.restarts = 1;
    d.verdict = 'recovering';
  };

  if (activeOnline && !activeBanned && d.state.restartAttempts < config.restartInPlaceAttempts) {
    restartInPlace(`${down}; restart ${d.state.restartAttempts + 1} of ${config.restartInPlaceAttempts}`);
    return;
  }

  const budget = activeBanned
    ? `${active.id} is banned`
    : !activeOnline
      ? `${active.id} is ${obs.reachability[active.id] ?? 'absent'} in SSM`
      : config.restartInPlaceAttempts === 0
        ? 'no restart in place configured (restartInPlaceAttempts 0)'
        : 'restart budget spent';
  if (d.state.failoverTimes.length >= config.maxFailoversPerHour) {
    raiseAlarm(
      d,
      'suppressed',
      `${down}, ${budget}; automatic failover suppressed: ${d.state.failoverTimes.length} failover(s) in the last hour (maxFailoversPerHour ${config.maxFailoversPerHour})`,
      now,
    );
    return;
  }
  const target = nextCandidate(config, obs, d.state, active.id, now, new Set([active.id]));
  if (target === undefined) {
    if (activeOnline && !activeBanned) {
      // Staying down is worse than another local attempt; each failed attempt still counts towards a ban.
      restartInPlace(`${down}; restart budget spent but no other node can take over (${whyNotCandidate(config, obs, d.state, now)})`);
      return;
    }
    raiseAlarm(d, 'no-candidate', `${down}, ${budget}; no failover candidate (${whyNotCandidate(config, obs, d.state, now)})`, now);
    return;
  }
  const epoch = d.state.epoch + 1;
  const fence = activeOnline;
  const why = `start scheduler on ${label(target)} (epoch ${epoch}): ${down}, ${budget}`;
  d.reasons.push(`fail over from ${label(active)} to ${label(target)} (epoch ${epoch}): ${down}, ${budget}`);
  if (fence) {
    d.actions.push(stop(active, epoch, 'fence', `fence: stop the scheduler on the old active ${label(active)} before starting elsewhere`));
  } else {
    d.reasons.push(
      `old active ${label(active)} is ${obs.reachability[active.id] ?? 'absent'} in SSM: fencing stop skipped; if its scheduler comes back it is stopped as a duplicate`,
    );
  }
  d.actions.push(...startOn(target, c.rows.get(target.id), epoch, 'failover-start', why, { ids: fence ? [active.id] : [], proceedIfUnreachable: true }));
  d.events.push(event(now, 'failover', target.id, epoch, `failover from ${active.id}: ${why}`));
  d.state = {
    ...d.state,
    epoch,
    active: [target.id],
    pending: [{ nodeId: target.id, epoch, issuedAt: now }],
    failoverTimes: [...d.state.failoverTimes, now],
    restartAttempts: 0,
  };
  d.counts.failovers = 1;
  d.verdict = 'recovering';
};

const decideMulti = (d: Draft, obs: Observation, c: Classified, inGrace: PendingStart[], config: ClusterConfig, now: number): void => {
  const healthyIds = new Set(c.healthy.map((n) => n.id));
  const pendingIds = new Set(inGrace.map((p) => p.nodeId));
  const deficit = config.desiredSchedulers - c.healthy.length - pendingIds.size;
  d.reasons.push(
    `${c.healthy.length} of ${config.desiredSchedulers} desired scheduler(s) healthy${pendingIds.size > 0 ? `, ${pendingIds.size} starting` : ''}`,
  );
  const started: NodeRef[] = [];
  if (deficit > 0 && d.hold) {
    d.reasons.push(`metadata DB back since ${secs(now - (d.state.dbOutage?.endedAt ?? now))}: no start until staleAfterSeconds (${config.staleAfterSeconds} s) after the outage`);
  } else if (deficit > 0) {
    const candidates = config.nodes.filter(
      (n) => !healthyIds.has(n.id) && !pendingIds.has(n.id) && obs.reachability[n.id] === 'Online' && !isBanned(d.state, n.id, now),
    );
    started.push(...candidates.slice(0, deficit));
    if (started.length < deficit) {
      raiseAlarm(
        d,
        'no-candidate',
        `${deficit - started.length} more scheduler(s) needed but no node can take one (${whyNotCandidate(config, obs, d.state, now)})`,
        now,
      );
    }
  }
  const intended = config.nodes.filter((n) => healthyIds.has(n.id) || pendingIds.has(n.id) || started.includes(n)).map((n) => n.id);
  const changed = canonical(intended) !== canonical(d.state.active);
  const epoch = changed ? d.state.epoch + 1 : d.state.epoch;
  for (const n of c.removedHealthy) {
    const why = `stop the scheduler on ${label(n)}: node removed from configuration`;
    d.actions.push(stop(n, epoch, 'stop-removed', why));
    d.events.push(event(now, 'stop-removed', n.id, epoch, why));
  }
  for (const n of started) {
    const why = `start scheduler on ${label(n)} (epoch ${epoch}): ${c.healthy.length} healthy of ${config.desiredSchedulers} desired`;
    d.actions.push(...startOn(n, c.rows.get(n.id), epoch, 'scale-up', why));
    d.events.push(event(now, 'scale-up', n.id, epoch, why));
  }
  d.state = {
    ...d.state,
    epoch,
    active: intended,
    pending: [...inGrace, ...started.map((n) => ({ nodeId: n.id, epoch, issuedAt: now }))],
  };
  if (deficit <= 0 && d.state.lastAlarm !== undefined) d.state = { ...d.state, lastAlarm: undefined };
  d.counts.restarts = started.length;
  if (d.verdict === 'no-candidate') return;
  d.verdict =
    started.length > 0 || pendingIds.size > 0
      ? 'recovering'
      : c.healthy.length >= config.desiredSchedulers
        ? 'healthy'
        : c.healthy.length > 0
          ? 'degraded'
          : 'down';
};

const emptyCounts = () => ({ failovers: 0, restarts: 0, duplicateStops: 0, suppressed: 0, noCandidate: 0 });

/**
 * The outage bookkeeping: remember when a tick first saw the DB down, and when one first saw it back, so
 * the ticks after an outage do not take the heartbeats it froze for dead schedulers.
 */
const trackOutage = (record: RecordState, dbUp: boolean, config: ClusterConfig, now: number): { state: RecordState; hold: boolean } => {
  const o = record.dbOutage;
  if (!dbUp) {
    const starts = o === undefined || o.endedAt !== undefined;
    return { state: starts ? { ...record, history: pushHistory(record.history, []), dbOutage: { since: now } } : record, hold: true };
  }
  if (o === undefined) return { state: record, hold: false };
  const endedAt = o.endedAt ?? now;
  if (now - endedAt < config.staleAfterSeconds * 1000) return { state: { ...record, dbOutage: { since: o.since, endedAt } }, hold: true };
  const { dbOutage: _o, ...rest } = record;
  return { state: rest, hold: false };
};

const decide = (obs: Observation, record: RecordState, config: ClusterConfig, now: number): Plan => {
  if (obs.db.status === 'unreachable') {
    // Paused and observe ticks write nothing; otherwise the only write is the outage's start time.
    const passive = config.enforcement === 'observe' || record.paused !== undefined;
    const tracked = passive ? record : trackOutage(record, false, config, now).state;
    return {
      verdict: 'unknown',
      actions: [],
      reasons: [`metadata DB unreachable (${obs.db.reason}): no action; a DB outage is never a reason to fail over`],
      alarms: [],
      ...(tracked === record ? {} : { next: tracked }),
      counts: { healthy: 0, ...emptyCounts() },
    };
  }
  const okObs = obs as Observation & { db: { status: 'ok' } };
  const c = classify(okObs, record, config);
  const reachNote = obs.reachabilityError === undefined ? [] : [`SSM reachability unknown: ${obs.reachabilityError}`];

  if (record.paused !== undefined || config.enforcement === 'observe') {
    const why =
      record.paused !== undefined
        ? `paused since ${new Date(record.paused.since).toISOString()} by ${record.paused.by}: ${record.paused.reason}; observing only`
        : 'enforcement is observe: metrics only';
    return {
      verdict: record.paused !== undefined ? 'paused' : 'observe-only',
      actions: [],
      reasons: [why, ...c.warnings, ...reachNote],
      alarms: c.alarms,
      counts: { healthy: c.healthy.length, ...emptyCounts() },
    };
  }

  const outage = trackOutage(record, true, config, now);
  const settled = settle(outage.state, c, config, now, outage.hold);
  const d: Draft = {
    hold: outage.hold,
    state: settled.state,
    actions: [],
    reasons: [...settled.reasons],
    events: [...settled.events],
    alarms: [...c.alarms],
    verdict: 'healthy',
    counts: emptyCounts(),
  };
  if (config.mode === 'single') decideSingle(d, obs, c, settled.inGrace, config, now);
  else decideMulti(d, obs, c, settled.inGrace, config, now);

  const next: RecordState = { ...d.state, history: pushHistory(d.state.history, d.events) };
  return {
    verdict: d.verdict,
    actions: ordered(d.actions),
    reasons: [...d.reasons, ...c.warnings, ...reachNote],
    alarms: d.alarms,
    ...(sameState(next, record) ? {} : { next }),
    counts: { healthy: c.healthy.length, ...d.counts },
  };
};

// ---------------------------------------------------------------------------------------------
// Manual actions (SPEC §5): pure planners too; the handler commits their state like a tick's.

interface ManualFailover {
  readonly to?: string;
  readonly reason: string;
  readonly force: boolean;
  readonly caller: string;
}

const planManualFailover = (obs: Observation, record: RecordState, config: ClusterConfig, req: ManualFailover, now: number): Plan => {
  if (config.mode !== 'single') throw new RefusedError('failover applies to single mode; in multi mode stop or start nodes through their configuration');
  if (obs.db.status === 'unreachable' && !req.force) {
    throw new RefusedError(`metadata DB unreachable (${obs.db.reason}): failover refused without "force": true`);
  }
  const okObs: Observation & { db: { status: 'ok' } } =
    obs.db.status === 'ok' ? (obs as Observation & { db: { status: 'ok' } }) : { ...obs, db: { status: 'ok', rows: {}, foreign: [] } };
  const c = classify(okObs, record, config);
  const activeId = record.active[0];
  const active = config.nodes.find((n) => n.id === activeId);
  let target: NodeRef | undefined;
  if (req.to !== undefined) {
    target = config.nodes.find((n) => n.id === req.to || n.hostname === req.to);
    if (target === undefined) throw new RefusedError(`to: "${req.to}" is not a configured node id or hostname`);
  } else {
    target = nextCandidate(config, obs, record, activeId, now, new Set(activeId === undefined ? [] : [activeId]));
    if (target === undefined) throw new RefusedError(`no failover candidate (${whyNotCandidate(config, obs, record, now)})`);
  }
  const targetHealthy = c.healthy.some((n) => n.id === target.id);
  if (target.id === activeId && targetHealthy) throw new RefusedError(`to: ${label(target)} is already the healthy active node`);
  if (obs.reachability[target.id] !== 'Online' && !targetHealthy && !req.force) {
    throw new RefusedError(`to: ${label(target)} is ${obs.reachability[target.id] ?? 'absent'} in SSM; use "force": true to try anyway`);
  }
  const epoch = record.epoch + 1;
  const actions: Action[] = [];
  const stopped: string[] = [];
  const why = `manual failover by ${req.caller}: ${req.reason}`;
  const toStop = new Map<string, NodeRef>();
  if (active !== undefined && active.id !== target.id && (obs.reachability[active.id] === 'Online' || c.healthy.some((n) => n.id === active.id))) {
    toStop.set(active.id, active);
  }
  for (const n of c.healthy) if (n.id !== target.id) toStop.set(n.id, n);
  // A start still coming up elsewhere would become a second scheduler and could win over the operator's choice.
  const cancelled = new Set<string>();
  for (const p of record.pending) {
    const n = config.nodes.find((x) => x.id === p.nodeId);
    if (n !== undefined && n.id !== target.id && !toStop.has(n.id) && now - p.issuedAt < config.startupGraceSeconds * 1000) {
      toStop.set(n.id, n);
      cancelled.add(n.id);
    }
  }
  // A stop that cannot reach a node whose scheduler is healthy must block the start, or single mode runs two.
  const stoppingHealthy = [...toStop.keys()].some((id) => c.healthy.some((n) => n.id === id));
  for (const n of toStop.values()) {
    const purpose = cancelled.has(n.id) ? 'cancel-pending' : n.id === activeId ? 'fence' : 'stop-duplicate';
    actions.push(stop(n, epoch, purpose, `${purpose === 'cancel-pending' ? 'cancel the pending start' : 'stop the scheduler'} on ${label(n)}: ${why}`));
    stopped.push(n.id);
  }
  if (!targetHealthy) {
    actions.push(
      ...startOn(target, c.rows.get(target.id), epoch, 'failover-start', `start scheduler on ${label(target)} (epoch ${epoch}): ${why}`, {
        ids: stopped,
        proceedIfUnreachable: !stoppingHealthy,
      }),
    );
  }
  const failures = { ...record.failures };
  delete failures[target.id];
  const next: RecordState = {
    ...record,
    epoch,
    active: [target.id],
    pending: targetHealthy ? [] : [{ nodeId: target.id, epoch, issuedAt: now }],
    failures,
    restartAttempts: 0,
    history: pushHistory(record.history, [event(now, 'manual-failover', target.id, epoch, `${active === undefined ? 'none' : active.id} → ${target.id}: ${req.reason}`, req.caller)]),
  };
  return {
    verdict: 'recovering',
    actions: ordered(actions),
    reasons: [`${why}: ${active === undefined ? 'no active node' : label(active)} → ${label(target)} (epoch ${epoch})`, ...c.warnings],
    alarms: c.alarms,
    next,
    counts: { healthy: c.healthy.length, ...emptyCounts() },
  };
};

const planPause = (record: RecordState, reason: string, caller: string, now: number): RecordState => {
  if (record.paused !== undefined) throw new RefusedError(`already paused since ${new Date(record.paused.since).toISOString()} by ${record.paused.by}: ${record.paused.reason}`);
  return {
    ...record,
    paused: { reason, since: now, by: caller },
    history: pushHistory(record.history, [event(now, 'pause', undefined, record.epoch, reason, caller)]),
  };
};

const planResume = (record: RecordState, caller: string, now: number, reason?: string): RecordState => {
  if (record.paused === undefined) throw new RefusedError('not paused');
  const { paused: _paused, ...rest } = record;
  // Pending starts issued before the pause are stale by now; the next tick re-plans from what it sees.
  return {
    ...rest,
    pending: [],
    history: pushHistory(record.history, [event(now, 'resume', undefined, record.epoch, `${reason ?? 'resumed'} (paused for: ${record.paused.reason})`, caller)]),
  };
};

export { addFailure, decide, isBanned, label, planManualFailover, planPause, planResume, pushHistory, sameState, WATCHDOG_CALLER };
export type { ManualFailover };
