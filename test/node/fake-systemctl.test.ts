/**
 * node/testing/fake-systemctl on its own: the local cluster and the node-script tests rely on it
 * behaving like systemd for the unit the README recommends (Restart=always, RestartSec, KillMode=
 * control-group, ExecCondition= from drop-ins) and for the bare one (Restart=no, KillMode=process).
 * No assertion here is about speed: waits are bounds against hangs; the RestartSec check is a lower
 * bound (a restart can come late on a loaded machine, never early).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  cleanup,
  fakeSystemctl,
  mains,
  makeSandbox,
  permit,
  run,
  type Sandbox,
  schedulerUp,
  sleep,
  spawned,
  supervisors,
  UNIT,
  unitProcesses,
  unitState,
  waitFor,
} from './sandbox.js';

const TIMEOUT = 120_000;

afterEach(async () => {
  const leftovers = await cleanup();
  expect(leftovers.filter((l) => l.startsWith('unkillable') || l.startsWith('supervisor'))).toEqual([]);
});

const show = (sb: Sandbox, prop: string) => fakeSystemctl(sb, ['show', '-p', prop, '--value', UNIT]).stdout.trim();

/** Writes a drop-in of the unit with these ExecCondition= lines (and reloads unless told not to). */
const dropIn = (sb: Sandbox, conditions: string[], reload = true) => {
  const dir = join(sb.systemdDir, `${UNIT}.service.d`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '10-test.conf'), `[Unit]\nExecCondition=/bin/false\n[Service]\n${conditions.map((c) => `ExecCondition=${c}\n`).join('')}`);
  if (reload) expect(fakeSystemctl(sb, ['daemon-reload']).status).toBe(0);
};

const flag = (sb: Sandbox) => join(sb.root, 'flag');

