import { ageText, event, isBanned, label, secs } from '../bookkeeping.js';
import type { NodeRef } from '../model.js';
import {
  awaitingText,
  deathText,
  nextCandidate,
  type PlanDraft,
  raiseAlarm,
  type Rule,
  type RuleContext,
  startOn,
  stop,
  stopRemoved,
  whyNotCandidate,
} from './common.js';

/**
 * Single mode (docs/design.md, "Single mode"): exactly one scheduler. The rules run in this order and
 * the first that applies decides.
 */

const activeNode = (ctx: RuleContext, d: PlanDraft): NodeRef | undefined => {
  const id = d.state.active[0];
  return id === undefined ? undefined : ctx.byId.get(id);
};

/** ≥ 1 healthy: keep the record's active if healthy, else the healthy node of highest priority; stop the others. */
const keepHealthy: Rule = {
  id: 'single-keep-healthy',
  implements: 'single mode 1: keep one healthy scheduler, stop duplicates',
  apply: (ctx, d) => {
    const { view, now } = ctx;
    if (view.healthy.length === 0) return false;
    const activeId = d.state.active[0];
    const active = activeNode(ctx, d);
    const keep = active !== undefined && view.healthy.some((n) => n.id === active.id) ? active : (view.healthy[0] as NodeRef);
    let epoch = d.state.epoch;
    if (keep.id !== activeId) {
      epoch += 1;
      const why =
        activeId === undefined
          ? `adopt the running ${ctx.noun} on ${label(keep)} as active (epoch ${epoch})`
          : `adopt ${label(keep)} as active (epoch ${epoch}): the recorded active ${activeId} is not healthy (${ageText(view.rows.get(activeId), ctx.noun)})`;
      d.reasons.push(why);
      d.events.push(event(now, 'adopt', keep.id, epoch, why));
    } else {
      d.reasons.push(`active ${label(keep)} is healthy (${ageText(view.rows.get(keep.id), ctx.noun)})`);
    }
    for (const n of view.healthy) {
      if (n.id === keep.id) continue;
      const why = `stop duplicate ${ctx.noun} on ${label(n)} (${ageText(view.rows.get(n.id), ctx.noun)}): single mode keeps only ${label(keep)}`;
      d.actions.push(stop(n, epoch, 'stop-duplicate', why));
      d.events.push(event(now, 'stop-duplicate', n.id, epoch, why));
      d.counts.duplicateStops += 1;
    }
    for (const p of ctx.inGrace) {
      const n = ctx.byId.get(p.nodeId);
      if (n === undefined || n.id === keep.id) continue;
      d.actions.push(stop(n, epoch, 'cancel-pending', `cancel the pending start on ${label(n)}: ${label(keep)} is healthy`));
    }
    stopRemoved(ctx, d, epoch);
    d.state = { ...d.state, epoch, active: [keep.id], pending: [], restartAttempts: 0 };
    if (d.state.lastAlarm !== undefined) d.state = { ...d.state, lastAlarm: undefined };
    const skewed = view.healthy.some((n) => {
      const l = view.liveness.get(n.id);
      return l?.kind === 'alive' && l.skewed;
    });
    d.verdict = d.actions.length > 0 || view.foreignHealthy.length > 0 || skewed ? 'degraded' : 'healthy';
    return true;
  },
};

/** A removed node still runs a healthy scheduler that SSM cannot reach: starting another would make two. */
const removedUnreachable: Rule = {
  id: 'single-removed-unreachable',
  implements: 'single mode 2: a removed node that cannot be stopped blocks any start',
  apply: (ctx, d) => {
    const unreachable = ctx.view.removedHealthy.filter((n) => ctx.obs.reachability[n.id] !== 'Online');
    if (unreachable.length === 0) return false;
    d.reasons.push(
      `${ctx.noun} on removed node(s) ${unreachable.map(label).join(', ')} is healthy but not Online in SSM: not starting another until it is stopped`,
    );
    d.verdict = 'degraded';
    return true;
  },
};

