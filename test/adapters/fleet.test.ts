import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  InvalidDocument,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  type SSMClientConfig,
  ThrottlingException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { createSsmClient, SsmFleet, type SsmFleetOptions } from '../../functions/adapters/fleet.js';
import type { CommandOutcome } from '../../functions/core/model.js';

const DOCS = { start: 'Watchdog-StartScheduler', stop: 'Watchdog-StopScheduler', status: 'Watchdog-SchedulerStatus' };
const NODE = 'i-0123456789abcdef0';
const CMD = '11111111-2222-3333-4444-555555555555';
const CREDS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
const meta = { $metadata: {} };

/** Sleep advances time instantly; the recorded sleeps show the backoff. */
const fakeClock = () => {
  let t = 1_700_000_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
};

const setup = (over: Partial<SsmFleetOptions> = {}) => {
  const client = new SSMClient({ region: 'us-east-1', credentials: CREDS });
  const ssm = mockClient(client);
  const clock = fakeClock();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: CMD } });
  const fleet = new SsmFleet({ client, documents: DOCS, unitName: 'airflow-scheduler', commandTimeoutSeconds: 30, clock, ...over });
  return { client, ssm, clock, fleet };
};

const invocation = (o: Partial<GetCommandInvocationCommandOutput>): GetCommandInvocationCommandOutput => ({ ...meta, CommandId: CMD, InstanceId: NODE, ...o });

const report = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    action: 'start',
    result: 'started',
    epoch: 7,
    nodeEpoch: 7,
    running: true,
    hostname: 'ip-10-0-1-12.ec2.internal',
    unit: 'airflow-scheduler',
    unitState: 'active',
    enabled: 'disabled',
    permitEpoch: 7,
    permitValid: true,
    guard: 'installed',
    processes: 9,
    killed: 0,
    problems: [],
    ...over,
  });

const start = { kind: 'start', nodeId: NODE, epoch: 7, comment: 'watchdog prod initial-start epoch 7' } as const;

const expectStatus = <S extends CommandOutcome['status']>(o: CommandOutcome, status: S): Extract<CommandOutcome, { status: S }> => {
  expect(o.status).toBe(status);
  return o as Extract<CommandOutcome, { status: S }>;
};

describe('SsmFleet.run: SendCommand input', () => {
  it('sends the kind’s own document to exactly one node with string parameters and a ≥ 30 s timeout', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: report() }));
    await fleet.run(start);
    await fleet.run({ ...start, kind: 'stop' });
    await fleet.run({ ...start, kind: 'status', epoch: 0 });
    const inputs = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.DocumentName)).toEqual([DOCS.start, DOCS.stop, DOCS.status]);
    expect(inputs[0]).toEqual({
      DocumentName: DOCS.start,
      InstanceIds: [NODE],
      Parameters: { Epoch: ['7'], UnitName: ['airflow-scheduler'] },
      TimeoutSeconds: 30,
      Comment: 'watchdog prod initial-start epoch 7',
    });
    expect(inputs[2]?.Parameters).toEqual({ Epoch: ['0'], UnitName: ['airflow-scheduler'] });
    for (const i of inputs) expect(i.InstanceIds).toHaveLength(1);
  });

  it('raises a short bound to SSM’s 30 s floor, rounds up a fractional one, cuts the comment, and asks for CloudWatch output', async () => {
    const short = setup({ commandTimeoutSeconds: 5 });
    short.ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: '' }));
    await short.fleet.run(start);
    expect(short.ssm.commandCalls(SendCommandCommand)[0]?.args[0].input.TimeoutSeconds).toBe(30);

    const long = setup({ commandTimeoutSeconds: 45.2, cloudWatchLogGroupName: '/watchdog/prod/ssm' });
    long.ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: '' }));
    await long.fleet.run({ ...start, comment: 'x'.repeat(150) });
    const input = long.ssm.commandCalls(SendCommandCommand)[0]?.args[0].input;
    expect(input?.TimeoutSeconds).toBe(46);
    expect(input?.Comment).toBe('x'.repeat(100));
    expect(input?.CloudWatchOutputConfig).toEqual({ CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/watchdog/prod/ssm' });
    expect(short.ssm.commandCalls(SendCommandCommand)[0]?.args[0].input.CloudWatchOutputConfig).toBeUndefined();
  });

  it('does not send an epoch the document would reject', async () => {
    const { ssm, fleet } = setup();
    const o = expectStatus(await fleet.run({ ...start, epoch: -1 }), 'failed');
    expect(o.stderrTail).toContain('not sent');
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('rejects a unit name the document would reject', () => {
    expect(() => setup({ unitName: 'airflow; rm -rf /' })).toThrow(/unitName/);
  });
});

