import { canonical, event, isBanned, label } from '../bookkeeping.js';
import type { NodeRef } from '../model.js';
import { awaitingText, raiseAlarm, type Rule, startOn, stopRemoved, whyNotCandidate } from './common.js';

/**
 * Multi mode (docs/design.md, "Multi mode"): keep `desiredSchedulers` healthy. Never stop a healthy
 * scheduler except on a node removed from the configuration.
 */

const reconcileCount: Rule = {
  id: 'multi-reconcile-count',
  implements: 'multi mode: start on Online, non-banned nodes until desired are healthy or starting',
  apply: (ctx, d) => {
    const { view, config, obs, now } = ctx;
    const healthyIds = new Set(view.healthy.map((n) => n.id));
    const pendingIds = new Set(ctx.inGrace.map((p) => p.nodeId));
    // A suspect (stale, not proven dead) may still run: it holds its place until the evidence is in.
    const suspectIds = new Set(view.suspect.filter((n) => !pendingIds.has(n.id)).map((n) => n.id));
    const deficit = config.desiredSchedulers - view.healthy.length - pendingIds.size - suspectIds.size;
    d.reasons.push(
      `${view.healthy.length} of ${config.desiredSchedulers} desired ${ctx.noun}(s) healthy${pendingIds.size > 0 ? `, ${pendingIds.size} starting` : ''}${suspectIds.size > 0 ? `, ${suspectIds.size} stale awaiting evidence` : ''}`,
    );
    for (const n of view.suspect) if (suspectIds.has(n.id)) d.reasons.push(awaitingText(ctx, n));
    for (const id of d.state.active) {
      const l = view.liveness.get(id);
      if (l?.kind === 'dead' && !pendingIds.has(id)) d.reasons.push(`${id} is dead: ${l.evidence}`);
    }
    const started: NodeRef[] = [];
    if (deficit > 0) {
      const candidates = config.nodes.filter(
        (n) => !healthyIds.has(n.id) && !pendingIds.has(n.id) && !suspectIds.has(n.id) && obs.reachability[n.id] === 'Online' && !isBanned(d.state, n.id, now),
      );
      started.push(...candidates.slice(0, deficit));
      if (started.length < deficit) {
        raiseAlarm(d, 'no-candidate', `${deficit - started.length} more ${ctx.noun}(s) needed but no node can take one (${whyNotCandidate(config, obs, d.state, now)})`, now);
      }
    }
    const intended = config.nodes.filter((n) => healthyIds.has(n.id) || pendingIds.has(n.id) || suspectIds.has(n.id) || started.includes(n)).map((n) => n.id);
    const changed = canonical(intended) !== canonical(d.state.active);
    const epoch = changed ? d.state.epoch + 1 : d.state.epoch;
    stopRemoved(ctx, d, epoch);
    for (const n of started) {
      const why = `start ${ctx.noun} on ${label(n)} (epoch ${epoch}): ${view.healthy.length} healthy of ${config.desiredSchedulers} desired`;
      d.actions.push(...startOn(n, view.rows.get(n.id), epoch, 'scale-up', why, undefined, ctx.noun));
      d.events.push(event(now, 'scale-up', n.id, epoch, why));
    }
    d.state = { ...d.state, epoch, active: intended, pending: [...ctx.inGrace, ...started.map((n) => ({ nodeId: n.id, epoch, issuedAt: now }))] };
    if (deficit <= 0 && d.state.lastAlarm !== undefined) d.state = { ...d.state, lastAlarm: undefined };
    d.counts.restarts = started.length;
    if (d.verdict === 'no-candidate') return true;
    d.verdict =
      started.length > 0 || pendingIds.size > 0 || suspectIds.size > 0
        ? 'recovering'
        : view.healthy.length >= config.desiredSchedulers
          ? 'healthy'
          : view.healthy.length > 0
            ? 'degraded'
            : 'down';
    return true;
  },
};

const MULTI_RULES: readonly Rule[] = [reconcileCount];

export { MULTI_RULES };
