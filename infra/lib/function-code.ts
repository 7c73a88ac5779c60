import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/**
 * Where the function's code comes from, and which of its files a configuration deploys.
 *
 * - **Installed package**: `dist/lambda/` holds the code prebuilt by `npm run build` (scripts/build-lambda.ts),
 *   so an app that installs the package needs neither esbuild nor tsx.
 * - **Checkout** (no prebuilt code next to this file): the construct builds it once per process with the
 *   local esbuild, through the same script, into a temporary directory.
 *
 * The code is split into parts (see scripts/build-lambda.ts): the DB drivers, the Secrets Manager client,
 * the RDS signer and the SQS client are chunks of their own, and a deployment ships only the files its
 * configuration can load, following the build's manifest.
 */

/** This package's root: the repository in a checkout, `dist/` in the installed package. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Prebuilt function code, present only in the installed package (and after `npm run build`, under dist/). */
const PREBUILT_DIR = join(PACKAGE_ROOT, 'lambda');
const BUILD_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'build-lambda.ts');
const MANIFEST_FILE = 'manifest.json';

type FunctionPart = 'postgres' | 'mysql' | 'password-secret' | 'password-iam' | 'tick-queue' | 'ec2-fence';

interface ManifestFile {
  readonly bytes: number;
  readonly imports: readonly string[];
  readonly dynamicImports: readonly string[];
  readonly part?: FunctionPart;
}

interface FunctionManifest {
  readonly entry: string;
  readonly files: Readonly<Record<string, ManifestFile>>;
  readonly parts: Readonly<Record<FunctionPart, string>>;
}

/** What of the function a configuration uses. */
interface FunctionFeatures {
  readonly dialect: 'mysql' | 'postgres';
  readonly passwordSecret: boolean;
  readonly iamAuth: boolean;
  /** Checks below 60 s: the scheduled invocation queues ticks through SQS. */
  readonly tickQueue: boolean;
  /** fenceUnreachable `ec2-stop`: the EC2 client for power fencing. @default false */
  readonly ec2Fence?: boolean;
}

const partsOf = (f: FunctionFeatures): Set<FunctionPart> =>
  new Set<FunctionPart>([
    f.dialect,
    ...(f.passwordSecret ? ['password-secret' as const] : []),
    ...(f.iamAuth ? ['password-iam' as const] : []),
    ...(f.tickQueue ? ['tick-queue' as const] : []),
    ...(f.ec2Fence === true ? ['ec2-fence' as const] : []),
  ]);

/**
 * The files a configuration deploys: everything the entry reaches through static and dynamic imports,
 * except the parts the configuration does not use (and what only they reach). SDK-internal lazy chunks
 * stay: they are reachable, though Lambda's environment credentials mean they are never loaded.
 */
const deployedFiles = (manifest: FunctionManifest, features: FunctionFeatures): string[] => {
  const wanted = partsOf(features);
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    const file = manifest.files[name];
    if (file === undefined) throw new Error(`function code: ${name} is imported but not in the build's manifest`);
    if (file.part !== undefined && !wanted.has(file.part)) return;
    seen.add(name);
    for (const next of [...file.imports, ...file.dynamicImports]) visit(next);
  };
  visit(manifest.entry);
  return [...seen].sort();
};

/** The files loaded before the first tick runs: static imports, plus the parts the handler preloads at init. */
const firstTickFiles = (manifest: FunctionManifest, features: FunctionFeatures): string[] => {
  const wanted = partsOf(features);
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = manifest.files[name] as ManifestFile;
    for (const next of file.imports) visit(next);
    for (const next of file.dynamicImports) if (manifest.files[next]?.part !== undefined && wanted.has(manifest.files[next]?.part as FunctionPart)) visit(next);
  };
  visit(manifest.entry);
  return [...seen].sort();
};

const readManifest = (dir: string): FunctionManifest => JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as FunctionManifest;

let builtDir: string | undefined;

/** Builds the function from source once per process (checkout only), with the repository's esbuild. */
const buildFromSource = (): string => {
  if (builtDir !== undefined) return builtDir;
  if (!existsSync(BUILD_SCRIPT)) {
    throw new Error(`function code: neither prebuilt code (${PREBUILT_DIR}) nor the build script (${BUILD_SCRIPT}) exists; reinstall the package`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'airflow-watchdog-function-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const res = spawnSync(process.execPath, ['--import', 'tsx', BUILD_SCRIPT, dir], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  if (res.status !== 0)
    throw new Error(`function code: building ${BUILD_SCRIPT} failed (exit ${res.status}): ${res.stderr || res.error?.message || ''}`.trim());
  builtDir = dir;
  return dir;
};

/** The directory holding the function's code with its manifest: prebuilt, or built from this checkout. */
const functionCodeDir = (): string => (existsSync(join(PREBUILT_DIR, MANIFEST_FILE)) ? PREBUILT_DIR : buildFromSource());

interface FunctionCode {
  readonly code: lambda.Code;
  /** Deployed JavaScript files (without source maps) and their total size; undefined when bundling is skipped. */
  readonly files?: readonly string[];
  readonly bytes?: number;
}

/**
 * The function's code for one configuration. With bundling skipped (tests: the `aws:cdk:bundling-stacks`
 * context), a checkout neither builds nor needs built code: the functions/ sources stand in as the asset.
 */
const functionCode = (features: FunctionFeatures, opts: { bundlingRequired: boolean }): FunctionCode => {
  if (!opts.bundlingRequired && !existsSync(join(PREBUILT_DIR, MANIFEST_FILE))) {
    return { code: lambda.Code.fromAsset(join(PACKAGE_ROOT, 'functions')) };
  }
  const dir = functionCodeDir();
  const manifest = readManifest(dir);
  const keep = deployedFiles(manifest, features);
  const kept = new Set([...keep, ...keep.map((f) => `${f}.map`)]);
  const exclude = readdirSync(dir).filter((f) => !kept.has(f));
  return {
    code: lambda.Code.fromAsset(dir, { exclude }),
    files: keep,
    bytes: keep.reduce((sum, f) => sum + (manifest.files[f]?.bytes ?? 0), 0),
  };
};

export type { FunctionCode, FunctionFeatures, FunctionManifest, FunctionPart, ManifestFile };
export { deployedFiles, firstTickFiles, functionCode, functionCodeDir, PACKAGE_ROOT, PREBUILT_DIR, readManifest };
