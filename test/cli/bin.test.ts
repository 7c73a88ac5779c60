import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { row } from '../helpers/fakes.js';
import { type Hosted, hostWatchdog, NODES } from './harness.js';

/** The real launcher as a child process: tsx's loader registered by bin/airflow-watchdog.mjs, no build step. */

const BIN = fileURLToPath(new URL('../../bin/airflow-watchdog.mjs', import.meta.url));

interface Child {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Asynchronous on purpose: the endpoint answering the child runs in this process's event loop.
const runBin = (args: readonly string[]): Promise<Child> =>
  new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', CI: 'true' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });

let h: Hosted;

beforeAll(async () => {
  h = await hostWatchdog();
});

afterAll(async () => {
  await h.close();
});

describe('CLI: bin/airflow-watchdog.mjs', () => {
  it('--help prints usage and exits 0', async () => {
    const res = await runBin(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Usage: airflow-watchdog <command> [options]');
    expect(res.stderr).toBe('');
  });

  it('status --endpoint talks to the hosted watchdog and exits by verdict', async () => {
    h.db.setRows([row(NODES[0].hostname, 6, 21)]);
    const res = await runBin(['status', '--endpoint', h.endpoint.url]);
    expect(res.stderr).toBe('');
    expect(res.stdout.split('\n')[0]).toBe('✔ prod: HEALTHY  ·  epoch 0');
    expect(res.code).toBe(0);
    expect(h.received).toEqual([{ action: 'status' }]);
  });

  it('a usage error exits 2', async () => {
    const res = await runBin(['failover', '--endpoint', h.endpoint.url]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('failover needs --reason');
  });
});
