import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../local/build.js';
import { formatConformanceReport, runConformance } from '../../local/conformance.js';

/**
 * The conformance run against real Airflow (docs/conformance.md), when it is installed: set
 * CONFORMANCE_AIRFLOW to the Airflow executable (or a command) and CONFORMANCE_DB to its migrated
 * metadata database (mysql://… or postgres://…). It takes several minutes (production timings: real
 * Airflow cannot be time-compressed). Without both variables nothing about real Airflow is claimed: the
 * test is skipped and says so, loudly, naming what is missing.
 */

const airflow = process.env.CONFORMANCE_AIRFLOW?.trim() || undefined;
const db = process.env.CONFORMANCE_DB?.trim() || undefined;
const missing = [
  ...(airflow === undefined ? ['CONFORMANCE_AIRFLOW (the Airflow executable, e.g. /opt/airflow/bin/airflow)'] : []),
  ...(db === undefined ? ['CONFORMANCE_DB (its migrated metadata DB, mysql://… or postgres://…)'] : []),
];
const redacted = db?.replace(/(\/\/[^:/@]*):[^@]*@/, '$1:***@');

if (missing.length > 0) {
  process.stderr.write(
    `\n${'!'.repeat(100)}\n! NOT RUN: the conformance run against REAL Airflow. Nothing about real Airflow is tested or claimed by this run.\n! Missing: ${missing.join('; ')}.\n! The simulator's conformance run (test/conformance/conformance.test.ts) still ran. See docs/conformance.md.\n${'!'.repeat(100)}\n\n`,
  );
}

describe('conformance run against real Airflow', () => {
  const title =
    missing.length > 0
      ? `NOT RUN (skipped): real Airflow is not configured; missing ${missing.map((m) => m.split(' ')[0]).join(' and ')}`
      : `passes every check: ${airflow} on ${redacted}`;
  it(
    title,
    async (ctx) => {
      if (missing.length > 0 || airflow === undefined || db === undefined) {
        ctx.skip();
        return;
      }
      const out = join(repoRoot, '.local', 'conformance', 'test-real');
      mkdirSync(out, { recursive: true });
      const report = await runConformance({ airflow, db, out, ...(process.env.CONFORMANCE_DAGS ? { dags: process.env.CONFORMANCE_DAGS } : {}) });
      const text = formatConformanceReport(report).join('\n');
      process.stderr.write(`${text}\n`);
      expect(
        report.checks.filter((c) => !c.pass),
        text,
      ).toEqual([]);
      expect(report.ok).toBe(true);
    },
    45 * 60_000,
  );
});
