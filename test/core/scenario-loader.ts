import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type ClusterConfig, componentsOf, parseClusterConfig } from '../../functions/core/config.js';
import { decide } from '../../functions/core/decide.js';
import { planManualFailover, planPause, planResume } from '../../functions/core/manual.js';
import { errorMessage, RefusedError } from '../../functions/core/errors.js';
import type { Action, CommandOutcome, ComponentState, Observation, Plan, RecordState, SchedulerRow, UnitProbe } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import { applyOutcome, applySkippedStart, blockingStop, describeOutcome, markSent } from '../../functions/core/outcomes.js';
import { recordLines, renderDecision } from './render.js';

/**
 * Loads the Pacemaker-style scenario files of test/scenarios (see its README): one JSON input per
 * scenario, times inside `record` written as seconds relative to `now`, plus an `expect` block that is
 * checked by machine, while the rendered golden (`<slug>.plan.txt`) is reviewed by a human.
 */

const SCENARIO_DIR = join(import.meta.dirname, '..', 'scenarios');

const rel = z.number().finite();

const rowInput = z
  .object({
    jobId: z.number().int(),
    state: z.string().nullable().default('running'),
    ageSeconds: z.number().finite(),
    /** Fresh live rows of the hostname; default 1 when this row is fresh, else 0 (as the DB adapter counts). */
    freshRows: z.number().int().min(0).optional(),
  })
  .strict();

const foreignInput = rowInput.extend({ hostname: z.string().min(1) }).strict();

const reachability = z.enum(['Online', 'ConnectionLost', 'Inactive', 'absent', 'unknown']);

const unitInput = z.union([
  z
    .object({
      unitState: z.string().min(1),
      running: z.boolean().optional(),
      permitEpoch: z.number().int().nullable().default(null),
      nodeEpoch: z.number().int().nullable().default(null),
    })
    .strict(),
  z.object({ error: z.string().min(1) }).strict(),
]);

/**
 * An earlier reading of the DB in the same invocation (the liveness evidence): `secondsAgo` before now.
 * `rows` gives its rows (ageSeconds as seen then); `unchanged: true` copies every current row with the
 * same latest_heartbeat when it is stale now (it did not beat in between), and fresh rows as beating.
 */
const otherComponent = z.enum(['dagProcessor', 'triggerer']);

const earlierInput = z
  .object({
    secondsAgo: z.number().finite().positive(),
    rows: z.record(z.string(), rowInput).default({}),
    /** The dag-processor's and triggerer's rows at that time. */
    others: z.partialRecord(otherComponent, z.record(z.string(), rowInput)).default({}),
    unchanged: z.boolean().default(false),
  })
  .strict();

const jobRowsInput = z.object({ rows: z.record(z.string(), rowInput).default({}), foreign: z.array(foreignInput).default([]) }).strict();

const observationInput = z
  .object({
    db: z.discriminatedUnion('status', [
      z
        .object({
          status: z.literal('ok'),
          rows: z.record(z.string(), rowInput).default({}),
          foreign: z.array(foreignInput).default([]),
          /** The dag-processor's and triggerer's rows, by component. */
          others: z.partialRecord(otherComponent, jobRowsInput).optional(),
        })
        .strict(),
      z.object({ status: z.literal('unreachable'), reason: z.string().min(1) }).strict(),
    ]),
    reachability: z.record(z.string(), reachability).default({}),
    reachabilityError: z.string().optional(),
    earlier: earlierInput.optional(),
    /** The DB answered again this many seconds before now, after this invocation found it unreachable. */
    dbBackSecondsAgo: z.number().finite().nonnegative().optional(),
    units: z.record(z.string(), unitInput).optional(),
    /** Status answers of the dag-processor's and triggerer's units, by component and node. */
    otherUnits: z.partialRecord(otherComponent, z.record(z.string(), unitInput)).optional(),
  })
  .strict();