describe('fake systemctl: states and teardown', { timeout: TIMEOUT }, () => {
  it('bare unit: active, then failed with the orphans left running when the main process is SIGKILLed; no restart', async () => {
    const sb = makeSandbox({ unit: 'bare' });
    expect(unitState(sb)).toBe('inactive');
    expect(fakeSystemctl(sb, ['is-active', UNIT]).status).toBe(3);
    expect(fakeSystemctl(sb, ['kill', '--signal=SIGKILL', UNIT]).status).toBe(1); // nothing to kill
    expect(fakeSystemctl(sb, ['start', `${UNIT}.service`]).status).toBe(0);
    const { main, kids } = await schedulerUp(sb);
    expect(unitState(sb)).toBe('active');
    expect(fakeSystemctl(sb, ['is-active', '--quiet', UNIT]).stdout).toBe('');
    process.kill(main, 'SIGKILL');
    await waitFor('the unit to fail', () => unitState(sb) === 'failed');
    expect(kids.every(alive)).toBe(true);
    await sleep(300);
    expect(mains(sb)).toEqual([main]);
    expect(supervisors(sb)).toEqual([]);
    // A stop of a failed unit leaves its leftovers alone, as systemd does; kill reaches them.
    expect(fakeSystemctl(sb, ['stop', UNIT]).status).toBe(0);
    expect(kids.every(alive)).toBe(true);
    expect(fakeSystemctl(sb, ['reset-failed', UNIT]).status).toBe(0);
    expect(unitState(sb)).toBe('inactive');
    expect(fakeSystemctl(sb, ['fake-kill-all']).status).toBe(0);
    expect(kids.some(alive)).toBe(false);
    expect(unitProcesses(sb)).toEqual([]);
  });

  it('recommended unit: KillMode=control-group ends the orphans when the main process dies, with no systemctl call', async () => {
    const sb = makeSandbox({ restartSec: '30' });
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    const { main, kids } = await schedulerUp(sb);
    process.kill(main, 'SIGKILL');
    await waitFor('the orphans to be killed', () => !kids.some(alive));
    await waitFor('the RestartSec wait', () => unitState(sb) === 'activating');
    expect(show(sb, 'SubState')).toBe('auto-restart');
    expect(show(sb, 'NRestarts')).toBe('1');
    expect(unitProcesses(sb)).toEqual([]);
  });

  it('recommended unit: Restart=always starts the main process again after RestartSec (activating meanwhile)', async () => {
    const restartSec = 1.5;
    const sb = makeSandbox({ restartSec: String(restartSec) });
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    const first = await schedulerUp(sb);
    const killedAt = Date.now();
    process.kill(first.main, 'SIGKILL');
    await waitFor('the main process to die', () => !alive(first.main));
    const during = unitState(sb);
    if (mains(sb).length === 1) expect(['activating', 'deactivating']).toContain(during); // read before any restart
    const second = await schedulerUp(sb, 2);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(restartSec * 1000);
    expect(second.main).not.toBe(first.main);
    await waitFor('the unit to be active again', () => unitState(sb) === 'active');
    expect(show(sb, 'MainPID')).toBe(String(second.main));
    // A clean exit is restarted too (Restart=always, not on-failure).
    process.kill(second.main, 'SIGTERM');
    await schedulerUp(sb, 3);
  });

  it('stop, kill, fake-kill-all and fake-reboot leave no process behind, supervisors included', async () => {
    const sb = makeSandbox({ restartSec: '0.2' });
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    await schedulerUp(sb);
    expect(supervisors(sb)).toHaveLength(1);
    expect(fakeSystemctl(sb, ['stop', UNIT]).status).toBe(0);
    expect(unitProcesses(sb)).toEqual([]);
    expect(supervisors(sb)).toEqual([]);
    expect(unitState(sb)).toBe('inactive');
    await sleep(500);
    expect(mains(sb)).toHaveLength(1); // no restart after a stop

    // kill is not a stop: Restart=always brings the unit back (bare unit: nothing is left).
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    await schedulerUp(sb, 2);
    expect(fakeSystemctl(sb, ['kill', '--signal=SIGKILL', UNIT]).status).toBe(0);
    await schedulerUp(sb, 3);
    expect(fakeSystemctl(sb, ['fake-kill-all']).status).toBe(0);
    expect(unitProcesses(sb)).toEqual([]);
    expect(supervisors(sb)).toEqual([]);

    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    await schedulerUp(sb, 4);
    expect(fakeSystemctl(sb, ['fake-reboot']).status).toBe(0); // not enabled: nothing starts
    expect(unitProcesses(sb)).toEqual([]);
    expect(supervisors(sb)).toEqual([]);

    const bare = makeSandbox({ unit: 'bare' });
    expect(fakeSystemctl(bare, ['start', UNIT]).status).toBe(0);
    await schedulerUp(bare);
    expect(fakeSystemctl(bare, ['kill', '--signal=SIGKILL', UNIT]).status).toBe(0);
    await sleep(300);
    expect(unitProcesses(bare)).toEqual([]);
    expect(supervisors(bare)).toEqual([]);
    expect(unitState(bare)).toBe('failed');
  });

  it('a supervisor exits, ending its unit, when $SIM_OWNER_PID is gone', async () => {
    const owner = spawn('sleep', ['300'], { stdio: 'ignore', detached: true });
    spawned.add(owner);
    const sb = makeSandbox();
    expect(fakeSystemctl(sb, ['start', UNIT], { SIM_OWNER_PID: String(owner.pid) }).status).toBe(0);
    const { main, kids } = await schedulerUp(sb);
    expect(supervisors(sb)).toHaveLength(1);
    process.kill(owner.pid!, 'SIGKILL');
    await waitFor('the supervisor to exit', () => supervisors(sb).length === 0);
    await waitFor('the unit to be gone', () => ![main, ...kids].some(alive));
  });

  it('rejects unit names that would leave its directory', () => {
    const sb = makeSandbox();
    for (const unit of ['..', '.', '../x', '']) expect(fakeSystemctl(sb, ['start', unit]).status).toBe(1);
  });

  it('is-enabled prints enabled|disabled (exit 0 iff enabled); show ControlGroup lists the processes in cgroup.procs, empty when none', async () => {
    const sb = makeSandbox();
    expect(fakeSystemctl(sb, ['is-enabled', UNIT])).toMatchObject({ status: 1, stdout: 'disabled\n' });
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    expect(fakeSystemctl(sb, ['is-enabled', UNIT])).toMatchObject({ status: 0, stdout: 'enabled\n' });
    expect(show(sb, 'UnitFileState')).toBe('enabled');
    expect(fakeSystemctl(sb, ['disable', UNIT]).status).toBe(0);
    expect(fakeSystemctl(sb, ['is-enabled', UNIT]).stdout).toBe('disabled\n');
    expect(show(sb, 'ControlGroup')).toBe('');
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    const { main, kids } = await schedulerUp(sb);
    const cg = show(sb, 'ControlGroup');
    expect(cg).toBe(`/system.slice/${UNIT}.service`);
    const procs = readFileSync(join(sb.fakeDir, 'cgroup', cg, 'cgroup.procs'), 'utf8')
      .trim()
      .split('\n')
      .map(Number);
    expect(procs.sort()).toEqual([main, ...kids].sort());
  });
});

