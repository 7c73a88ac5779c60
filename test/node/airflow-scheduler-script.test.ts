/**
 * The node-side script (node/airflow-scheduler.sh, SPEC §7) run for real: bash, flock, timeout, and
 * node/testing/fake-systemctl on PATH as `systemctl` (by default the recommended unit: Restart=always,
 * KillMode=control-group), driving a small simulated scheduler (a bash process with two children, one in
 * its own process group). Every test runs in its own temp dir (test/node/sandbox.ts); afterEach
 * SIGKILLs whatever a test left running and fails the test if something survived.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECK_PERMIT_EXIT, ENABLED_STATES, NODE_EXIT, NODE_FILES, NODE_PARAM_PATTERNS, NODE_PARAMS, UNIT_STATES } from '../../functions/core/node-protocol.js';
import { parseNodeReport } from '../../functions/core/node-report.js';
import {
  alive,
  calls,
  checkerPath,
  cleanup,
  dropInPath,
  FAKE_SYSTEMCTL,
  fakeSystemctl,
  HOST,
  mains,
  makeSandbox,
  mutatingVerbs,
  permit,
  REPO,
  type RunResult,
  run,
  runCommand,
  SCRIPT,
  type Sandbox,
  schedulerUp,
  sleep,
  spawned,
  storedEpoch,
  supervisors,
  UNIT,
  unitProcesses,
  unitState,
  verbs,
  waitFor,
} from './sandbox.js';

const TIMEOUT = 120_000;

afterEach(async () => {
  const leftovers = await cleanup();
  // Only processes that resisted the first SIGKILL round (or supervisors fake-kill-all missed) count.
  expect(leftovers.filter((l) => l.startsWith('unkillable') || l.startsWith('supervisor'))).toEqual([]);
});

/** Every report must pass the strict parser the watchdog uses. */
const parsed = (r: RunResult) => {
  const p = parseNodeReport(r.stdout);
  if (!p.ok) throw new Error(`${p.error}\nstdout: ${r.stdout}`);
  return p.report;
};

/** The report fields of a node that is all set up, for toEqual. */
const full = (over: Record<string, unknown>) => ({
  hostname: HOST,
  unit: UNIT,
  enabled: 'disabled',
  guard: 'installed',
  problems: [],
  ...over,
});