/** A foreign scheduler counts as running: start nothing, but a removed node's scheduler is a duplicate of it. */
const foreignRunning: Rule = {
  id: 'single-foreign-running',
  implements: 'single mode 3: a healthy foreign scheduler counts as running',
  apply: (ctx, d) => {
    if (ctx.view.foreignHealthy.length === 0) return false;
    stopRemoved(ctx, d, d.state.epoch);
    d.reasons.push(`a foreign ${ctx.noun} is healthy: not starting another in single mode`);
    d.verdict = 'degraded';
    return true;
  },
};

const pendingStart: Rule = {
  id: 'single-pending-start',
  implements: 'single mode 4: wait for a start within startupGraceSeconds',
  apply: (ctx, d) => {
    if (ctx.inGrace.length === 0) return false;
    for (const p of ctx.inGrace) {
      const n = ctx.byId.get(p.nodeId);
      d.reasons.push(
        `waiting for the start on ${n === undefined ? p.nodeId : label(n)} issued ${secs(ctx.now - p.issuedAt)} ago (grace ${ctx.config.startupGraceSeconds} s)`,
      );
    }
    if (ctx.view.removedHealthy.length > 0) {
      // The pending start was gated on stopping it; a SIGKILLed scheduler's row stays fresh until staleAfterSeconds.
      // Planning a second start now could clear-stale the one that is coming up.
      d.reasons.push(
        `removed node(s) ${ctx.view.removedHealthy.map(label).join(', ')} still show a fresh heartbeat; stopped again once the pending start is settled if it persists`,
      );
    }
    d.verdict = 'recovering';
    return true;
  },
};

/** Only a removed node runs a scheduler: move it to a configured node, the start gated on its stop. */
const migrateFromRemoved: Rule = {
  id: 'single-migrate-from-removed',
  implements: 'single mode 5: move the scheduler off a removed node',
  apply: (ctx, d) => {
    const { view, config, obs, now } = ctx;
    if (view.removedHealthy.length === 0) return false;
    const target = nextCandidate(config, obs, d.state, undefined, now, new Set());
    if (target === undefined) {
      raiseAlarm(d, 'no-candidate', `no configured node can take over from removed node(s) (${whyNotCandidate(config, obs, d.state, now)})`, now);
      return true;
    }
    const epoch = d.state.epoch + 1;
    stopRemoved(ctx, d, epoch);
    const why = `start ${ctx.noun} on ${label(target)} (epoch ${epoch}) once the removed node's ${ctx.noun} is stopped`;
    d.reasons.push(`no configured node runs a ${ctx.noun}; the one on removed node(s) ${view.removedHealthy.map(label).join(', ')} moves to ${label(target)} (epoch ${epoch})`);
    d.actions.push(
      ...startOn(target, view.rows.get(target.id), epoch, 'initial-start', why, { ids: view.removedHealthy.map((n) => n.id), proceedIfUnreachable: false }, ctx.noun),
    );
    d.events.push(event(now, 'start', target.id, epoch, why));
    d.state = { ...d.state, epoch, active: [target.id], pending: [{ nodeId: target.id, epoch, issuedAt: now }], restartAttempts: 0 };
    d.verdict = 'recovering';
    return true;
  },
};

/** No active node recorded (or it was removed from the configuration): start on the first candidate. */
const initialStart: Rule = {
  id: 'single-initial-start',
  implements: 'single mode 6: no active node: start on the first candidate',
  apply: (ctx, d) => {
    if (activeNode(ctx, d) !== undefined) return false;
    const { view, config, obs, now } = ctx;
    const activeId = d.state.active[0];
    const target = nextCandidate(config, obs, d.state, undefined, now, new Set());
    const previously = activeId === undefined ? 'no active node recorded' : `recorded active ${activeId} is no longer configured`;
    if (target === undefined) {
      raiseAlarm(d, 'no-candidate', `no ${ctx.noun} is healthy and ${previously}, but no node can take it (${whyNotCandidate(config, obs, d.state, now)})`, now);
      return true;
    }
    const epoch = d.state.epoch + 1;
    const why = `start ${ctx.noun} on ${label(target)} (epoch ${epoch}): no ${ctx.noun} is healthy and ${previously}`;
    d.reasons.push(`no ${ctx.noun} is healthy and ${previously}: start on ${label(target)} (epoch ${epoch})`);
    d.actions.push(...startOn(target, view.rows.get(target.id), epoch, 'initial-start', why, undefined, ctx.noun));
    d.events.push(event(now, 'start', target.id, epoch, why));
    d.state = { ...d.state, epoch, active: [target.id], pending: [{ nodeId: target.id, epoch, issuedAt: now }], restartAttempts: 0 };
    d.verdict = 'recovering';
    return true;
  },
};