describe('SsmFleet.run: the node report of a status command', () => {
  const status = { ...start, kind: 'status', epoch: 0 } as const;
  const answer = (stdout: string) => invocation({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: stdout });

  it('carries the parsed report on success', async () => {
    const { ssm, fleet } = setup();
    const text = report({ action: 'status', result: 'active', epoch: 0, killed: null });
    ssm.on(GetCommandInvocationCommand).resolves(answer(`airflow-scheduler.sh status: unit is active\n${text}\n`));
    const o = expectStatus(await fleet.run(status), 'success');
    expect(o.report).toEqual(JSON.parse(text));
    expect(o.reportError).toBeUndefined();
  });

  it.each([
    ['a field missing', report({ action: 'status', result: 'active', guard: undefined }), 'guard: must be one of'],
    ['a malformed permit epoch', report({ action: 'status', result: 'active', permitEpoch: '7' }), 'permitEpoch: must be a non-negative integer or null'],
    ['output that is no report', 'active\n', 'not JSON'],
  ])('carries a reportError naming the fault, never a guessed report, for %s', async (_what, stdout, message) => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(answer(stdout));
    const o = expectStatus(await fleet.run(status), 'success');
    expect(o.report).toBeUndefined();
    expect(o.reportError).toContain(message);
    expect(o.output).toBe(stdout);
  });

  it('parses nothing for start and stop (their outcome is unchanged)', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(answer('not a report'));
    const o = expectStatus(await fleet.run(start), 'success');
    expect(o).toEqual({ status: 'success', commandId: CMD, output: 'not a report', durationMs: expect.any(Number) });
  });
});