const nodeRef = z.object({ id: z.string(), hostname: z.string() }).strict();

const failuresInput = z
  .record(
    z.string(),
    z
      .object({
        count: z.number().int().min(1),
        firstFailureAt: rel.optional(),
        lastFailureAt: rel,
        bannedUntil: rel.optional(),
        lastReason: z.string().optional(),
      })
      .strict(),
  )
  .default({});
const pendingInput = z.array(z.object({ nodeId: z.string(), epoch: z.number().int(), issuedAt: rel, sentAt: rel.optional() }).strict()).default([]);

/** A dag-processor's or triggerer's part of the record (times relative to now, as above). */
const componentStateInput = z
  .object({
    epoch: z.number().int().min(0).default(0),
    active: z.array(z.string()).default([]),
    pending: pendingInput,
    failures: failuresInput,
    failoverTimes: z.array(rel).default([]),
    restartAttempts: z.number().int().min(0).default(0),
    /** Defaults to the component's eligible nodes. */
    nodes: z.array(z.object({ id: z.string(), hostname: z.string() }).strict()).optional(),
    lastAlarm: z.object({ kind: z.string(), at: rel, reason: z.string() }).strict().optional(),
    paused: z.object({ reason: z.string(), since: rel, by: z.string() }).strict().optional(),
  })
  .strict();

const recordInput = z
  .object({
    epoch: z.number().int().min(0).default(0),
    active: z.array(z.string()).default([]),
    pending: z.array(z.object({ nodeId: z.string(), epoch: z.number().int(), issuedAt: rel, sentAt: rel.optional() }).strict()).default([]),
    failures: z
      .record(
        z.string(),
        z
          .object({
            count: z.number().int().min(1),
            firstFailureAt: rel.optional(),
            lastFailureAt: rel,
            bannedUntil: rel.optional(),
            lastReason: z.string().optional(),
          })
          .strict(),
      )
      .default({}),
    paused: z.object({ reason: z.string(), since: rel, by: z.string() }).strict().optional(),
    history: z
      .array(
        z
          .object({
            at: rel,
            kind: z.string(),
            node: z.string().optional(),
            epoch: z.number().int(),
            reason: z.string(),
            caller: z.string(),
          })
          .strict(),
      )
      .default([]),
    failoverTimes: z.array(rel).default([]),
    restartAttempts: z.number().int().min(0).default(0),
    /** Defaults to the configured nodes (the record as the previous tick wrote it). */
    nodes: z.array(nodeRef).optional(),
    lastAlarm: z.object({ kind: z.string(), at: rel, reason: z.string() }).strict().optional(),
    components: z.partialRecord(otherComponent, componentStateInput).optional(),
    dbOutageSeen: z.object({ downAt: rel, backAt: rel.optional() }).strict().optional(),
  })
  .strict();

const manualInput = z.discriminatedUnion('action', [
  z
    .object({
      action: z.literal('failover'),
      component: z.enum(['scheduler', 'dagProcessor', 'triggerer']).optional(),
      to: z.string().optional(),
      reason: z.string(),
      force: z.boolean().default(false),
      caller: z.string().default('arn:aws:iam::123456789012:user/oncall'),
    })
    .strict(),
  z.object({ action: z.literal('pause'), reason: z.string(), caller: z.string().default('arn:aws:iam::123456789012:user/oncall') }).strict(),
  z.object({ action: z.literal('resume'), caller: z.string().default('arn:aws:iam::123456789012:user/oncall') }).strict(),
]);

const outcomeInput = z.discriminatedUnion('status', [
  z.object({ status: z.literal('success') }).strict(),
  z.object({ status: z.literal('failed'), exitCode: z.number().int().nullable(), stderrTail: z.string() }).strict(),
  z.object({ status: z.literal('timeout'), phase: z.enum(['delivery', 'execution']), detail: z.string() }).strict(),
  z.object({ status: z.literal('undeliverable'), detail: z.string() }).strict(),
  z.object({ status: z.literal('stale-epoch'), nodeEpoch: z.number().int().nullable(), detail: z.string() }).strict(),
]);

