/**
 * The node-side script (node/airflow-scheduler.sh, SPEC §7) run for real: bash, flock, timeout, and
 * node/testing/fake-systemctl on PATH as `systemctl`, driving a small simulated scheduler (a bash
 * process with two children, one in its own process group). Every test runs in its own temp dir;
 * afterEach SIGKILLs whatever a test left running and fails the test if something survived.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname as osHostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NODE_EXIT, NODE_PARAM_PATTERNS, NODE_PARAMS, type NodeReport } from '../../functions/core/node-protocol.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCRIPT = join(REPO, 'node/airflow-scheduler.sh');
const FAKE_SYSTEMCTL = join(REPO, 'node/testing/fake-systemctl');
const UNIT = 'airflow-scheduler';
const HOST = 'ip-10-0-1-12.eu-west-1.compute.internal';
const TIMEOUT = 120_000;

type Action = 'start' | 'stop' | 'status';

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly report: NodeReport | undefined;
  /** When the command got the node lock (the script's `lock acquired (t=…)` line), in µs. */
  readonly lockedAt: bigint | undefined;
}

interface Sandbox {
  readonly root: string;
  readonly stateDir: string;
  readonly fakeDir: string;
  readonly marker: string;
  readonly env: Record<string, string>;
}

// ---- processes -------------------------------------------------------------------------------------

interface ProcInfo {
  readonly state: string;
  readonly sid: number;
}

const procInfo = (pid: number): ProcInfo | undefined => {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', sid: Number(fields[3]) };
};

/** Exists and is not a zombie (orphans may be reparented to an init that never reaps them). */
const alive = (pid: number): boolean => {
  const info = procInfo(pid);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
};

