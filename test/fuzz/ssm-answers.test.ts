import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SsmFleet } from '../../functions/adapters/fleet.js';
import type { CommandOutcome } from '../../functions/core/model.js';
import { NODE_EXIT } from '../../functions/core/node-protocol.js';
import { loadBugCase } from './bug-cases.js';

/**
 * Fuzzing the SSM side of the fleet adapter (issue "Prove it under faults", part 3): SendCommand,
 * GetCommandInvocation, CancelCommand and DescribeInstanceInformation answer with random shapes (unknown
 * statuses, missing fields, wrong types, truncated or huge output, random errors). The adapter must
 * never throw, must always return one of the typed outcomes, and must never report `success` unless SSM
 * said exactly `Status: "Success"` with `ResponseCode` 0 or absent, for this command on this node.
 *
 * The mock hands objects to the adapter without the SDK's deserializer, so wrong types reach it; the
 * SDK's schema-based JSON deserializer passes a string where a number is declared (and maps "NaN" to
 * NaN), so they can reach it in production too.
 */

const NODE = 'i-0123456789abcdef0';
const CMD = '11111111-2222-3333-4444-555555555555';
const CREDS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
const DOCS = { start: 'Watchdog-Start', stop: 'Watchdog-Stop', status: 'Watchdog-Status' };
const RUNS = Number(process.env.FUZZ_SSM_RUNS ?? 600);

const fakeClock = () => {
  let t = 1_700_000_000_000;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
};

const STATUSES = ['Pending', 'InProgress', 'Delayed', 'Success', 'Cancelled', 'TimedOut', 'Failed', 'Cancelling'];
const DETAILS = [
  'Pending',
  'In Progress',
  'Delayed',
  'Success',
  'Delivery Timed Out',
  'Execution Timed Out',
  'Failed',
  'Canceled',
  'Undeliverable',
  'Terminated',
  'Invalid Platform',
  'Access Denied',
  'DeliveryTimedOut',
  'execution_timed_out',
];

const weird = fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.constant({}), fc.constant([]), fc.string({ maxLength: 20 }));

const report = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ action: 'start', result: 'started', epoch: 7, nodeEpoch: 7, running: true, hostname: 'ip-10-0-1-12', unit: 'airflow-scheduler', ...over });

const outputArb = fc.oneof(
  fc.constant(`started\n${report()}\n`),
  fc.integer({ min: 0, max: 2 ** 40 }).map((n) => `${report({ nodeEpoch: n })}`),
  fc.constant(report().slice(0, 37)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.nat({ max: 30_000 }).map((n) => 'x'.repeat(n)),
  weird,
);
const stderrArb = fc.oneof(
  fc.constant(''),
  fc.integer({ min: 0, max: 10 ** 16 }).map((n) => `STALE_EPOCH node=${n} command=7\n`),
  fc.string({ maxLength: 200 }),
  fc.nat({ max: 10_000 }).map((n) => 'e'.repeat(n)),
  weird,
);
const codeArb = fc.oneof(
  fc.constantFrom(0, -1, 1, NODE_EXIT.staleEpoch, NODE_EXIT.badParameter, NODE_EXIT.startFailed, NODE_EXIT.stopFailed, 255),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, '0', '1', 'NaN', null),
);

/** One GetCommandInvocation answer: mostly plausible, often broken. */
const invocationArb = fc.record(
  {
    CommandId: fc.oneof({ weight: 8, arbitrary: fc.constant(CMD) }, { weight: 1, arbitrary: fc.constant('other-command') }, { weight: 1, arbitrary: weird }),
    InstanceId: fc.oneof(
      { weight: 8, arbitrary: fc.constant(NODE) },
      { weight: 1, arbitrary: fc.constant('i-0fffffffffffffff0') },
      { weight: 1, arbitrary: weird },
    ),
    Status: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...STATUSES) },
      { weight: 1, arbitrary: fc.constantFrom('success', 'SUCCESS', 'Success ', 'Succeeded') },
      { weight: 1, arbitrary: weird },
    ),
    StatusDetails: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...DETAILS) }, { weight: 1, arbitrary: weird }),
    ResponseCode: codeArb,
    StandardOutputContent: outputArb,
    StandardErrorContent: stderrArb,
  },
  { requiredKeys: [] },
);

