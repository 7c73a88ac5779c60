import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
  type SSMClientConfig,
} from '@aws-sdk/client-ssm';
import type { CommandOutcome, CommandOutcomeDraft, Reachability } from '../core/model.js';
import { NODE_EXIT, NODE_PARAM_PATTERNS, NODE_PARAMS } from '../core/node-protocol.js';
import { parseNodeReport } from '../core/node-report.js';
import type { Clock, CommandRequest, Fleet, ReachabilityResult, RunOptions } from '../core/ports.js';

/**
 * The `Fleet` port over SSM Run Command (SPEC §4.1, §4.3, §7). Commands go to the project's own Command
 * documents only; the epoch and unit name travel as document parameters, never as shell text.
 *
 * The caller constructs the SSMClient. Use `createSsmClient` so throttling is absorbed by the SDK's
 * adaptive retry; `run` additionally stops the SDK from retrying an ambiguous SendCommand failure.
 */

interface SsmFleetOptions {
  readonly client: SSMClient;
  /** Command document names (or ARNs) per kind. */
  readonly documents: { readonly start: string; readonly stop: string; readonly status: string };
  readonly unitName: string;
  /** Bound on one command, delivery plus execution, measured on `clock`. */
  readonly commandTimeoutSeconds: number;
  readonly clock: Clock;
  readonly cloudWatchLogGroupName?: string;
  /** GetCommandInvocation backoff; default 200 ms doubling to 1 s. */
  readonly pollIntervalMs?: { readonly initial: number; readonly max: number };
}

/** One poll's reading: a final outcome, a state still moving, or an answer we cannot interpret. */
type Reading =
  | { readonly kind: 'done'; readonly outcome: CommandOutcomeDraft }
  | { readonly kind: 'waiting'; readonly phase: 'delivery' | 'execution'; readonly note: string }
  | { readonly kind: 'odd'; readonly note: string };

/** SSM's delivery timeout has a floor of 30 s (SendCommand TimeoutSeconds). */
const SSM_MIN_TIMEOUT_SECONDS = 30;
/** DescribeInstanceInformation accepts at most 50 values per filter and 50 results per page. */
const FILTER_CHUNK = 50;
/** Guards against a paginator that never ends (a repeated NextToken). */
const MAX_PAGES = 100;
const TAIL_CHARS = 1000;
const DEFAULT_POLL = { initial: 200, max: 1000 } as const;
/** Time granted to the last poll and to CancelCommand once the bound has run out. */
const GRACE_MS = 2_000;

/**
 * Aborts an SDK call (all its retries included) after `ms` of wall time, so a hung connection or a long
 * run of SDK retries cannot hold a command past its bound. Wall time, not the injected clock: the SDK
 * waits on real timers.
 */
const within = (ms: number) => ({ abortSignal: AbortSignal.timeout(Math.max(1, Math.ceil(ms))) });

/** Same list the SDK's retry classifier uses: a throttled request was refused before it was processed. */
const THROTTLING_NAMES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);

interface ErrorLike {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: { readonly throttling?: boolean };
}

const asErrorLike = (e: unknown): ErrorLike => (typeof e === 'object' && e !== null ? (e as ErrorLike) : {});

const errorName = (e: unknown): string => {
  const n = asErrorLike(e).name;
  return typeof n === 'string' && n !== '' ? n : 'Error';
};

const describeError = (e: unknown): string => {
  const m = asErrorLike(e).message;
  const message = typeof m === 'string' ? m : typeof e === 'string' ? e : '';
  return message === '' ? errorName(e) : `${errorName(e)}: ${message}`;
};

const isThrottling = (e: unknown): boolean => {
  const x = asErrorLike(e);
  return x.$metadata?.httpStatusCode === 429 || THROTTLING_NAMES.has(errorName(e)) || x.$retryable?.throttling === true;
};