/** Live processes whose session is one of `sids` (the fake's stand-in for the unit's cgroup). */
const sessionMembers = (sids: ReadonlySet<number>): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const info = procInfo(pid);
      return info !== undefined && info.state !== 'Z' && info.state !== 'X' && sids.has(info.sid);
    });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` (a bound against hangs, not a timing assertion). */
const waitFor = async (what: string, cond: () => boolean, boundMs = 20_000): Promise<void> => {
  const until = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
};

const readLines = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
const readPids = (file: string): number[] => readLines(file).map(Number);

// ---- sandbox ---------------------------------------------------------------------------------------

const sandboxes: Sandbox[] = [];
const spawned = new Set<ChildProcess>();

/** Simulated scheduler: one child in its own process group (as Airflow's DAG-file processor), one plain child. */
const SIMULATED_SCHEDULER = `#!/usr/bin/env bash
printf '%s\\n' "$$" >>"$1/mains"
set -m
sleep 300 &
printf '%s\\n' "$!" >>"$1/children"
set +m
sleep 300 &
printf '%s\\n' "$!" >>"$1/children"
wait
`;

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

const makeSandbox = (): Sandbox => {
  const root = mkdtempSync(join(tmpdir(), 'watchdog-node-'));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE_SYSTEMCTL, join(bin, 'systemctl'));
  const exec = join(root, 'scheduler.sh');
  writeFileSync(exec, SIMULATED_SCHEDULER);
  chmodSync(exec, 0o755);
  const sb: Sandbox = {
    root,
    stateDir: join(root, 'state'),
    fakeDir: join(root, 'fake'),
    marker: join(root, 'pwned'),
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: process.env.HOME ?? root,
      WATCHDOG_STATE_DIR: join(root, 'state'),
      WATCHDOG_HOSTNAME_OVERRIDE: HOST,
      FAKE_SYSTEMCTL_DIR: join(root, 'fake'),
      FAKE_SYSTEMCTL_EXEC: `bash ${shellQuote(exec)} ${shellQuote(root)}`,
    },
  };
  sandboxes.push(sb);
  return sb;
};

const mains = (sb: Sandbox) => readPids(join(sb.root, 'mains'));
const children = (sb: Sandbox) => readPids(join(sb.root, 'children'));
const calls = (sb: Sandbox) => readLines(join(sb.fakeDir, 'calls.log'));
const verbs = (sb: Sandbox) => calls(sb).map((l) => l.split(' ')[0]);
const storedEpoch = (sb: Sandbox) => (existsSync(join(sb.stateDir, 'epoch')) ? readFileSync(join(sb.stateDir, 'epoch'), 'utf8') : undefined);
/** Sessions the unit ever had: the fake's record, plus the simulated scheduler's own (its pid = its session). */
const unitSessions = (sb: Sandbox): Set<number> => {
  const sids = new Set<number>(mains(sb));
  if (existsSync(sb.fakeDir)) {
    for (const unit of readdirSync(sb.fakeDir)) for (const sid of readPids(join(sb.fakeDir, unit, 'sessions'))) sids.add(sid);
  }
  return sids;
};
const unitProcesses = (sb: Sandbox) => sessionMembers(unitSessions(sb));

/** Waits until the latest start's scheduler has forked both children. */
const schedulerUp = async (sb: Sandbox) => {
  await waitFor('the simulated scheduler and its children', () => mains(sb).length > 0 && children(sb).length >= 2 * mains(sb).length);
  const main = mains(sb).at(-1)!;
  const kids = children(sb).slice(-2);
  return { main, kids };
};

const parseReport = (stdout: string): NodeReport | undefined => {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as NodeReport) : undefined;
};

interface RunOptions {
  readonly epoch?: string | undefined;
  readonly unit?: string | undefined;
  readonly env?: Record<string, string | undefined>;
  /** Pass the action as $1 instead of WATCHDOG_ACTION. */
  readonly asArgument?: boolean;
}

/** Runs a command in its own process group (so afterEach can kill whatever is left of it). */
const runCommand = (command: string, args: string[], env: Record<string, string>): Promise<RunResult> =>
  new Promise((done, fail) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    spawned.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', fail);
    child.on('close', (code) => {
      spawned.delete(child);
      const t = /lock acquired \(t=(\d+)\.(\d{6})\)/.exec(stdout);
      done({ code, stdout, stderr, report: parseReport(stdout), lockedAt: t ? BigInt(`${t[1]}${t[2]}`) : undefined });
    });
  });

const run = (sb: Sandbox, action: Action | undefined, opts: RunOptions = {}): Promise<RunResult> => {
  const env: Record<string, string> = { ...sb.env };
  if (action !== undefined && !opts.asArgument) env.WATCHDOG_ACTION = action;
  const epoch = 'epoch' in opts ? opts.epoch : action === 'status' ? undefined : '1';
  const unit = 'unit' in opts ? opts.unit : UNIT;
  if (epoch !== undefined) env.SSM_Epoch = epoch;
  if (unit !== undefined) env.SSM_UnitName = unit;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return runCommand('bash', [SCRIPT, ...(opts.asArgument && action !== undefined ? [action] : [])], env);
};

const fakeSystemctl = (sb: Sandbox, args: string[], env: Record<string, string> = {}) =>
  spawnSync(FAKE_SYSTEMCTL, args, { env: { ...sb.env, ...env }, encoding: 'utf8' });

afterEach(async () => {
  for (const child of spawned) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  spawned.clear();
  const leftovers: string[] = [];
  for (const sb of sandboxes.splice(0)) {
    const sids = unitSessions(sb);
    for (let round = 0; round < 50 && sessionMembers(sids).length > 0; round++) {
      for (const pid of sessionMembers(sids)) {
        if (round > 0) leftovers.push(`${pid} (round ${round})`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // raced with its exit
        }
      }
      await sleep(20);
    }
    if (sessionMembers(sids).length > 0) leftovers.push(`unkillable in ${sb.root}`);
    rmSync(sb.root, { recursive: true, force: true });
  }
  // Only processes that resisted the first SIGKILL round count as leftovers of the cleanup itself.
  expect(leftovers.filter((l) => l.startsWith('unkillable'))).toEqual([]);
});

// ---- the contract ----------------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: contract with functions/core/node-protocol.ts', () => {
  it('prints the exit codes and parameter patterns it uses, equal to NODE_EXIT and NODE_PARAM_PATTERNS', async () => {
    const r = await runCommand('bash', [SCRIPT, '--print-contract'], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
    expect(r.code).toBe(0);
    const contract = JSON.parse(r.stdout) as { params: Record<string, string>; exit: Record<string, number> };
    expect(contract.exit).toEqual(NODE_EXIT);
    expect(contract.params).toEqual(NODE_PARAM_PATTERNS);
    expect(Object.keys(contract.params).sort()).toEqual(Object.values(NODE_PARAMS).sort());
  });

  it('reads each parameter from SSM_<name>, passes bash -n and never uses eval', () => {
    const text = readFileSync(SCRIPT, 'utf8');
    for (const name of Object.values(NODE_PARAMS)) expect(text).toContain(`SSM_${name}`);
    expect(spawnSync('bash', ['-n', SCRIPT]).status).toBe(0);
    expect(text.split('\n').filter((l) => /\beval\b/.test(l.replace(/#.*$/, '')))).toEqual([]);
  });

  it('is executable, as are the fake systemctl', () => {
    const listing = spawnSync('git', ['ls-files', '-s', 'node/airflow-scheduler.sh', 'node/testing/fake-systemctl'], { cwd: REPO, encoding: 'utf8' });
    for (const line of listing.stdout.split('\n').filter((l) => l !== '')) expect(line.startsWith('100755')).toBe(true);
    expect(spawnSync('test', ['-x', SCRIPT]).status).toBe(0);
    expect(spawnSync('test', ['-x', FAKE_SYSTEMCTL]).status).toBe(0);
  });
});

// ---- start / stop / status -------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: start', { timeout: TIMEOUT }, () => {
  it('starts the unit, stores the epoch and reports it', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '7' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toEqual({ action: 'start', result: 'started', epoch: 7, nodeEpoch: 7, running: true, hostname: HOST, unit: UNIT });
    expect(storedEpoch(sb)).toBe('7\n');
    const { main, kids } = await schedulerUp(sb);
    expect(alive(main)).toBe(true);
    expect(kids.every(alive)).toBe(true);
    // Leftovers of an earlier run are cleared before the start.
    expect(verbs(sb)).toEqual(['is-active', 'kill', 'reset-failed', 'start', 'is-active']);
    expect(calls(sb)).toContain(`kill --signal=SIGKILL -- ${UNIT}`);
  });

  it('does nothing but report already-running when the unit is active (one scheduler, no restart)', async () => {
    const sb = makeSandbox();
    expect((await run(sb, 'start', { epoch: '3' })).code).toBe(0);
    const { main } = await schedulerUp(sb);
    const r = await run(sb, 'start', { epoch: '3' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ action: 'start', result: 'already-running', running: true, epoch: 3, nodeEpoch: 3 });
    expect(mains(sb)).toEqual([main]);
    expect(alive(main)).toBe(true);
    expect(verbs(sb).filter((v) => v === 'start' || v === 'kill' || v === 'stop')).toEqual(['kill', 'start']);
  });

  it('normalises an epoch with leading zeros (JSON numbers have none)', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '000000000042' });
    expect(r.code).toBe(0);
    expect(r.report).toMatchObject({ epoch: 42, nodeEpoch: 42 });
    expect(storedEpoch(sb)).toBe('42\n');
  });

  it('after a SIGKILLed scheduler, kills the orphaned children before starting a new one', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    const first = await schedulerUp(sb);
    process.kill(first.main, 'SIGKILL');
    await waitFor('the main process to die', () => !alive(first.main));
    expect(first.kids.every(alive)).toBe(true); // orphans, like Airflow's log server holding port 8793
    expect((await run(sb, 'status')).report).toMatchObject({ running: false, result: 'failed' });

    const r = await run(sb, 'start', { epoch: '2' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ result: 'started', running: true });
    expect(first.kids.some(alive)).toBe(false);
    const second = await schedulerUp(sb);
    expect(second.main).not.toBe(first.main);
    expect(alive(second.main)).toBe(true);
    expect(unitProcesses(sb).sort()).toEqual([second.main, ...second.kids].sort());
  });

  it('exits 71 with the unit status on stderr when systemctl start fails', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '5', env: { FAKE_SYSTEMCTL_FAIL_START: '1' } });
    expect(r.code).toBe(NODE_EXIT.startFailed);
    expect(r.report).toMatchObject({ action: 'start', result: 'start-failed', running: false, epoch: 5, nodeEpoch: 5 });
    expect(r.stderr).toContain('START_FAILED');
    expect(r.stderr).toContain(`${UNIT}.service - fake unit`);
    expect(mains(sb)).toEqual([]);
  });

  it('exits 71 when the unit dies right after starting, and leaves it down', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '5', env: { FAKE_SYSTEMCTL_EXEC: 'echo "bad airflow.cfg" >&2; exit 1' } });
    expect(r.code).toBe(NODE_EXIT.startFailed);
    expect(r.report).toMatchObject({ result: 'start-failed', running: false });
    expect(r.stderr).toContain('bad airflow.cfg');
    expect(unitProcesses(sb)).toEqual([]);
  });
});

describe('node/airflow-scheduler.sh: stop', { timeout: TIMEOUT }, () => {
  it('stops the unit and its whole process tree, including children in other process groups', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '4' });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '4' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toEqual({ action: 'stop', result: 'stopped', epoch: 4, nodeEpoch: 4, running: false, hostname: HOST, unit: UNIT });
    expect([main, ...kids].some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
    expect((await run(sb, 'status')).report).toMatchObject({ running: false, result: 'inactive' });
  });

  it('stops a frozen (SIGSTOPped) scheduler without escalating: SIGTERM is followed by SIGCONT, as systemd does', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    const { main, kids } = await schedulerUp(sb);
    for (const pid of [main, ...kids]) process.kill(pid, 'SIGSTOP');
    const r = await run(sb, 'stop', { epoch: '1', env: { FAKE_SYSTEMCTL_STOP_TIMEOUT: '600' } });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ result: 'stopped', running: false });
    expect([main, ...kids].some(alive)).toBe(false);
  });

  it('is idempotent: stopping an inactive (or never started) unit succeeds', async () => {
    const sb = makeSandbox();
    const first = await run(sb, 'stop', { epoch: '2' });
    expect(first.code).toBe(NODE_EXIT.ok);
    expect(first.report).toMatchObject({ result: 'already-stopped', running: false, nodeEpoch: 2 });
    const again = await run(sb, 'stop', { epoch: '2' });
    expect(again.code).toBe(NODE_EXIT.ok);
    expect(again.report).toMatchObject({ result: 'already-stopped', running: false });
  });

  it('ends the orphans a SIGKILLed scheduler left behind', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    const { main, kids } = await schedulerUp(sb);
    process.kill(main, 'SIGKILL');
    await waitFor('the main process to die', () => !alive(main));
    expect(kids.every(alive)).toBe(true);
    const r = await run(sb, 'stop', { epoch: '1' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ result: 'already-stopped', running: false });
    expect(kids.some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
  });

  it('escalates to SIGKILL of the whole unit when stop does not finish within its bound (TERM ignored)', async () => {
    const sb = makeSandbox();
    const env = { FAKE_SYSTEMCTL_IGNORE_TERM: '1', FAKE_SYSTEMCTL_STOP_TIMEOUT: '600', WATCHDOG_STOP_TIMEOUT_SECONDS: '1' };
    await run(sb, 'start', { epoch: '1', env });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ result: 'killed', running: false });
    expect([main, ...kids].some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
    expect(calls(sb).slice(-3)).toEqual([`stop -- ${UNIT}`, `kill --signal=SIGKILL -- ${UNIT}`, `is-active -- ${UNIT}`]);
  });

  it("succeeds when the service manager's own stop timeout SIGKILLs first", async () => {
    const sb = makeSandbox();
    const env = { FAKE_SYSTEMCTL_IGNORE_TERM: '1', FAKE_SYSTEMCTL_STOP_TIMEOUT: '1', WATCHDOG_STOP_TIMEOUT_SECONDS: '60' };
    await run(sb, 'start', { epoch: '1', env });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ result: 'stopped', running: false });
    expect([main, ...kids].some(alive)).toBe(false);
  });

  it('exits 70 when the unit will not go down even after SIGKILL', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env: { FAKE_SYSTEMCTL_FORCE_STATE: 'deactivating', WATCHDOG_KILL_WAIT_SECONDS: '1' } });
    expect(r.code).toBe(NODE_EXIT.stopFailed);
    expect(r.report).toMatchObject({ action: 'stop', result: 'stop-failed' });
    expect(r.stderr).toContain('still deactivating');
  });
});

describe('node/airflow-scheduler.sh: status', { timeout: TIMEOUT }, () => {
  it('reports running, the node epoch and the hostname override, and changes nothing', async () => {
    const sb = makeSandbox();
    const before = await run(sb, 'status');
    expect(before.code).toBe(NODE_EXIT.ok);
    expect(before.report).toEqual({ action: 'status', result: 'inactive', epoch: null, nodeEpoch: null, running: false, hostname: HOST, unit: UNIT });
    expect(existsSync(sb.stateDir)).toBe(false);

    await run(sb, 'start', { epoch: '12' });
    const during = await run(sb, 'status', { epoch: '99' });
    expect(during.code).toBe(NODE_EXIT.ok);
    expect(during.report).toEqual({ action: 'status', result: 'active', epoch: 99, nodeEpoch: 12, running: true, hostname: HOST, unit: UNIT });
    expect(storedEpoch(sb)).toBe('12\n');
    // An older epoch is no reason to refuse a status.
    expect((await run(sb, 'status', { epoch: '1' })).code).toBe(NODE_EXIT.ok);
  });

  it("reports Airflow's getfqdn (gethostname canonicalised with AI_CANONNAME) without the override", async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'status', { env: { WATCHDOG_HOSTNAME_OVERRIDE: undefined } });
    expect(r.code).toBe(NODE_EXIT.ok);
    // An independent copy of airflow.utils.net.getfqdn (Airflow 2.4+).
    const airflow = spawnSync(
      'python3',
      [
        '-c',
        [
          'import socket',
          'name = socket.gethostname()',
          'try:',
          '    addrs = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)',
          'except OSError:',
          '    addrs = []',
          'print(next((a[3] for a in addrs if a[3]), name))',
        ].join('\n'),
      ],
      { encoding: 'utf8' },
    );
    const expected = airflow.status === 0 ? airflow.stdout.trim() : osHostname();
    expect(r.report?.hostname).toBe(expected);
  });

  it('escapes the hostname into valid JSON', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'status', { env: { WATCHDOG_HOSTNAME_OVERRIDE: 'a"b\\c\td\u0001e' } });
    expect(r.report?.hostname).toBe('a"b\\c\tde');
  });
});

// ---- fencing, locking ------------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: epoch fencing', { timeout: TIMEOUT }, () => {
  it('refuses a stop with an older epoch (exit 65, STALE_EPOCH) and changes nothing', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '10' });
    const { main, kids } = await schedulerUp(sb);
    const callsBefore = calls(sb).length;
    const r = await run(sb, 'stop', { epoch: '9' });
    expect(r.code).toBe(NODE_EXIT.staleEpoch);
    expect(r.stderr).toContain('STALE_EPOCH node=10 command=9');
    expect(r.report).toEqual({ action: 'stop', result: 'stale-epoch', epoch: 9, nodeEpoch: 10, running: true, hostname: HOST, unit: UNIT });
    expect([main, ...kids].every(alive)).toBe(true);
    expect(storedEpoch(sb)).toBe('10\n');
    expect(calls(sb).slice(callsBefore)).toEqual([`is-active -- ${UNIT}`]);
  });

  it('refuses a start with an older epoch and starts nothing', async () => {
    const sb = makeSandbox();
    await run(sb, 'stop', { epoch: '8' });
    const r = await run(sb, 'start', { epoch: '7' });
    expect(r.code).toBe(NODE_EXIT.staleEpoch);
    expect(r.stderr).toContain('STALE_EPOCH node=8 command=7');
    expect(r.report).toMatchObject({ result: 'stale-epoch', running: false, nodeEpoch: 8 });
    expect(verbs(sb)).not.toContain('start');
    expect(mains(sb)).toEqual([]);
  });

  it('accepts the same epoch again, and a newer one', async () => {
    const sb = makeSandbox();
    expect((await run(sb, 'start', { epoch: '10' })).code).toBe(0);
    await schedulerUp(sb);
    const same = await run(sb, 'stop', { epoch: '10' });
    expect(same.code).toBe(NODE_EXIT.ok);
    expect(same.report).toMatchObject({ result: 'stopped', nodeEpoch: 10 });
    const newer = await run(sb, 'start', { epoch: '11' });
    expect(newer.code).toBe(NODE_EXIT.ok);
    expect(newer.report).toMatchObject({ result: 'started', nodeEpoch: 11 });
    expect(storedEpoch(sb)).toBe('11\n');
    await schedulerUp(sb);
  });
});

/** What the node should do with `cmds` run in lock order, from `running`, with no epoch stored. */
const model = (cmds: ReadonlyArray<{ action: 'start' | 'stop'; epoch: number }>) => {
  let stored: number | null = null;
  let running = false;
  const expected = cmds.map(({ action, epoch }) => {
    if (stored !== null && epoch < stored) return { code: NODE_EXIT.staleEpoch, result: 'stale-epoch' };
    stored = stored === null ? epoch : Math.max(stored, epoch);
    const result = action === 'start' ? (running ? 'already-running' : 'started') : running ? 'stopped' : 'already-stopped';
    running = action === 'start';
    return { code: NODE_EXIT.ok, result };
  });
  return { expected, stored, running };
};

describe('node/airflow-scheduler.sh: concurrent commands', { timeout: TIMEOUT }, () => {
  it.each([1, 2, 3])('serialises a start and a stop sent at once (round %i)', async () => {
    const sb = makeSandbox();
    const env = { WATCHDOG_LOCK_TIMEOUT_SECONDS: '120' };
    const [start, stop] = await Promise.all([run(sb, 'start', { epoch: '5', env }), run(sb, 'stop', { epoch: '5', env })]);
    expect(start.code).toBe(NODE_EXIT.ok);
    expect(stop.code).toBe(NODE_EXIT.ok);
    expect(start.lockedAt).toBeDefined();
    expect(stop.lockedAt).toBeDefined();
    const startFirst = start.lockedAt! < stop.lockedAt!;
    expect(start.report?.result).toBe('started');
    expect(stop.report?.result).toBe(startFirst ? 'stopped' : 'already-stopped');
    expect(storedEpoch(sb)).toBe('5\n');
    const status = await run(sb, 'status');
    expect(status.report?.running).toBe(!startFirst);
    expect(unitProcesses(sb).length > 0).toBe(!startFirst);
    // The lock kept the two commands' systemctl calls apart.
    const mutating = verbs(sb).filter((v) => v === 'start' || v === 'stop');
    expect(mutating).toEqual(startFirst ? ['start', 'stop'] : ['stop', 'start']);
    if (!startFirst) await schedulerUp(sb);
  });

  it('serialises many commands with different epochs: results, epoch file and end state follow the lock order', async () => {
    const sb = makeSandbox();
    const env = { WATCHDOG_LOCK_TIMEOUT_SECONDS: '120' };
    const cmds = [
      { action: 'start', epoch: 3 },
      { action: 'stop', epoch: 4 },
      { action: 'start', epoch: 5 },
      { action: 'stop', epoch: 2 },
      { action: 'start', epoch: 6 },
      { action: 'start', epoch: 6 },
      { action: 'stop', epoch: 1 },
      { action: 'start', epoch: 4 },
    ] as const;
    const results = await Promise.all(cmds.map((c) => run(sb, c.action, { epoch: String(c.epoch), env })));
    expect(results.every((r) => r.lockedAt !== undefined)).toBe(true);
    const order = results.map((r, i) => ({ r, c: cmds[i]! })).sort((a, b) => (a.r.lockedAt! < b.r.lockedAt! ? -1 : 1));
    const { expected, stored, running } = model(order.map((o) => o.c));
    expect(order.map((o) => ({ code: o.r.code, result: o.r.report?.result }))).toEqual(expected);
    expect(storedEpoch(sb)).toBe(`${stored}\n`);
    expect(stored).toBe(6);
    const status = await run(sb, 'status');
    expect(status.report?.running).toBe(running);
    if (running) {
      const { main } = await schedulerUp(sb);
      expect(unitProcesses(sb)).toContain(main);
      expect(mains(sb).filter(alive)).toEqual([main]);
    } else {
      expect(unitProcesses(sb)).toEqual([]);
    }
  });

  it('exits 75 (busy) when the node lock is held longer than the lock timeout, changing nothing', async () => {
    const sb = makeSandbox();
    mkdirSync(sb.stateDir);
    const holder = spawn('flock', [join(sb.stateDir, 'lock'), 'sleep', '300'], { stdio: 'ignore', detached: true });
    spawned.add(holder);
    await waitFor('the lock to be taken', () => spawnSync('flock', ['-n', join(sb.stateDir, 'lock'), 'true']).status !== 0);
    const r = await run(sb, 'start', { epoch: '3', env: { WATCHDOG_LOCK_TIMEOUT_SECONDS: '1' } });
    expect(r.code).toBe(NODE_EXIT.busy);
    expect(r.report).toMatchObject({ action: 'start', result: 'busy', running: false, epoch: 3, nodeEpoch: null });
    expect(r.stderr).toContain('BUSY');
    expect(storedEpoch(sb)).toBeUndefined();
    expect(verbs(sb)).not.toContain('start');
  });
});

// ---- parameters ------------------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: parameters', { timeout: TIMEOUT }, () => {
  const badEpochs = (marker: string) => [
    `1; touch ${marker}`,
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `1\ntouch ${marker}`,
    '7\n',
    '-1',
    '1.5',
    ' 1',
    '1234567890123',
    '',
  ];
  const badUnits = (marker: string) => ['x y', '../etc', 'a/b', `$(touch ${marker})`, `x;touch ${marker}`, `\`touch ${marker}\``, 'unit\n', 'a'.repeat(65), ''];

  const expectNoSideEffect = (sb: Sandbox, r: RunResult) => {
    expect(r.code).toBe(NODE_EXIT.badParameter);
    expect(existsSync(sb.marker)).toBe(false);
    expect(existsSync(sb.stateDir)).toBe(false);
    expect(calls(sb)).toEqual([]);
    expect(r.stderr).toContain('BAD_PARAMETER');
  };

  it.each(['start', 'stop', 'status'] as const)(
    'rejects an Epoch with shell metacharacters or out of pattern (%s) with 64 and no side effect',
    async (action) => {
      const sb = makeSandbox();
      for (const epoch of badEpochs(sb.marker)) {
        const r = await run(sb, action, { epoch });
        expectNoSideEffect(sb, r);
        expect(r.report).toMatchObject({ action, result: 'bad-parameter', epoch: null, running: false });
      }
    },
  );

  it.each(['start', 'stop', 'status'] as const)(
    'rejects a UnitName with shell metacharacters or out of pattern (%s) with 64 and no side effect',
    async (action) => {
      const sb = makeSandbox();
      for (const unit of badUnits(sb.marker)) {
        const r = await run(sb, action, { epoch: '1', unit });
        expectNoSideEffect(sb, r);
        expect(r.report).toMatchObject({ action, result: 'bad-parameter', unit: '', running: false });
      }
    },
  );

  it('rejects a missing parameter with 64 (Epoch is optional for status only)', async () => {
    const sb = makeSandbox();
    expectNoSideEffect(sb, await run(sb, 'start', { epoch: undefined }));
    expectNoSideEffect(sb, await run(sb, 'stop', { epoch: undefined }));
    expectNoSideEffect(sb, await run(sb, 'start', { unit: undefined }));
    expectNoSideEffect(sb, await run(sb, 'status', { unit: undefined }));
    expect((await run(sb, 'status', { epoch: undefined })).code).toBe(NODE_EXIT.ok);
  });

  it('rejects bad tunables with 64 and no side effect', async () => {
    const sb = makeSandbox();
    for (const env of [
      { WATCHDOG_STOP_TIMEOUT_SECONDS: `1; touch ${sb.marker}` },
      { WATCHDOG_STOP_TIMEOUT_SECONDS: '0' },
      { WATCHDOG_LOCK_TIMEOUT_SECONDS: '$(touch x)' },
      { WATCHDOG_STATE_DIR: 'relative/state' },
    ]) {
      expectNoSideEffect(sb, await run(sb, 'start', { epoch: '1', env }));
    }
  });

  it('takes the action from $1 when WATCHDOG_ACTION is unset; an unknown or conflicting action is 64 without a report', async () => {
    const sb = makeSandbox();
    const byArgument = await run(sb, 'status', { asArgument: true });
    expect(byArgument.code).toBe(NODE_EXIT.ok);
    expect(byArgument.report?.action).toBe('status');
    const unknown = await runCommand('bash', [SCRIPT, 'restart'], { ...sb.env, SSM_Epoch: '1', SSM_UnitName: UNIT });
    expect(unknown.code).toBe(NODE_EXIT.badParameter);
    expect(unknown.report).toBeUndefined();
    const conflicting = await runCommand('bash', [SCRIPT, 'stop'], { ...sb.env, WATCHDOG_ACTION: 'start', SSM_Epoch: '1', SSM_UnitName: UNIT });
    expect(conflicting.code).toBe(NODE_EXIT.badParameter);
    expect(conflicting.report).toBeUndefined();
    expect(calls(sb)).toEqual([`is-active -- ${UNIT}`]);
  });

  it('runs as the SSM agent runs it (`sh -c <file>`), with the action line the document puts in front', async () => {
    const sb = makeSandbox();
    const doc = join(sb.root, '_script.sh');
    writeFileSync(doc, `WATCHDOG_ACTION=start\n${readFileSync(SCRIPT, 'utf8')}`);
    chmodSync(doc, 0o755);
    const r = await runCommand('sh', ['-c', doc], { ...sb.env, SSM_Epoch: '2', SSM_UnitName: UNIT });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(r.report).toMatchObject({ action: 'start', result: 'started', running: true, nodeEpoch: 2 });
    await schedulerUp(sb);
  });
});