/** A checker run as systemd runs it (the drop-in's ExecCondition line). */
const checkPermit = (sb: Sandbox, args: string[] = [UNIT, sb.stateDir, sb.runDir]) =>
  spawnSync('bash', [SCRIPT, 'check-permit', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8' });

// ---- the contract ----------------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: contract with functions/core/node-protocol.ts', () => {
  it('prints the exit codes, parameter patterns, file names and state words it uses, equal to node-protocol.ts', async () => {
    const r = await runCommand('bash', [SCRIPT, '--print-contract'], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
    expect(r.code).toBe(0);
    const contract = JSON.parse(r.stdout) as {
      params: Record<string, string>;
      exit: Record<string, number>;
      checkPermitExit: Record<string, number>;
      files: Record<string, string>;
      unitStates: string;
      enabledStates: string;
    };
    expect(contract.exit).toEqual(NODE_EXIT);
    expect(contract.checkPermitExit).toEqual(CHECK_PERMIT_EXIT);
    expect(contract.files).toEqual(NODE_FILES);
    expect(contract.params).toEqual(NODE_PARAM_PATTERNS);
    expect(Object.keys(contract.params).sort()).toEqual(Object.values(NODE_PARAMS).sort());
    expect([...contract.unitStates.trim().split(' '), 'unknown']).toEqual([...UNIT_STATES]);
    expect([...contract.enabledStates.trim().split(' '), 'unknown']).toEqual([...ENABLED_STATES]);
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
  it('starts the unit, stores the epoch, writes the permit and reports it all', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '7' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toEqual(
      full({
        action: 'start',
        result: 'started',
        epoch: 7,
        nodeEpoch: 7,
        running: true,
        unitState: 'active',
        permitEpoch: 7,
        permitValid: true,
        processes: 3,
        killed: 0,
      }),
    );
    expect(storedEpoch(sb)).toBe('7\n');
    expect(permit(sb)).toBe('7\n');
    const { main, kids } = await schedulerUp(sb);
    expect(alive(main)).toBe(true);
    expect(kids.every(alive)).toBe(true);
    // Nothing to clear before this first start; the drop-in is new, so systemd reloads once.
    expect(mutatingVerbs(sb)).toEqual(['daemon-reload', 'reset-failed', 'start']);
  });

  it('does nothing but report already-running when the unit is active (one scheduler, no restart); the permit follows the newest epoch', async () => {
    const sb = makeSandbox();
    expect((await run(sb, 'start', { epoch: '3' })).code).toBe(0);
    const { main } = await schedulerUp(sb);
    const r = await run(sb, 'start', { epoch: '4' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ action: 'start', result: 'already-running', running: true, epoch: 4, nodeEpoch: 4, permitEpoch: 4, killed: null });
    expect(permit(sb)).toBe('4\n');
    expect(mains(sb)).toEqual([main]);
    expect(alive(main)).toBe(true);
    expect(mutatingVerbs(sb)).toEqual(['daemon-reload', 'reset-failed', 'start']);
  });

  it('normalises an epoch with leading zeros (JSON numbers have none)', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '000000000042' });
    expect(r.code).toBe(0);
    expect(parsed(r)).toMatchObject({ epoch: 42, nodeEpoch: 42, permitEpoch: 42 });
    expect(storedEpoch(sb)).toBe('42\n');
    expect(permit(sb)).toBe('42\n');
  });

  it('after a SIGKILLed scheduler (bare unit: orphans stay), kills the orphaned children before starting a new one and counts them', async () => {
    const sb = makeSandbox({ unit: 'bare' });
    await run(sb, 'start', { epoch: '1' });
    const first = await schedulerUp(sb);
    process.kill(first.main, 'SIGKILL');
    await waitFor('the main process to die', () => !alive(first.main));
    await waitFor('the unit to fail', () => unitState(sb) === 'failed');
    expect(first.kids.every(alive)).toBe(true); // orphans, like Airflow's log server holding port 8793
    expect(parsed(await run(sb, 'status'))).toMatchObject({ running: false, result: 'failed', unitState: 'failed', processes: 2 });

    const r = await run(sb, 'start', { epoch: '2' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'started', running: true, killed: 2, processes: 3 });
    expect(first.kids.some(alive)).toBe(false);
    const second = await schedulerUp(sb, 2);
    expect(second.main).not.toBe(first.main);
    expect(alive(second.main)).toBe(true);
    expect(unitProcesses(sb).sort()).toEqual([second.main, ...second.kids].sort());
    expect(calls(sb)).toContain(`kill --signal=SIGKILL -- ${UNIT}`);
  });

  it('exits 71 with the unit status on stderr when systemctl start fails, and revokes the permit', async () => {
    const sb = makeSandbox();
    const r = await run(sb, 'start', { epoch: '5', env: { FAKE_SYSTEMCTL_FAIL_START: '1' } });
    expect(r.code).toBe(NODE_EXIT.startFailed);
    expect(parsed(r)).toMatchObject({ action: 'start', result: 'start-failed', running: false, epoch: 5, nodeEpoch: 5, permitEpoch: null, permitValid: false });
    expect(r.stderr).toContain('START_FAILED');
    expect(r.stderr).toContain(`${UNIT}.service - fake unit`);
    expect(permit(sb)).toBeUndefined();
    expect(mains(sb)).toEqual([]);
  });

  it('exits 71 when the unit dies right after starting, and leaves it down with no permit (Restart=always cannot bring it back)', async () => {
    const sb = makeSandbox({ restartSec: '0.2' });
    const r = await run(sb, 'start', { epoch: '5', env: { FAKE_SYSTEMCTL_EXEC: 'echo "bad airflow.cfg" >&2; exit 1' } });
    expect(r.code).toBe(NODE_EXIT.startFailed);
    expect(parsed(r)).toMatchObject({ result: 'start-failed', running: false, permitValid: false });
    expect(r.stderr).toContain('bad airflow.cfg');
    expect(unitProcesses(sb)).toEqual([]);
    expect(permit(sb)).toBeUndefined();
    await sleep(600);
    expect(['inactive', 'failed']).toContain(unitState(sb));
    expect(supervisors(sb)).toEqual([]);
  });
});

