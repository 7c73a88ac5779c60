import { expect } from 'vitest';
import { type ClusterOptions, FAST_TIMINGS, LocalCluster, type Timings } from '../../local/cluster.js';
import { checkInvariants, formatReport, type InvariantOptions, type InvariantReport } from '../../local/invariants.js';
import type { Timeline } from '../../local/timeline.js';
import { requireService } from '../helpers/services.js';

/**
 * Shared pieces of the end-to-end suites: compressed timings, cluster start per database, and the
 * invariant assertion (SPEC §10) with a readable failure message.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const E2E_TIMINGS: Timings = FAST_TIMINGS;

type DbKind = 'pglite' | 'postgres' | 'mariadb';

/** A cluster on the given database; `database` names this file's own database on a shared server. */
const startCluster = async (db: DbKind, database: string, opts: Omit<ClusterOptions, 'db' | 'database'> = {}): Promise<LocalCluster> => {
  const log = process.env.E2E_VERBOSE === '1' ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
  const common: ClusterOptions = { ...opts, timings: { ...E2E_TIMINGS, ...opts.timings }, ...(log === undefined ? {} : { log }) };
  if (db === 'pglite') return LocalCluster.start(common);
  const s = await requireService(db);
  const url = `${db === 'mariadb' ? 'mysql' : 'postgres'}://${encodeURIComponent(s.user)}${s.password ? `:${encodeURIComponent(s.password)}` : ''}@${s.host}:${s.port}/${database}`;
  return LocalCluster.start({ ...common, db: url, database, resetDatabase: true });
};

/** Default allowance for SPEC's "start time": the node stop timeout (a hung process is SIGKILLed), process start and a command's round trips. */
const startSeconds = (t: Timings = E2E_TIMINGS): number => t.stopTimeoutSeconds + 3;

const assertInvariants = (tl: Timeline, opts: Partial<InvariantOptions> = {}): InvariantReport => {
  const report = checkInvariants(tl, { startSeconds: startSeconds(), stopSeconds: E2E_TIMINGS.stopTimeoutSeconds + 2, slackSeconds: 2, ...opts });
  expect(report.violations, formatReport(tl, report).join('\n')).toEqual([]);
  return report;
};

/** A compact rendering of a timeline from `from` on, for failure messages. */
const dumpTimeline = (tl: Timeline, from = 0): string =>
  tl.events
    .filter((e) => e.t >= from && e.type !== 'record')
    .map((e) => {
      const t = `+${((e.t - tl.startedAt) / 1000).toFixed(1)}`;
      switch (e.type) {
        case 'sample':
          return `${t} sample ${e.error ?? e.rows.map((r) => `${r.hostname}#${r.jobId}:${r.state}:${r.age.toFixed(1)}`).join(' ')}`;
        case 'tick':
          return `${t} tick ${e.watchdog} ${e.verdict}/${e.disposition} ${e.actions.map((a) => `${a.kind}:${a.nodeId}:${a.purpose}:${a.outcome ?? a.skipped ?? ''}`).join(',')} ${e.reasons.join(' | ')}`;
        case 'command':
          return `${t} ssm ${e.phase} ${e.action} ${e.nodeId} epoch ${e.epoch} ${e.status} ${e.result ?? ''}`;
        default:
          return `${t} ${JSON.stringify(e)}`;
      }
    })
    .filter((line, i, all) => !line.includes(' sample ') || all[i - 1]?.slice(line.indexOf(' ')) !== line.slice(line.indexOf(' ')))
    .join('\n');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** After a fault: waits for a new scheduler (a job id not seen before) to be healthy and steady. */
const waitRecovered = (c: LocalCluster, timeoutMs = 30_000): Promise<string> => c.waitForReplacement(timeoutMs, { holdMs: 1500 });

export type { DbKind };
export { assertInvariants, dumpTimeline, E2E_TIMINGS, sleep, startCluster, startSeconds, waitRecovered };