const errorArb = fc.record({
  name: fc.oneof(
    fc.constantFrom(
      'InvocationDoesNotExist',
      'ThrottlingException',
      'InternalServerError',
      'InvalidCommandId',
      'InvalidInstanceId',
      'AccessDeniedException',
      'TimeoutError',
      'Error',
    ),
    fc.string({ maxLength: 30 }),
  ),
  message: fc.oneof(fc.string({ maxLength: 100 }), fc.constant(undefined)),
  status: fc.option(fc.constantFrom(400, 429, 500, 503), { nil: undefined }),
});

interface WireError {
  readonly name: string;
  readonly message: string | undefined;
  readonly status: number | undefined;
}
type Answer = { readonly kind: 'ok'; readonly value: Record<string, unknown> } | { readonly kind: 'error'; readonly error: WireError };
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 4, arbitrary: invocationArb.map((value) => ({ kind: 'ok' as const, value: value as Record<string, unknown> })) },
  { weight: 1, arbitrary: errorArb.map((error) => ({ kind: 'error' as const, error })) },
);

const toError = (e: WireError): Error => {
  const err = new Error(e.message ?? '');
  err.name = e.name;
  Object.assign(err, { $metadata: e.status === undefined ? {} : { httpStatusCode: e.status }, ...(e.message === undefined ? {} : { Message: e.message }) });
  return err;
};

/** What may be called success: SSM said exactly Success, exit code 0 or none, for this command on this node. */
const successAllowed = (v: Record<string, unknown>): boolean =>
  v.Status === 'Success' &&
  (v.ResponseCode === 0 || v.ResponseCode === undefined || v.ResponseCode === null) &&
  (v.CommandId === undefined || v.CommandId === CMD) &&
  (v.InstanceId === undefined || v.InstanceId === NODE);

const expectTyped = (o: CommandOutcome): void => {
  expect(Number.isFinite(o.durationMs) && o.durationMs >= 0).toBe(true);
  switch (o.status) {
    case 'success':
      expect(typeof o.output).toBe('string');
      expect(o.commandId).toBe(CMD);
      return;
    case 'failed':
      expect(o.exitCode === null || Number.isInteger(o.exitCode)).toBe(true);
      expect(typeof o.stderrTail).toBe('string');
      expect(o.stderrTail.length).toBeLessThanOrEqual(1000);
      return;
    case 'timeout':
      expect(['delivery', 'execution']).toContain(o.phase);
      expect(typeof o.detail).toBe('string');
      return;
    case 'undeliverable':
      expect(typeof o.detail).toBe('string');
      return;
    case 'stale-epoch':
      expect(o.nodeEpoch === null || (Number.isSafeInteger(o.nodeEpoch) && o.nodeEpoch >= 0)).toBe(true);
      expect(typeof o.detail).toBe('string');
      return;
    default:
      throw new Error(`untyped outcome ${JSON.stringify(o)}`);
  }
};

const newFleet = () => {
  const client = new SSMClient({ region: 'us-east-1', credentials: CREDS, maxAttempts: 1 });
  const ssm = mockClient(client);
  const fleet = new SsmFleet({ client, documents: DOCS, unitName: 'airflow-scheduler', commandTimeoutSeconds: 30, clock: fakeClock() });
  return { ssm, fleet };
};

/** Runs one command against a scripted sequence of answers; returns the outcome and the answer last given. */
const runScripted = async (answers: readonly Answer[], send: 'ok' | 'no-id' | Answer['kind'] = 'ok') => {
  const { ssm, fleet } = newFleet();
  if (send === 'ok') ssm.on(SendCommandCommand).resolves({ $metadata: {}, Command: { CommandId: CMD } });
  else if (send === 'no-id') ssm.on(SendCommandCommand).resolves({ $metadata: {}, Command: {} });
  else ssm.on(SendCommandCommand).rejects(toError({ name: 'InternalServerError', message: 'boom', status: 500 }));
  ssm.on(CancelCommandCommand).resolves({ $metadata: {} });
  let i = 0;
  let last: Answer | undefined;
  ssm.on(GetCommandInvocationCommand).callsFake(async () => {
    const a = answers[Math.min(i, answers.length - 1)] as Answer;
    i += 1;
    last = a;
    if (a.kind === 'error') throw toError(a.error);
    return { $metadata: {}, ...a.value };
  });
  const outcome = await fleet.run({ kind: 'start', nodeId: NODE, epoch: 7, comment: 'fuzz' });
  return { outcome, last, polls: i };
};

