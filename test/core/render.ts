import { type ClusterConfig, componentsOf } from '../../functions/core/config.js';
import { projectConfig, projectObservation, projectState } from '../../functions/core/projection.js';
import type { Observation, Plan, RecordState, SchedulerRow } from '../../functions/core/model.js';

/**
 * A human-readable summary of one decision, in the spirit of Pacemaker's scheduler `.summary` files:
 * current status, the transition (each action with its reason), then the revised record. Times are shown
 * relative to `now` so goldens read naturally.
 */

const rel = (t: number, now: number): string => {
  const s = Math.round((t - now) / 1000);
  return s === 0 ? 'now' : s < 0 ? `${-s} s ago` : `in ${s} s`;
};

const recordLines = (r: RecordState, now: number): string[] => {
  const lines = [
    `epoch ${r.epoch}; active [${r.active.join(', ')}]; restart attempts ${r.restartAttempts}; failovers in the last hour ${r.failoverTimes.filter((t) => now - t < 3_600_000).length}`,
  ];
  lines.push(
    r.pending.length === 0 ? 'pending: none' : `pending: ${r.pending.map((p) => `${p.nodeId} (epoch ${p.epoch}, issued ${rel(p.issuedAt, now)}${p.sentAt === undefined && p.issuedAt < now ? ', never sent' : ''})`).join(', ')}`,
  );
  const failures = Object.entries(r.failures);
  lines.push(
    failures.length === 0
      ? 'failures: none'
      : `failures: ${failures
          .map(([id, f]) => `${id} ×${f.count} (last ${rel(f.lastFailureAt, now)}${f.bannedUntil !== undefined ? `, banned until ${rel(f.bannedUntil, now)}` : ''})`)
          .join(', ')}`,
  );
  lines.push(r.paused === undefined ? 'paused: no' : `paused: yes, by ${r.paused.by} ${rel(r.paused.since, now)}: ${r.paused.reason}`);
  if (r.lastAlarm !== undefined) lines.push(`last alarm: ${r.lastAlarm.kind} ${rel(r.lastAlarm.at, now)}`);
  if (r.dbOutageSeen !== undefined) {
    const o = r.dbOutageSeen;
    lines.push(`last DB outage seen: down ${rel(o.downAt, now)}, ${o.backAt === undefined ? 'not back yet' : `back ${rel(o.backAt, now)}`}`);
  }
  return lines;
};

/** The status lines of one component's projection (the scheduler's: the whole cluster). */
const statusLines = (obs: Observation, record: RecordState, config: ClusterConfig, now: number, noun = 'scheduler'): string[] => {
  const out: string[] = [];
  out.push(`  mode ${config.mode}${config.mode === 'multi' ? ` (desired ${config.desiredSchedulers})` : ''}, enforcement ${config.enforcement}, stale after ${config.staleAfterSeconds} s`);
  if (obs.db.status === 'unreachable') out.push(`  metadata DB: UNREACHABLE (${obs.db.reason})`);
  if (obs.reachabilityError !== undefined) out.push(`  SSM reachability: UNKNOWN (${obs.reachabilityError})`);
  if (obs.dbBackAt !== undefined) out.push(`  metadata DB: back ${rel(obs.dbBackAt, now)} after an outage this invocation saw`);
  const configuredIds = new Set(config.nodes.map((n) => n.id));
  const configuredHosts = new Set(config.nodes.map((n) => n.hostname));
  // Nodes the record still knows but the configuration no longer lists (their rows arrive among the foreign ones).
  const removed = record.nodes.filter((n) => !configuredIds.has(n.id) && !configuredHosts.has(n.hostname));
  const removedHosts = new Set(removed.map((n) => n.hostname));
  const rowOf = (hostname: string): SchedulerRow | undefined =>
    obs.db.status === 'ok' ? (obs.db.rows[hostname] ?? obs.db.foreign.find((f) => f.hostname === hostname)) : undefined;
  const heartbeat = (row: SchedulerRow | undefined): string =>
    obs.db.status !== 'ok'
      ? 'heartbeat unknown'
      : row === undefined
        ? 'no live row'
        : `job ${row.jobId} ${row.state ?? 'NULL'} heartbeat ${row.ageSeconds} s${row.ageSeconds <= config.staleAfterSeconds ? ' (fresh)' : ' (stale)'}${row.freshRows > 1 ? `, ${row.freshRows} fresh rows` : ''}`;
  const evidence = (n: { id: string; hostname: string }): string[] => {
    const lines: string[] = [];
    const u = obs.units?.[n.id];
    if (u !== undefined) lines.push(u.ok ? `status answer: unit ${u.report.unitState}, permit ${u.report.permitEpoch ?? 'none'}` : `status answer unusable: ${u.error}`);
    const e = obs.earlier?.rows[n.hostname];
    if (obs.earlier !== undefined && e !== undefined) {
      const now0 = obs.db.status === 'ok' ? obs.db.rows[n.hostname] : undefined;
      const same = now0 !== undefined && now0.jobId === e.jobId && now0.latestHeartbeat === e.latestHeartbeat;
      lines.push(`${rel(obs.earlier.observedAt, now)}: job ${e.jobId} heartbeat ${e.ageSeconds} s${same ? ' (unchanged since)' : ''}`);
    }
    return lines.map((l) => `      ${l}`);
  };
  for (const n of config.nodes) {
    out.push(`  ${n.id} (${n.hostname}): ${obs.reachability[n.id] ?? 'absent'}, ${heartbeat(obs.db.status === 'ok' ? obs.db.rows[n.hostname] : undefined)}`);
    out.push(...evidence(n));
  }
  for (const n of removed) {
    out.push(`  ${n.id} (${n.hostname}) [removed from config]: ${obs.reachability[n.id] ?? 'absent'}, ${heartbeat(rowOf(n.hostname))}`);
  }
  if (obs.db.status === 'ok') {
    for (const f of obs.db.foreign) {
      if (!removedHosts.has(f.hostname)) out.push(`  foreign host ${f.hostname}: job ${f.jobId}${noun === 'scheduler' ? '' : ` (${noun})`} heartbeat ${f.ageSeconds} s`);
    }
  }
  out.push(...recordLines(record, now).map((l) => `  ${l}`));
  return out;
};

