/**
 * `npm run bench:bundle`: builds the function exactly as `cdk synth` does (the construct, in this
 * checkout, runs scripts/build-lambda.ts with the local esbuild), synthesizes a sample configuration
 * (postgres, password in an SSM parameter, 60 s checks) and prints
 *   - the bytes of JavaScript that configuration deploys (source maps listed apart), and the same for
 *     the other configurations, from the build's manifest;
 *   - the median time to import the deployed index.mjs in a fresh Node process: module evaluation plus
 *     the handler's init, which parses the configuration, builds the SDK clients and imports every lazy
 *     part the first tick needs (DB driver, password source), so nothing is left for the first tick to
 *     load; with `--enable-source-maps` (as deployed) and without; and the resident memory after it;
 *   - what each library costs on its own: bytes in the first-tick files, and the median cold import
 *     of a bundle of that library alone (same esbuild options) minus an empty bundle's.
 * Figures are printed, never asserted. Runs: BENCH_RUNS (default 15) fresh processes per figure.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { build } from 'esbuild';
import { deployedFiles, type FunctionFeatures, firstTickFiles, functionCodeDir, readManifest } from '../infra/lib/function-code.js';
import { AirflowSchedulerWatchdog } from '../infra/lib/watchdog.js';
import { buildLambda, lambdaBuildOptions, REPO_ROOT } from '../scripts/build-lambda.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const MIB = 1_048_576;

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

/** Synthesizes the sample configuration; returns the function's asset directory and the construct. */
const synthSample = (outdir: string): { dir: string; watchdog: AirflowSchedulerWatchdog } => {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bench');
  const watchdog = new AirflowSchedulerWatchdog(stack, 'Watchdog', {
    cluster: sampleConfig.cluster,
    database: {
      dialect: 'postgres',
      host: 'db.example',
      databaseName: 'airflow',
      user: 'watchdog',
      passwordParameter: ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Pw', { parameterName: '/airflow/watchdog' }),
    },
    publicDatabase: true,
  });
  app.synth();
  const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.') && statSync(join(outdir, d)).isDirectory());
  const fn = assets.find((d) => readdirSync(join(outdir, d)).includes('index.mjs'));
  if (fn === undefined) throw new Error(`no function asset found in ${outdir}`);
  return { dir: join(outdir, fn), watchdog };
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

/** One fresh process: time of `await import(file)` inside it, and of the whole process from spawn to exit. */
const coldImport = (file: string, flags: string[], expectHandler = true): Sample => {
  const check = expectHandler ? "if(typeof m.handler!=='function')throw new Error('no handler');" : '';
  const probe = `const t=performance.now();const m=await import(${JSON.stringify(file)});${check}process.stdout.write(JSON.stringify({importMs:performance.now()-t,rssMb:process.memoryUsage().rss/1048576}));`;
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

const medianImport = (file: string, flags: string[], expectHandler = true): Sample => {
  coldImport(file, flags, expectHandler); // warm the OS file cache once
  const samples = Array.from({ length: RUNS }, () => coldImport(file, flags, expectHandler));
  return { importMs: median(samples.map((s) => s.importMs)), processMs: median(samples.map((s) => s.processMs)), rssMb: median(samples.map((s) => s.rssMb)) };
};

const version = (pkg: string): string =>
  (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

/** Libraries whose cost is reported one by one, and the module each is measured through. */
const LIBRARIES: [label: string, packages: string[], source: string][] = [
  ['@aws-lambda-powertools/logger', ['@aws-lambda-powertools/logger'], "export * from '@aws-lambda-powertools/logger';"],
  ['@aws-lambda-powertools/metrics', ['@aws-lambda-powertools/metrics'], "export * from '@aws-lambda-powertools/metrics';"],
  ['@aws-lambda-powertools/parameters (SSM)', ['@aws-lambda-powertools/parameters'], "export * from '@aws-lambda-powertools/parameters/ssm';"],
  ['@aws-sdk/client-dynamodb + lib-dynamodb', ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/util-dynamodb'], "export * from '@aws-sdk/lib-dynamodb'; export * from '@aws-sdk/client-dynamodb';"],
  ['@aws-sdk/client-ssm', ['@aws-sdk/client-ssm'], "export * from '@aws-sdk/client-ssm';"],
  ['@aws-sdk/client-secrets-manager', ['@aws-sdk/client-secrets-manager'], "export * from '@aws-sdk/client-secrets-manager';"],
  ['@aws-sdk/rds-signer', ['@aws-sdk/rds-signer'], "export * from '@aws-sdk/rds-signer';"],
  ['@aws-sdk/client-sqs', ['@aws-sdk/client-sqs'], "export * from '@aws-sdk/client-sqs';"],
  ['pg', ['pg', 'pg-protocol', 'pg-pool', 'pg-types', 'pg-connection-string', 'pgpass'], "export { default } from 'pg';"],
  ['mysql2', ['mysql2'], "export * from 'mysql2';"],
  ['iconv-lite (replaced by scripts/stand-ins/)', ['iconv-lite'], "export * from 'iconv-lite';"],
  ['@aws-sdk/client-ec2 (power fence only)', ['@aws-sdk/client-ec2'], "export { EC2Client, StopInstancesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';"],
  ['zod', ['zod'], "export * from 'zod';"],
];

/** Bundles one library alone with the function's esbuild options (no splitting, no source map), into `dir/probe-<n>.mjs`. */
const bundleAlone = async (dir: string, n: number, source: string): Promise<string> => {
  const { entryPoints: _e, outdir: _o, entryNames: _n, chunkNames: _c, outExtension: _x, ...base } = lambdaBuildOptions(dir);
  const outfile = join(dir, `probe-${n}.mjs`);
  await build({ ...base, stdin: { contents: source, resolveDir: REPO_ROOT, sourcefile: `probe-${n}.mjs`, loader: 'js' }, outfile, metafile: false, sourcemap: false, splitting: false });
  return outfile;
};

const FEATURE_ROWS: [string, FunctionFeatures][] = [
  ['postgres, SSM parameter, 60 s', { dialect: 'postgres', passwordSecret: false, iamAuth: false, tickQueue: false }],
  ['postgres, SSM parameter, 10 s (SQS)', { dialect: 'postgres', passwordSecret: false, iamAuth: false, tickQueue: true }],
  ['postgres, Secrets Manager, 60 s', { dialect: 'postgres', passwordSecret: true, iamAuth: false, tickQueue: false }],
  ['postgres, RDS IAM auth, 60 s', { dialect: 'postgres', passwordSecret: false, iamAuth: true, tickQueue: false }],
  ['mysql, SSM parameter, 60 s', { dialect: 'mysql', passwordSecret: false, iamAuth: false, tickQueue: false }],
  ['mysql, Secrets Manager, 10 s (SQS)', { dialect: 'mysql', passwordSecret: true, iamAuth: false, tickQueue: true }],
  // The EC2 client's schema table is not tree-shaken since SDK 3.9xx (aws/aws-sdk-js-v3#7607).
  ['postgres, 60 s, EC2 power fence', { dialect: 'postgres', passwordSecret: false, iamAuth: false, tickQueue: false, ec2Fence: true }],
];

const main = async (): Promise<void> => {
  const outdir = mkdtempSync(join(tmpdir(), 'watchdog-bench-'));
  try {
    const t0 = performance.now();
    const { dir, watchdog } = synthSample(outdir);
    const buildMs = performance.now() - t0;
    const manifest = readManifest(functionCodeDir());
    const js = readdirSync(dir).filter((f) => f.endsWith('.mjs'));
    const jsBytes = js.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    const mapBytes = readdirSync(dir)
      .filter((f) => f.endsWith('.map'))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    const gzip = js.reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, f))).length, 0);
    const [l1, l5] = loadavg();
    console.log(`bench:bundle  (node ${process.version} here, load average ${l1?.toFixed(2)} / ${l5?.toFixed(2)}; Lambda runs nodejs24.x on arm64)`);
    console.log(`  synth + esbuild build: ${buildMs.toFixed(0)} ms`);
    console.log(`  sample configuration (postgres, SSM parameter, 60 s checks), as deployed:`);
    console.log(`    JavaScript:   ${jsBytes} bytes (${(jsBytes / MIB).toFixed(2)} MiB; ${jsBytes <= MIB ? 'within' : 'ABOVE'} 1 MiB = ${MIB}) in ${js.length} files, gzip ${gzip} bytes`);
    console.log(`    source maps:  ${mapBytes} bytes (read only with --enable-source-maps)`);
    if (watchdog.codeBytes !== jsBytes) throw new Error(`the construct reports ${watchdog.codeBytes} bytes, the asset holds ${jsBytes}`);
    console.log('  JavaScript each configuration deploys / loads before its first tick (bytes):');
    for (const [label, f] of FEATURE_ROWS) {
      const sum = (files: string[]) => files.reduce((s, x) => s + (manifest.files[x]?.bytes ?? 0), 0);
      const deployed = sum(deployedFiles(manifest, f));
      console.log(`    ${label.padEnd(38)} ${String(deployed).padStart(9)} ${deployed <= MIB ? '  ' : '> 1 MiB'} / ${String(sum(firstTickFiles(manifest, f))).padStart(9)}`);
    }
    const file = join(dir, 'index.mjs');
    for (const flags of [['--enable-source-maps'], []]) {
      const s = medianImport(file, flags);
      const label = flags.length > 0 ? 'with --enable-source-maps (as deployed)' : 'without source maps';
      console.log(`  cold import + init, ${label}, median of ${RUNS} fresh processes:`);
      console.log(`    import(): ${s.importMs.toFixed(1)} ms   whole process: ${s.processMs.toFixed(1)} ms   RSS after import: ${s.rssMb.toFixed(1)} MB`);
    }

    // What each library costs alone.
    // (Chunk names hash the source maps too, which depend on the output directory: use this build's own manifest.)
    const { result, manifest: full } = await buildLambda(join(outdir, 'full'));
    // The sample's first-tick files, plus the mysql part (so mysql2 is counted where it lives).
    const counted = new Set([...firstTickFiles(full, FEATURE_ROWS[0]?.[1] as FunctionFeatures), full.parts.mysql]);
    const bytesOf = (pkgs: string[]): number => {
      let total = 0;
      for (const [path, out] of Object.entries(result.metafile.outputs)) {
        if (path.endsWith('.map') || !counted.has(path.split('/').pop() as string)) continue;
        for (const [input, v] of Object.entries(out.inputs)) if (pkgs.some((p) => input.includes(`node_modules/${p}/`))) total += v.bytesInOutput;
      }
      return total;
    };
    const probeDir = join(outdir, 'probes');
    mkdirSync(probeDir, { recursive: true });
    const empty = medianImport(await bundleAlone(probeDir, 0, 'export {};'), [], false).importMs;
    console.log(`  each library alone (same esbuild options; cold import minus an empty bundle's ${empty.toFixed(1)} ms; median of ${RUNS}):`);
    console.log(`    ${'library'.padEnd(42)} ${'bytes in the function'.padStart(22)} ${'import alone'.padStart(13)}`);
    let n = 1;
    for (const [label, pkgs, source] of LIBRARIES) {
      const alone = medianImport(await bundleAlone(probeDir, n++, source), [], false).importMs - empty;
      console.log(`    ${label.padEnd(42)} ${String(bytesOf(pkgs)).padStart(22)} ${`${alone.toFixed(1)} ms`.padStart(13)}`);
    }
    console.log('    (bytes: in the sample\'s first-tick files, mysql2 in its own part; the SDK clients share @smithy/core and @aws-sdk/core, so their import times overlap and do not add up)');
    const pkgs = ['@aws-sdk/client-dynamodb', '@aws-sdk/client-ssm', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sqs', '@aws-sdk/rds-signer', 'mysql2', 'pg', 'zod'];
    console.log(`  bundled versions: ${pkgs.map((p) => `${p}@${version(p)}`).join(', ')}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`bench:bundle failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
