import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bugs the fuzzers found below decide() (adapters, request and config parsing) cannot be written as
 * decision scenarios (test/scenarios/, which feed decide()); each gets a case file of its own here,
 * `test/fuzz/bugs/bug-<what-it-caught>.json`, replayed by the fuzz suite that found it:
 * `{ "description": "…", "input": …, "expect": … }`.
 */

interface BugCase<I, E> {
  readonly description: string;
  readonly input: I;
  readonly expect: E;
}

const loadBugCase = <I, E>(name: string): BugCase<I, E> => JSON.parse(readFileSync(join(import.meta.dirname, 'bugs', `${name}.json`), 'utf8')) as BugCase<I, E>;

export { loadBugCase };
export type { BugCase };