/** No HTTP answer, or a 5xx: SSM may or may not have queued the command. */
const isAmbiguous = (e: unknown): boolean => {
  if (isThrottling(e)) return false;
  const status = asErrorLike(e).$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
};

/**
 * Carries an ambiguous SendCommand failure past the SDK's retry middleware. Deliberately has no `cause`,
 * status code or transient name, so the SDK classifies it as a client error and does not retry.
 */
class NotRetried extends Error {
  readonly original: unknown;
  constructor(original: unknown) {
    super(describeError(original));
    this.name = 'SendCommandNotRetried';
    this.original = original;
  }
}

/** Placed inside the retry loop (finalizeRequest, low priority), so it sees each attempt's error. */
const noAmbiguousRetry =
  <I, O>(next: (args: I) => Promise<O>) =>
  async (args: I): Promise<O> => {
    try {
      return await next(args);
    } catch (e) {
      throw isAmbiguous(e) ? new NotRetried(e) : e;
    }
  };

const tail = (s: string, n: number): string => (s.length <= n ? s : s.slice(s.length - n));

const lastLine = (s: string): string => {
  const lines = s.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1]?.trim() ?? '';
};

const isEpoch = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The node's epoch from the last stdout line (NodeReport JSON), else from stderr `STALE_EPOCH node=<n>`. */
const parseNodeEpoch = (stdout: string, stderr: string): number | null => {
  try {
    const report: unknown = JSON.parse(lastLine(stdout));
    if (typeof report === 'object' && report !== null) {
      const n = (report as { nodeEpoch?: unknown }).nodeEpoch;
      if (isEpoch(n)) return n;
    }
  } catch {
    // Not JSON (or truncated by SSM's 24,000-character cap): try stderr.
  }
  const matches = [...stderr.matchAll(/STALE_EPOCH node=(\d{1,15})/g)];
  const last = matches[matches.length - 1]?.[1];
  if (last === undefined) return null;
  const n = Number(last);
  return isEpoch(n) ? n : null;
};

const normalise = (s: string | undefined): string => (s ?? '').replace(/[\s_-]/g, '').toLowerCase();

const describeAnswer = (r: GetCommandInvocationCommandOutput): string =>
  `Status=${JSON.stringify(r.Status ?? null)} StatusDetails=${JSON.stringify(r.StatusDetails ?? null)} ResponseCode=${JSON.stringify(r.ResponseCode ?? null)}`;

