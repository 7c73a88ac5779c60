/**
 * The node-side script (node/airflow-scheduler.sh, SPEC §7) never evaluates parameter text as shell.
 *
 * Dynamic: the script runs under bash with node/testing/fake-systemctl on PATH as `systemctl` (the
 * setup of test/node/airflow-scheduler-script.test.ts), with every input it reads (WATCHDOG_ACTION,
 * $1, SSM_Epoch, SSM_UnitName, the four directory tunables WATCHDOG_STATE_DIR / _RUN_DIR /
 * _SYSTEMD_DIR / _CGROUP_ROOT, the four WATCHDOG_*_SECONDS tunables, WATCHDOG_HOSTNAME_OVERRIDE, the
 * epoch state files, the permit file, and check-permit's arguments) set in turn to command substitutions,
 * backticks, separators, pipes, redirections, arithmetic-evaluation traps (`a[$(…)]`), $IFS,
 * newlines, quotes, globs, option-like words, 100,000-character and non-ASCII values. Each payload
 * would create a canary file if any of it were run as shell; the canary must never exist. A value
 * that does not match its pattern must end with exit 64 (NODE_EXIT.badParameter) before anything
 * happened: no systemctl call, nothing created under the sandbox. The directories end up in a systemd
 * drop-in, so only A-Za-z0-9._/@+- is accepted there (no newline, space, quote, `%` specifier or `$`).
 *
 * Static: the script's text has no eval / source / `bash -c` / backticks, no expansion in command
 * position, raw parameters only inside [[ ]], assignments or double quotes, and every arithmetic use of
 * a parameter behind its regex check (the checker is itself tested on doctored copies, so it is not
 * vacuous).
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECK_PERMIT_EXIT, NODE_EXIT, NODE_PARAM_PATTERNS, type NodeReport } from '../../functions/core/node-protocol.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCRIPT = join(REPO, 'node/airflow-scheduler.sh');
const FAKE_SYSTEMCTL = join(REPO, 'node/testing/fake-systemctl');
const HOST = 'ip-10-0-9-9.security.internal';

// ---- sandbox -----------------------------------------------------------------------------------------

interface Sandbox {
  readonly root: string;
  /** Created if `$CANARY` in a payload is ever expanded inside evaluated shell text. */
  readonly canary: string;
  /** Created if a payload naming it literally is ever run. */
  readonly canaryAbs: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly fakeDir: string;
  readonly env: Record<string, string>;
}

const sandboxes: string[] = [];

const makeSandbox = (): Sandbox => {
  const root = mkdtempSync(join(tmpdir(), 'watchdog-sec-node-'));
  sandboxes.push(root);
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE_SYSTEMCTL, join(bin, 'systemctl'));
  // A unit that never needs to run here: every start in these tests is refused before systemctl.
  const exec = join(root, 'scheduler.sh');
  writeFileSync(exec, '#!/usr/bin/env bash\nexec sleep 300\n');
  chmodSync(exec, 0o755);
  const canary = join(root, 'canary');
  return {
    root,
    canary,
    canaryAbs: join(root, 'canary-abs'),
    stateDir: join(root, 'state'),
    runDir: join(root, 'run'),
    fakeDir: join(root, 'fake'),
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: root,
      CANARY: canary,
      WATCHDOG_STATE_DIR: join(root, 'state'),
      WATCHDOG_RUN_DIR: join(root, 'run'),
      WATCHDOG_SYSTEMD_DIR: join(root, 'systemd'),
      WATCHDOG_CGROUP_ROOT: join(root, 'fake', 'cgroup'),
      SIM_OWNER_PID: String(process.pid),
      WATCHDOG_HOSTNAME_OVERRIDE: HOST,
      WATCHDOG_LOCK_TIMEOUT_SECONDS: '2',
      WATCHDOG_KILL_WAIT_SECONDS: '1',
      FAKE_SYSTEMCTL_DIR: join(root, 'fake'),
      FAKE_SYSTEMCTL_EXEC: exec,
    },
  };
};