describe('SsmFleet.run: polling', () => {
  it('treats InvocationDoesNotExist as "not yet" and reports success with the output', async () => {
    const { ssm, fleet, clock } = setup();
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ ...meta, message: 'not yet' }))
      .rejectsOnce(new InvocationDoesNotExist({ ...meta, message: 'not yet' }))
      .resolves(invocation({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: `started\n${report()}\n` }));
    const o = expectStatus(await fleet.run(start), 'success');
    expect(o.commandId).toBe(CMD);
    expect(o.output).toContain('"nodeEpoch":7');
    expect(o.durationMs).toBe(200 + 400 + 800);
    expect(clock.sleeps).toEqual([200, 400, 800]);
    const polls = ssm.commandCalls(GetCommandInvocationCommand);
    expect(polls).toHaveLength(3);
    expect(polls[0]?.args[0].input).toEqual({ CommandId: CMD, InstanceId: NODE });
  });

  it('follows Pending → InProgress → Success', async () => {
    const { ssm, fleet } = setup();
    ssm
      .on(GetCommandInvocationCommand)
      .resolvesOnce(invocation({ Status: 'Pending', StatusDetails: 'Pending', ResponseCode: -1 }))
      .resolvesOnce(invocation({ Status: 'InProgress', StatusDetails: 'In Progress', ResponseCode: -1 }))
      .resolves(invocation({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: report() }));
    const o = expectStatus(await fleet.run(start), 'success');
    expect(o.output).toBe(report());
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
  });

  it('absorbs throttling of GetCommandInvocation and keeps polling', async () => {
    const { ssm, fleet } = setup();
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new ThrottlingException({ ...meta, message: 'Rate exceeded', Message: 'Rate exceeded' }))
      .rejectsOnce(new ThrottlingException({ ...meta, message: 'Rate exceeded', Message: 'Rate exceeded' }))
      .resolves(invocation({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' }));
    expectStatus(await fleet.run(start), 'success');
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
  });

  it('gives up on a command still Pending at the bound: timeout in delivery, and cancels it', async () => {
    const { ssm, fleet, clock } = setup({ commandTimeoutSeconds: 30 });
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Pending', StatusDetails: 'Pending', ResponseCode: -1 }));
    ssm.on(CancelCommandCommand).resolves({});
    const o = expectStatus(await fleet.run(start), 'timeout');
    expect(o.phase).toBe('delivery');
    expect(o.commandId).toBe(CMD);
    expect(o.durationMs).toBe(30_000);
    expect(o.detail).toContain('Pending');
    expect(o.detail).toContain('cancel requested');
    expect(clock.sleeps.slice(0, 4)).toEqual([200, 400, 800, 1000]);
    expect(Math.max(...clock.sleeps)).toBe(1000);
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([{ CommandId: CMD, InstanceIds: [NODE] }]);
  });

  it('still reports a delivery timeout when the invocation never appears and the cancel fails', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).rejects(new InvocationDoesNotExist({ ...meta, message: 'gone' }));
    ssm.on(CancelCommandCommand).rejects(new Error('network down'));
    const o = expectStatus(await fleet.run(start), 'timeout');
    expect(o.phase).toBe('delivery');
    expect(o.detail).toContain('InvocationDoesNotExist');
    expect(o.detail).toContain('cancel failed (Error: network down)');
  });

  it('reports an execution timeout, without cancelling, when the command is still InProgress at the bound', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'InProgress', StatusDetails: 'In Progress', ResponseCode: -1 }));
    const o = expectStatus(await fleet.run({ ...start, kind: 'stop' }), 'timeout');
    expect(o.phase).toBe('execution');
    expect(o.durationMs).toBe(30_000);
    expect(ssm.commandCalls(CancelCommandCommand)).toHaveLength(0);
  });

  it('keeps the last real state through throttled polls at the bound', async () => {
    const { ssm, fleet } = setup();
    ssm
      .on(GetCommandInvocationCommand)
      .resolvesOnce(invocation({ Status: 'InProgress', ResponseCode: -1 }))
      .rejects(new ThrottlingException({ ...meta, message: 'Rate exceeded', Message: 'Rate exceeded' }));
    const o = expectStatus(await fleet.run(start), 'timeout');
    expect(o.phase).toBe('execution');
    expect(o.detail).toMatch(/InProgress.*throttled/);
  });
});

