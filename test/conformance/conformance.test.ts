import { describe, expect, it } from 'vitest';
import { FAST_TIMINGS } from '../../local/cluster.js';
import { ConformanceRefused, formatConformanceReport, runConformance } from '../../local/conformance.js';
import { openSql, parseDbUrl } from '../../local/db.js';
import { requireService } from '../helpers/services.js';

/**
 * The conformance suite (local/conformance.ts, docs/conformance.md) run against the simulator, so that
 * the suite itself is tested on every machine: the same fault set and checks as a run against real
 * Airflow, at the end-to-end tests' compressed timings. The simulator imitates Airflow 3.0 (all three
 * components) here; test/conformance/real-airflow.test.ts runs the real thing when it is installed.
 */

const EXPECTED_STEPS = [
  'bring-up',
  'crash (scheduler)',
  'hang (scheduler)',
  'stall',
  'DB outage',
  'frozen node',
  'duplicate',
  'hang (dag-processor)',
  'crash (triggerer)',
];

describe('conformance suite with the simulator (--airflow sim)', () => {
  it('passes every check of the fault set, Airflow 3.0 flavor, three components', async () => {
    const log: string[] = [];
    const report = await runConformance({ airflow: 'sim', timings: FAST_TIMINGS, simFlavor: '3.0', log: (l) => log.push(l) });
    const text = formatConformanceReport(report).join('\n');
    expect(report.components).toEqual(['scheduler', 'dagProcessor', 'triggerer']);
    expect(report.steps.map((s) => s.name)).toEqual(EXPECTED_STEPS);
    expect(
      report.checks.filter((c) => !c.pass),
      `${text}\n\n${log.join('\n')}`,
    ).toEqual([]);
    expect(report.ok).toBe(true);
    // Every recovery carries its measured time and its bound.
    const recoveries = report.checks.filter((c) => c.check.includes('within its bound'));
    expect(recoveries.length).toBeGreaterThanOrEqual(7);
    for (const c of recoveries) expect(c.measured).toBeLessThanOrEqual(c.bound ?? 0);
    expect(report.leftovers).toEqual([]);
    expect(text).toContain('Result: PASS');
  }, 300_000);

  it("refuses clearly when the database is unreachable or not Airflow's", async () => {
    await expect(runConformance({ airflow: 'sim', db: 'postgres://nobody@127.0.0.1:1/airflow' })).rejects.toThrow(ConformanceRefused);
    await expect(runConformance({ airflow: 'sim', db: 'postgres://nobody@127.0.0.1:1/airflow' })).rejects.toThrow(/cannot reach the Airflow database/);
    await expect(runConformance({ airflow: '/nonexistent/airflow', db: 'postgres://nobody@127.0.0.1:1/airflow' })).rejects.toThrow(/did not answer a version/);
    await expect(runConformance({ airflow: '/usr/bin/true' })).rejects.toThrow(/--db is required/);
    // A reachable database that is not Airflow's: refused, and left exactly as it was.
    const pg = await requireService('postgres');
    const url = `postgres://${encodeURIComponent(pg.user)}@${pg.host}:${pg.port}/postgres`;
    const tables = async (): Promise<string[]> => {
      const c = await openSql(parseDbUrl(url));
      try {
        return (await c.query("SELECT table_schema || '.' || table_name AS t FROM information_schema.tables ORDER BY 1")).map((r) => String(r.t));
      } finally {
        await c.close();
      }
    };
    const before = await tables();
    await expect(runConformance({ airflow: 'sim', db: url })).rejects.toThrow(/is not an Airflow metadata database: no `alembic_version` or `job` table/);
    expect(await tables()).toEqual(before);
  }, 60_000);
});
