import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { awsSchema, CONFIG_ENV_VAR, clusterSchema, componentSchema, dbSchema, nodeSchema } from '../functions/core/config.js';

/**
 * Generates the README's configuration reference from the zod schemas in functions/core/config.ts (field,
 * type with constraints, default, description), so the manual cannot drift from what the function and the
 * CDK construct validate. `npm run docs:config` rewrites the README section between the markers;
 * `--check` only compares (test/cli/config-doc.test.ts does the same in CI).
 */

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

/** The parts of zod 4's internal definition this walker reads. */
interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly defaultValue?: unknown;
  readonly entries?: Readonly<Record<string, string>>;
  readonly element?: z.ZodType;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
}

interface CheckDef {
  readonly check: string;
  readonly value?: number;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: string;
  readonly pattern?: RegExp;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

interface Field {
  readonly name: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

/** `|` would end a table cell, even inside a code span. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const code = (text: string): string => `\`${text}\``;

const constraints = (checks: Def['checks']): { integer: boolean; parts: string[] } => {
  const parts: string[] = [];
  let integer = false;
  let minLength: number | undefined;
  let maxLength: number | undefined;
  for (const c of checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'number_format' && (d.format === 'safeint' || d.format === 'int32')) integer = true;
    else if (d.check === 'greater_than' && d.value !== undefined) parts.push(`${d.inclusive ? '≥' : '>'} ${d.value}`);
    else if (d.check === 'less_than' && d.value !== undefined) parts.push(`${d.inclusive ? '≤' : '<'} ${d.value}`);
    else if (d.check === 'min_length' && d.minimum !== undefined) minLength = d.minimum;
    else if (d.check === 'max_length' && d.maximum !== undefined) maxLength = d.maximum;
    else if (d.check === 'string_format' && d.format === 'regex' && d.pattern !== undefined) parts.push(`matching ${code(d.pattern.source)}`);
  }
  if (minLength !== undefined && maxLength !== undefined) parts.unshift(`length ${minLength}–${maxLength}`);
  else if (minLength !== undefined) parts.unshift(minLength === 1 ? 'non-empty' : `length ≥ ${minLength}`);
  else if (maxLength !== undefined) parts.unshift(`length ≤ ${maxLength}`);
  return { integer, parts };
};

const lengthBounds = (checks: Def['checks']): { min?: number; max?: number } => {
  let min: number | undefined;
  let max: number | undefined;
  for (const c of checks ?? []) {
    if (c._zod.def.check === 'min_length') min = c._zod.def.minimum;
    if (c._zod.def.check === 'max_length') max = c._zod.def.maximum;
  }
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
};

/** Type text with constraints, e.g. "integer ≥ 1", "`single` or `multi`", "string matching `^…$`". */
const typeText = (s: z.ZodType): string => {
  const d = defOf(s);
  switch (d.type) {
    case 'default':
    case 'optional':
      return d.innerType === undefined ? d.type : typeText(d.innerType);
    case 'enum':
      return Object.values(d.entries ?? {})
        .map((v) => code(v))
        .join(' or ');
    case 'boolean':
      return 'boolean';
    case 'number': {
      const { integer, parts } = constraints(d.checks);
      return [integer ? 'integer' : 'number', ...parts].join(', ').replace(/^(integer|number), /, '$1 ');
    }
    case 'string': {
      const { parts } = constraints(d.checks);
      const [first, ...rest] = parts;
      if (first === 'non-empty') return ['non-empty string', ...rest].join(', ');
      return ['string', ...parts].join(', ').replace(/^string, /, 'string, ');
    }
    case 'array': {
      const element = d.element === undefined ? 'value' : defOf(d.element).type === 'object' ? 'objects' : typeText(d.element);
      const { min, max } = lengthBounds(d.checks);
      const count =
        min !== undefined && max !== undefined ? ` (${min}–${max})` : min !== undefined ? ` (at least ${min})` : max !== undefined ? ` (at most ${max})` : '';
      return `array of ${element}${count}`;
    }
    default:
      return d.type;
  }
};

const defaultText = (s: z.ZodType): string => {
  const d = defOf(s);
  if (d.type === 'default') {
    const v = typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
    return code(JSON.stringify(v));
  }
  if (d.type === 'optional') return 'optional';
  return '**required**';
};

/** `.describe()` sits on the outermost wrapper; fall back to the inner schema's. */
const descriptionOf = (s: z.ZodType): string => {
  if (s.description !== undefined) return s.description;
  const inner = defOf(s).innerType;
  return inner === undefined ? '' : descriptionOf(inner);
};

const fields = (schema: { readonly shape: Readonly<Record<string, z.ZodType>> }, prefix = ''): Field[] =>
  Object.entries(schema.shape).map(([name, s]) => ({
    name: `${prefix}${name}`,
    type: typeText(s),
    default: defaultText(s),
    description: descriptionOf(s),
  }));

const markdownTable = (rows: readonly Field[]): string[] => [
  '| field | type | default | description |',
  '| --- | --- | --- | --- |',
  ...rows.map((f) => `| ${code(f.name)} | ${cell(f.type)} | ${cell(f.default)} | ${cell(f.description)} |`),
];

const SECTIONS: readonly { readonly key: string; readonly title: string; readonly intro: string; readonly rows: () => Field[] }[] = [
  {
    key: 'cluster',
    title: 'Cluster and behaviour',
    intro: 'What the watchdog watches and how it reacts ([docs/design.md](docs/design.md)).',
    rows: () => fields(clusterSchema),
  },
  {
    key: 'cluster.nodes[]',
    title: 'Each node',
    intro: 'One entry per machine that may run the scheduler, in failover priority order.',
    rows: () => fields(nodeSchema),
  },
  {
    key: 'cluster.components.<scheduler|dagProcessor|triggerer>',
    title: 'Each component',
    intro:
      "Airflow 3's control plane: list `dagProcessor` and `triggerer` to supervise them too (the scheduler always is). A component's unset fields take Airflow's defaults (threshold 30 s, heartbeat 5 s, units `airflow-scheduler`, `airflow-dag-processor`, `airflow-triggerer`) and the cluster's budgets; the scheduler's thresholds and budgets are the top-level fields above (set each in one place). A node's failed starts ban it for that component only.",
    rows: () => fields(componentSchema),
  },
  {
    key: 'db',
    title: 'Metadata DB',
    intro: "How the function reads Airflow's `job` table. Choose one password source.",
    rows: () => fields(dbSchema),
  },
  {
    key: 'aws',
    title: 'AWS resources',
    intro: 'Names of the resources the function uses; the CDK stack fills them in.',
    rows: () => fields(awsSchema),
  },
];

/** The generated markdown (without the markers). */
const configReference = (): string => {
  const out: string[] = [
    `<!-- Generated by scripts/config-doc.ts from functions/core/config.ts; edit the schema, then run \`npm run docs:config\`. -->`,
    '',
    `The function reads one JSON document from the environment variable \`${CONFIG_ENV_VAR}\` with the parts`,
    '`cluster`, `db` and `aws`, and validates it once at cold start; a bad value fails with a message naming',
    'the field and the value.',
  ];
  for (const section of SECTIONS) {
    out.push('', `### ${section.title}: \`${section.key}\``, '', section.intro, '', ...markdownTable(section.rows()));
  }
  return `${out.join('\n')}\n`;
};

/** Replaces the text between the markers; throws when they are missing or out of order. */
const spliceReadme = (readme: string, section: string): string => {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < 0 || end < start) throw new Error(`README.md must contain ${START} … ${END}`);
  return `${readme.slice(0, start + START.length)}\n${section}${readme.slice(end)}`;
};

/** The README's current section (between the markers), for the drift check. */
const readmeSection = (readme: string): string | undefined => {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < 0 || end < start) return undefined;
  return readme.slice(start + START.length + 1, end);
};

const README = fileURLToPath(new URL('../README.md', import.meta.url));

const cli = (argv: readonly string[]): number => {
  const readme = readFileSync(README, 'utf8');
  const next = spliceReadme(readme, configReference());
  if (argv.includes('--check')) {
    if (next === readme) return 0;
    process.stderr.write('README.md configuration reference is out of date: run `npm run docs:config`\n');
    return 1;
  }
  if (next !== readme) writeFileSync(README, next);
  process.stdout.write(next === readme ? 'README.md configuration reference is up to date\n' : 'README.md configuration reference rewritten\n');
  return 0;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = cli(process.argv.slice(2));
}

export { configReference, END, readmeSection, spliceReadme, START };