describe('node/airflow-scheduler.sh: stop', { timeout: TIMEOUT }, () => {
  it('revokes the permit, stops the unit and its whole process tree, and reports stopped with the counts', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '4' });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '4' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toEqual(
      full({
        action: 'stop',
        result: 'stopped',
        epoch: 4,
        nodeEpoch: 4,
        running: false,
        unitState: 'inactive',
        permitEpoch: null,
        permitValid: false,
        processes: 3,
        killed: 0,
      }),
    );
    expect(permit(sb)).toBeUndefined();
    expect([main, ...kids].some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
    expect(supervisors(sb)).toEqual([]);
    expect(parsed(await run(sb, 'status'))).toMatchObject({ running: false, result: 'inactive', processes: 0 });
  });

  it('stops a frozen (SIGSTOPped) scheduler without escalating: SIGTERM is followed by SIGCONT, as systemd does', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    const { main, kids } = await schedulerUp(sb);
    for (const pid of [main, ...kids]) process.kill(pid, 'SIGSTOP');
    const r = await run(sb, 'stop', { epoch: '1', env: { FAKE_SYSTEMCTL_STOP_TIMEOUT: '600' } });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'stopped', running: false, killed: 0 });
    expect([main, ...kids].some(alive)).toBe(false);
  });

  it('is idempotent: stopping an inactive (or never started) unit succeeds with already-stopped and nothing killed', async () => {
    const sb = makeSandbox();
    const first = await run(sb, 'stop', { epoch: '2' });
    expect(first.code).toBe(NODE_EXIT.ok);
    expect(parsed(first)).toMatchObject({ result: 'already-stopped', running: false, nodeEpoch: 2, processes: 0, killed: 0 });
    const again = await run(sb, 'stop', { epoch: '2' });
    expect(again.code).toBe(NODE_EXIT.ok);
    expect(parsed(again)).toMatchObject({ result: 'already-stopped', running: false, processes: 0, killed: 0 });
    expect(verbs(sb)).not.toContain('kill');
  });

  it('reports cleared-leftovers for a failed unit whose crash left orphans (bare unit), and kills them', async () => {
    const sb = makeSandbox({ unit: 'bare' });
    await run(sb, 'start', { epoch: '1' });
    const { main, kids } = await schedulerUp(sb);
    process.kill(main, 'SIGKILL');
    await waitFor('the unit to fail', () => unitState(sb) === 'failed');
    expect(kids.every(alive)).toBe(true);
    const r = await run(sb, 'stop', { epoch: '1' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'cleared-leftovers', running: false, processes: 2, killed: 2 });
    expect(kids.some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
  });

  it('kills what KillMode=process spares on stop (children of a live scheduler) and counts it', async () => {
    const sb = makeSandbox({ unit: 'bare' });
    await run(sb, 'start', { epoch: '1' });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1' });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'stopped', processes: 3, killed: 2 });
    expect([main, ...kids].some(alive)).toBe(false);
  });

  it('escalates to SIGKILL of the whole unit when stop does not finish within its bound (TERM ignored): result killed', async () => {
    const sb = makeSandbox();
    const env = { FAKE_SYSTEMCTL_IGNORE_TERM: '1', FAKE_SYSTEMCTL_STOP_TIMEOUT: '600', WATCHDOG_STOP_TIMEOUT_SECONDS: '1' };
    await run(sb, 'start', { epoch: '1', env });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'killed', running: false, processes: 3, killed: 3 });
    expect([main, ...kids].some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
    const tail = calls(sb).filter((c) => c.startsWith('stop') || c.startsWith('kill'));
    expect(tail).toEqual([`stop -- ${UNIT}`, `kill --signal=SIGKILL -- ${UNIT}`]);
  });

  it("succeeds when the service manager's own stop timeout SIGKILLs first", async () => {
    const sb = makeSandbox();
    const env = { FAKE_SYSTEMCTL_IGNORE_TERM: '1', FAKE_SYSTEMCTL_STOP_TIMEOUT: '1', WATCHDOG_STOP_TIMEOUT_SECONDS: '60' };
    await run(sb, 'start', { epoch: '1', env });
    const { main, kids } = await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ result: 'stopped', running: false, killed: 0 });
    expect([main, ...kids].some(alive)).toBe(false);
  });

  it('exits 70 when the unit will not go down even after SIGKILL', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    await schedulerUp(sb);
    const r = await run(sb, 'stop', { epoch: '1', env: { FAKE_SYSTEMCTL_FORCE_STATE: 'deactivating', WATCHDOG_KILL_WAIT_SECONDS: '1' } });
    expect(r.code).toBe(NODE_EXIT.stopFailed);
    expect(parsed(r)).toMatchObject({ action: 'stop', result: 'stop-failed', unitState: 'deactivating' });
    expect(r.stderr).toContain('still deactivating');
  });
});

