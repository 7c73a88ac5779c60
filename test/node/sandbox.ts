/**
 * Shared setup of the node-side tests: node/airflow-scheduler.sh run for real (bash, flock, timeout)
 * with node/testing/fake-systemctl on PATH as `systemctl`, driving a small simulated scheduler (a bash
 * process with two children, one in its own process group). Every sandbox is a temp dir holding the
 * node's state, run (/run), systemd and cgroup directories. `cleanup()` (call it from afterEach)
 * SIGKILLs whatever a test left running, supervisors included, and returns what resisted.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeReport } from '../../functions/core/node-protocol.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCRIPT = join(REPO, 'node/airflow-scheduler.sh');
const FAKE_SYSTEMCTL = join(REPO, 'node/testing/fake-systemctl');
const UNIT = 'airflow-scheduler';
const HOST = 'ip-10-0-1-12.eu-west-1.compute.internal';

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
  readonly runDir: string;
  readonly systemdDir: string;
  readonly fakeDir: string;
  readonly marker: string;
  readonly env: Record<string, string>;
}

interface SandboxOptions {
  /** The recommended unit (Restart=always, KillMode=control-group) or the bare one (Restart=no, KillMode=process). */
  readonly unit?: 'recommended' | 'bare';
  /** RestartSec of the recommended unit (default 1 s: short, yet long enough to watch the wait). */
  readonly restartSec?: string;
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

const allPids = (): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);

/** Live processes whose session is one of `sids` (the fake's stand-in for the unit's cgroup). */
const sessionMembers = (sids: ReadonlySet<number>): number[] =>
  allPids().filter((pid) => {
    const info = procInfo(pid);
    return info !== undefined && info.state !== 'Z' && info.state !== 'X' && sids.has(info.sid);
  });

/**
 * Live fake-systemd supervisors of this sandbox, found by their command line and environment. A
 * supervisor leads its own session; its subshells (a command substitution, briefly) do not count.
 */
const supervisors = (sb: Sandbox): number[] =>
  allPids().filter((pid) => {
    try {
      if (procInfo(pid)?.sid !== pid) return false;
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('__supervise')) return false;
      return alive(pid) && readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`FAKE_SYSTEMCTL_DIR=${sb.fakeDir}`);
    } catch {
      return false;
    }
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

const makeSandbox = (opts: SandboxOptions = {}): Sandbox => {
  const root = mkdtempSync(join(tmpdir(), 'watchdog-node-'));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE_SYSTEMCTL, join(bin, 'systemctl'));
  const exec = join(root, 'scheduler.sh');
  writeFileSync(exec, SIMULATED_SCHEDULER);
  chmodSync(exec, 0o755);
  const fakeDir = join(root, 'fake');
  const unit: Record<string, string> =
    opts.unit === 'bare'
      ? { FAKE_SYSTEMCTL_RESTART: 'no', FAKE_SYSTEMCTL_KILL_MODE: 'process' }
      : { FAKE_SYSTEMCTL_RESTART: 'always', FAKE_SYSTEMCTL_KILL_MODE: 'control-group', FAKE_SYSTEMCTL_RESTART_SEC: opts.restartSec ?? '1' };
  const sb: Sandbox = {
    root,
    stateDir: join(root, 'state'),
    runDir: join(root, 'run'),
    systemdDir: join(root, 'systemd'),
    fakeDir,
    marker: join(root, 'pwned'),
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: process.env.HOME ?? root,
      WATCHDOG_STATE_DIR: join(root, 'state'),
      WATCHDOG_RUN_DIR: join(root, 'run'),
      WATCHDOG_SYSTEMD_DIR: join(root, 'systemd'),
      WATCHDOG_CGROUP_ROOT: join(fakeDir, 'cgroup'),
      WATCHDOG_HOSTNAME_OVERRIDE: HOST,
      FAKE_SYSTEMCTL_DIR: fakeDir,
      FAKE_SYSTEMCTL_EXEC: `bash ${shellQuote(exec)} ${shellQuote(root)}`,
      SIM_OWNER_PID: String(process.pid),
      ...unit,
    },
  };
  sandboxes.push(sb);
  return sb;
};

