import { createServer } from 'node:net';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { STSClient } from '@aws-sdk/client-sts';
import { CredentialsProviderError } from '@smithy/core/config';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, STATUS_EXIT } from '../../cli/errors.js';
import { type ClientFactory, classifyAwsError } from '../../cli/invoke.js';
import { startLambdaEndpoint } from '../../local/lambda-endpoint.js';
import { row } from '../helpers/fakes.js';
import { FUNCTION_NAME, type Hosted, hostWatchdog, NODES, runCli } from './harness.js';

/**
 * The CLI end to end against a locally hosted watchdog (real app, in-memory fakes) behind
 * local/lambda-endpoint.ts: the same Lambda client code path as against AWS.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const [A, B, C] = NODES;

let h: Hosted;
let ep: string[];

beforeEach(async () => {
  h = await hostWatchdog();
  ep = ['--endpoint', h.endpoint.url];
});

afterEach(async () => {
  await h.close();
});

/** A port nothing listens on. */
const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

/** Clients that reach the local endpoint as if it were AWS (not loopback to the CLI), with fake STS and CloudFormation. */
const awsLike = (
  endpoint: string,
  opts: { arn?: string; outputs?: { OutputKey: string; OutputValue: string }[]; stackError?: Error; credentials?: LambdaClient['config']['credentials'] } = {},
): ClientFactory & { stsCalls: number; stacksAsked: string[] } => {
  const state = { stsCalls: 0, stacksAsked: [] as string[] };
  return Object.assign(state, {
    lambda: (cfg: { maxAttempts: number }) =>
      new LambdaClient({
        region: 'eu-west-1',
        endpoint,
        maxAttempts: cfg.maxAttempts,
        credentials: opts.credentials ?? { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' },
      }),
    sts: () =>
      ({
        send: async () => {
          state.stsCalls += 1;
          return { Arn: opts.arn ?? 'arn:aws:sts::123456789012:assumed-role/AirflowOps/alice' };
        },
      }) as unknown as STSClient,
    cloudformation: () =>
      ({
        send: async (cmd: { input: { StackName: string } }) => {
          state.stacksAsked.push(cmd.input.StackName);
          if (opts.stackError !== undefined) throw opts.stackError;
          return { Stacks: [{ Outputs: opts.outputs ?? [] }] };
        },
      }) as unknown as CloudFormationClient,
  });
};

const json = (text: string) => JSON.parse(text) as Record<string, unknown> & { status: { verdict: string; nodes: { id: string; role: string }[] } };

describe('CLI: against a local Lambda endpoint', () => {
  describe('status', () => {
    it('shows the human view and exits 0 when healthy', async () => {
      // Prepare
      h.db.setRows([row(A.hostname, 6, 21)]);
      await runCli(['reconcile', ...ep]); // adopts sched-a as active
      // Act
      const res = await runCli(['status', ...ep]);
      // Assess
      expect(res.code).toBe(EXIT.ok);
      expect(res.stderr).toBe('');
      const lines = res.stdout.split('\n');
      expect(lines[0]).toBe('✔ prod: HEALTHY  ·  epoch 1');
      const rowA = lines.find((l) => l.startsWith(A.id));
      expect(rowA).toMatch(/sched-a\s+Online\s+6 s ago\s+active$/);
      expect(res.stdout).toContain('Last events (newest first):');
      expect(res.stdout).toMatch(/adopt\s+i-0aaaaaaaaaaaaaaa1\s+1\s+watchdog/);
      expect(res.stdout).not.toContain('\x1b[');
      expect(h.store.writes).toBe(1); // the reconcile only; status wrote nothing
    });

    it('--json prints the function answer and still exits by verdict', async () => {
      const res = await runCli(['status', '--json', ...ep]);
      const body = json(res.stdout);
      expect(body.ok).toBe(true);
      expect(body.status.verdict).toBe('recovering'); // nothing healthy, a tick would start one
      expect(res.code).toBe(STATUS_EXIT.recovering);
      expect(res.code).toBe(11);
      expect(body.status.nodes.map((n) => n.id)).toEqual(NODES.map((n) => n.id));
    });

    it.each([
      ['unknown', 13, (x: Hosted) => (x.db.observation = { status: 'unreachable', reason: 'connect ETIMEDOUT' })],
      ['degraded', 10, (x: Hosted) => (x.db.observation = { status: 'ok', rows: { [A.hostname]: row(A.hostname, 5, 1) }, foreign: [row('rogue.corp', 3, 9)] })],
    ] as const)('exits with the %s code', async (verdict, code, arrange) => {
      arrange(h);
      const res = await runCli(['status', ...ep]);
      expect(res.stdout.split('\n')[0]).toContain(verdict.toUpperCase());
      expect(res.code).toBe(code);
    });

    it('colours a terminal unless NO_COLOR is set', async () => {
      const tty = await runCli(['status', ...ep], { tty: true });
      expect(tty.stdout).toContain('\x1b[');
      const noColor = await runCli(['status', ...ep], { tty: true, env: { NO_COLOR: '1' } });
      expect(noColor.stdout).not.toContain('\x1b[');
      const flag = await runCli(['status', '--no-color', ...ep], { tty: true });
      expect(flag.stdout).not.toContain('\x1b[');
    });
  });

  describe('failover', () => {
    it('--to moves the scheduler, records reason and caller, and shows each command', async () => {
      // Prepare
      h.db.setRows([row(A.hostname, 6, 21)]);
      await runCli(['reconcile', ...ep]);
      // Act
      const res = await runCli(['failover', '--to', C.hostname, '--reason', 'kernel patching on sched-a', ...ep]);
      // Assess
      expect(res.code).toBe(EXIT.ok);
      expect(h.fleet.runs.map((r) => `${r.kind}:${r.nodeId}:${r.epoch}`)).toEqual([`stop:${A.id}:2`, `start:${C.id}:2`]);
      expect(h.received.at(-1)).toEqual({ action: 'failover', to: C.hostname, reason: 'kernel patching on sched-a', caller: 'tester@workstation' });
      expect(h.store.item?.history.find((e) => e.kind === 'manual-failover')).toMatchObject({ caller: 'tester@workstation', node: C.id });
      expect(res.stdout.split('\n')[0]).toBe(`✔ failover recorded: epoch 2, scheduler moving to ${C.id} (${C.hostname})`);
      expect(res.stdout).toContain(`1. stop ${A.id} (${A.hostname}): success`);
      expect(res.stdout).toContain(`2. start ${C.id} (${C.hostname}): success`);
    });

    it('exits 1 when a command of the failover did not succeed', async () => {
      h.db.setRows([row(A.hostname, 6, 21)]);
      await runCli(['reconcile', ...ep]);
      h.fleet.outcome = (req) =>
        req.kind === 'start'
          ? { status: 'failed', exitCode: 1, stderrTail: 'unit not found', durationMs: 5 }
          : { status: 'success', commandId: 'c', output: '', durationMs: 5 };
      const res = await runCli(['failover', '--to', B.id, '--reason', 'test', ...ep]);
      expect(res.code).toBe(EXIT.other);
      expect(res.stdout).toContain('NOT EVERY COMMAND SUCCEEDED');
      expect(res.stdout).toContain(`2. start ${B.id} (${B.hostname}): failed`);
    });

    it('without --reason is a usage error and invokes nothing', async () => {
      const res = await runCli(['failover', '--to', B.id, ...ep]);
      expect(res.code).toBe(EXIT.usage);
      expect(res.stderr).toContain('failover needs --reason');
      expect(res.stdout).toBe('');
      expect(h.received).toHaveLength(0);
    });

    it('shows an InvalidRequest from the function with its field, exit 2', async () => {
      const res = await runCli(['failover', '--to', 'i-1;rm -rf /', '--reason', 'x', ...ep]);
      expect(res.code).toBe(EXIT.usage);
      expect(res.stderr).toContain('✖ the function rejected the request: to: must be a node id or hostname');
      expect(res.stderr).toContain('  field: to');
      expect(h.received).toHaveLength(1);
      expect(h.fleet.runs).toHaveLength(0);
      const asJson = await runCli(['failover', '--to', 'i-1;rm -rf /', '--reason', 'x', '--json', ...ep]);
      expect(asJson.code).toBe(EXIT.usage);
      expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: false, error: { code: 'InvalidRequest', field: 'to' } });
    });

    it('is refused (exit 3) while the metadata DB is unreachable, unless --force', async () => {
      h.db.observation = { status: 'unreachable', reason: 'connect ETIMEDOUT' };
      const refused = await runCli(['failover', '--reason', 'db down test', ...ep]);
      expect(refused.code).toBe(EXIT.refused);
      expect(refused.stderr).toContain('✖ refused: metadata DB unreachable');
      expect(h.fleet.runs).toHaveLength(0);
      const forced = await runCli(['failover', '--reason', 'db down test', '--force', ...ep]);
      expect(forced.code).toBe(EXIT.ok);
      expect(h.received.at(-1)).toMatchObject({ force: true });
    });
  });

  describe('pause and resume', () => {
    it('pause records reason and caller; status then exits 14; a second pause is refused; resume lifts it', async () => {
      const paused = await runCli(['pause', '--reason', 'metadata DB upgrade', ...ep]);
      expect(paused.code).toBe(EXIT.ok);
      expect(paused.stdout.split('\n')[0]).toContain('⏸ paused');
      expect(h.store.item?.paused).toMatchObject({ reason: 'metadata DB upgrade', by: 'tester@workstation' });

      const status = await runCli(['status', ...ep]);
      expect(status.code).toBe(STATUS_EXIT.paused);
      expect(status.stdout.split('\n')[0]).toBe('⏸ prod: PAUSED  ·  epoch 0');
      expect(status.stdout).toContain('by tester@workstation: metadata DB upgrade');

      const again = await runCli(['pause', '--reason', 'twice', ...ep]);
      expect(again.code).toBe(EXIT.refused);
      expect(again.stderr).toContain('refused: already paused');

      const resumed = await runCli(['resume', '--caller', 'bob', ...ep]);
      expect(resumed.code).toBe(EXIT.ok);
      expect(h.store.item?.paused).toBeUndefined();
      expect(h.store.item?.history.at(-1)).toMatchObject({ kind: 'resume', caller: 'bob' });
    });
  });

  describe('history and reconcile', () => {
    it('history lists events newest first and passes --limit', async () => {
      await runCli(['pause', '--reason', 'one', ...ep]);
      await runCli(['resume', ...ep]);
      const all = await runCli(['history', ...ep]);
      expect(all.code).toBe(EXIT.ok);
      const kinds = all.stdout
        .split('\n')
        .slice(2)
        .map((l) => l.split(/\s{2,}/)[2]);
      expect(kinds.slice(0, 2)).toEqual(['resume', 'pause']);
      const one = await runCli(['history', '--limit', '1', '--json', ...ep]);
      expect(JSON.parse(one.stdout)).toMatchObject({ ok: true, history: [{ kind: 'resume' }] });
      expect(h.received.at(-1)).toEqual({ action: 'history', limit: 1 });
    });

    it('pause --component sends the component (an alias as the CLI prints it) and the function refuses one that is not configured', async () => {
      const res = await runCli(['pause', '--component', 'dag-processor', '--reason', 'DAG folder move', '--caller', 'ops', ...ep]);
      expect(h.received.at(-1)).toEqual({ action: 'pause', component: 'dagProcessor', reason: 'DAG folder move', caller: 'ops' });
      // This hosted watchdog supervises only the scheduler.
      expect(res.code).toBe(EXIT.refused);
      expect(res.stderr).toContain('dagProcessor is not configured');
    });

    it('reconcile --dry-run shows the plan and neither writes nor acts', async () => {
      const res = await runCli(['reconcile', '--dry-run', ...ep]);
      expect(res.code).toBe(EXIT.ok);
      expect(res.stdout).toContain('Dry run: nothing was written and no command was sent.');
      expect(res.stdout).toContain(`1. start ${A.id} (${A.hostname}), epoch 1`);
      expect(h.store.writes).toBe(0);
      expect(h.fleet.runs).toHaveLength(0);
      expect(h.received).toEqual([{ action: 'reconcile', dryRun: true }]);
    });
  });

  describe('bad arguments (exit 2, nothing invoked)', () => {
    it.each([
      [['frobnicate'], 'unknown command "frobnicate"'],
      [[], 'a command is required'],
      [['status', '--frob'], "Unknown option '--frob'"],
      [['status', '--to', 'x'], 'option --to does not apply to status'],
      [['history', '--limit', '0'], '--limit must be a whole number from 1 to 50'],
      [['pause'], 'pause needs --reason'],
      [['status', 'extra'], 'unexpected argument "extra"'],
      [['status', '--function', 'a', '--stack', 'b'], 'give either --function or --stack'],
      [['status', '--endpoint', 'not a url'], '--endpoint must be a URL'],
      [['pause', '--reason', 'x', '--component', 'webserver'], '--component must be one of scheduler, dagProcessor, triggerer (got "webserver")'],
      [['status', '--component', 'triggerer'], 'option --component does not apply to status'],
    ])('%j', async (argv, message) => {
      const res = await runCli([...argv, ...(argv.includes('--endpoint') ? [] : ep)]);
      expect(res.code).toBe(EXIT.usage);
      expect(res.stderr).toContain(message);
      expect(h.received).toHaveLength(0);
    });

    it('asks where the watchdog is when no target is given', async () => {
      const res = await runCli(['status']);
      expect(res.code).toBe(EXIT.usage);
      expect(res.stderr).toContain('which watchdog? pass --stack');
    });

    it('--help and help <command> print usage and exit 0', async () => {
      const res = await runCli(['--help']);
      expect(res.code).toBe(EXIT.ok);
      expect(res.stdout).toContain('Exit codes:');
      const sub = await runCli(['help', 'failover']);
      expect(sub.stdout.split('\n')[0]).toBe('airflow-watchdog failover --reason TEXT [--component NAME] [--to NODE] [--force] [target]');
    });
  });

  describe('transport failures', () => {
    it('an unreachable endpoint exits 4 with a clear message', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const res = await runCli(['status', '--endpoint', url]);
      expect(res.code).toBe(EXIT.notFound);
      expect(res.stderr).toContain(`✖ cannot reach Lambda for function airflow-watchdog at ${url}: connect ECONNREFUSED`);
      expect(res.stderr).toContain('hint: is the local runner started');
      const asJson = await runCli(['status', '--json', '--endpoint', url]);
      expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: false, error: { code: 'Unreachable' } });
    });

    it('an unknown function name exits 4 (ResourceNotFoundException)', async () => {
      const res = await runCli(['status', '--function', 'no-such-watchdog', ...ep]);
      expect(res.code).toBe(EXIT.notFound);
      expect(res.stderr).toContain('function no-such-watchdog at');
      expect(res.stderr).toContain('not found: Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-watchdog');
    });

    it('no credentials exit 5 before anything is sent', async () => {
      const clients = awsLike(h.endpoint.url, {
        credentials: async () => {
          throw new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false });
        },
      });
      const res = await runCli(['status', '--function', FUNCTION_NAME, '--region', 'eu-west-1'], { clients });
      expect(res.code).toBe(EXIT.credentials);
      expect(res.stderr).toContain('✖ no AWS credentials: Could not load credentials from any providers');
      expect(res.stderr).toContain('hint: configure credentials');
      expect(h.received).toHaveLength(0);
    });

    it('a function that throws exits 1 with its error type and message', async () => {
      const broken = await startLambdaEndpoint({
        functions: {
          [FUNCTION_NAME]: async () => {
            throw new TypeError('Cannot read properties of undefined');
          },
        },
      });
      try {
        const res = await runCli(['status', '--endpoint', broken.url]);
        expect(res.code).toBe(EXIT.other);
        expect(res.stderr).toContain('failed: TypeError: Cannot read properties of undefined');
      } finally {
        await broken.close();
      }
    });

    it.each([
      [
        {
          name: 'AccessDeniedException',
          message: 'User: arn:aws:iam::1:user/x is not authorized to perform: lambda:InvokeFunction',
          $metadata: { httpStatusCode: 403 },
        },
        5,
        'AccessDenied',
      ],
      [{ name: 'ExpiredTokenException', message: 'The security token included in the request is expired' }, 5, 'NoCredentials'],
      [{ name: 'Error', message: 'Region is missing' }, 5, 'NoCredentials'],
      [{ name: 'ResourceNotFoundException', message: 'Function not found' }, 4, 'FunctionNotFound'],
      [{ name: 'TooManyRequestsException', message: 'Rate exceeded' }, 1, 'AwsError'],
    ])('maps %o to exit %i', (err, code, kind) => {
      const mapped = classifyAwsError(Object.assign(new Error(err.message), err), { service: 'Lambda', what: 'function wd', region: 'eu-west-1' });
      expect(mapped.exitCode).toBe(code);
      expect(mapped.code).toBe(kind);
      expect(mapped.message).toContain(err.message);
    });
  });

  describe('finding the function and the caller in AWS', () => {
    it('--stack reads the WatchdogFunctionName output; the caller is the STS identity ARN', async () => {
      const clients = awsLike(h.endpoint.url, { outputs: [{ OutputKey: 'WatchdogFunctionName', OutputValue: FUNCTION_NAME }] });
      const res = await runCli(['pause', '--stack', 'AirflowWatchdog', '--reason', 'patching'], { clients });
      expect(res.code).toBe(EXIT.ok);
      expect(clients.stacksAsked).toEqual(['AirflowWatchdog']);
      expect(clients.stsCalls).toBe(1);
      expect(h.store.item?.paused?.by).toBe('arn:aws:sts::123456789012:assumed-role/AirflowOps/alice');
    });

    it('a missing stack exits 4; a stack without the output says which outputs it has', async () => {
      const missing = awsLike(h.endpoint.url, { stackError: Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }) });
      const res = await runCli(['status', '--stack', 'Nope'], { clients: missing });
      expect(res.code).toBe(EXIT.notFound);
      expect(res.stderr).toContain('stack Nope');
      expect(res.stderr).toContain('does not exist');
      const noOutput = awsLike(h.endpoint.url, { outputs: [{ OutputKey: 'TableName', OutputValue: 't' }] });
      const res2 = await runCli(['status', '--stack', 'Other'], { clients: noOutput });
      expect(res2.code).toBe(EXIT.notFound);
      expect(res2.stderr).toContain('stack Other has no WatchdogFunctionName output (outputs: TableName)');
      expect(h.received).toHaveLength(0);
    });
  });
});