afterAll(() => {
  for (const root of sandboxes.splice(0)) {
    // Teardown for a unit a failing test may have started (none should have).
    spawnSync(FAKE_SYSTEMCTL, ['fake-kill-all'], { env: { FAKE_SYSTEMCTL_DIR: join(root, 'fake'), PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    rmSync(root, { recursive: true, force: true });
  }
});

/** Every path under root, for "nothing was created". */
const tree = (dir: string, prefix = ''): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() && !e.isSymbolicLink() ? [`${prefix}${e.name}/`, ...tree(join(dir, e.name), `${prefix}${e.name}/`)] : [`${prefix}${e.name}`],
  );

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly report: NodeReport | undefined;
}

const run = (sb: Sandbox, env: Record<string, string | undefined>, args: string[] = []): Run => {
  const full: Record<string, string> = { ...sb.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete full[k];
    else full[k] = v;
  }
  const r: SpawnSyncReturns<string> = spawnSync('bash', [SCRIPT, ...args], { env: full, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw r.error;
  const last = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, report: last.startsWith('{') ? (JSON.parse(last) as NodeReport) : undefined };
};

// ---- payloads ----------------------------------------------------------------------------------------

/**
 * Each payload creates $CANARY (or the absolute canary) if any part of it is run as shell, expanded
 * in arithmetic, or used as a redirection target.
 */
const payloads = (sb: Sandbox): [string, string][] => [
  ['command substitution', '$(touch $CANARY)'],
  ['command substitution, absolute path', `$(touch ${sb.canaryAbs})`],
  ['backticks', '`touch $CANARY`'],
  ['separator', '; touch $CANARY'],
  ['value then separator', '1; touch $CANARY'],
  ['and-list', 'x && touch $CANARY'],
  ['or-list', 'x || touch $CANARY'],
  ['pipe', 'x | touch $CANARY'],
  ['background', 'x & touch $CANARY'],
  ['redirection', `> ${sb.canaryAbs}`],
  ['redirection via variable', '>$CANARY'],
  ['process substitution', '<(touch $CANARY)'],
  ['$IFS alone', '$IFS'],
  ['$IFS-separated command', '1$IFS;touch$IFS$CANARY'],
  ['newline then command', '1\ntouch $CANARY'],
  ['surrounded by newlines', '\ntouch $CANARY\n'],
  ['carriage return', '1\rtouch $CANARY'],
  ['arithmetic array-subscript trap', 'a[$(touch $CANARY)]'],
  ['arithmetic trap with operator', 'x[$(touch $CANARY)]+1'],
  ['parameter expansion with command', dollarBrace('CANARY:?$(touch $CANARY)}')],
  ['single-quote break-out', "'; touch $CANARY; '"],
  ['double-quote break-out', '"; touch $CANARY; "'],
  ['brace group', '{ touch $CANARY; }'],
  ['glob', '*'],
  ['option-like', '-rf'],
  ['end of options', '--'],
  ['hex number', '0x10'],
  ['exponent', '1e3'],
  ['negative', '-1'],
  ['leading space', ' 1'],
  ['fullwidth digits', '１２'],
  ['13 digits', '1234567890123'],
  ['100,000 characters', `${'9'.repeat(50_000)}$(touch $CANARY)${'a'.repeat(49_984)}`],
  ['non-ASCII', 'ünïcødé-日本語'],
  ['right-to-left override', 'abc\u202Edcba'],
  ['ANSI escape', 'a\u001b[2Jb'],
];

/** What the script's JSON escaper does with control characters: keeps \n \r \t (escaped), drops the rest. */
const dropControls = (s: string): string =>
  [...s]
    .filter((c) => {
      const n = c.codePointAt(0) ?? 0;
      return !(n < 0x20 || n === 0x7f) || c === '\n' || c === '\r' || c === '\t';
    })
    .join('');

/** `$` + `{…}` without a template-looking string literal (lint). */
const dollarBrace = (rest: string): string => `$${'{'}${rest}`;

const matches = (pattern: string, value: string) => new RegExp(pattern).test(value);

/** Runs after each command: no canary, whatever the outcome. */
const expectNoCanary = (sb: Sandbox, label: string) => {
  expect(existsSync(sb.canary), `${label}: $CANARY created`).toBe(false);
  expect(existsSync(sb.canaryAbs), `${label}: absolute canary created`).toBe(false);
};

/** A refused command: exit 64, a bad-parameter report (once the action is known), nothing created, no systemctl call. */
const expectRefused = (sb: Sandbox, r: Run, label: string, before: string[], actionKnown = true) => {
  expectNoCanary(sb, label);
  expect(r.code, `${label}: exit code (stderr: ${r.stderr.slice(0, 300)})`).toBe(NODE_EXIT.badParameter);
  expect(r.stderr, label).toContain('BAD_PARAMETER');
  if (actionKnown) expect(r.report?.result, label).toBe('bad-parameter');
  else expect(r.report, label).toBeUndefined();
  expect(tree(sb.root), `${label}: files created`).toEqual(before);
  expect(existsSync(join(sb.fakeDir, 'calls.log')), `${label}: systemctl was called`).toBe(false);
};

const VALID = { SSM_Epoch: '5', SSM_UnitName: 'airflow-scheduler' } as const;

// ---- dynamic -----------------------------------------------------------------------------------------

describe('node script: parameter text is never run as shell', () => {
  it('WATCHDOG_ACTION and $1: anything but start|stop|status is refused with 64 before anything', () => {
    const sb = makeSandbox();
    const before = tree(sb.root);
    for (const [name, p] of payloads(sb)) {
      expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: p }), `WATCHDOG_ACTION ${name}`, before, false);
      expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: undefined }, [p]), `$1 ${name}`, before, false);
      // Both given and disagreeing.
      expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: 'status' }, [p]), `$1 vs WATCHDOG_ACTION ${name}`, before, false);
    }
  });

  it.each(['start', 'stop', 'status'] as const)('SSM_Epoch (%s): a value outside ^[0-9]{1,12}$ is refused with 64 before anything', (action) => {
    const sb = makeSandbox();
    const before = tree(sb.root);
    let refused = 0;
    for (const [name, p] of payloads(sb)) {
      expect(matches(NODE_PARAM_PATTERNS.Epoch, p), name).toBe(false);
      expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: action, SSM_Epoch: p }), `SSM_Epoch ${name}`, before);
      refused++;
    }
    expect(refused).toBe(payloads(sb).length);
  });

  it.each(['start', 'stop', 'status'] as const)(
    'SSM_UnitName (%s): refused with 64 unless it matches its pattern; a matching value stays one argument after --',
    (action) => {
      const sb = makeSandbox();
      const before = tree(sb.root);
      const accepted: string[] = [];
      for (const [name, p] of payloads(sb)) {
        if (matches(NODE_PARAM_PATTERNS.UnitName, p)) {
          accepted.push(p);
          continue;
        }
        expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: action, SSM_UnitName: p }), `SSM_UnitName ${name}`, before);
      }
      // Option-like names pass the pattern; they must reach systemctl as a unit after `--`, not as an option.
      expect(accepted).toEqual(expect.arrayContaining(['--', '-rf', '-1']));
      expect(accepted.every((u) => /^[A-Za-z0-9@._-]+$/.test(u))).toBe(true);
      if (action === 'status') {
        for (const unit of accepted) {
          const r = run(sb, { WATCHDOG_ACTION: 'status', SSM_UnitName: unit });
          expectNoCanary(sb, `status of unit ${unit}`);
          expect(r.code).toBe(NODE_EXIT.ok);
          expect(r.report?.unit).toBe(unit);
        }
        // Each unit reached systemctl as one argument after `--`, and status only ever reads.
        const calls = readFileSync(join(sb.fakeDir, 'calls.log'), 'utf8').trim().split('\n');
        const units = calls.map((c) => c.split(' -- ')[1]);
        expect([...new Set(units)]).toEqual(accepted);
        expect(calls.every((c) => /^(is-active|is-enabled|show --property=ControlGroup --value|show --property=ExecCondition) -- \S+$/.test(c))).toBe(true);
      }
    },
  );

  it('the WATCHDOG_*_SECONDS tunables: anything but whole seconds is refused with 64 before anything', () => {
    const sb = makeSandbox();
    const before = tree(sb.root);
    for (const variable of ['WATCHDOG_STOP_TIMEOUT_SECONDS', 'WATCHDOG_START_TIMEOUT_SECONDS', 'WATCHDOG_LOCK_TIMEOUT_SECONDS', 'WATCHDOG_KILL_WAIT_SECONDS']) {
      for (const [name, p] of payloads(sb)) {
        // `-1`, `1e3` … are not ^[0-9]{1,6}$ either; an empty value would mean "default", none is empty.
        expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: 'stop', [variable]: p }), `${variable} ${name}`, before);
      }
    }
  });

  it.each(['WATCHDOG_STATE_DIR', 'WATCHDOG_RUN_DIR', 'WATCHDOG_SYSTEMD_DIR', 'WATCHDOG_CGROUP_ROOT'])(
    '%s: a relative value, or an absolute one with a character outside A-Za-z0-9._/@+- or "..", is refused with 64 before anything; a safe one is used as a literal path',
    (variable) => {
      const sb = makeSandbox();
      const before = tree(sb.root);
      for (const [name, p] of payloads(sb)) {
        expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: 'stop', [variable]: p }), `${variable} ${name}`, before);
        if (p.includes('/') || p.length > 150) continue;
        const dir = join(sb.root, 'abs', p);
        if (/^[A-Za-z0-9._@+-]*$/.test(p) && !p.includes('..')) continue;
        expectRefused(sb, run(sb, { ...VALID, WATCHDOG_ACTION: 'stop', [variable]: dir }), `absolute ${variable} ${name}`, before);
      }
      // Absolute and safe (option-like names too): stop uses exactly that directory and runs nothing else.
      for (const [name, p] of payloads(sb).filter(([, p]) => /^[A-Za-z0-9._@+-]+$/.test(p) && !p.includes('..'))) {
        const dir = join(sb.root, 'abs', p);
        const r = run(sb, { ...VALID, WATCHDOG_ACTION: 'stop', [variable]: dir });
        expectNoCanary(sb, `absolute ${variable} ${name}`);
        expect(r.code, `${name}: ${r.stderr}`).toBe(NODE_EXIT.ok);
        if (variable === 'WATCHDOG_STATE_DIR') expect(readFileSync(join(dir, 'epoch-airflow-scheduler'), 'utf8'), name).toBe('5\n');
        if (variable === 'WATCHDOG_SYSTEMD_DIR')
          expect(existsSync(join(dir, 'airflow-scheduler.service.d', '50-airflow-watchdog-permit.conf')), name).toBe(true);
      }
    },
  );

  it('WATCHDOG_HOSTNAME_OVERRIDE: printed verbatim as JSON data, never run', () => {
    const sb = makeSandbox();
    // The script's JSON escaper walks the value character by character: keep this one short of 100,000.
    const cases = payloads(sb).map(([n, p]): [string, string] => [n, p.length > 5000 ? p.slice(0, 2000) + p.slice(-2000) : p]);
    for (const [name, p] of cases) {
      const r = run(sb, { WATCHDOG_ACTION: 'status', SSM_UnitName: VALID.SSM_UnitName, WATCHDOG_HOSTNAME_OVERRIDE: p });
      expectNoCanary(sb, `WATCHDOG_HOSTNAME_OVERRIDE ${name}`);
      expect(r.code, name).toBe(NODE_EXIT.ok);
      // Control characters other than \n \r \t are dropped by the escaper; everything else round-trips.
      // (Trailing newlines go too: the script reads the name through a command substitution.)
      expect(r.report?.hostname, name).toBe(dropControls(p).replace(/\n+$/, ''));
    }
  });

  it.each(['epoch-airflow-scheduler', 'epoch'])(
    'the epoch state file %s: malformed content is reported naming the file (status), refuses start (66), lets stop go on without storing, never evaluated',
    (file) => {
      const sb = makeSandbox();
      for (const [name, p] of payloads(sb).filter(([, p]) => !matches(NODE_PARAM_PATTERNS.Epoch, p.split('\n')[0] ?? ''))) {
        const path = join(sb.stateDir, file);
        mkdirSync(sb.stateDir, { recursive: true });
        writeFileSync(path, `${p}\n`);
        const status = run(sb, { WATCHDOG_ACTION: 'status', SSM_UnitName: VALID.SSM_UnitName });
        expectNoCanary(sb, `state file ${name} (status)`);
        expect(status.code, name).toBe(NODE_EXIT.ok);
        expect(status.report?.nodeEpoch, name).toBeNull();
        expect(status.report?.problems, name).toEqual([expect.stringContaining(`malformed epoch file ${path}`)]);
        const start = run(sb, { ...VALID, WATCHDOG_ACTION: 'start' });
        expectNoCanary(sb, `state file ${name} (start)`);
        expect(start.code, `${name}: ${start.stderr}`).toBe(NODE_EXIT.badState);
        expect(start.report?.result, name).toBe('bad-state');
        const stop = run(sb, { ...VALID, WATCHDOG_ACTION: 'stop' });
        expectNoCanary(sb, `state file ${name} (stop)`);
        expect(stop.code, `${name}: ${stop.stderr}`).toBe(NODE_EXIT.ok);
        expect(stop.report?.nodeEpoch, name).toBeNull();
        expect(readFileSync(path, 'utf8'), name).toBe(`${p}\n`);
        const check = spawnSync('bash', [SCRIPT, 'check-permit', VALID.SSM_UnitName, sb.stateDir, sb.runDir], { env: sb.env, encoding: 'utf8' });
        expect(check.status, name).toBe(CHECK_PERMIT_EXIT.notPermitted);
        expectNoCanary(sb, `state file ${name} (check-permit)`);
      }
    },
  );

  it('the permit file: malformed content is reported (status), refused by check-permit (1), removed by stop, never evaluated', () => {
    const sb = makeSandbox();
    const path = join(sb.runDir, 'permit-airflow-scheduler');
    mkdirSync(sb.stateDir, { recursive: true });
    writeFileSync(join(sb.stateDir, 'epoch-airflow-scheduler'), '5\n');
    for (const [name, p] of payloads(sb).filter(([, p]) => !matches(NODE_PARAM_PATTERNS.Epoch, p.split('\n')[0] ?? ''))) {
      mkdirSync(sb.runDir, { recursive: true });
      writeFileSync(path, `${p}\n`);
      const status = run(sb, { WATCHDOG_ACTION: 'status', SSM_UnitName: VALID.SSM_UnitName });
      expectNoCanary(sb, `permit ${name} (status)`);
      expect(status.code, name).toBe(NODE_EXIT.ok);
      expect(status.report, name).toMatchObject({ permitEpoch: null, permitValid: false, problems: [expect.stringContaining(`malformed permit ${path}`)] });
      const check = spawnSync('bash', [SCRIPT, 'check-permit', VALID.SSM_UnitName, sb.stateDir, sb.runDir], { env: sb.env, encoding: 'utf8' });
      expectNoCanary(sb, `permit ${name} (check-permit)`);
      expect(check.status, name).toBe(CHECK_PERMIT_EXIT.notPermitted);
      expect(check.stdout, name).toContain(`malformed permit ${path}`);
    }
    const stop = run(sb, { ...VALID, WATCHDOG_ACTION: 'stop' });
    expect(stop.code).toBe(NODE_EXIT.ok);
    expect(existsSync(path)).toBe(false);
  });

  it("check-permit's arguments: anything but a unit name and two safe absolute directories is 64, before anything is read", () => {
    const sb = makeSandbox();
    const before = tree(sb.root);
    for (const [name, p] of payloads(sb)) {
      for (const args of [
        [p, sb.stateDir, sb.runDir],
        [VALID.SSM_UnitName, p, sb.runDir],
        [VALID.SSM_UnitName, sb.stateDir, p],
        [VALID.SSM_UnitName, sb.stateDir, sb.runDir, p],
      ]) {
        const r = spawnSync('bash', [SCRIPT, 'check-permit', ...args], { env: sb.env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
        expectNoCanary(sb, `check-permit ${name}`);
        const safeDir = (d: string | undefined) => d !== undefined && /^\/[A-Za-z0-9._/@+-]*$/.test(d) && !d.includes('..');
        const valid = args.length === 3 && matches(NODE_PARAM_PATTERNS.UnitName, args[0] ?? '') && safeDir(args[1]) && safeDir(args[2]);
        expect(r.status, `${name}: ${args.join(' | ')}`).toBe(valid ? CHECK_PERMIT_EXIT.notPermitted : CHECK_PERMIT_EXIT.badParameter);
      }
    }
    expect(tree(sb.root)).toEqual(before);
  });
});

