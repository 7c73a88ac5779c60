/**
 * `npm run bench:recovery`: recovery time of the watchdog on the local cluster, measured over repeated
 * crash (SIGKILL) and hang (SIGSTOP) faults with compressed timings, and, beside it, the same figures for
 * airflow-scheduler-failover-controller's algorithm scaled to the same units.
 *
 * Recovery time = fault → first fresh heartbeat of the replacement scheduler (the INSERT of its job row,
 * which sets latest_heartbeat; taken from the simulator's own log, cross-checked against the DB samples).
 *
 * The failover controller (SPEC §1): polls every 60 s; a poll sees a crash at once (`ps | grep`), a hang
 * only once the webserver's /health says unhealthy, i.e. the heartbeat is older than 30 s; it then kills
 * and starts the scheduler and sleeps 35 s before polling on. Scaled by staleAfterSeconds / 30 (the
 * controller's threshold is Airflow's 30 s, our staleAfterSeconds plays that role), so poll 60 s → 6 s at
 * staleAfterSeconds 3. For each measured fault the model uses the same heartbeat age at the fault and the
 * same measured start time (start command → INSERT) as the watchdog's run, and a poll phase drawn
 * uniformly (seeded), so only the detection algorithm differs. The 35 s sleep comes after the start, so it
 * delays a *second* attempt (when the restart fails), not the first heartbeat; it is reported, not added.
 *
 * The nodes run the unit the README recommends (Restart=always, RestartSec 0.5 s here) unless `--unit
 * bare`. With the recommended unit systemd brings a crashed scheduler back before the watchdog has to,
 * so the crash row is systemd's and the hang row the watchdog's. A third kind, `db-outage`, refuses the metadata DB for
 * 2 × staleAfterSeconds (the scheduler exits on it, as real Airflow does) and measures from the DB's
 * return to the first fresh heartbeat of a new scheduler: the issue's "beating again within 15 s of the
 * DB's return" at compressed timings.
 *
 * Usage: npm run bench:recovery -- [--faults N (per kind, default 20)] [--unit recommended|bare] [--db URL] [--seed S]
 */
