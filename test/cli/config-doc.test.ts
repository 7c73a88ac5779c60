import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { awsSchema, clusterSchema, componentSchema, dbSchema, nodeSchema } from '../../functions/core/config.js';
import { configReference, readmeSection, spliceReadme } from '../../scripts/config-doc.js';

/** The README's configuration reference is generated from the zod schema and must not drift from it. */

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('Docs: configuration reference', () => {
  it('README.md contains exactly the generated section (run `npm run docs:config` after a schema change)', () => {
    expect(readmeSection(README)).toBe(configReference());
  });

  it('has one row per schema field with its type, default and description', () => {
    const text = configReference();
    for (const schema of [clusterSchema, nodeSchema, componentSchema, dbSchema, awsSchema]) {
      for (const [name, field] of Object.entries(schema.shape)) {
        // A name can appear in two sections (unitName: a component's and aws'): one of its rows carries this description.
        const lines = text.split('\n').filter((l) => l.startsWith(`| \`${name}\` |`));
        expect(lines.length, name).toBeGreaterThan(0);
        expect(lines.some((l) => l.includes((field.description ?? '').replace(/\|/g, '\\|'))), name).toBe(true);
      }
    }
    expect(text).toContain('| `staleAfterSeconds` | number > 0 | `30` |');
    expect(text).toContain('| `mode` | `single` or `multi` | `"single"` |');
    expect(text).toContain('| `clusterName` | string, matching `^[A-Za-z0-9_.-]{1,64}$` | **required** |');
    expect(text).toContain('| `port` | integer ≥ 1, ≤ 65535 | optional |');
    // A `|` inside a regex must not split the table cell.
    expect(text).toContain('`^(i-[0-9a-f]{8}([0-9a-f]{9})?\\|mi-[0-9a-f]{17})$`');
  });

  it('splicing replaces only the text between the markers and refuses a README without them', () => {
    const doc = 'intro\n<!-- config-reference:start -->\nold\n<!-- config-reference:end -->\noutro\n';
    expect(spliceReadme(doc, 'new\n')).toBe('intro\n<!-- config-reference:start -->\nnew\n<!-- config-reference:end -->\noutro\n');
    expect(() => spliceReadme('no markers', 'x')).toThrow(/config-reference:start/);
  });
});
