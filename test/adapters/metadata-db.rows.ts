import { expect, it, vi } from 'vitest';
import type { DbObservation, SchedulerRow } from '../../functions/core/model.js';
import type { MetadataDb } from '../../functions/core/ports.js';

/**
 * Which `job` rows count, the same on every dialect: the MariaDB and PostgreSQL suites run these cases
 * against their own server, each inserting rows with its own SQL.
 */

const STALE = 30;

interface JobSpec {
  hostname: string | null;
  /** Heartbeat age by the DB's clock; null = NULL heartbeat; negative = in the future. */
  age: number | null;
  state?: string | null;
  jobType?: string;
  ended?: boolean;
  table?: string;
}

const ok = (obs: DbObservation) => {
  if (obs.status !== 'ok') throw new Error(`expected ok, got unreachable: ${obs.reason}`);
  return obs;
};

const expectAge = (row: SchedulerRow | undefined, age: number) => {
  expect(row).toBeDefined();
  // Measured a moment after the insert: never less, and only a little more.
  expect(row!.ageSeconds).toBeGreaterThanOrEqual(age - 0.001);
  expect(row!.ageSeconds).toBeLessThan(age + 5);
};

interface RowsHarness {
  adapter(over?: Record<string, unknown>, warn?: (m: string) => void): MetadataDb;
  insert(spec: JobSpec): Promise<number>;
  /** latest_heartbeat of a row as the DB renders it in UTC. */
  heartbeatText(id: number): Promise<string>;
}

const whichRowsCount = ({ adapter, insert, heartbeatText }: RowsHarness): void => {
  it('reports a fresh running row with its DB-clock age, id and UTC heartbeat', async () => {
    const id = await insert({ hostname: 'sched-a', age: 12 });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a', 'sched-b'], staleAfterSeconds: STALE }));
    const row = obs.rows['sched-a'];
    expectAge(row, 12);
    expect(row).toMatchObject({ jobId: id, hostname: 'sched-a', state: 'running', freshRows: 1, latestHeartbeat: await heartbeatText(id) });
    expect(obs.rows['sched-b']).toBeUndefined();
    expect(obs.foreign).toEqual([]);
  });

  it('reports a stale row with its age and no fresh rows', async () => {
    await insert({ hostname: 'sched-a', age: 100 });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expectAge(obs.rows['sched-a'], 100);
    expect(obs.rows['sched-a']!.freshRows).toBe(0);
  });

  it('ignores success rows, with or without end_date', async () => {
    await insert({ hostname: 'sched-a', age: 3, state: 'success', ended: true });
    await insert({ hostname: 'sched-b', age: 3, state: 'success' });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a', 'sched-b'], staleAfterSeconds: STALE }));
    expect(obs.rows).toEqual({});
  });

  it("counts a 'failed' row with end_date NULL (a woken scheduler) as live and fresh, and a NULL state too", async () => {
    const failed = await insert({ hostname: 'sched-a', age: 4, state: 'failed' });
    const nullState = await insert({ hostname: 'sched-b', age: 6, state: null });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a', 'sched-b'], staleAfterSeconds: STALE }));
    expect(obs.rows['sched-a']).toMatchObject({ jobId: failed, state: 'failed', freshRows: 1 });
    expect(obs.rows['sched-b']).toMatchObject({ jobId: nullState, state: null, freshRows: 1 });
  });

  it('ignores rows with end_date set, whatever their state', async () => {
    await insert({ hostname: 'sched-a', age: 2, state: 'running', ended: true });
    await insert({ hostname: 'sched-a', age: 2, state: 'failed', ended: true });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expect(obs.rows['sched-a']).toBeUndefined();
  });

  it('picks the newest of several live rows per host and counts the fresh ones', async () => {
    await insert({ hostname: 'sched-a', age: 50 });
    await insert({ hostname: 'sched-a', age: 4, state: 'failed' });
    const newest = await insert({ hostname: 'sched-a', age: 2 });
    await insert({ hostname: 'sched-a', age: 20 });
    await insert({ hostname: 'sched-a', age: 1, state: 'success', ended: true });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expect(obs.rows['sched-a']).toMatchObject({ jobId: newest, state: 'running', freshRows: 3 });
    expectAge(obs.rows['sched-a'], 2);
  });

  it('ignores NULL heartbeats', async () => {
    await insert({ hostname: 'sched-a', age: null });
    const older = await insert({ hostname: 'sched-b', age: 40 });
    await insert({ hostname: 'sched-b', age: null });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a', 'sched-b'], staleAfterSeconds: STALE }));
    expect(obs.rows['sched-a']).toBeUndefined();
    expect(obs.rows['sched-b']).toMatchObject({ jobId: older });
  });

  it('ignores other job types and rows older than the lookback window', async () => {
    await insert({ hostname: 'sched-a', age: 1, jobType: 'LocalTaskJob' });
    await insert({ hostname: 'sched-a', age: 1, jobType: 'TriggererJob' });
    await insert({ hostname: 'sched-b', age: 7200 });
    const obs = ok(await adapter({ lookbackSeconds: 3600 }).observe({ hostnames: ['sched-a', 'sched-b'], staleAfterSeconds: STALE }));
    expect(obs.rows).toEqual({});
  });

  it('reports a fresh foreign host and not a stale one', async () => {
    await insert({ hostname: 'sched-a', age: 3 });
    const foreign = await insert({ hostname: 'rogue', age: 5 });
    await insert({ hostname: 'rogue', age: 9, state: 'failed' });
    await insert({ hostname: 'old-rogue', age: 31 });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expect(obs.foreign).toHaveLength(1);
    expect(obs.foreign[0]).toMatchObject({ jobId: foreign, hostname: 'rogue', freshRows: 2 });
    expect(Object.keys(obs.rows)).toEqual(['sched-a']);
  });

  it('gives a heartbeat in the future a negative age (scheduler clock ahead)', async () => {
    await insert({ hostname: 'sched-a', age: -40 });
    const obs = ok(await adapter().observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expectAge(obs.rows['sched-a'], -40);
    expect(obs.rows['sched-a']!.freshRows).toBe(1);
  });

  it('skips a row without hostname and says so', async () => {
    await insert({ hostname: null, age: 2 });
    const kept = await insert({ hostname: 'sched-a', age: 3 });
    const warn = vi.fn();
    const obs = ok(await adapter({}, warn).observe({ hostnames: ['sched-a'], staleAfterSeconds: STALE }));
    expect(obs.rows['sched-a']).toMatchObject({ jobId: kept });
    expect(obs.foreign).toEqual([]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/no hostname/));
  });
};

export { expectAge, ok, STALE, whichRowsCount };
export type { JobSpec };
