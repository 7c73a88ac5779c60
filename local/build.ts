import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The scheduler simulator starts many times per scenario and its start time is part of every measured
 * recovery, so it runs as plain JavaScript under `node` (≈ 0.15 s) rather than through tsx (≈ 1.5 s): it
 * is bundled once with esbuild into node_modules/.cache, next to the packages it may still import.
 */

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');
const cacheDir = join(repoRoot, 'node_modules', '.cache', 'airflow-watchdog-local');

const isFresh = (out: string, src: string): boolean => {
  try {
    return statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    return false;
  }
};

/** Returns the path of the runnable simulator, building it when the source is newer. */
const buildSimScheduler = async (): Promise<string> => {
  const src = join(here, 'sim-scheduler.ts');
  const out = join(cacheDir, 'sim-scheduler.mjs');
  if (isFresh(out, src)) return out;
  mkdirSync(cacheDir, { recursive: true });
  // Vitest workers share one pid, so the temporary name must be unique per build, not per process.
  const tmp = `${out}.${randomUUID()}.tmp.mjs`;
  await build({
    entryPoints: [src],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  renameSync(tmp, out);
  return out;
};

export { buildSimScheduler, cacheDir, repoRoot };
