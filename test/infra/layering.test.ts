import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules, checked on the import statements themselves:
 * - the CDK side (infra/) never loads the function's runtime, its adapters, Powertools or an AWS SDK
 *   client, directly or through what it imports: what both sides need (metric names, the worst-case tick)
 *   lives in functions/core/limits.ts;
 * - local/ never imports test/.
 */

const REPO = resolve(import.meta.dirname, '../..');

/** Every static or dynamic import specifier of a TypeScript file (type-only imports excluded: they vanish at run time). */
const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) specs.push(m[1] as string);
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) specs.push(m[1] as string);
  return specs;
};

const resolveLocal = (from: string, spec: string): string | undefined => (spec.startsWith('.') ? resolve(dirname(from), spec.replace(/\.js$/, '.ts')) : undefined);

/** Files reachable from `entries` through run-time imports, and the packages they import. */
const reach = (entries: string[]): { files: Set<string>; packages: Set<string> } => {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of importsOf(file)) {
      const local = resolveLocal(file, spec);
      if (local !== undefined) visit(local);
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  };
  for (const e of entries) visit(e);
  return { files, packages };
};

const tsFiles = (dir: string): string[] =>
  readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? tsFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(REPO, dir, d.name)] : []));

describe('Layering', () => {
  it('infra/ reaches no function runtime, adapter, Powertools or SDK client at run time', () => {
    const { files, packages } = reach(tsFiles('infra'));
    const reached = [...files].map((f) => relative(REPO, f));
    expect(reached.filter((f) => /^functions\/(runtime|adapters)\//.test(f) || f === 'functions/handler.ts')).toEqual([]);
    expect([...packages].filter((p) => p.startsWith('@aws-lambda-powertools') || p.startsWith('@aws-sdk/'))).toEqual([]);
    expect(reached).toContain('functions/core/limits.ts');
  });

  it('the runtime and infra read the metric names and the worst-case tick from functions/core/limits.ts', () => {
    expect(importsOf(join(REPO, 'functions/runtime/telemetry.ts'))).toContain('../core/limits.js');
    expect(importsOf(join(REPO, 'infra/lib/monitoring.ts'))).toContain('../../functions/core/limits.js');
    expect(importsOf(join(REPO, 'infra/lib/sizing.ts'))).toContain('../../functions/core/limits.js');
  });

  it('functions/core/limits.ts is pure: it imports nothing at run time', () => {
    expect(importsOf(join(REPO, 'functions/core/limits.ts'))).toEqual([]);
  });

  it('local/ imports nothing from test/', () => {
    const offending = tsFiles('local').flatMap((f) =>
      importsOf(f)
        .map((spec) => resolveLocal(f, spec))
        .filter((target): target is string => target !== undefined && relative(REPO, target).startsWith('test/'))
        .map((target) => `${relative(REPO, f)} → ${relative(REPO, target)}`),
    );
    expect(offending).toEqual([]);
  });
});
