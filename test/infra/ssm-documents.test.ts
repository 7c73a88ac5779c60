import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NODE_PARAM_PATTERNS } from '../../functions/core/node-protocol.js';
import { readNodeScript } from '../../infra/lib/node-script.js';
import { buildCommandDocument, buildCommandDocuments, documentScript, MAX_DOCUMENT_BYTES, NODE_ACTIONS, nodeTimeouts } from '../../infra/lib/ssm-documents.js';
import { cleanup, makeSandbox, mutatingVerbs, permit, runCommand, type Sandbox, schedulerUp, storedEpoch, UNIT } from '../node/sandbox.js';

describe('Function: buildCommandDocuments', () => {
  const script = readNodeScript();
  const docs = buildCommandDocuments({ script, executionTimeoutSeconds: 60 });

  it.each(NODE_ACTIONS)('builds a schemaVersion 2.2 aws:runShellScript document for %s', (action) => {
    const doc = docs[action];
    expect(doc.schemaVersion).toBe('2.2');
    expect(doc.mainSteps).toHaveLength(1);
    expect(doc.mainSteps[0].action).toBe('aws:runShellScript');
    expect(doc.mainSteps[0].precondition).toEqual({ StringEquals: ['platformType', 'Linux'] });
    expect(doc.mainSteps[0].inputs.timeoutSeconds).toBe(60);
  });

  it('declares Epoch and UnitName with the node protocol patterns, passed as environment variables', () => {
    for (const action of NODE_ACTIONS) {
      expect(docs[action].parameters).toEqual({
        Epoch: { type: 'String', description: expect.any(String), allowedPattern: NODE_PARAM_PATTERNS.Epoch, interpolationType: 'ENV_VAR' },
        UnitName: {
          type: 'String',
          description: expect.any(String),
          allowedPattern: NODE_PARAM_PATTERNS.UnitName,
          interpolationType: 'ENV_VAR',
          default: 'airflow-scheduler',
        },
      });
    }
  });

  it('runs the real node script whole: its shebang first, then the action, the bounds, and every other line unchanged', () => {
    const lines = script.replace(/\n$/, '').split('\n');
    expect(lines[0]).toMatch(/^#!/);
    for (const action of NODE_ACTIONS) {
      const run = docs[action].mainSteps[0].inputs.runCommand;
      expect(run[0]).toBe(lines[0]);
      expect(run[1]).toBe(`export WATCHDOG_ACTION=${action}`);
      // Shell default expansion: export X="${X:-11}" keeps a value the environment already sets.
      const dollar = '$';
      const line = (name: string, value: number) => `export ${name}="${dollar}{${name}:-${value}}"`;
      expect(run.slice(2, 6)).toEqual([
        line('WATCHDOG_LOCK_TIMEOUT_SECONDS', 11),
        line('WATCHDOG_KILL_WAIT_SECONDS', 5),
        line('WATCHDOG_STOP_TIMEOUT_SECONDS', 34),
        line('WATCHDOG_START_TIMEOUT_SECONDS', 36),
      ]);
      expect(run.slice(6)).toEqual(lines.slice(1));
    }
  });

  it('never references a parameter in the shell text (no {{ }} anywhere)', () => {
    for (const action of NODE_ACTIONS) expect(JSON.stringify(docs[action].mainSteps)).not.toContain('{{');
  });

  it('documentScript joins the lines an emulator runs', () => {
    const text = documentScript(docs.stop);
    expect(text.startsWith('#!')).toBe(true);
    expect(text.split('\n')[1]).toBe('export WATCHDOG_ACTION=stop');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('uses the given default unit name', () => {
    const doc = buildCommandDocument('status', { script, executionTimeoutSeconds: 30, defaultUnitName: 'airflow-scheduler@prod' });
    expect(doc.parameters.UnitName?.default).toBe('airflow-scheduler@prod');
  });

  it('keeps a script without a shebang intact after the action line', () => {
    const doc = buildCommandDocument('start', { script: 'echo one\necho two\n', executionTimeoutSeconds: 60 });
    expect(doc.mainSteps[0].inputs.runCommand[0]).toBe('export WATCHDOG_ACTION=start');
    expect(doc.mainSteps[0].inputs.runCommand.slice(-2)).toEqual(['echo one', 'echo two']);
  });

  it.each([
    ['a script with a parameter reference', { script: 'echo {{ Epoch }}', executionTimeoutSeconds: 60 }, 'node script: contains "{{" at line 1'],
    ['an empty script', { script: '  \n', executionTimeoutSeconds: 60 }, 'node script: is empty'],
    ['a fractional timeout', { script: 'true', executionTimeoutSeconds: 1.5 }, 'executionTimeoutSeconds: must be an integer from 1 to 172800 (got 1.5)'],
    ['a bad unit name', { script: 'true', executionTimeoutSeconds: 60, defaultUnitName: 'a b' }, 'defaultUnitName: must match'],
    ['a script too large for SSM', { script: `#!/bin/bash\n${'x'.repeat(MAX_DOCUMENT_BYTES)}`, executionTimeoutSeconds: 60 }, 'SSM accepts at most 65536'],
  ])('fails on %s', (_what, options, message) => {
    expect(() => buildCommandDocument('start', options)).toThrow(message);
  });
});

describe('Function: nodeTimeouts', () => {
  it.each([
    [60, { lockSeconds: 11, killWaitSeconds: 5, stopSeconds: 34, startSeconds: 36 }],
    [30, { lockSeconds: 5, killWaitSeconds: 5, stopSeconds: 10, startSeconds: 12 }],
    [300, { lockSeconds: 20, killWaitSeconds: 5, stopSeconds: 265, startSeconds: 267 }],
  ])('derives the script bounds from an execution timeout of %i s', (timeout, expected) => {
    expect(nodeTimeouts(timeout)).toEqual(expected);
  });

  it.each([30, 45, 60, 90, 120, 600])('lets the stop path (lock + stop + 5 + kill wait) finish 5 s before a %i s timeout', (timeout) => {
    const t = nodeTimeouts(timeout);
    expect(t.lockSeconds + t.stopSeconds + 5 + t.killWaitSeconds).toBeLessThanOrEqual(timeout - 5);
    expect(t.lockSeconds + t.startSeconds + 3 + 5).toBeLessThanOrEqual(timeout - 5);
  });
});

describe('The documents as the agent runs them (documentScript under `sh -c`, fake systemctl)', { timeout: 120_000 }, () => {
  const docs = buildCommandDocuments({ script: readNodeScript(), executionTimeoutSeconds: 60 });

  afterEach(async () => {
    expect((await cleanup()).filter((l) => l.startsWith('unkillable') || l.startsWith('supervisor'))).toEqual([]);
  });

  const runDocument = (sb: Sandbox, action: (typeof NODE_ACTIONS)[number], epoch: string) => {
    const file = join(sb.root, `_script-${action}.sh`);
    writeFileSync(file, documentScript(docs[action]));
    chmodSync(file, 0o700);
    return runCommand('sh', ['-c', file], { ...sb.env, SSM_Epoch: epoch, SSM_UnitName: UNIT });
  };

  it('keeps every document well under the 64 KB limit with the full node script embedded', () => {
    for (const action of NODE_ACTIONS) expect(Buffer.byteLength(JSON.stringify(docs[action]), 'utf8')).toBeLessThan(MAX_DOCUMENT_BYTES * 0.75);
  });

  it('start writes the permit, status only reads (no permit written or revoked, no mutating systemctl call), stop revokes it', async () => {
    const sb = makeSandbox();
    const start = await runDocument(sb, 'start', '3');
    expect(start.report).toMatchObject({ action: 'start', result: 'started', permitEpoch: 3, guard: 'installed' });
    await schedulerUp(sb);
    const mutating = mutatingVerbs(sb);
    for (const epoch of ['1', '3', '9']) {
      const status = await runDocument(sb, 'status', epoch);
      expect(status.report).toMatchObject({ action: 'status', result: 'active', permitEpoch: 3, permitValid: true, nodeEpoch: 3 });
    }
    expect(mutatingVerbs(sb)).toEqual(mutating);
    expect(permit(sb)).toBe('3\n');
    expect(storedEpoch(sb)).toBe('3\n');
    const stop = await runDocument(sb, 'stop', '3');
    expect(stop.report).toMatchObject({ action: 'stop', result: 'stopped', permitEpoch: null });
    expect(permit(sb)).toBeUndefined();
  });
});