describe('node/airflow-scheduler.sh: status', { timeout: TIMEOUT }, () => {
  it('reports every field, and changes nothing: before anything, while running, after a stop', async () => {
    const sb = makeSandbox();
    const before = await run(sb, 'status');
    expect(before.code).toBe(NODE_EXIT.ok);
    expect(parsed(before)).toEqual(
      full({
        action: 'status',
        result: 'inactive',
        epoch: null,
        nodeEpoch: null,
        running: false,
        unitState: 'inactive',
        permitEpoch: null,
        permitValid: false,
        guard: 'missing',
        processes: 0,
        killed: null,
      }),
    );
    expect(existsSync(sb.stateDir)).toBe(false);
    expect(existsSync(sb.runDir)).toBe(false);
    expect(existsSync(sb.systemdDir)).toBe(false);

    await run(sb, 'start', { epoch: '12' });
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    const during = await run(sb, 'status', { epoch: '99' });
    expect(during.code).toBe(NODE_EXIT.ok);
    expect(parsed(during)).toEqual(
      full({
        action: 'status',
        result: 'active',
        epoch: 99,
        nodeEpoch: 12,
        running: true,
        unitState: 'active',
        enabled: 'enabled',
        permitEpoch: 12,
        permitValid: true,
        processes: 3,
        killed: null,
      }),
    );
    expect(storedEpoch(sb)).toBe('12\n');
    // An older epoch is no reason to refuse a status.
    expect((await run(sb, 'status', { epoch: '1' })).code).toBe(NODE_EXIT.ok);
    // status never writes: no permit revoked or written, no systemctl call that changes anything.
    const mutating = mutatingVerbs(sb).length;
    await run(sb, 'status', { epoch: '13' });
    expect(mutatingVerbs(sb).length).toBe(mutating);
    expect(permit(sb)).toBe('12\n');
    expect(storedEpoch(sb)).toBe('12\n');
  });

  it('reports the guard outdated when the drop-in was edited, or not loaded by systemd yet', async () => {
    const sb = makeSandbox();
    await run(sb, 'stop', { epoch: '1' });
    expect(parsed(await run(sb, 'status'))).toMatchObject({ guard: 'installed' });
    writeFileSync(dropInPath(sb), '[Service]\n');
    expect(parsed(await run(sb, 'status'))).toMatchObject({ guard: 'outdated' });
    expect(fakeSystemctl(sb, ['daemon-reload']).status).toBe(0);
    expect(parsed(await run(sb, 'status'))).toMatchObject({ guard: 'outdated' });
    await run(sb, 'stop', { epoch: '1' });
    expect(parsed(await run(sb, 'status'))).toMatchObject({ guard: 'installed' });
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

// ---- the permit and the guard ------------------------------------------------------------------------

describe('node/airflow-scheduler.sh: permit and guard (systemd checks the permit before every start)', { timeout: TIMEOUT }, () => {
  it('installs the drop-in and the checker once: daemon-reload only when the drop-in changed, the checker replaced only when it differs', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '1' });
    await schedulerUp(sb);
    const dropIn = readFileSync(dropInPath(sb), 'utf8');
    expect(dropIn).toContain('[Service]\n');
    expect(dropIn).toContain(`\nExecCondition=+${checkerPath(sb)} check-permit ${UNIT} ${sb.stateDir} ${sb.runDir}\n`);
    expect(readFileSync(checkerPath(sb), 'utf8')).toBe(readFileSync(SCRIPT, 'utf8'));
    expect(statSync(checkerPath(sb)).mode & 0o777).toBe(0o750);
    const inode = statSync(checkerPath(sb)).ino;
    const reloads = () => verbs(sb).filter((v) => v === 'daemon-reload').length;
    expect(reloads()).toBe(1);

    await run(sb, 'stop', { epoch: '1' });
    await run(sb, 'start', { epoch: '2' });
    await schedulerUp(sb, 2);
    expect(reloads()).toBe(1);
    expect(statSync(checkerPath(sb)).ino).toBe(inode);

    // An edited drop-in and a stale checker are put back; only the drop-in needs a reload.
    writeFileSync(dropInPath(sb), '[Service]\nExecCondition=/bin/true\n');
    writeFileSync(checkerPath(sb), '#!/bin/sh\nexit 0\n');
    await run(sb, 'stop', { epoch: '2' });
    expect(reloads()).toBe(2);
    expect(readFileSync(dropInPath(sb), 'utf8')).toBe(dropIn);
    expect(readFileSync(checkerPath(sb), 'utf8')).toBe(readFileSync(SCRIPT, 'utf8'));
    writeFileSync(checkerPath(sb), '#!/bin/sh\nexit 0\n');
    await run(sb, 'stop', { epoch: '2' });
    expect(reloads()).toBe(2);
    expect(readFileSync(checkerPath(sb), 'utf8')).toBe(readFileSync(SCRIPT, 'utf8'));
  });

  it('installs the same checker from the start and the stop documents (their prefix lines are not part of it)', async () => {
    const sb = makeSandbox();
    const body = readFileSync(SCRIPT, 'utf8').split('\n');
    const asDocument = (action: string) => {
      const file = join(sb.root, `_script-${action}.sh`);
      writeFileSync(file, [body[0], `export WATCHDOG_ACTION=${action}`, 'export WATCHDOG_KILL_WAIT_SECONDS=5', ...body.slice(1)].join('\n'));
      chmodSync(file, 0o755);
      return file;
    };
    const start = await runCommand('sh', ['-c', asDocument('start')], { ...sb.env, SSM_Epoch: '2', SSM_UnitName: UNIT });
    expect(parsed(start)).toMatchObject({ result: 'started', guard: 'installed' });
    await schedulerUp(sb);
    const stop = await runCommand('sh', ['-c', asDocument('stop')], { ...sb.env, SSM_Epoch: '2', SSM_UnitName: UNIT });
    expect(parsed(stop)).toMatchObject({ result: 'stopped', guard: 'installed' });
    expect(stop.stdout).not.toContain('permit checker');
    expect(readFileSync(checkerPath(sb), 'utf8')).toBe(readFileSync(SCRIPT, 'utf8'));
  });

  it('check-permit: 0 for a permit of the current epoch; 1 (with a reason naming the file) when missing, malformed, older than the node epoch, or the epoch file is missing or malformed', async () => {
    const sb = makeSandbox();
    const permitFile = join(sb.runDir, `permit-${UNIT}`);
    const epochFile = join(sb.stateDir, `epoch-${UNIT}`);
    const expectRefused = (why: RegExp) => {
      const r = checkPermit(sb);
      expect(r.status, r.stdout + r.stderr).toBe(CHECK_PERMIT_EXIT.notPermitted);
      expect(r.stdout).toMatch(why);
    };
    expectRefused(/not starting: no permit .*permit-airflow-scheduler/);
    await run(sb, 'stop', { epoch: '5' });
    expectRefused(/not starting: no permit/);
    mkdirSync(sb.runDir, { recursive: true });
    for (const bad of ['', '5 \n', '5\n6\n', 'five\n', '-5\n', '5\u0000\n', `${'9'.repeat(13)}\n`]) {
      writeFileSync(permitFile, bad);
      expectRefused(/not starting: malformed permit .*permit-airflow-scheduler: it /);
    }
    writeFileSync(permitFile, '4\n');
    expectRefused(/permit .* is for epoch 4, older than the node's epoch 5 .*epoch-airflow-scheduler.*: fenced/);
    writeFileSync(permitFile, '5\n');
    const ok = checkPermit(sb);
    expect(ok.status).toBe(CHECK_PERMIT_EXIT.permitted);
    expect(ok.stdout).toContain('for epoch 5 (node epoch 5): starting');
    writeFileSync(permitFile, '6'); // a newer permit without its newline still counts
    expect(checkPermit(sb).status).toBe(CHECK_PERMIT_EXIT.permitted);
    writeFileSync(epochFile, 'garbage\n');
    expectRefused(/the node's epoch file .*epoch-airflow-scheduler is malformed/);
    writeFileSync(epochFile, '');
    expectRefused(/malformed/);
    spawnSync('rm', ['-f', epochFile]);
    expectRefused(/the node has no stored epoch/);
  });

  it('check-permit: bad arguments exit 64 (systemd skips the start too) and read nothing', () => {
    const sb = makeSandbox();
    for (const args of [[], [UNIT], [UNIT, sb.stateDir], ['a b', sb.stateDir, sb.runDir], [UNIT, 'relative', sb.runDir], [UNIT, sb.stateDir, '/x/../y']]) {
      const r = checkPermit(sb, args);
      expect(r.status, args.join(' ')).toBe(CHECK_PERMIT_EXIT.badParameter);
      expect(r.stdout).toBe('');
    }
  });

  it('the permit lets Restart=always restart a crashed scheduler on the active node', async () => {
    const sb = makeSandbox({ restartSec: '0.5' });
    await run(sb, 'start', { epoch: '3' });
    const first = await schedulerUp(sb);
    process.kill(first.main, 'SIGKILL');
    const second = await schedulerUp(sb, 2);
    expect(second.main).not.toBe(first.main);
    expect(first.kids.some(alive)).toBe(false); // KillMode=control-group ended the orphans
    await waitFor('the unit to be active again', () => unitState(sb) === 'active');
    expect(parsed(await run(sb, 'status'))).toMatchObject({ unitState: 'active', permitValid: true, processes: 3 });
  });

  it('a fenced node cannot come back: once a newer epoch is stored, Restart=always finds the permit too old and the unit stays inactive', async () => {
    const sb = makeSandbox({ restartSec: '0.3' });
    await run(sb, 'start', { epoch: '3' });
    const { main } = await schedulerUp(sb);
    // As if a newer watchdog's stop (epoch 4) had stored its epoch and been cut before it could stop anything.
    writeFileSync(join(sb.stateDir, `epoch-${UNIT}`), '4\n');
    process.kill(main, 'SIGKILL');
    await waitFor('the restart attempt to be skipped', () => unitState(sb) === 'inactive');
    await sleep(800);
    expect(mains(sb)).toEqual([main]);
    expect(unitProcesses(sb)).toEqual([]);
    expect(supervisors(sb)).toEqual([]);
    expect(parsed(await run(sb, 'status'))).toMatchObject({ unitState: 'inactive', permitEpoch: 3, nodeEpoch: 4, permitValid: false });
  });

  it('a rebooted node starts nothing, enabled or not, until the watchdog starts it', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '3' });
    const { main } = await schedulerUp(sb);
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    const reboot = fakeSystemctl(sb, ['fake-reboot']);
    expect(reboot.status).toBe(0);
    expect(reboot.stderr).toContain(`boot: ${UNIT}.service skipped`);
    expect(alive(main)).toBe(false);
    expect(existsSync(sb.runDir)).toBe(false);
    expect(unitState(sb)).toBe('inactive');
    expect(mains(sb)).toEqual([main]);
    expect(parsed(await run(sb, 'status'))).toMatchObject({ unitState: 'inactive', enabled: 'enabled', permitEpoch: null, nodeEpoch: 3, guard: 'installed' });
    const r = await run(sb, 'start', { epoch: '3' });
    expect(parsed(r)).toMatchObject({ result: 'started', permitValid: true });
    await schedulerUp(sb, 2);
  });
});