/** Maps one GetCommandInvocation answer. Anything not understood is `odd`, never success. */
const readAnswer = (r: GetCommandInvocationCommandOutput, commandId: string, nodeId: string, epoch: number, kind: CommandRequest['kind']): Reading => {
  if ((r.CommandId !== undefined && r.CommandId !== commandId) || (r.InstanceId !== undefined && r.InstanceId !== nodeId)) {
    return { kind: 'odd', note: `answer for another invocation (${r.CommandId ?? '?'} on ${r.InstanceId ?? '?'})` };
  }
  const stdout = typeof r.StandardOutputContent === 'string' ? r.StandardOutputContent : '';
  const stderr = typeof r.StandardErrorContent === 'string' ? r.StandardErrorContent : '';
  const code = typeof r.ResponseCode === 'number' && Number.isInteger(r.ResponseCode) ? r.ResponseCode : undefined;
  const details = normalise(r.StatusDetails);
  const said = describeAnswer(r);
  switch (details) {
    case 'deliverytimedout':
      return { kind: 'done', outcome: { status: 'timeout', commandId, phase: 'delivery', detail: `SSM reports ${said}` } };
    case 'executiontimedout':
      return { kind: 'done', outcome: { status: 'timeout', commandId, phase: 'execution', detail: `SSM reports ${said}` } };
    case 'undeliverable':
    case 'accessdenied':
    case 'invalidplatform':
    case 'terminated':
      return { kind: 'done', outcome: { status: 'undeliverable', commandId, detail: `SSM reports ${said}` } };
  }
  switch (r.Status) {
    case 'Success':
      // An exit code that is there but not an integer (the SDK passes a string or NaN through) is not "absent".
      if ((code !== undefined && code !== 0) || (code === undefined && r.ResponseCode !== undefined && r.ResponseCode !== null)) {
        return { kind: 'odd', note: `Success with a non-zero or unreadable exit code (${said})` };
      }
      if (kind === 'status') {
        // A status answer is only as good as its report: a malformed one is an error the caller sees, never a guess.
        const parsed = parseNodeReport(stdout);
        return {
          kind: 'done',
          outcome: { status: 'success', commandId, output: stdout, ...(parsed.ok ? { report: parsed.report } : { reportError: parsed.error }) },
        };
      }
      return { kind: 'done', outcome: { status: 'success', commandId, output: stdout } };
    case 'Failed': {
      if (code === NODE_EXIT.staleEpoch) {
        const why = lastLine(stderr);
        return {
          kind: 'done',
          outcome: {
            status: 'stale-epoch',
            commandId,
            nodeEpoch: parseNodeEpoch(stdout, stderr),
            detail: `epoch ${epoch} refused with exit ${code}${why === '' ? '' : `: ${tail(why, 200)}`}`,
          },
        };
      }
      // -1: the agent never ran the script, so there is no exit code.
      const exitCode = code !== undefined && code >= 0 ? code : null;
      return { kind: 'done', outcome: { status: 'failed', commandId, exitCode, stderrTail: tail(stderr.trim() !== '' ? stderr : stdout, TAIL_CHARS) } };
    }
    case 'Cancelled': {
      const text = stderr.trim() !== '' ? stderr : stdout;
      return {
        kind: 'done',
        outcome: {
          status: 'failed',
          commandId,
          exitCode: code !== undefined && code >= 0 ? code : null,
          stderrTail: text.trim() !== '' ? tail(text, TAIL_CHARS) : `command was cancelled (${said})`,
        },
      };
    }
    case 'TimedOut': {
      // Without a telling StatusDetails, only "never started" (-1) counts as a delivery timeout.
      const phase = code === -1 ? 'delivery' : 'execution';
      return { kind: 'done', outcome: { status: 'timeout', commandId, phase, detail: `SSM reports ${said}` } };
    }
    case 'Pending':
    case 'Delayed':
      return { kind: 'waiting', phase: 'delivery', note: `still ${r.Status}` };
    case 'InProgress':
    case 'Cancelling':
      return { kind: 'waiting', phase: 'execution', note: `still ${r.Status}` };
    default:
      return { kind: 'odd', note: `unexpected answer (${said})` };
  }
};

class SsmFleet implements Fleet {
  readonly #client: SSMClient;
  readonly #documents: SsmFleetOptions['documents'];
  readonly #unitName: string;
  readonly #boundMs: number;
  readonly #clock: Clock;
  readonly #logGroup: string | undefined;
  readonly #poll: { readonly initial: number; readonly max: number };

  constructor(options: SsmFleetOptions) {
    if (!new RegExp(NODE_PARAM_PATTERNS.UnitName).test(options.unitName)) {
      throw new Error(`unitName ${JSON.stringify(options.unitName)} does not match ${NODE_PARAM_PATTERNS.UnitName}`);
    }
    if (!(options.commandTimeoutSeconds > 0)) throw new Error(`commandTimeoutSeconds must be positive (got ${options.commandTimeoutSeconds})`);
    const poll = options.pollIntervalMs ?? DEFAULT_POLL;
    if (!(poll.initial > 0 && poll.max >= poll.initial)) throw new Error(`pollIntervalMs must satisfy 0 < initial <= max (got ${poll.initial}, ${poll.max})`);
    this.#client = options.client;
    this.#documents = options.documents;
    this.#unitName = options.unitName;
    this.#boundMs = options.commandTimeoutSeconds * 1000;
    this.#clock = options.clock;
    this.#logGroup = options.cloudWatchLogGroupName;
    this.#poll = poll;
  }