// ---- static ------------------------------------------------------------------------------------------

interface Finding {
  readonly line: number;
  readonly rule: string;
  readonly text: string;
}

/** Raw inputs the script reads from its environment. */
const PARAM_VAR = /\$\{?(SSM_[A-Za-z]+|WATCHDOG_[A-Z_]+)\b/g;

/**
 * Code lines: comments dropped (whole-line `#…`, and ` # …` after code; `10#$x`, `${#s}` and `$#` are
 * not comments), and the embedded Python (a single-quoted readonly constant) skipped.
 */
const codeLines = (text: string): { n: number; code: string }[] => {
  const out: { n: number; code: string }[] = [];
  let inPython = false;
  text.split('\n').forEach((raw, i) => {
    if (inPython) {
      if (raw.trim() === "'") inPython = false;
      return;
    }
    if (/^readonly GETFQDN_PY='$/.test(raw)) {
      inPython = true;
      return;
    }
    if (/^\s*#/.test(raw)) return;
    const code = raw.replace(/\s+#\s.*$/, '');
    if (code.trim() === '') return;
    // A continued line (`\` at the end) is one command with the next: join them.
    const prev = out.at(-1);
    if (prev?.code.endsWith('\\')) prev.code = `${prev.code.slice(0, -1)} ${code.trim()}`;
    else out.push({ n: i + 1, code });
  });
  return out;
};

/** Whether position `at` of `line` lies inside double quotes (unescaped " before it are odd in number, single quotes aside). */
const inDoubleQuotes = (line: string, at: number): boolean => {
  let dq = false;
  let sq = false;
  for (let i = 0; i < at; i++) {
    const c = line[i];
    if (c === '\\' && !sq) {
      i++;
      continue;
    }
    if (c === "'" && !dq) sq = !sq;
    else if (c === '"' && !sq) dq = !dq;
  }
  return dq;
};

/**
 * The rules, each aimed at a way parameter text could become code:
 * - eval, source / `.`, `bash|sh -c`: evaluate text as shell (python3 -c is allowed only with the
 *   readonly constant $GETFQDN_PY; `exec bash "$0" "$@"` re-runs this very file);
 * - backticks: command substitution in its hard-to-read form (the script uses $(…) only);
 * - an expansion as the command word (`$cmd args`, `"$x"`): runs whatever the value names;
 * - a raw SSM_* / WATCHDOG_* expansion outside [[ ]], an assignment or double quotes: word splitting
 *   and globbing of parameter text;
 * - `10#$x` / `(( … $x … ))` arithmetic on a raw value: bash evaluates `a[$(cmd)]` inside arithmetic,
 *   so every such use must follow a regex check of that same variable (within 3 lines);
 * - `${!name}` indirect expansion: the same trap; only read_seconds uses it, called with literal names.
 */
const staticFindings = (text: string): Finding[] => {
  const findings: Finding[] = [];
  const lines = codeLines(text);
  const add = (n: number, rule: string, code: string) => findings.push({ line: n, rule, text: code.trim() });
  lines.forEach(({ n, code }, idx) => {
    if (/(^|[\s;&|(`])eval(\s|$)/.test(code)) add(n, 'eval', code);
    if (/(^|[;&|]\s*|\bthen\s+|\bdo\s+)(source|\.)\s+\S/.test(code.trimStart()) || /^\s*(source|\.)\s/.test(code)) add(n, 'source', code);
    if (/\b(ba|z|da|k)?sh\s+(-[a-z]*c|-c)\b/.test(code)) add(n, 'shell -c', code);
    const pyC = /python3?\b[^|;&]*\s-c\s+(\S+)/.exec(code);
    if (pyC && pyC[1] !== '"$GETFQDN_PY"') add(n, 'python -c with non-constant text', code);
    if (/`/.test(code.replace(/'[^']*'/g, "''"))) add(n, 'backticks', code);
    // Inside [[ ]], `||` / `&&` are operators of the test, not command separators.
    const outsideTests = code.replace(/\[\[.*?\]\]/g, '[[ ]]');
    if (/(^\s*|[;&|]\s*|\b(then|do|else)\s+)"?\$[{A-Za-z_(]/.test(outsideTests) && !/^\s*\$\(\(/.test(code)) add(n, 'expansion in command position', code);
    for (const m of code.matchAll(PARAM_VAR)) {
      const at = m.index ?? 0;
      const before = code.slice(0, at);
      const inTest = before.includes('[[') && code.slice(at).includes(']]');
      const inAssignment = /^\s*(local\s+|readonly\s+)?[A-Za-z_][A-Za-z0-9_]*=[^\s]*$/.test(before);
      if (!inTest && !inAssignment && !inDoubleQuotes(code, at)) add(n, `unquoted ${m[1]}`, code);
    }
    for (const m of code.matchAll(/10#\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const variable = m[1] ?? '';
      const guard = lines.slice(Math.max(0, idx - 3), idx + 1).some((l) => new RegExp(`\\[\\[ \\$${variable} =~ \\$[A-Z_]+_PATTERN \\]\\]`).test(l.code));
      if (!guard) add(n, `arithmetic on unchecked ${variable}`, code);
    }
    for (const m of code.matchAll(/\(\(([^)]*)\)\)/g)) {
      // `10#$x` is the rule above's (checked-variable) case.
      // Bare names count too: arithmetic evaluates a variable's value as an expression.
      for (const v of (m[1] ?? '').replace(/10#\$\{?\w+/g, '').matchAll(/\b(SSM_[A-Za-z]+|WATCHDOG_[A-Z_]+)\b/g)) add(n, `arithmetic on raw ${v[1]}`, code);
    }
    if (/\$\{!/.test(code) && !/^\s*local value=\$\{!1:-\$2\}$/.test(code)) add(n, 'indirect expansion', code);
    const rs = /\bread_seconds\s+(\S+)/.exec(code);
    if (rs && !/^\(\)|^WATCHDOG_[A-Z_]+$/.test(rs[1] ?? '')) add(n, 'read_seconds with a non-literal name', code);
  });
  return findings;
};

describe('node script: static check', () => {
  const text = readFileSync(SCRIPT, 'utf8');

  it('has no eval, source, shell -c, backticks, expansion in command position, unquoted or unchecked parameter use', () => {
    expect(codeLines(text).length).toBeGreaterThan(200);
    expect(staticFindings(text)).toEqual([]);
  });

  it('the checker catches each rule on a doctored copy (so the check above is not vacuous)', () => {
    const anchor = '  UNIT=$SSM_UnitName\n';
    expect(text).toContain(anchor);
    const doctored: [string, string][] = [
      ['eval', '  eval "systemctl start $SSM_UnitName"\n'],
      ['source', '  source "$WATCHDOG_STATE_DIR/env"\n'],
      ['source', '  . "$WATCHDOG_STATE_DIR/env"\n'],
      ['shell -c', '  bash -c "systemctl start $UNIT"\n'],
      ['shell -c', '  sh -c "$SSM_UnitName"\n'],
      ['python -c with non-constant text', '  python3 -c "$SSM_UnitName"\n'],
      ['backticks', '  x=`hostname`\n'],
      ['expansion in command position', '  $SSM_UnitName --now\n'],
      ['expansion in command position', '  true && "$WATCHDOG_ACTION" x\n'],
      ['unquoted SSM_UnitName', '  systemctl start -- $SSM_UnitName\n'],
      ['arithmetic on unchecked WATCHDOG_KILL_WAIT_SECONDS', '  x=$((10#$WATCHDOG_KILL_WAIT_SECONDS))\n'],
      ['arithmetic on raw SSM_Epoch', '  if ((SSM_Epoch > 3)); then :; fi\n'],
      ['indirect expansion', `  x=${dollarBrace('!SSM_UnitName}')}\n`],
      ['read_seconds with a non-literal name', '  x=$(read_seconds "$SSM_UnitName" 1 1)\n'],
    ];
    for (const [rule, line] of doctored) {
      const rules = staticFindings(text.replace(anchor, anchor + line)).map((f) => f.rule);
      expect(rules, line).toContain(rule);
    }
  });
});