const expectInput = z
  .object({
    verdict: z.string().optional(),
    /** Each action as "<kind> <nodeId> <purpose>", in plan order. */
    actions: z.array(z.string()).optional(),
    /** Whether the plan writes the record (plan.next defined). */
    write: z.boolean().optional(),
    epoch: z.number().int().optional(),
    active: z.array(z.string()).optional(),
    alarms: z.array(z.string()).optional(),
    /** A manual action that must be refused; the text must appear in the message. */
    refused: z.string().optional(),
    /** After the simulated outcomes. */
    after: z
      .object({
        epoch: z.number().int().optional(),
        active: z.array(z.string()).optional(),
        pending: z.array(z.string()).optional(),
        failures: z.record(z.string(), z.number().int()).optional(),
        skipped: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const scenarioFile = z
  .object({
    description: z.string().min(20),
    config: z.unknown(),
    observation: observationInput,
    record: recordInput.optional(),
    now: z.number().int().positive(),
    manual: manualInput.optional(),
    /** Simulated SSM outcome per plan action, in order; null where the engine skips a start. */
    outcomes: z.array(outcomeInput.nullable()).optional(),
    expect: expectInput,
  })
  .strict();

type ScenarioFile = z.output<typeof scenarioFile>;

interface Scenario {
  readonly slug: string;
  readonly file: ScenarioFile;
  readonly config: ClusterConfig;
  readonly observation: Observation;
  readonly record: RecordState;
  readonly now: number;
}

const at = (now: number, seconds: number): number => now + seconds * 1000;

const toObservation = (o: z.output<typeof observationInput>, now: number, config: ClusterConfig): Observation => {
  const row = (hostname: string, r: z.output<typeof rowInput>, readAt = now): SchedulerRow => ({
    jobId: r.jobId,
    hostname,
    state: r.state,
    ageSeconds: r.ageSeconds,
    latestHeartbeat: new Date(readAt - r.ageSeconds * 1000).toISOString(),
    freshRows: r.freshRows ?? (r.ageSeconds <= config.staleAfterSeconds ? 1 : 0),
  });
  const staleOf = (component: string): number => componentsOf(config).find((k) => k.name === component)?.staleAfterSeconds ?? config.staleAfterSeconds;
  const earlier = (): Observation['earlier'] => {
    const e = o.earlier;
    if (e === undefined) return undefined;
    const readAt = at(now, -e.secondsAgo);
    // Stale rows did not beat in between; fresh ones did (same age then, an older heartbeat).
    const copy = (current: Record<string, z.output<typeof rowInput>>, stale: number, given: Record<string, z.output<typeof rowInput>>) => {
      const rows: Record<string, SchedulerRow> = {};
      if (e.unchanged) {
        for (const [h, r] of Object.entries(current)) rows[h] = row(h, { ...r, ageSeconds: r.ageSeconds > stale ? r.ageSeconds - e.secondsAgo : r.ageSeconds }, readAt);
      }
      for (const [h, r] of Object.entries(given)) rows[h] = row(h, r, readAt);
      return rows;
    };
    const db = o.db.status === 'ok' ? o.db : undefined;
    const names = new Set([...Object.keys(e.others), ...Object.keys(db?.others ?? {})]);
    const others = Object.fromEntries([...names].map((c) => [c, copy(db?.others?.[c as 'dagProcessor']?.rows ?? {}, staleOf(c), e.others[c as 'dagProcessor'] ?? {})]));
    return { observedAt: readAt, rows: copy(db?.rows ?? {}, config.staleAfterSeconds, e.rows), ...(names.size === 0 ? {} : { others }) };
  };
  const units = (): Observation['units'] => {
    if (o.units === undefined) return undefined;
    return Object.fromEntries(
      Object.entries(o.units).map(([id, u]) => [
        id,
        'error' in u
          ? { ok: false as const, error: u.error }
          : { ok: true as const, report: { unitState: u.unitState, running: u.running ?? u.unitState === 'active', permitEpoch: u.permitEpoch, nodeEpoch: u.nodeEpoch } },
      ]),
    );
  };
  const e = earlier();
  const u = units();
  const toProbe = (u: z.output<typeof unitInput>): UnitProbe =>
    'error' in u
      ? { ok: false, error: u.error }
      : { ok: true, report: { unitState: u.unitState, running: u.running ?? u.unitState === 'active', permitEpoch: u.permitEpoch, nodeEpoch: u.nodeEpoch } };
  const otherUnits =
    o.otherUnits === undefined
      ? undefined
      : Object.fromEntries(Object.entries(o.otherUnits).map(([c, byNode]) => [c, Object.fromEntries(Object.entries(byNode).map(([id, x]) => [id, toProbe(x)]))]));
  return {
    db:
      o.db.status === 'unreachable'
        ? o.db
        : {
            status: 'ok',
            rows: Object.fromEntries(Object.entries(o.db.rows).map(([h, r]) => [h, row(h, r)])),
            foreign: o.db.foreign.map(({ hostname, ...r }) => row(hostname, r)),
            ...(o.db.others === undefined
              ? {}
              : {
                  others: Object.fromEntries(
                    Object.entries(o.db.others).map(([c, j]) => [
                      c,
                      {
                        rows: Object.fromEntries(Object.entries(j.rows).map(([h, r]) => [h, { ...row(h, r), freshRows: r.freshRows ?? (r.ageSeconds <= staleOf(c) ? 1 : 0) }])),
                        foreign: j.foreign.map(({ hostname, ...r }) => row(hostname, r)),
                      },
                    ]),
                  ),
                }),
          },
    reachability: o.reachability,
    ...(o.reachabilityError === undefined ? {} : { reachabilityError: o.reachabilityError }),
    ...(e === undefined ? {} : { earlier: e }),
    ...(o.dbBackSecondsAgo === undefined ? {} : { dbBackAt: at(now, -o.dbBackSecondsAgo) }),
    ...(u === undefined ? {} : { units: u }),
    ...(otherUnits === undefined ? {} : { otherUnits }),
  };
};

const toPending = (pending: z.output<typeof pendingInput>, now: number) =>
  pending.map((p) => ({ ...p, issuedAt: at(now, p.issuedAt), ...(p.sentAt === undefined ? {} : { sentAt: at(now, p.sentAt) }) }));

const toFailures = (failures: z.output<typeof failuresInput>, now: number) =>
  Object.fromEntries(
    Object.entries(failures).map(([id, f]) => [
      id,
      {
        count: f.count,
        firstFailureAt: at(now, f.firstFailureAt ?? f.lastFailureAt),
        lastFailureAt: at(now, f.lastFailureAt),
        ...(f.bannedUntil === undefined ? {} : { bannedUntil: at(now, f.bannedUntil) }),
        ...(f.lastReason === undefined ? {} : { lastReason: f.lastReason }),
      },
    ]),
  );

const toComponents = (components: z.output<typeof recordInput>['components'], now: number, config: ClusterConfig): RecordState['components'] => {
  if (components === undefined) return undefined;
  const specs = componentsOf(config);
  return Object.fromEntries(
    Object.entries(components).map(([name, c]): [string, ComponentState] => [
      name,
      {
        epoch: c.epoch,
        active: c.active,
        pending: toPending(c.pending, now),
        failures: toFailures(c.failures, now),
        failoverTimes: c.failoverTimes.map((t) => at(now, t)),
        restartAttempts: c.restartAttempts,
        nodes: c.nodes ?? specs.find((k) => k.name === name)?.nodes.map(({ id, hostname }) => ({ id, hostname })) ?? [],
        ...(c.lastAlarm === undefined ? {} : { lastAlarm: { ...c.lastAlarm, at: at(now, c.lastAlarm.at) } }),
        ...(c.paused === undefined ? {} : { paused: { ...c.paused, since: at(now, c.paused.since) } }),
      },
    ]),
  );
};

const toRecord = (r: z.output<typeof recordInput> | undefined, now: number, config: ClusterConfig): RecordState => {
  if (r === undefined) return EMPTY_RECORD_STATE;
  const components = toComponents(r.components, now, config);
  return {
    epoch: r.epoch,
    active: r.active,
    pending: toPending(r.pending, now),
    failures: toFailures(r.failures, now),
    ...(r.paused === undefined ? {} : { paused: { ...r.paused, since: at(now, r.paused.since) } }),
    history: r.history.map((e) => ({ ...e, at: at(now, e.at), kind: e.kind as RecordState['history'][number]['kind'] })),
    failoverTimes: r.failoverTimes.map((t) => at(now, t)),
    restartAttempts: r.restartAttempts,
    nodes: r.nodes ?? config.nodes.map(({ id, hostname }) => ({ id, hostname })),
    ...(r.lastAlarm === undefined ? {} : { lastAlarm: { ...r.lastAlarm, at: at(now, r.lastAlarm.at) } }),
    ...(components === undefined ? {} : { components }),
    ...(r.dbOutageSeen === undefined
      ? {}
      : { dbOutageSeen: { downAt: at(now, r.dbOutageSeen.downAt), ...(r.dbOutageSeen.backAt === undefined ? {} : { backAt: at(now, r.dbOutageSeen.backAt) }) } }),
  };
};

const scenarioSlugs = (): string[] =>
  readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();

const loadScenario = (slug: string): Scenario => {
  const raw: unknown = JSON.parse(readFileSync(join(SCENARIO_DIR, `${slug}.json`), 'utf8'));
  const parsed = scenarioFile.safeParse(raw);
  if (!parsed.success) throw new Error(`scenario ${slug}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const file = parsed.data;
  const config = parseClusterConfig(file.config);
  return {
    slug,
    file,
    config,
    observation: toObservation(file.observation, file.now, config),
    record: toRecord(file.record, file.now, config),
    now: file.now,
  };
};

const emptyCounts = { healthy: 0, failovers: 0, restarts: 0, duplicateStops: 0, suppressed: 0, noCandidate: 0 };

/** Runs the scenario: a tick's decide(), or the manual planner it names. `refused` carries a RefusedError's message. */
const planScenario = (s: Scenario): { plan: Plan } | { refused: string } => {
  const m = s.file.manual;
  try {
    if (m === undefined) return { plan: decide(s.observation, s.record, s.config, s.now) };
    if (m.action === 'failover') {
      return {
        plan: planManualFailover(
          s.observation,
          s.record,
          s.config,
          { ...(m.component === undefined ? {} : { component: m.component }), ...(m.to === undefined ? {} : { to: m.to }), reason: m.reason, force: m.force, caller: m.caller },
          s.now,
        ),
      };
    }
    // As the engine wraps pause/resume (functions/core/engine.ts runManual).
    const next = m.action === 'pause' ? planPause(s.record, m.reason, m.caller, s.now) : planResume(s.record, m.caller, s.now);
    return {
      plan: {
        verdict: m.action === 'pause' ? 'paused' : 'healthy',
        actions: [],
        reasons: [`${m.action} by ${m.caller}`],
        alarms: [],
        next,
        counts: emptyCounts,
      },
    };
  } catch (err) {
    if (err instanceof RefusedError) return { refused: errorMessage(err) };
    throw err;
  }
};

const fullOutcome = (o: z.output<typeof outcomeInput>, i: number): CommandOutcome => {
  const base = { commandId: `cmd-${i + 1}`, durationMs: 1500 };
  switch (o.status) {
    case 'success':
      return { ...base, status: 'success', output: 'ok' };
    case 'failed':
      return { ...base, ...o };
    case 'timeout':
      return { ...base, ...o, durationMs: 60_000 };
    case 'undeliverable':
      return { ...base, ...o };
    case 'stale-epoch':
      return { ...base, ...o };
  }
};

interface Execution {
  readonly state: RecordState;
  readonly lines: string[];
  readonly skipped: string[];
}

/**
 * Replays the engine's act loop (functions/core/engine.ts commitAndAct) over simulated outcomes: stops
 * are recorded, a start whose required stop did not succeed is skipped, and each outcome is written back.
 */
const execute = (s: Scenario, plan: Plan, outcomes: readonly (z.output<typeof outcomeInput> | null)[]): Execution => {
  if (outcomes.length !== plan.actions.length) {
    throw new Error(`scenario ${s.slug}: ${outcomes.length} outcome(s) for ${plan.actions.length} action(s)`);
  }
  let state = plan.next ?? s.record;
  const before = state.history.length;
  const stops = new Map<string, CommandOutcome>();
  const lines: string[] = [];
  const skipped: string[] = [];
  plan.actions.forEach((action: Action, i) => {
    const head = `${i + 1}. ${action.kind.padEnd(5)} ${action.nodeId} <${action.purpose}>`;
    const blocking = action.kind === 'start' ? blockingStop(action, stops) : undefined;
    const given = outcomes[i];
    if (blocking !== undefined) {
      if (given !== null && given !== undefined) throw new Error(`scenario ${s.slug}: action ${i + 1} is skipped by the engine; its outcome must be null`);
      state = applySkippedStart(state, action, blocking, s.config, s.now);
      lines.push(`${head}: SKIPPED (stop on ${blocking.nodeId} did not succeed)`);
      skipped.push(`${action.kind} ${action.nodeId}`);
      return;
    }
    if (given === null || given === undefined) throw new Error(`scenario ${s.slug}: action ${i + 1} runs; give its outcome`);
    const outcome = fullOutcome(given, i);
    if (action.kind === 'stop') stops.set(action.nodeId, outcome);
    // As the engine's onSent: a start SSM accepted (it has a command id) is marked sent first.
    if (action.kind === 'start' && outcome.commandId !== undefined) state = markSent(state, action, s.now, s.config);
    state = applyOutcome(state, action, outcome, s.config, s.now);
    lines.push(`${head}: ${describeOutcome(outcome)}`);
  });
  const out = ['Execution (simulated outcomes, in order):', ...lines.map((l) => `  ${l}`), '', 'Record after outcomes:'];
  out.push(...recordLines(state, s.now).map((l) => `  ${l}`));
  const added = state.history.length >= before ? state.history.slice(before) : state.history;
  for (const e of added) out.push(`  + history: ${e.kind}${e.node === undefined ? '' : ` ${e.node}`} epoch ${e.epoch} by ${e.caller}: ${e.reason}`);
  return { state, lines: out, skipped };
};

/** The golden text: the decision as renderDecision prints it, plus the simulated execution when given. */
const renderScenario = (s: Scenario): { text: string; plan?: Plan; refused?: string; after?: Execution } => {
  const header = `Scenario ${s.slug}: ${s.file.description}\n\n`;
  const result = planScenario(s);
  if ('refused' in result) {
    return { text: `${header}Manual ${s.file.manual?.action ?? '?'} refused: ${result.refused}\n`, refused: result.refused };
  }
  const { plan } = result;
  let text = header + renderDecision(s.observation, s.record, s.config, plan, s.now);
  let after: Execution | undefined;
  if (s.file.outcomes !== undefined) {
    after = execute(s, plan, s.file.outcomes);
    text += `\n${after.lines.join('\n')}\n`;
  }
  return { text, plan, ...(after === undefined ? {} : { after }) };
};

export { loadScenario, renderScenario, SCENARIO_DIR, scenarioSlugs };
export type { Scenario };