describe('SsmFleet.run: terminal answers', () => {
  const cases: Array<[string, Partial<GetCommandInvocationCommandOutput>, CommandOutcome['status'], ('delivery' | 'execution')?]> = [
    ['Delivery Timed Out', { Status: 'TimedOut', StatusDetails: 'Delivery Timed Out', ResponseCode: -1 }, 'timeout', 'delivery'],
    ['DeliveryTimedOut', { Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut', ResponseCode: -1 }, 'timeout', 'delivery'],
    ['Execution Timed Out', { Status: 'TimedOut', StatusDetails: 'Execution Timed Out', ResponseCode: -1 }, 'timeout', 'execution'],
    ['TimedOut with no details after it started', { Status: 'TimedOut', ResponseCode: 143 }, 'timeout', 'execution'],
    ['Undeliverable', { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 }, 'undeliverable'],
    ['Access Denied', { Status: 'Failed', StatusDetails: 'Access Denied', ResponseCode: -1 }, 'undeliverable'],
    ['Invalid Platform', { Status: 'Failed', StatusDetails: 'Invalid Platform', ResponseCode: -1 }, 'undeliverable'],
    ['Terminated', { Status: 'Cancelled', StatusDetails: 'Terminated', ResponseCode: -1 }, 'undeliverable'],
    ['Cancelled', { Status: 'Cancelled', StatusDetails: 'Cancelled', ResponseCode: -1 }, 'failed'],
  ];
  it.each(cases)('%s', async (_name, answer, status, phase) => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(invocation(answer));
    const o = await fleet.run(start);
    expect(o.status).toBe(status);
    expect(o.commandId).toBe(CMD);
    if (o.status === 'timeout') expect(o.phase).toBe(phase);
    if (o.status === 'failed') expect(o.exitCode).toBeNull();
    // Terminal: one poll, no waiting out the bound, nothing to cancel.
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(1);
    expect(ssm.commandCalls(CancelCommandCommand)).toHaveLength(0);
  });

  it('reports a failed command with its exit code and only the tail of a long stderr', async () => {
    const { ssm, fleet } = setup();
    const stderr = `${'noise line\n'.repeat(500)}stop: scheduler survived SIGKILL`;
    ssm.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: 'Failed',
        StatusDetails: 'Failed',
        ResponseCode: 70,
        StandardOutputContent: report({ result: 'stop-failed' }),
        StandardErrorContent: stderr,
      }),
    );
    const o = expectStatus(await fleet.run({ ...start, kind: 'stop' }), 'failed');
    expect(o.exitCode).toBe(70);
    expect(o.stderrTail).toHaveLength(1000);
    expect(stderr.endsWith(o.stderrTail)).toBe(true);
    expect(o.stderrTail.endsWith('scheduler survived SIGKILL')).toBe(true);
  });

  it('falls back to stdout when stderr is empty', async () => {
    const { ssm, fleet } = setup();
    ssm
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: 'Failed', ResponseCode: 71, StandardOutputContent: 'unit did not become active', StandardErrorContent: '' }));
    const o = expectStatus(await fleet.run(start), 'failed');
    expect(o.exitCode).toBe(71);
    expect(o.stderrTail).toBe('unit did not become active');
  });

  it('recognises a stale-epoch refusal and reads the node’s epoch from the report line', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: 'Failed',
        StatusDetails: 'Failed',
        ResponseCode: 65,
        StandardOutputContent: `refusing\n${report({ result: 'stale-epoch', nodeEpoch: 9, running: false })}\n`,
        StandardErrorContent: 'STALE_EPOCH node=9 command=7\n',
      }),
    );
    const o = expectStatus(await fleet.run(start), 'stale-epoch');
    expect(o.nodeEpoch).toBe(9);
    expect(o.commandId).toBe(CMD);
    expect(o.detail).toContain('epoch 7');
  });

  it('reads the node’s epoch from stderr when there is no report, and null when neither parses', async () => {
    const a = setup();
    a.ssm
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: 'Failed', ResponseCode: 65, StandardOutputContent: '{"trunc', StandardErrorContent: 'STALE_EPOCH node=12\n' }));
    expect(expectStatus(await a.fleet.run(start), 'stale-epoch').nodeEpoch).toBe(12);

    const b = setup();
    b.ssm
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: 'Failed', ResponseCode: 65, StandardOutputContent: 'garbage', StandardErrorContent: 'refused' }));
    expect(expectStatus(await b.fleet.run(start), 'stale-epoch').nodeEpoch).toBeNull();
  });

  it('never reports success on an answer it does not understand: unknown status → timeout naming it', async () => {
    const { ssm, fleet } = setup();
    ssm.on(GetCommandInvocationCommand).resolves(invocation({ Status: 'Exploded' as never, StatusDetails: 'Kaboom' }));
    const o = expectStatus(await fleet.run(start), 'timeout');
    expect(o.detail).toContain('Exploded');
    expect(o.detail).toContain('Kaboom');
    expect(o.phase).toBe('execution');
    expect(o.durationMs).toBe(30_000);
  });

  it('treats a Success with a non-zero exit code, a missing Status, or another invocation’s answer as odd', async () => {
    for (const answer of [
      invocation({ Status: 'Success', ResponseCode: 3 }),
      { ...meta } as GetCommandInvocationCommandOutput,
      invocation({ Status: 'Success', ResponseCode: 0, CommandId: 'other' }),
    ]) {
      const { ssm, fleet } = setup();
      ssm.on(GetCommandInvocationCommand).resolves(answer);
      expect((await fleet.run(start)).status).toBe('timeout');
    }
  });

  it('maps InvalidInstanceId on SendCommand to undeliverable without polling', async () => {
    const { ssm, fleet } = setup();
    ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ ...meta, message: 'Instances [[i-0123456789abcdef0]] not in a valid state' }));
    const o = expectStatus(await fleet.run(start), 'undeliverable');
    expect(o.detail).toContain('InvalidInstanceId');
    expect(o.commandId).toBeUndefined();
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('maps any other SendCommand refusal to failed without polling', async () => {
    const { ssm, fleet } = setup();
    ssm.on(SendCommandCommand).rejects(new InvalidDocument({ ...meta, message: 'no such document' }));
    const o = expectStatus(await fleet.run(start), 'failed');
    expect(o.exitCode).toBeNull();
    expect(o.stderrTail).toContain('InvalidDocument: no such document');
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });
});