/** What the rules below say about the active node. */
const activeFacts = (ctx: RuleContext, d: PlanDraft, active: NodeRef) => {
  const row = ctx.view.rows.get(active.id);
  const online = ctx.obs.reachability[active.id] === 'Online';
  const banned = isBanned(d.state, active.id, ctx.now);
  const down = `active ${label(active)} is not healthy (${ageText(row, ctx.noun)}${row !== undefined ? `, stale after ${ctx.config.staleAfterSeconds} s` : ''}${deathText(ctx, active)})`;
  const budget = banned
    ? `${active.id} is banned`
    : !online
      ? `${active.id} is ${ctx.obs.reachability[active.id] ?? 'absent'} in SSM`
      : ctx.config.restartInPlaceAttempts === 0
        ? 'no restart in place configured (restartInPlaceAttempts 0)'
        : 'restart budget spent';
  return { online, banned, down, budget };
};

const planRestartInPlace = (ctx: RuleContext, d: PlanDraft, active: NodeRef, why: string): void => {
  const epoch = d.state.epoch;
  d.actions.push(stop(active, epoch, 'restart-stop', `stop before restart: ${why}`));
  d.actions.push({
    kind: 'start',
    nodeId: active.id,
    hostname: active.hostname,
    epoch,
    purpose: 'restart-start',
    reason: `restart ${ctx.noun} in place on ${label(active)}: ${why}`,
    requiresStopped: [active.id],
  });
  d.events.push(event(ctx.now, 'restart', active.id, epoch, why));
  d.reasons.push(`restart in place on ${label(active)}: ${why}`);
  d.state = { ...d.state, pending: [{ nodeId: active.id, epoch, issuedAt: ctx.now }], restartAttempts: d.state.restartAttempts + 1 };
  d.counts.restarts = 1;
  d.verdict = 'recovering';
};

/** The active's heartbeat is stale but nothing proves it dead: do nothing to it, start nothing elsewhere. */
const awaitEvidence: Rule = {
  id: 'single-await-evidence',
  implements: 'liveness: restart what is dead, never what is merely unseen',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined || !ctx.view.suspect.some((n) => n.id === active.id)) return false;
    d.reasons.push(`active ${awaitingText(ctx, active)}`);
    d.verdict = 'recovering';
    return true;
  },
};

const restartInPlace: Rule = {
  id: 'single-restart-in-place',
  implements: 'single mode 7: restart in place while the budget lasts',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined) return false;
    const f = activeFacts(ctx, d, active);
    if (!f.online || f.banned || d.state.restartAttempts >= ctx.config.restartInPlaceAttempts) return false;
    planRestartInPlace(ctx, d, active, `${f.down}; restart ${d.state.restartAttempts + 1} of ${ctx.config.restartInPlaceAttempts}`);
    return true;
  },
};

const suppressed: Rule = {
  id: 'single-suppressed',
  implements: 'single mode 8: no automatic failover beyond maxFailoversPerHour',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined || d.state.failoverTimes.length < ctx.config.maxFailoversPerHour) return false;
    const f = activeFacts(ctx, d, active);
    raiseAlarm(
      d,
      'suppressed',
      `${f.down}, ${f.budget}; automatic failover suppressed: ${d.state.failoverTimes.length} failover(s) in the last hour (maxFailoversPerHour ${ctx.config.maxFailoversPerHour})`,
      ctx.now,
    );
    return true;
  },
};

/**
 * STONITH (fenceUnreachable `ec2-stop`): an old active SSM cannot reach is force-stopped through EC2
 * before its replacement starts, when it is an EC2 instance and nothing on it shows life.
 */