import { FAST_TIMINGS, LocalCluster, type Timings } from '../local/cluster.js';
import { checkInvariants, formatReport, quantile } from '../local/invariants.js';
import { eventsOf, newestPerHost } from '../local/timeline.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const perKind = Number(flag('--faults') ?? 20);
const dbUrl = flag('--db');
const unit = flag('--unit') ?? 'recommended';
if (unit !== 'recommended' && unit !== 'bare') throw new Error(`--unit must be recommended or bare, not ${unit}`);
let seed = Number(flag('--seed') ?? 42);
const random = (): number => {
  // mulberry32: a reproducible uniform [0, 1)
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const TIMINGS: Timings = { ...FAST_TIMINGS, simStartDelaySec: 0.2 };

/** failover-controller parameters in production seconds (SPEC §1), and Airflow's health threshold it relies on. */
const CONTROLLER = { pollSeconds: 60, sleepAfterStartSeconds: 35, healthThresholdSeconds: 30 } as const;

const KINDS = ['crash', 'hang', 'db-outage'] as const;
type Kind = (typeof KINDS)[number];

interface Measure {
  readonly kind: Kind;
  /** Heartbeat age (DB clock) of the victim's row at the fault. */
  readonly age0: number;
  /** Fault (for a DB outage: the DB's return) → the replacement's INSERT. */
  readonly recovery: number;
  /** Same, from the DB samples (100 ms resolution). */
  readonly sampled: number | undefined;
  /** Start command sent → replacement's INSERT; undefined when systemd's restart came first. */
  readonly start: number | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


const main = async (): Promise<void> => {
  const started = Date.now();
  process.stdout.write(
    `bench:recovery: ${perKind} crash + ${perKind} hang + ${perKind} DB-outage faults; ${unit} unit; heartbeat ${TIMINGS.heartbeatSec} s (Airflow 2.5 one-beat lag), staleAfterSeconds ${TIMINGS.staleAfterSeconds}, checkIntervalSeconds ${TIMINGS.checkIntervalSeconds}, node stop timeout ${TIMINGS.stopTimeoutSeconds} s${unit === 'recommended' ? `, RestartSec ${TIMINGS.restartSec} s` : ''}; DB ${dbUrl ?? 'embedded PGlite'}\n`,
  );
  const c = await LocalCluster.start({ timings: TIMINGS, sampleMs: 100, unit, ...(dbUrl === undefined ? {} : { db: dbUrl }) });
  const stop = async (): Promise<void> => {
    await c.stop();
  };
  process.on('SIGINT', () => void stop().finally(() => process.exit(130)));
  const measures: Measure[] = [];
  try {
    await c.startWatchdog('bench').ready;
    let active = await c.waitForSteady(30_000, { holdMs: 1000 });
    for (let i = 0; i < KINDS.length * perKind; i++) {
      const kind = KINDS[i % KINDS.length] as Kind;
      // A random phase against the heartbeat and the tick.
      await sleep(500 + random() * 1000);
      const host = c.node(active).hostname;
      const seen = c.maxJobId();
      const row = newestPerHost(c.latestSample()?.rows ?? []).get(host);
      let from = Date.now();
      if (kind === 'crash') c.crash(active);
      else if (kind === 'hang') c.hang(active);
      else {
        c.dbOutage('refuse');
        await sleep(2 * TIMINGS.staleAfterSeconds * 1000);
        c.dbBack(true);
        from = Date.now();
      }
      active = await c.waitForReplacement(60_000, { holdMs: 800, seen });
      const inserted = eventsOf(c.timeline, 'sim').find((e) => e.t >= from && e.event === 'inserted' && (e.jobId ?? 0) > seen);
      const sent = eventsOf(c.timeline, 'command').find((e) => e.t >= from && e.phase === 'sent' && e.action === 'start');
      const sample = eventsOf(c.timeline, 'sample').find(
        (s) => s.t >= from && [...newestPerHost(s.rows).values()].some((r) => r.jobId > seen && r.age <= TIMINGS.staleAfterSeconds),
      );
      if (inserted === undefined) throw new Error(`fault ${i + 1} (${kind}): no replacement INSERT found`);
      const m: Measure = {
        kind,
        age0: row?.age ?? 0,
        recovery: (inserted.t - from) / 1000,
        sampled: sample === undefined ? undefined : (sample.t - from) / 1000,
        start: sent === undefined || sent.t > inserted.t ? undefined : (inserted.t - sent.t) / 1000,
      };
      measures.push(m);
      process.stdout.write(
        `  ${String(i + 1).padStart(2)} ${kind.padEnd(9)} age at fault ${m.age0.toFixed(2)} s → recovered in ${m.recovery.toFixed(2)} s${kind === 'db-outage' ? ' after the DB returned' : ''} (DB sample ${m.sampled?.toFixed(2) ?? '-'} s; ${
          m.start === undefined ? 'started by systemd' : `start command ${m.start.toFixed(2)} s`
        })\n`,
      );
    }
    const report = checkInvariants(c.timeline, { startSeconds: TIMINGS.stopTimeoutSeconds + 3, stopSeconds: TIMINGS.stopTimeoutSeconds + 2, slackSeconds: 2 });
    const stale = TIMINGS.staleAfterSeconds;
    const scale = stale / CONTROLLER.healthThresholdSeconds;
    const poll = CONTROLLER.pollSeconds * scale;
    const threshold = CONTROLLER.healthThresholdSeconds * scale;
    // The model only knows crashes and hangs; it restarts with the watchdog's start time (or, where
    // systemd restarted the scheduler, the median start command time of the run).
    const commandStarts = measures.flatMap((m) => (m.start === undefined ? [] : [m.start]));
    const typicalStart = commandStarts.length === 0 ? 0 : quantile(commandStarts, 0.5);
    const controller = measures.flatMap((m) => {
      if (m.kind === 'db-outage') return [];
      // The next poll after the moment the fault becomes visible to the controller.
      const visibleAfter = m.kind === 'crash' ? 0 : Math.max(0, threshold - m.age0);
      const phase = random() * poll;
      const firstPollAfterFault = phase; // polls at phase, phase + poll, …
      const detect =
        firstPollAfterFault >= visibleAfter ? firstPollAfterFault : firstPollAfterFault + Math.ceil((visibleAfter - firstPollAfterFault) / poll) * poll;
      return [{ kind: m.kind, recovery: detect + (m.start ?? typicalStart) }];
    });
    const row = (label: string, xs: number[]): string => {
      const [p50, p95, max] = [quantile(xs, 0.5), quantile(xs, 0.95), Math.max(...xs)];
      const abs = `${p50.toFixed(2).padStart(6)} ${p95.toFixed(2).padStart(6)} ${max.toFixed(2).padStart(6)}`;
      const rel = `${(p50 / stale).toFixed(2).padStart(5)} ${(p95 / stale).toFixed(2).padStart(5)} ${(max / stale).toFixed(2).padStart(5)}`;
      return `  ${label.padEnd(44)} ${abs}    ${rel}\n`;
    };
    process.stdout.write(
      `\nRecovery time, fault → first fresh heartbeat of the replacement (n = ${perKind} per kind; DB outage: from the DB's return)\n` +
        `  ${''.padEnd(44)}  p50 s  p95 s  max s    ÷ staleAfterSeconds (${stale} s): p50 p95 max\n`,
    );
    for (const kind of KINDS) {
      const of = measures.filter((m) => m.kind === kind);
      const bySystemd = of.filter((m) => m.start === undefined).length;
      process.stdout.write(
        row(
          `watchdog, ${kind}${bySystemd === 0 ? '' : ` (${bySystemd} of ${of.length} by systemd)`}`,
          of.map((m) => m.recovery),
        ),
      );
    }
    process.stdout.write(
      row(
        'watchdog, crash + hang',
        measures.filter((m) => m.kind !== 'db-outage').map((m) => m.recovery),
      ),
    );
    for (const kind of ['crash', 'hang'] as const) {
      process.stdout.write(
        row(
          `failover-controller model, ${kind}`,
          controller.filter((m) => m.kind === kind).map((m) => m.recovery),
        ),
      );
    }
    process.stdout.write(
      row(
        'failover-controller model, all',
        controller.map((m) => m.recovery),
      ),
    );
    const starts = commandStarts.length === 0 ? [Number.NaN] : commandStarts;
    process.stdout.write(
      `\n  failover-controller scaled to these units (× ${scale}): poll every ${poll} s, health threshold ${threshold} s, ${(
        CONTROLLER.sleepAfterStartSeconds * scale
      ).toFixed(1)} s sleep after each start (delays a second attempt only, not counted above).\n` +
        `  Same heartbeat age at each fault and the same measured start command time (faults systemd restarted: the run's median) (p50 ${quantile(starts, 0.5).toFixed(2)} s, max ${Math.max(...starts).toFixed(2)} s) for both.\n` +
        `  Watchdog bound (SPEC §10): staleAfterSeconds + checkIntervalSeconds + start time = ${stale} + ${TIMINGS.checkIntervalSeconds} + start.\n` +
        `  Invariants over the whole run: ${
          report.ok
            ? 'all hold'
            : formatReport(c.timeline, report)
                .filter((l) => l.startsWith('VIOLATION'))
                .join('; ')
        }\n` +
        `  Wall time ${((Date.now() - started) / 1000).toFixed(0)} s.\n`,
    );
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await stop();
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`bench:recovery failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