describe('fuzz: SSM answers to the fleet adapter', () => {
  it(`${RUNS} random GetCommandInvocation sequences: a typed outcome, never a throw, success only when SSM said Success with exit 0`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(answerArb, { minLength: 1, maxLength: 6 }),
        fc.constantFrom('ok', 'ok', 'ok', 'ok', 'no-id', 'error'),
        async (answers, send) => {
          const { outcome, last } = await runScripted(answers, send as 'ok' | 'no-id' | 'error');
          expectTyped(outcome);
          if (outcome.status === 'success') {
            expect(last?.kind).toBe('ok');
            if (last?.kind === 'ok') expect(successAllowed(last.value), `success from ${JSON.stringify(last.value).slice(0, 300)}`).toBe(true);
          }
          if (outcome.status === 'stale-epoch') {
            expect(last?.kind === 'ok' && last.value.Status === 'Failed' && last.value.ResponseCode === NODE_EXIT.staleEpoch).toBe(true);
          }
          if (send !== 'ok') {
            // Nothing followed: no command id to poll.
            expect(outcome.status).toBe('failed');
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, 120_000);

  it('bug cases from earlier fuzzing stay fixed (test/fuzz/bugs/bug-ssm-*.json)', async () => {
    // What the SDK's JSON deserializer does to a numeric member sent as one of these strings.
    const wire = (v: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === 'NaN' ? Number.NaN : x === 'Infinity' ? Number.POSITIVE_INFINITY : x]));
    for (const name of ['bug-ssm-success-with-non-numeric-response-code']) {
      const c = loadBugCase<{ variants: Record<string, unknown>[] }, { notStatus: CommandOutcome['status'] }>(name);
      for (const variant of c.input.variants) {
        const { outcome } = await runScripted([{ kind: 'ok', value: wire(variant) }]);
        expectTyped(outcome);
        expect(outcome.status, `${name}: ${JSON.stringify(variant)}`).not.toBe(c.expect.notStatus);
      }
    }
  });

  it(`${RUNS} random DescribeInstanceInformation pages: only the nodes asked about, only known states, or a reported error`, async () => {
    const asked = ['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'mi-0ccccccccccccccc3'];
    const info = fc.record(
      {
        InstanceId: fc.oneof(fc.constantFrom(...asked, 'i-0fffffffffffffff9'), weird),
        PingStatus: fc.oneof(fc.constantFrom('Online', 'ConnectionLost', 'Inactive', 'online', 'Unknown'), weird),
      },
      { requiredKeys: [] },
    );
    const page = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          InstanceInformationList: fc.oneof(fc.array(info, { maxLength: 5 }), fc.constant(undefined)),
          NextToken: fc.oneof(fc.constant(undefined), fc.constantFrom('t1', 't2', '')),
        }),
      },
      { weight: 1, arbitrary: errorArb.map((e) => ({ error: e })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(page, { minLength: 1, maxLength: 5 }), async (pages) => {
        const { ssm, fleet } = newFleet();
        let i = 0;
        ssm.on(DescribeInstanceInformationCommand).callsFake(async (_input: DescribeInstanceInformationCommandInput) => {
          const p = pages[Math.min(i, pages.length - 1)] as (typeof pages)[number];
          i += 1;
          if ('error' in p) throw toError(p.error);
          return { $metadata: {}, ...p };
        });
        const r = await fleet.reachability(asked);
        if (!r.ok) {
          expect(typeof r.error).toBe('string');
          expect(r.error.length).toBeGreaterThan(0);
          return;
        }
        expect(Object.keys(r.nodes).sort()).toEqual([...asked].sort());
        for (const v of Object.values(r.nodes)) expect(['Online', 'ConnectionLost', 'Inactive', 'absent', 'unknown']).toContain(v);
        // A node is Online only if some page said exactly Online for it.
        for (const id of asked) {
          if (r.nodes[id] === 'Online') {
            expect(pages.some((p) => !('error' in p) && (p.InstanceInformationList ?? []).some((x) => x.InstanceId === id && x.PingStatus === 'Online'))).toBe(
              true,
            );
          }
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);
});