  async reachability(nodeIds: readonly string[]): Promise<ReachabilityResult> {
    const wanted = [...new Set(nodeIds)];
    const nodes: Record<string, Reachability> = Object.fromEntries(wanted.map((id) => [id, 'absent' as Reachability]));
    try {
      for (let i = 0; i < wanted.length; i += FILTER_CHUNK) {
        const chunk = wanted.slice(i, i + FILTER_CHUNK);
        let token: string | undefined;
        const seen = new Set<string>();
        for (let page = 0; ; page++) {
          if (page >= MAX_PAGES) throw new Error(`DescribeInstanceInformation returned more than ${MAX_PAGES} pages`);
          const res = await this.#client.send(
            new DescribeInstanceInformationCommand({
              Filters: [{ Key: 'InstanceIds', Values: chunk }],
              MaxResults: FILTER_CHUNK,
              ...(token === undefined ? {} : { NextToken: token }),
            }),
          );
          for (const info of res.InstanceInformationList ?? []) {
            const id = info.InstanceId;
            // Only ids we asked about: a filter ignored by a fake or a future API must not add nodes.
            if (id === undefined || !(id in nodes)) continue;
            const ping = info.PingStatus;
            nodes[id] = ping === 'Online' || ping === 'ConnectionLost' || ping === 'Inactive' ? ping : 'unknown';
          }
          token = res.NextToken;
          if (token === undefined || token === '') break;
          if (seen.has(token)) throw new Error('DescribeInstanceInformation repeated a NextToken');
          seen.add(token);
        }
      }
    } catch (e) {
      return { ok: false, error: `DescribeInstanceInformation failed: ${describeError(e)}` };
    }
    return { ok: true, nodes };
  }

  async run(request: CommandRequest, options: RunOptions = {}): Promise<CommandOutcome> {
    const { kind, nodeId, epoch } = request;
    const started = this.#clock.now();
    const boundMs = Math.min(this.#boundMs, options.boundMs ?? this.#boundMs);
    const deadline = started + boundMs;
    const done = (draft: CommandOutcomeDraft): CommandOutcome => ({ ...draft, durationMs: Math.max(0, this.#clock.now() - started) });

    const epochText = String(epoch);
    if (!Number.isSafeInteger(epoch) || !new RegExp(NODE_PARAM_PATTERNS.Epoch).test(epochText)) {
      return done({ status: 'failed', exitCode: null, stderrTail: `not sent: epoch ${epochText} does not match ${NODE_PARAM_PATTERNS.Epoch}` });
    }
    const unitName = request.unitName ?? this.#unitName;
    if (!new RegExp(NODE_PARAM_PATTERNS.UnitName).test(unitName)) {
      return done({ status: 'failed', exitCode: null, stderrTail: `not sent: unit ${JSON.stringify(unitName)} does not match ${NODE_PARAM_PATTERNS.UnitName}` });
    }

    const input: SendCommandCommandInput = {
      DocumentName: this.#documents[kind],
      InstanceIds: [nodeId],
      Parameters: { [NODE_PARAMS.epoch]: [epochText], [NODE_PARAMS.unitName]: [unitName] },
      TimeoutSeconds: Math.max(SSM_MIN_TIMEOUT_SECONDS, Math.ceil(boundMs / 1000)),
      Comment: request.comment.slice(0, 100),
      ...(this.#logGroup === undefined ? {} : { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: this.#logGroup } }),
    };
    const send = new SendCommandCommand(input);
    // SendCommand has no idempotency token: a retry after an unanswered attempt may run the command twice.
    send.middlewareStack.add(noAmbiguousRetry, { step: 'finalizeRequest', priority: 'low', name: 'watchdogNoAmbiguousSendRetry', override: true });

    let commandId: string;
    try {
      const res = await this.#client.send(send, within(Math.max(GRACE_MS, deadline - this.#clock.now())));
      const id = res.Command?.CommandId;
      if (typeof id !== 'string' || id === '') {
        return done({ status: 'failed', exitCode: null, stderrTail: 'SendCommand answered without a CommandId; the command cannot be followed' });
      }
      commandId = id;
    } catch (caught) {
      const e = caught instanceof NotRetried ? caught.original : caught;
      const what = describeError(e);
      if (errorName(e) === 'InvalidInstanceId') {
        return done({ status: 'undeliverable', detail: `SendCommand refused the node (not registered, not online, or in another region): ${what}` });
      }
      const note = isAmbiguous(e) ? ' (not retried: SendCommand has no idempotency token, so the command may or may not have been queued)' : '';
      return done({ status: 'failed', exitCode: null, stderrTail: `SendCommand failed: ${what}${note}` });
    }

    if (options.onSent !== undefined) await options.onSent(commandId);

    // The last meaningful reading decides the timeout's phase; throttling leaves it unchanged.
    let last: Reading | undefined;
    let throttled = 0;
    let delay = this.#poll.initial;
    for (;;) {
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) break;
      // Sleeping first also sidesteps most of the InvocationDoesNotExist race right after SendCommand.
      await this.#clock.sleep(Math.min(delay, remaining));
      delay = Math.min(delay * 2, this.#poll.max);
      try {
        const res = await this.#client.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: nodeId }),
          within(Math.max(GRACE_MS, deadline - this.#clock.now())),
        );
        last = readAnswer(res, commandId, nodeId, epoch, kind);
        if (last.kind === 'done') return done(last.outcome);
      } catch (e) {
        if (errorName(e) === 'InvocationDoesNotExist')
          last = { kind: 'waiting', phase: 'delivery', note: 'invocation not visible yet (InvocationDoesNotExist)' };
        else if (isThrottling(e)) throttled++;
        else last = { kind: 'odd', note: `GetCommandInvocation failed: ${describeError(e)}` };
      }
    }

    const bound = `${boundMs / 1000} s`;
    const throttleNote = throttled > 0 ? `; ${throttled} poll(s) throttled` : '';
    if (last?.kind === 'waiting' && last.phase === 'delivery') {
      const cancel = await this.#cancel(commandId, nodeId);
      return done({ status: 'timeout', commandId, phase: 'delivery', detail: `${last.note} after ${bound}; ${cancel}${throttleNote}` });
    }
    if (last?.kind === 'waiting') {
      return done({ status: 'timeout', commandId, phase: 'execution', detail: `${last.note} after ${bound}${throttleNote}` });
    }
    // An odd answer or no answer at all: we cannot show the node never got the command, so not `delivery`
    // (which would let a fencing start proceed).
    const why = last === undefined || last.kind === 'done' ? 'no answer from GetCommandInvocation' : last.note;
    return done({ status: 'timeout', commandId, phase: 'execution', detail: `${why} after ${bound}${throttleNote}` });
  }

  /** Best effort: a command still queued must not run after we have given up on it. */
  async #cancel(commandId: string, nodeId: string): Promise<string> {
    try {
      await this.#client.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [nodeId] }), within(GRACE_MS));
      return 'cancel requested';
    } catch (e) {
      return `cancel failed (${describeError(e)})`;
    }
  }
}

/**
 * An SSMClient for the fleet: adaptive retry (client-side rate limiting plus retries on throttling) and a
 * few attempts, and HTTP timeouts well inside one command's bound. Options given by the caller win, except
 * the retry mode.
 */
const createSsmClient = (options: SSMClientConfig = {}): SSMClient =>
  new SSMClient({
    maxAttempts: 5,
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
    ...options,
    retryMode: 'adaptive',
  });

export type { SsmFleetOptions };
export { createSsmClient, SsmFleet };
