import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';
import { baseProps } from './fixtures.js';

/**
 * The one real bundling in the infra tests: local esbuild (never Docker), as `cdk synth` runs it.
 */

const outdir = mkdtempSync(join(tmpdir(), 'watchdog-bundle-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('Bundling: NodejsFunction with local esbuild', () => {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bundle');
  new AirflowSchedulerWatchdog(stack, 'Watchdog', baseProps(stack));
  app.synth();
  const assetDir = readdirSync(outdir)
    .filter((d) => d.startsWith('asset.'))
    .map((d) => join(outdir, d))
    .find((d) => readdirSync(d).includes('index.mjs'));
  const code = assetDir === undefined ? '' : readFileSync(join(assetDir, 'index.mjs'), 'utf8');

  it('writes an ESM bundle with an external source map and nothing else', () => {
    expect(assetDir).toBeDefined();
    expect(readdirSync(assetDir as string).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    expect(code.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(true);
    expect(code.startsWith("import { createRequire as __watchdogCreateRequire } from 'node:module'")).toBe(true);
    const map = JSON.parse(readFileSync(join(assetDir as string, 'index.mjs.map'), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sources.some((s) => s.endsWith('functions/handler.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('bundles the AWS SDK clients instead of importing the runtime’s', () => {
    // (Matched text only, so a failure does not print 2 MB of bundle.)
    expect(/from\s*["']@aws-sdk\/[^"']+/.exec(code)?.[0]).toBeUndefined();
    expect(/import\(\s*["']@aws-sdk\/[^"']+/.exec(code)?.[0]).toBeUndefined();
    const map = JSON.parse(readFileSync(join(assetDir as string, 'index.mjs.map'), 'utf8')) as { sources: string[] };
    for (const pkg of ['@aws-sdk/client-ssm', '@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/rds-signer']) {
      expect(
        map.sources.some((s) => s.includes(`node_modules/${pkg}/`)),
        pkg,
      ).toBe(true);
    }
  });

  it('loads in a fresh Node process and exports the handler', () => {
    const probe = `const m = await import(${JSON.stringify(join(assetDir as string, 'index.mjs'))}); process.stdout.write(typeof m.handler);`;
    const config = {
      cluster: { clusterName: 'c', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'a' }] },
      db: { dialect: 'postgres', host: 'h', database: 'd', user: 'u', passwordParameterName: '/p' },
      aws: { tableName: 'tbl', startDocument: 'start', stopDocument: 'stop', statusDocument: 'status' },
    };
    const res = spawnSync(process.execPath, ['--enable-source-maps', '--no-warnings', '--input-type=module', '-e', probe], {
      env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', WATCHDOG_CONFIG: JSON.stringify(config) },
      encoding: 'utf8',
    });
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('function');
  });
});
