import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The npm package as a CDK user gets it: `npm pack` (which builds: compiled construct with .d.ts, the
 * function's code prebuilt, the node script), installed into a fresh app in a temporary folder, and
 * synthesized from the few lines the README's "use it in your own CDK app" section shows (USER_CODE
 * below is that snippet; a test pins that the README shows exactly these lines).
 *
 * Offline: the app's other packages (aws-cdk-lib, constructs, and the package's own dependencies) are
 * linked from this checkout's node_modules, and npm installs with `--offline`, so nothing is fetched.
 * Every step that fails says which one and why.
 */

const REPO = resolve(import.meta.dirname, '../..');
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

/** The README snippet, verbatim (between the markers in README.md). */
const USER_CODE = `import { App, Stack } from 'aws-cdk-lib';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { AirflowSchedulerWatchdog } from 'airflow-scheduler-watchdog';

const app = new App();
const stack = new Stack(app, 'AirflowWatchdog');
new AirflowSchedulerWatchdog(stack, 'Watchdog', {
  cluster: { clusterName: 'prod', nodes: [{ id: 'i-0123456789abcdef0', hostname: 'ip-10-0-1-10.ec2.internal' }] },
  database: {
    dialect: 'postgres', host: 'airflow-db.example.com', databaseName: 'airflow', user: 'airflow_watchdog',
    passwordParameter: StringParameter.fromSecureStringParameterAttributes(stack, 'DbPassword', { parameterName: '/airflow/watchdog/db-password' }),
  },
  publicDatabase: true,
});
`;

const run = (what: string, cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const res = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', ...env }, timeout: 240_000 });
  if (res.status !== 0) {
    throw new Error(`${what} failed (${cmd} ${args.join(' ')}, exit ${res.status ?? res.signal}):\n${(res.stderr || res.stdout || res.error?.message || '').slice(-3000)}`);
  }
  return res.stdout;
};

let work: string;
let app: string;
let tarball: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'watchdog-pack-'));
  app = join(work, 'app');
  // npm pack runs `prepack`, i.e. `npm run build`.
  const out = run('npm pack', 'npm', ['pack', '--pack-destination', work, '--json', '--loglevel=error'], REPO);
  const packed = JSON.parse(out.slice(out.indexOf('['))) as { filename: string }[];
  tarball = join(work, packed[0]?.filename ?? '');
  const linked: Record<string, string> = {};
  for (const name of [...Object.keys(PKG.peerDependencies), ...Object.keys(PKG.dependencies)]) {
    const dir = join(REPO, 'node_modules', name);
    if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is not installed in ${REPO}/node_modules: run npm ci first (the pack test links it from there, offline)`);
    linked[name] = `file:${dir}`;
  }
  run('mkdir', 'mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-airflow-infra', private: true, type: 'module', dependencies: linked }, null, 2));
  try {
    run('npm install --offline of the packed tarball', 'npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], app);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\nThe app links aws-cdk-lib, constructs and ${Object.keys(PKG.dependencies).join(', ')} from this checkout's node_modules, so an offline install needs nothing else; if npm still wanted the network, a dependency of the package is not among them.`,
    );
  }
  writeFileSync(join(app, 'app.mjs'), USER_CODE);
  writeFileSync(join(app, 'app.ts'), USER_CODE);
}, 300_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('npm package: packed, installed offline into a fresh CDK app, synthesized', () => {
  it('packs compiled JavaScript, declarations, the prebuilt function and the node script, and no TypeScript source', () => {
    const files = run('tar', 'tar', ['-tzf', tarball], work).split('\n').filter(Boolean);
    for (const f of ['package/dist/infra/lib/index.js', 'package/dist/infra/lib/index.d.ts', 'package/dist/infra/lib/props.d.ts', 'package/dist/lambda/index.mjs', 'package/dist/lambda/manifest.json', 'package/dist/node/airflow-scheduler.sh', 'package/dist/cli/main.js']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /\/(test|local|bench)\//.test(f))).toEqual([]);
  });

  it('installs without esbuild, tsx or any Lambda runtime library', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    for (const tool of ['esbuild', 'tsx', 'typescript', 'pg', 'mysql2', '@aws-lambda-powertools']) expect(installed).not.toContain(tool);
    expect(realpathSync(join(app, 'node_modules', PKG.name))).not.toBe(REPO);
  });

  it('typechecks the user code against the package’s declarations (the exports map’s types)', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true }, files: ['app.ts'] }),
    );
    run('tsc on the user code', process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    // And a misspelt prop is caught by those declarations.
    writeFileSync(join(app, 'bad.ts'), USER_CODE.replace('publicDatabase', 'publicDatabse'));
    const res = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', 'bad.ts'], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(res.status).not.toBe(0);
    expect(res.stdout).toContain('publicDatabse');
  }, 180_000);

  it('synthesizes with plain node: a template with the function, and an asset holding only the prebuilt files this configuration loads', () => {
    const out = join(app, 'cdk.out');
    run('node app.mjs (synth)', process.execPath, ['app.mjs'], app, { CDK_OUTDIR: out, PATH: '/usr/bin:/bin' });
    const template = JSON.parse(readFileSync(join(out, 'AirflowWatchdog.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler');
    expect(fns).toHaveLength(1);
    expect(fns[0]?.Properties.Runtime).toBe('nodejs24.x');
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', PKG.name, 'dist/lambda/manifest.json'), 'utf8')) as { parts: Record<string, string> };
    const asset = readdirSync(out)
      .filter((d) => d.startsWith('asset.'))
      .map((d) => join(out, d))
      .find((d) => existsSync(join(d, 'index.mjs')));
    expect(asset).toBeDefined();
    const files = readdirSync(asset as string);
    expect(files).toContain(manifest.parts.postgres);
    for (const part of ['mysql', 'password-secret', 'password-iam', 'tick-queue']) expect(files).not.toContain(manifest.parts[part]);
    expect(files).not.toContain('manifest.json');
    // The prebuilt code as shipped, byte for byte.
    expect(readFileSync(join(asset as string, 'index.mjs'))).toEqual(readFileSync(join(app, 'node_modules', PKG.name, 'dist/lambda/index.mjs')));
  }, 180_000);

  it('runs the operator CLI from the installed package', () => {
    const out = run('npx airflow-watchdog --help', join(app, 'node_modules/.bin/airflow-watchdog'), ['--help'], app);
    expect(out).toContain('status');
  }, 60_000);

  it('is what the README shows under "Use it in your own CDK app"', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const snippet = /<!-- own-app:start -->\n```ts\n([\s\S]*?)```\n<!-- own-app:end -->/.exec(readme)?.[1];
    expect(snippet).toBe(USER_CODE);
  });
});