// ---- the fake itself (the local simulator relies on it) ----------------------------------------------

describe('node/testing/fake-systemctl', { timeout: TIMEOUT }, () => {
  it('models active, failed, inactive and fake-kill-all tears everything down', async () => {
    const sb = makeSandbox();
    const isActive = () => fakeSystemctl(sb, ['is-active', UNIT]);
    expect(isActive().stdout.trim()).toBe('inactive');
    expect(isActive().status).toBe(3);
    expect(fakeSystemctl(sb, ['kill', '--signal=SIGKILL', UNIT]).status).toBe(1); // nothing to kill
    expect(fakeSystemctl(sb, ['start', `${UNIT}.service`]).status).toBe(0);
    const { main, kids } = await schedulerUp(sb);
    expect(isActive().stdout.trim()).toBe('active');
    expect(fakeSystemctl(sb, ['is-active', '--quiet', UNIT]).stdout).toBe('');
    process.kill(main, 'SIGKILL');
    await waitFor('the main process to die', () => !alive(main));
    expect(isActive().stdout.trim()).toBe('failed');
    expect(fakeSystemctl(sb, ['reset-failed', UNIT]).status).toBe(0);
    expect(isActive().stdout.trim()).toBe('inactive');
    expect(kids.every(alive)).toBe(true);
    expect(fakeSystemctl(sb, ['fake-kill-all']).status).toBe(0);
    expect(kids.some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
  });

  it('rejects unit names that would leave its directory', () => {
    const sb = makeSandbox();
    for (const unit of ['..', '.', '../x', '']) expect(fakeSystemctl(sb, ['start', unit]).status).toBe(1);
  });
});