describe('fake systemctl: ExecCondition= from drop-ins', { timeout: TIMEOUT }, () => {
  it('exit 1 skips the start: the unit stays inactive (not failed) and `systemctl start` exits 0', async () => {
    const sb = makeSandbox();
    dropIn(sb, ['/bin/sh -c exit\\ 1', '/bin/false']);
    const r = fakeSystemctl(sb, ['start', UNIT]);
    expect(r.status).toBe(0);
    expect(unitState(sb)).toBe('inactive');
    expect(mains(sb)).toEqual([]);
    await waitFor('the supervisor to exit', () => supervisors(sb).length === 0);
    expect(readFileSync(join(sb.fakeDir, UNIT, 'unit.log'), 'utf8')).toContain(`Condition check resulted in ${UNIT}.service being skipped.`);
  });

  it('exit 255 fails the unit and `systemctl start`; a "-" prefix ignores a failing condition; later ones still run', async () => {
    const sb = makeSandbox();
    const script = join(sb.root, 'exit255.sh');
    writeFileSync(script, '#!/bin/sh\nexit 255\n', { mode: 0o755 });
    dropIn(sb, [script]);
    const r = fakeSystemctl(sb, ['start', UNIT]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('failed');
    expect(unitState(sb)).toBe('failed');
    expect(mains(sb)).toEqual([]);
    dropIn(sb, [`-${script}`, '-/bin/false', `/usr/bin/test -e ${flag(sb)}`]);
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    expect(unitState(sb)).toBe('inactive');
    writeFileSync(flag(sb), '');
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    await schedulerUp(sb);
    expect(unitState(sb)).toBe('active');
  });

  it('conditions are read at daemon-reload (or first use): a changed drop-in has no effect before it; an empty ExecCondition= resets the list', async () => {
    const sb = makeSandbox();
    expect(unitState(sb)).toBe('inactive'); // loads the unit: no drop-ins yet
    dropIn(sb, ['/bin/false'], false);
    expect(show(sb, 'NeedDaemonReload')).toBe('yes');
    expect(show(sb, 'ExecCondition')).toBe('');
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    await schedulerUp(sb);
    expect(fakeSystemctl(sb, ['stop', UNIT]).status).toBe(0);
    expect(fakeSystemctl(sb, ['daemon-reload']).status).toBe(0);
    expect(show(sb, 'NeedDaemonReload')).toBe('no');
    expect(show(sb, 'ExecCondition')).toBe(
      '{ path=/bin/false ; argv[]=/bin/false ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }',
    );
    expect(show(sb, 'DropInPaths')).toBe(join(sb.systemdDir, `${UNIT}.service.d`, '10-test.conf'));
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    expect(unitState(sb)).toBe('inactive');
    writeFileSync(join(sb.systemdDir, `${UNIT}.service.d`, '20-reset.conf'), '[Service]\nExecCondition=\n');
    expect(fakeSystemctl(sb, ['daemon-reload']).status).toBe(0);
    expect(show(sb, 'ExecCondition')).toBe('');
  });

  it('runs the conditions before every automatic restart: Restart=always stops restarting once the condition fails', async () => {
    const sb = makeSandbox({ restartSec: '0.3' });
    writeFileSync(flag(sb), '');
    dropIn(sb, [`/usr/bin/test -e ${flag(sb)}`]);
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    const first = await schedulerUp(sb);
    process.kill(first.main, 'SIGKILL');
    const second = await schedulerUp(sb, 2);
    rmSync(flag(sb));
    process.kill(second.main, 'SIGKILL');
    await waitFor('the restart to be skipped', () => unitState(sb) === 'inactive' && supervisors(sb).length === 0);
    await sleep(600);
    expect(mains(sb)).toHaveLength(2);
    expect(unitProcesses(sb)).toEqual([]);
  });
});

describe('fake systemctl: fake-reboot', { timeout: TIMEOUT }, () => {
  it('starts enabled units (not disabled ones) and clears $WATCHDOG_RUN_DIR', async () => {
    const sb = makeSandbox();
    mkdirSync(sb.runDir, { recursive: true });
    writeFileSync(join(sb.runDir, 'x'), '');
    expect(fakeSystemctl(sb, ['start', UNIT]).status).toBe(0);
    const { main } = await schedulerUp(sb);
    expect(fakeSystemctl(sb, ['fake-reboot']).status).toBe(0);
    expect(alive(main)).toBe(false);
    expect(existsSync(sb.runDir)).toBe(false);
    expect(unitState(sb)).toBe('inactive');
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    expect(fakeSystemctl(sb, ['fake-reboot']).status).toBe(0);
    await schedulerUp(sb, 2);
    expect(unitState(sb)).toBe('active');
  });

  it('with an enabled unit and no permit, starts nothing', async () => {
    const sb = makeSandbox();
    await run(sb, 'status'); // nothing set up yet
    await run(sb, 'stop', { epoch: '1' }); // installs the guard, writes no permit
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    const r = fakeSystemctl(sb, ['fake-reboot']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`boot: ${UNIT}.service skipped`);
    expect(unitState(sb)).toBe('inactive');
    expect(mains(sb)).toEqual([]);
  });

  it('after a start whose permit a stop revoked, starts nothing', async () => {
    const sb = makeSandbox();
    await run(sb, 'start', { epoch: '2' });
    await schedulerUp(sb);
    expect(fakeSystemctl(sb, ['enable', UNIT]).status).toBe(0);
    await run(sb, 'stop', { epoch: '2' });
    expect(permit(sb)).toBeUndefined();
    expect(fakeSystemctl(sb, ['fake-reboot']).status).toBe(0);
    expect(unitState(sb)).toBe('inactive');
    expect(mains(sb)).toHaveLength(1);
    expect(unitProcesses(sb)).toEqual([]);
  });
});