// ---- fencing, per-unit state, locking ------------------------------------------------------------------

describe('node/airflow-scheduler.sh: epoch fencing', { timeout: TIMEOUT }, () => {
  it('refuses a stop with an older epoch (exit 65, STALE_EPOCH) and changes nothing', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '10' });
    const { main, kids } = await schedulerUp(sb);
    const mutating = mutatingVerbs(sb);
    const r = await run(sb, 'stop', { epoch: '9' });
    expect(r.code).toBe(NODE_EXIT.staleEpoch);
    expect(r.stderr).toContain('STALE_EPOCH node=10 command=9');
    expect(parsed(r)).toEqual(
      full({
        action: 'stop',
        result: 'stale-epoch',
        epoch: 9,
        nodeEpoch: 10,
        running: true,
        unitState: 'active',
        permitEpoch: 10,
        permitValid: true,
        processes: 3,
        killed: null,
      }),
    );
    expect([main, ...kids].every(alive)).toBe(true);
    expect(storedEpoch(sb)).toBe('10\n');
    expect(permit(sb)).toBe('10\n');
    expect(mutatingVerbs(sb)).toEqual(mutating);
  });

  it('refuses a start with an older epoch and starts nothing, writes no permit', async () => {
    const sb = makeSandbox();
    await run(sb, 'stop', { epoch: '8' });
    const r = await run(sb, 'start', { epoch: '7' });
    expect(r.code).toBe(NODE_EXIT.staleEpoch);
    expect(r.stderr).toContain('STALE_EPOCH node=8 command=7');
    expect(parsed(r)).toMatchObject({ result: 'stale-epoch', running: false, nodeEpoch: 8, permitEpoch: null });
    expect(verbs(sb)).not.toContain('start');
    expect(permit(sb)).toBeUndefined();
    expect(mains(sb)).toEqual([]);
  });

  it('accepts the same epoch again, and a newer one', async () => {
    const sb = makeSandbox();
    expect((await run(sb, 'start', { epoch: '10' })).code).toBe(0);
    await schedulerUp(sb);
    const same = await run(sb, 'stop', { epoch: '10' });
    expect(same.code).toBe(NODE_EXIT.ok);
    expect(parsed(same)).toMatchObject({ result: 'stopped', nodeEpoch: 10 });
    const newer = await run(sb, 'start', { epoch: '11' });
    expect(newer.code).toBe(NODE_EXIT.ok);
    expect(parsed(newer)).toMatchObject({ result: 'started', nodeEpoch: 11 });
    expect(storedEpoch(sb)).toBe('11\n');
    await schedulerUp(sb, 2);
  });

  it('keeps one epoch, one permit and one drop-in per unit (Airflow 3: scheduler, dag-processor, triggerer)', async () => {
    const sb = makeSandbox();
    const units = ['airflow-scheduler', 'airflow-dag-processor', 'airflow-triggerer'];
    for (const [i, unit] of units.entries()) expect((await run(sb, 'stop', { epoch: String(10 + i), unit })).code).toBe(0);
    expect(units.map((u) => storedEpoch(sb, u))).toEqual(['10\n', '11\n', '12\n']);
    expect(units.every((u) => existsSync(dropInPath(sb, u)))).toBe(true);
    // 11 is stale for the triggerer only.
    expect((await run(sb, 'stop', { epoch: '11', unit: 'airflow-triggerer' })).code).toBe(NODE_EXIT.staleEpoch);
    const r = await run(sb, 'start', { epoch: '11', unit: 'airflow-scheduler.service' });
    expect(parsed(r)).toMatchObject({ result: 'started', unit: 'airflow-scheduler.service', nodeEpoch: 11, permitEpoch: 11 });
    await schedulerUp(sb);
    expect(permit(sb, 'airflow-scheduler')).toBe('11\n');
    expect(permit(sb, 'airflow-dag-processor')).toBeUndefined();
    expect(storedEpoch(sb, 'airflow-dag-processor')).toBe('11\n');
  });

  it('reads the pre-per-unit epoch file for every unit until the unit stores its own (no node loses its fencing on upgrade)', async () => {
    const sb = makeSandbox();
    mkdirSync(sb.stateDir, { recursive: true });
    writeFileSync(join(sb.stateDir, 'epoch'), '10\n');
    expect(parsed(await run(sb, 'status', { unit: 'airflow-triggerer' }))).toMatchObject({ nodeEpoch: 10 });
    for (const unit of ['airflow-scheduler', 'airflow-triggerer']) {
      const r = await run(sb, 'stop', { epoch: '9', unit });
      expect(r.code).toBe(NODE_EXIT.staleEpoch);
      expect(r.stderr).toContain('STALE_EPOCH node=10 command=9');
    }
    // The same epoch: accepted, and the unit now owns it.
    expect((await run(sb, 'stop', { epoch: '10', unit: 'airflow-scheduler' })).code).toBe(0);
    expect(storedEpoch(sb, 'airflow-scheduler')).toBe('10\n');
    expect((await run(sb, 'stop', { epoch: '12', unit: 'airflow-scheduler' })).code).toBe(0);
    expect(storedEpoch(sb, 'airflow-scheduler')).toBe('12\n');
    // The legacy file is untouched and still fences the units that have no file of their own.
    expect(readFileSync(join(sb.stateDir, 'epoch'), 'utf8')).toBe('10\n');
    expect((await run(sb, 'stop', { epoch: '9', unit: 'airflow-triggerer' })).code).toBe(NODE_EXIT.staleEpoch);
    expect((await run(sb, 'stop', { epoch: '11', unit: 'airflow-scheduler' })).code).toBe(NODE_EXIT.staleEpoch);
  });

  it('never reads a malformed epoch file as a number: start refused (66), stop goes on without storing, status names the file', async () => {
    const sb = makeSandbox();
    mkdirSync(sb.stateDir, { recursive: true });
    const file = join(sb.stateDir, `epoch-${UNIT}`);
    writeFileSync(file, '1O\n');
    const status = await run(sb, 'status');
    expect(status.code).toBe(0);
    expect(parsed(status)).toMatchObject({ nodeEpoch: null, problems: [expect.stringContaining(`malformed epoch file ${file}`)] });
    const start = await run(sb, 'start', { epoch: '99' });
    expect(start.code).toBe(NODE_EXIT.badState);
    expect(parsed(start)).toMatchObject({ result: 'bad-state', nodeEpoch: null, permitEpoch: null });
    expect(start.stderr).toContain('BAD_STATE');
    expect(verbs(sb)).not.toContain('start');
    expect(permit(sb)).toBeUndefined();
    const stop = await run(sb, 'stop', { epoch: '99' });
    expect(stop.code).toBe(0);
    expect(parsed(stop)).toMatchObject({ result: 'already-stopped', nodeEpoch: null, problems: [expect.stringContaining('malformed epoch file')] });
    expect(readFileSync(file, 'utf8')).toBe('1O\n');
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
    expect(permit(sb)).toBe(startFirst ? undefined : '5\n');
    const status = await run(sb, 'status');
    expect(status.report?.running).toBe(!startFirst);
    expect(unitProcesses(sb).length > 0).toBe(!startFirst);
    // The lock kept the two commands' systemctl calls apart.
    const mutating = verbs(sb).filter((v) => v === 'start' || v === 'stop');
    expect(mutating).toEqual(startFirst ? ['start', 'stop'] : ['stop', 'start']);
    if (!startFirst) await schedulerUp(sb);
  });

  it('serialises many commands with different epochs: results, epoch file, permit and end state follow the lock order', async () => {
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
    expect(permit(sb)).toBe(running ? '6\n' : undefined);
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
    expect(parsed(r)).toMatchObject({ action: 'start', result: 'busy', running: false, epoch: 3, nodeEpoch: null, guard: 'missing' });
    expect(r.stderr).toContain('BUSY');
    expect(storedEpoch(sb)).toBeUndefined();
    expect(permit(sb)).toBeUndefined();
    expect(mutatingVerbs(sb)).toEqual([]);
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
  const badUnits = (marker: string) => [
    'x y',
    '../etc',
    'a/b',
    `$(touch ${marker})`,
    `x;touch ${marker}`,
    `\`touch ${marker}\``,
    'unit\n',
    'a'.repeat(65),
    '',
    '.service',
  ];

  const expectNoSideEffect = (sb: Sandbox, r: RunResult) => {
    expect(r.code).toBe(NODE_EXIT.badParameter);
    expect(existsSync(sb.marker)).toBe(false);
    expect(existsSync(sb.stateDir)).toBe(false);
    expect(existsSync(sb.runDir)).toBe(false);
    expect(existsSync(sb.systemdDir)).toBe(false);
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
        expect(parsed(r)).toMatchObject({
          action,
          result: 'bad-parameter',
          epoch: null,
          running: false,
          guard: 'unknown',
          unitState: 'unknown',
          processes: null,
        });
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
        expect(parsed(r)).toMatchObject({ action, result: 'bad-parameter', running: false });
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
      { WATCHDOG_RUN_DIR: 'run' },
      { WATCHDOG_RUN_DIR: `${sb.runDir}/../x` },
      { WATCHDOG_SYSTEMD_DIR: `${sb.systemdDir}\nExecStartPre=/bin/touch ${sb.marker}` },
      { WATCHDOG_SYSTEMD_DIR: `${sb.systemdDir} x` },
      { WATCHDOG_STATE_DIR: `${sb.stateDir}%n` },
      { WATCHDOG_CGROUP_ROOT: '$(touch x)' },
    ]) {
      expectNoSideEffect(sb, await run(sb, 'start', { epoch: '1', env }));
    }
  });

  it('takes the action from $1 when WATCHDOG_ACTION is unset; an unknown or conflicting action is 64 without a report', async () => {
    const sb = makeSandbox();
    const byArgument = await run(sb, 'status', { asArgument: true });
    expect(byArgument.code).toBe(NODE_EXIT.ok);
    expect(byArgument.report?.action).toBe('status');
    const before = calls(sb);
    const unknown = await runCommand('bash', [SCRIPT, 'restart'], { ...sb.env, SSM_Epoch: '1', SSM_UnitName: UNIT });
    expect(unknown.code).toBe(NODE_EXIT.badParameter);
    expect(unknown.report).toBeUndefined();
    const conflicting = await runCommand('bash', [SCRIPT, 'stop'], { ...sb.env, WATCHDOG_ACTION: 'start', SSM_Epoch: '1', SSM_UnitName: UNIT });
    expect(conflicting.code).toBe(NODE_EXIT.badParameter);
    expect(conflicting.report).toBeUndefined();
    expect(calls(sb)).toEqual(before);
    expect(mutatingVerbs(sb)).toEqual([]);
  });

  it('runs as the SSM agent runs it (`sh -c <file>`), with the action line the document puts in front', async () => {
    const sb = makeSandbox();
    const doc = join(sb.root, '_script.sh');
    writeFileSync(doc, `WATCHDOG_ACTION=start\n${readFileSync(SCRIPT, 'utf8')}`);
    chmodSync(doc, 0o755);
    const r = await runCommand('sh', ['-c', doc], { ...sb.env, SSM_Epoch: '2', SSM_UnitName: UNIT });
    expect(r.code).toBe(NODE_EXIT.ok);
    expect(parsed(r)).toMatchObject({ action: 'start', result: 'started', running: true, nodeEpoch: 2, guard: 'installed' });
    await schedulerUp(sb);
  });
});
