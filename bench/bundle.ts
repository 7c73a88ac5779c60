/**
 * `npm run bench:bundle`: builds the function exactly as `cdk synth` does (the construct's own
 * NodejsFunction bundling with local esbuild), then prints
 *   - the bundle's size in bytes (index.mjs, its source map, and index.mjs gzipped ≈ what the zip costs),
 *   - the median time to import the built bundle in a fresh Node process (cold init of the module graph
 *     plus the handler's boot: configuration parse and SDK client construction), with and without
 *     `--enable-source-maps` (the function runs with it), and the resident memory after import,
 *   - the versions of the bundled SDK clients (pinned by package-lock.json).
 * Figures are printed, never asserted. Runs: BENCH_RUNS (default 15).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { AirflowSchedulerWatchdog, REPO_ROOT } from '../infra/lib/watchdog.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

const sampleConfig = {
  cluster: {
    clusterName: 'bench',
    nodes: [
      { id: 'i-0123456789abcdef0', hostname: 'node-a.example' },
      { id: 'i-0fedcba9876543210', hostname: 'node-b.example' },
    ],
  },
  db: { dialect: 'postgres', host: 'db.example', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/watchdog' },
  aws: { tableName: 'bench-table', startDocument: 'bench-start', stopDocument: 'bench-stop', statusDocument: 'bench-status' },
};

const build = (outdir: string): string => {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bench');
  new AirflowSchedulerWatchdog(stack, 'Watchdog', {
    cluster: sampleConfig.cluster,
    database: {
      dialect: 'postgres',
      host: 'db.example',
      databaseName: 'airflow',
      user: 'watchdog',
      passwordParameter: ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Pw', { parameterName: '/airflow/watchdog' }),
    },
  });
  app.synth();
  const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.') && statSync(join(outdir, d)).isDirectory());
  const fn = assets.find((d) => readdirSync(join(outdir, d)).includes('index.mjs'));
  if (fn === undefined) throw new Error(`no bundled function found in ${outdir}`);
  return join(outdir, fn);
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface Sample {
  importMs: number;
  processMs: number;
  rssMb: number;
}

/** One fresh process: time of `await import(bundle)` inside it, and of the whole process from spawn to exit. */
const coldImport = (file: string, flags: string[]): Sample => {
  const probe = `const t=performance.now();const m=await import(${JSON.stringify(file)});if(typeof m.handler!=='function')throw new Error('no handler');process.stdout.write(JSON.stringify({importMs:performance.now()-t,rssMb:process.memoryUsage().rss/1048576}));`;
  const started = process.hrtime.bigint();
  const res = spawnSync(process.execPath, [...flags, '--no-warnings', '--input-type=module', '-e', probe], {
    env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', WATCHDOG_CONFIG: JSON.stringify(sampleConfig) },
    encoding: 'utf8',
  });
  const processMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 0) throw new Error(`import failed: ${res.stderr}`);
  const out = JSON.parse(res.stdout) as { importMs: number; rssMb: number };
  return { importMs: out.importMs, processMs, rssMb: out.rssMb };
};

const version = (pkg: string): string =>
  (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

const main = (): void => {
  const outdir = mkdtempSync(join(tmpdir(), 'watchdog-bench-'));
  try {
    const t0 = performance.now();
    const dir = build(outdir);
    const buildMs = performance.now() - t0;
    const file = join(dir, 'index.mjs');
    const code = readFileSync(file);
    const mapBytes = statSync(join(dir, 'index.mjs.map')).size;
    console.log(`bench:bundle  (node ${process.version} here; Lambda runs nodejs24.x on arm64)`);
    console.log(`  synth + esbuild bundle: ${buildMs.toFixed(0)} ms`);
    console.log(`  index.mjs:         ${code.length} bytes (${(code.length / 1048576).toFixed(2)} MiB), gzip ${gzipSync(code).length} bytes`);
    console.log(`  index.mjs.map:     ${mapBytes} bytes`);
    for (const flags of [['--enable-source-maps'], []]) {
      coldImport(file, flags); // warm the OS file cache once
      const samples = Array.from({ length: RUNS }, () => coldImport(file, flags));
      const label = flags.length > 0 ? 'with --enable-source-maps (as deployed)' : 'without source maps';
      console.log(`  cold import, ${label}, median of ${RUNS} fresh processes:`);
      console.log(
        `    import(): ${median(samples.map((s) => s.importMs)).toFixed(1)} ms   whole process: ${median(samples.map((s) => s.processMs)).toFixed(1)} ms   RSS after import: ${median(samples.map((s) => s.rssMb)).toFixed(1)} MB`,
      );
    }
    const pkgs = ['@aws-sdk/client-dynamodb', '@aws-sdk/client-ssm', '@aws-sdk/client-secrets-manager', '@aws-sdk/rds-signer', 'mysql2', 'pg'];
    console.log(`  bundled versions: ${pkgs.map((p) => `${p}@${version(p)}`).join(', ')}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

main();