const mains = (sb: Sandbox) => readPids(join(sb.root, 'mains'));
const children = (sb: Sandbox) => readPids(join(sb.root, 'children'));
const calls = (sb: Sandbox) => readLines(join(sb.fakeDir, 'calls.log'));
const verbs = (sb: Sandbox) => calls(sb).map((l) => l.split(' ')[0]);
/** systemctl calls that change something (everything but is-active, is-enabled, show, status). */
const MUTATING = new Set(['start', 'stop', 'kill', 'reset-failed', 'daemon-reload', 'enable', 'disable']);
const mutatingVerbs = (sb: Sandbox) => verbs(sb).filter((v) => v !== undefined && MUTATING.has(v));
const readIf = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
const storedEpoch = (sb: Sandbox, unit = UNIT) => readIf(join(sb.stateDir, `epoch-${unit}`));
const permit = (sb: Sandbox, unit = UNIT) => readIf(join(sb.runDir, `permit-${unit}`));
const dropInPath = (sb: Sandbox, unit = UNIT) => join(sb.systemdDir, `${unit}.service.d`, '50-airflow-watchdog-permit.conf');
const checkerPath = (sb: Sandbox) => join(sb.stateDir, 'bin', 'airflow-watchdog-node');
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
const schedulerUp = async (sb: Sandbox, starts = 1) => {
  await waitFor('the simulated scheduler and its children', () => mains(sb).length >= starts && children(sb).length >= 2 * mains(sb).length);
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

/** Runs a command in its own process group (so cleanup can kill whatever is left of it). */
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

const mergeEnv = (base: Record<string, string>, over: Record<string, string | undefined> = {}): Record<string, string> => {
  const env = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
};

const run = (sb: Sandbox, action: Action | undefined, opts: RunOptions = {}): Promise<RunResult> => {
  const env: Record<string, string> = { ...sb.env };
  if (action !== undefined && !opts.asArgument) env.WATCHDOG_ACTION = action;
  const epoch = 'epoch' in opts ? opts.epoch : action === 'status' ? undefined : '1';
  const unit = 'unit' in opts ? opts.unit : UNIT;
  if (epoch !== undefined) env.SSM_Epoch = epoch;
  if (unit !== undefined) env.SSM_UnitName = unit;
  return runCommand('bash', [SCRIPT, ...(opts.asArgument && action !== undefined ? [action] : [])], mergeEnv(env, opts.env));
};

const fakeSystemctl = (sb: Sandbox, args: string[], env: Record<string, string | undefined> = {}) =>
  spawnSync(FAKE_SYSTEMCTL, args, { env: mergeEnv(sb.env, env), encoding: 'utf8', timeout: 60_000 });

/** The unit's `systemctl is-active` word. */
const unitState = (sb: Sandbox, unit = UNIT) => fakeSystemctl(sb, ['is-active', unit]).stdout.trim();

/** Kills everything the sandboxes started; returns what survived a first SIGKILL round (should be nothing). */
const cleanup = async (): Promise<string[]> => {
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
    fakeSystemctl(sb, ['fake-kill-all']);
    // A subshell of a killed supervisor may take a moment to finish; a supervisor itself is SIGKILLed.
    await waitFor('the supervisors to be gone', () => supervisors(sb).length === 0, 2_000).catch(() => {
      for (const pid of supervisors(sb)) {
        leftovers.push(`supervisor ${pid} survived fake-kill-all`);
        process.kill(pid, 'SIGKILL');
      }
    });
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
  return leftovers;
};

export type { Action, RunOptions, RunResult, Sandbox, SandboxOptions };
export {
  alive,
  calls,
  checkerPath,
  children,
  cleanup,
  dropInPath,
  FAKE_SYSTEMCTL,
  fakeSystemctl,
  HOST,
  mains,
  makeSandbox,
  mergeEnv,
  mutatingVerbs,
  permit,
  readIf,
  REPO,
  run,
  runCommand,
  SCRIPT,
  schedulerUp,
  sessionMembers,
  sleep,
  spawned,
  storedEpoch,
  supervisors,
  UNIT,
  unitProcesses,
  unitSessions,
  unitState,
  verbs,
  waitFor,
};