describe('SsmFleet.reachability', () => {
  const info = (id: string, PingStatus: string) => ({ InstanceId: id, PingStatus: PingStatus as never });

  it('follows NextToken and reports unlisted ids as absent', async () => {
    const { ssm, fleet } = setup();
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [info('i-a', 'Online')], NextToken: 'page-2' })
      .resolvesOnce({ InstanceInformationList: [info('i-b', 'ConnectionLost'), info('i-c', 'Inactive'), info('i-stranger', 'Online')] });
    const r = await fleet.reachability(['i-a', 'i-b', 'i-c', 'i-d']);
    expect(r).toEqual({ ok: true, nodes: { 'i-a': 'Online', 'i-b': 'ConnectionLost', 'i-c': 'Inactive', 'i-d': 'absent' } });
    const inputs = ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);
    expect(inputs).toHaveLength(2);
    expect(inputs[0]?.Filters).toEqual([{ Key: 'InstanceIds', Values: ['i-a', 'i-b', 'i-c', 'i-d'] }]);
    expect(inputs[0]?.NextToken).toBeUndefined();
    expect(inputs[1]?.NextToken).toBe('page-2');
  });

  it('splits more than 50 ids into filters of at most 50', async () => {
    const { ssm, fleet } = setup();
    const ids = Array.from({ length: 73 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => ({
      // Every other requested node is online; the rest are not registered.
      InstanceInformationList: (input.Filters?.[0]?.Values ?? []).filter((_, i) => i % 2 === 0).map((id) => info(id, 'Online')),
    }));
    const r = await fleet.reachability(ids);
    const values = ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input.Filters?.[0]?.Values ?? []);
    expect(values.map((v) => v.length)).toEqual([50, 23]);
    expect(values.flat()).toEqual(ids);
    if (!r.ok) throw new Error(r.error);
    expect(Object.keys(r.nodes)).toHaveLength(73);
    expect(r.nodes[ids[0] ?? '']).toBe('Online');
    expect(r.nodes[ids[1] ?? '']).toBe('absent');
    expect(r.nodes[ids[50] ?? '']).toBe('Online');
    expect(r.nodes[ids[72] ?? '']).toBe('Online');
  });

  it('maps an unknown PingStatus to unknown, and asks nothing for no ids', async () => {
    const { ssm, fleet } = setup();
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [info('i-a', 'Sleeping')] });
    expect(await fleet.reachability(['i-a'])).toEqual({ ok: true, nodes: { 'i-a': 'unknown' } });
    expect(await fleet.reachability([])).toEqual({ ok: true, nodes: {} });
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(1);
  });

  it('returns an error value, never throws', async () => {
    const { ssm, fleet } = setup();
    ssm.on(DescribeInstanceInformationCommand).rejects(new ThrottlingException({ ...meta, message: 'Rate exceeded', Message: 'Rate exceeded' }));
    expect(await fleet.reachability(['i-a'])).toEqual({ ok: false, error: 'DescribeInstanceInformation failed: ThrottlingException: Rate exceeded' });
  });

  it('returns an error on a NextToken that repeats instead of looping', async () => {
    const { ssm, fleet } = setup();
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [], NextToken: 'same' });
    const r = await fleet.reachability(['i-a']);
    expect(r.ok).toBe(false);
    expect(ssm.commandCalls(DescribeInstanceInformationCommand).length).toBeLessThanOrEqual(3);
  });
});

/**
 * aws-sdk-client-mock replaces `send`, which skips the SDK's middleware stack and so its retries. These
 * tests use a real client from createSsmClient with a fake HTTP handler instead, so the real retry
 * middleware runs (throttling backoff takes a few real seconds).
 */