const powerFence = (ctx: RuleContext, active: NodeRef): { fence: boolean; reason: string } | undefined => {
  if (ctx.config.fenceUnreachable !== 'ec2-stop') return undefined;
  if (!active.id.startsWith('i-')) {
    return { fence: false, reason: `${active.id} is a hybrid node: EC2 cannot force-stop it, so a ${ctx.noun} that comes back there runs beside the new one until it is stopped as a duplicate` };
  }
  if (ctx.aliveElsewhere.has(active.id)) {
    return { fence: false, reason: `not force-stopping ${active.id}: another component is healthy there, so the instance lives and a force-stop would take that component down too` };
  }
  return { fence: true, reason: `power-fence: force-stop EC2 instance ${label(active)} (SSM cannot reach it) and wait until EC2 reports it stopping before starting elsewhere` };
};

const failoverTarget = (ctx: RuleContext, d: PlanDraft, active: NodeRef): NodeRef | undefined =>
  nextCandidate(ctx.config, ctx.obs, d.state, active.id, ctx.now, new Set([active.id]));

/** No other node can take over: staying down is worse than another local attempt (each still counts towards a ban). */
const lastResortRestart: Rule = {
  id: 'single-last-resort-restart',
  implements: 'single mode 9: no candidate but the active node is reachable: restart it again',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined || failoverTarget(ctx, d, active) !== undefined) return false;
    const f = activeFacts(ctx, d, active);
    if (!f.online || f.banned) return false;
    planRestartInPlace(ctx, d, active, `${f.down}; restart budget spent but no other node can take over (${whyNotCandidate(ctx.config, ctx.obs, d.state, ctx.now)})`);
    return true;
  },
};

const noCandidate: Rule = {
  id: 'single-no-candidate',
  implements: 'single mode 10: no node can take over',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined || failoverTarget(ctx, d, active) !== undefined) return false;
    const f = activeFacts(ctx, d, active);
    raiseAlarm(d, 'no-candidate', `${f.down}, ${f.budget}; no failover candidate (${whyNotCandidate(ctx.config, ctx.obs, d.state, ctx.now)})`, ctx.now);
    return true;
  },
};

/** Fail over to the next candidate: fence the old active first if SSM can reach it; epoch + 1. */
const failover: Rule = {
  id: 'single-failover',
  implements: 'single mode 11: fail over to the next Online, non-banned node',
  apply: (ctx, d) => {
    const active = activeNode(ctx, d);
    if (active === undefined) return false;
    const target = failoverTarget(ctx, d, active);
    if (target === undefined) return false;
    const { now, obs, view } = ctx;
    const f = activeFacts(ctx, d, active);
    const epoch = d.state.epoch + 1;
    const fence = f.online;
    const power = !fence ? powerFence(ctx, active) : undefined;
    const why = `start ${ctx.noun} on ${label(target)} (epoch ${epoch}): ${f.down}, ${f.budget}`;
    d.reasons.push(`fail over from ${label(active)} to ${label(target)} (epoch ${epoch}): ${f.down}, ${f.budget}`);
    if (fence) {
      d.actions.push(stop(active, epoch, 'fence', `fence: stop the ${ctx.noun} on the old active ${label(active)} before starting elsewhere`));
    } else if (power?.fence === true) {
      d.actions.push(stop(active, epoch, 'power-fence', power.reason));
      d.reasons.push(power.reason);
    } else {
      d.reasons.push(
        `old active ${label(active)} is ${obs.reachability[active.id] ?? 'absent'} in SSM: fencing stop skipped; if its ${ctx.noun} comes back it is stopped as a duplicate${power === undefined ? '' : ` (${power.reason})`}`,
      );
    }
    // A power fence must have succeeded (EC2 reports the instance stopping) before anything starts elsewhere.
    const requires = fence ? { ids: [active.id], proceedIfUnreachable: true } : power?.fence === true ? { ids: [active.id], proceedIfUnreachable: false } : { ids: [], proceedIfUnreachable: true };
    d.actions.push(...startOn(target, view.rows.get(target.id), epoch, 'failover-start', why, requires, ctx.noun));
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
    return true;
  },
};

const SINGLE_RULES: readonly Rule[] = [
  keepHealthy,
  removedUnreachable,
  foreignRunning,
  pendingStart,
  migrateFromRemoved,
  initialStart,
  awaitEvidence,
  restartInPlace,
  suppressed,
  lastResortRestart,
  noCandidate,
  failover,
];

export { SINGLE_RULES };