const historyLine = (e: RecordState['history'][number]): string =>
  `  + history: ${e.kind}${e.component === undefined ? '' : ` [${e.component}]`}${e.node === undefined ? '' : ` ${e.node}`} epoch ${e.epoch} by ${e.caller}: ${e.reason}`;

const renderDecision = (obs: Observation, record: RecordState, config: ClusterConfig, plan: Plan, now: number): string => {
  const out: string[] = [];
  const specs = componentsOf(config);
  const many = specs.length > 1;
  out.push('Current cluster status:');
  if (!many) out.push(...statusLines(obs, record, config, now));
  else {
    for (const spec of specs) {
      out.push(
        `  component ${spec.noun} (unit ${spec.unitName}, job type ${spec.jobType}, nodes ${spec.nodes.map((n) => n.id).join(', ')}):`,
        ...statusLines(projectObservation(obs, spec), projectState(record, spec.name, spec), projectConfig(config, spec), now, spec.noun).map((l) => `  ${l}`),
      );
    }
  }
  out.push('');
  out.push(`Verdict: ${plan.verdict}${many ? ` (${(plan.components ?? []).map((c) => `${c.component} ${c.verdict}`).join(', ')})` : ''}`);
  out.push('');
  out.push('Transition summary:');
  if (plan.actions.length === 0) out.push('  (no action)');
  plan.actions.forEach((a, i) => {
    // proceedIfUnreachable never applies to the start's own node (a clear-stale stop must succeed).
    const req =
      a.requiresStopped === undefined
        ? ''
        : ` [after stop of ${a.requiresStopped.map((id) => (a.proceedIfUnreachable && id !== a.nodeId ? `${id} (or if unreachable)` : id)).join(', ')}]`;
    out.push(`  ${i + 1}. ${a.kind.padEnd(5)} ${a.nodeId} (${a.hostname})${a.component === undefined ? '' : ` ${a.component}`} epoch ${a.epoch} <${a.purpose}>${req}`);
    out.push(`     because: ${a.reason}`);
  });
  out.push('');
  out.push('Reasons:');
  if (plan.reasons.length === 0) out.push('  (none)');
  for (const r of plan.reasons) out.push(`  - ${r}`);
  out.push(`Alarms: ${plan.alarms.length === 0 ? 'none' : plan.alarms.join(', ')}`);
  out.push('');
  if (plan.next === undefined) {
    out.push('Revised record: unchanged (no write)');
  } else {
    out.push('Revised record:');
    if (!many) out.push(...recordLines(plan.next, now).map((l) => `  ${l}`));
    else {
      for (const spec of specs) out.push(`  ${spec.noun}:`, ...recordLines(projectState(plan.next, spec.name, spec), now).map((l) => `    ${l}`));
    }
    const ids = (r: RecordState): string => r.nodes.map((n) => n.id).join(', ');
    if (ids(plan.next) !== ids(record)) out.push(`  known nodes: [${ids(plan.next)}] (was [${ids(record)}])`);
    const added = plan.next.history.slice(record.history.length >= 50 ? 0 : record.history.length);
    const fresh = added.filter((e) => e.at === now);
    for (const e of fresh) out.push(historyLine(e));
  }
  return `${out.join('\n')}\n`;
};

export { historyLine, recordLines, renderDecision };