describe('createSsmClient: SDK-level retry', () => {
  type Reply = { status: number; body: unknown };
  const fakeHttp = (reply: (target: string, n: number) => Reply) => {
    const targets: string[] = [];
    const handler = {
      async handle(request: { headers: Record<string, string> }) {
        const target = (request.headers['x-amz-target'] ?? '').replace('AmazonSSM.', '');
        targets.push(target);
        const { status, body } = reply(target, targets.filter((t) => t === target).length);
        return {
          response: { statusCode: status, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: Buffer.from(JSON.stringify(body)) },
        };
      },
    };
    return { targets, handler: handler as unknown as SSMClientConfig['requestHandler'] };
  };
  const realFleet = (requestHandler: SSMClientConfig['requestHandler']) => {
    const client = createSsmClient({ region: 'us-east-1', credentials: CREDS, requestHandler });
    return { client, fleet: new SsmFleet({ client, documents: DOCS, unitName: 'airflow-scheduler', commandTimeoutSeconds: 30, clock: fakeClock() }) };
  };

  it('configures adaptive retry with 5 attempts', async () => {
    const client = createSsmClient({ region: 'us-east-1', credentials: CREDS, retryMode: 'standard', maxAttempts: 3 });
    expect(((await client.config.retryStrategy()) as { mode?: string }).mode).toBe('adaptive');
    expect(await client.config.maxAttempts()).toBe(3);
    expect(await createSsmClient({ region: 'us-east-1', credentials: CREDS }).config.maxAttempts()).toBe(5);
  });

  it('retries a throttled SendCommand inside the SDK, then polls to success', async () => {
    const http = fakeHttp((target, n) => {
      if (target === 'SendCommand' && n <= 2) return { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } };
      if (target === 'SendCommand') return { status: 200, body: { Command: { CommandId: CMD } } };
      return {
        status: 200,
        body: { CommandId: CMD, InstanceId: NODE, Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' },
      };
    });
    const { fleet } = realFleet(http.handler);
    const o = expectStatus(await fleet.run(start), 'success');
    expect(o.output).toBe('ok');
    expect(http.targets).toEqual(['SendCommand', 'SendCommand', 'SendCommand', 'GetCommandInvocation']);
  });

  it('aborts a SendCommand whose HTTP call hangs once the bound (floored at 2 s) runs out, without retrying it', async () => {
    let attempts = 0;
    const handler = {
      handle: (_request: unknown, options?: { abortSignal?: AbortSignal }) =>
        new Promise((_resolve, reject) => {
          attempts++;
          const signal = options?.abortSignal;
          if (signal === undefined) return reject(new Error('no abort signal passed'));
          signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        }),
    } as unknown as SSMClientConfig['requestHandler'];
    const client = createSsmClient({ region: 'us-east-1', credentials: CREDS, requestHandler: handler });
    const fleet = new SsmFleet({ client, documents: DOCS, unitName: 'airflow-scheduler', commandTimeoutSeconds: 1, clock: fakeClock() });
    const o = expectStatus(await fleet.run(start), 'failed');
    expect(o.exitCode).toBeNull();
    expect(o.stderrTail).toContain('SendCommand failed');
    expect(o.stderrTail).not.toContain('no abort signal');
    expect(attempts).toBe(1);
  });

  it('does not retry SendCommand after an ambiguous 5xx (no idempotency token), while other calls still retry', async () => {
    const http = fakeHttp((target, n) => {
      if (target === 'SendCommand') return { status: 503, body: { __type: 'InternalServerError', message: 'busy' } };
      if (n === 1) return { status: 503, body: { __type: 'InternalServerError', message: 'busy' } };
      return { status: 200, body: { InstanceInformationList: [{ InstanceId: NODE, PingStatus: 'Online' }] } };
    });
    const { fleet } = realFleet(http.handler);
    const o = expectStatus(await fleet.run(start), 'failed');
    expect(o.exitCode).toBeNull();
    expect(o.stderrTail).toContain('InternalServerError');
    expect(o.stderrTail).toContain('not retried');
    expect(http.targets.filter((t) => t === 'SendCommand')).toHaveLength(1);
    expect(await fleet.reachability([NODE])).toEqual({ ok: true, nodes: { [NODE]: 'Online' } });
    expect(http.targets.filter((t) => t === 'DescribeInstanceInformation')).toHaveLength(2);
  });
});
