/**
 * Local runner: the real Lambda handler (functions/handler.ts) and the real adapters in a plain Node
 * process, pointed at local endpoints the standard SDK way (SPEC §9):
 *
 *   WATCHDOG_CONFIG              the function's JSON configuration ({cluster, db, aws})
 *   AWS_ENDPOINT_URL_DYNAMODB    e.g. dynalite
 *   AWS_ENDPOINT_URL_SSM         e.g. the local SSM endpoint (local/ssm-endpoint.ts)
 *   AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  anything, for the SDK's signer
 *
 * It plays EventBridge Scheduler: one scheduled event per minute (`rate(1 minute)`). It wires no tick
 * queue, so when checkIntervalSeconds < 60 the handler loops its ticks inside that invocation (in AWS
 * each queued tick is an invocation of its own; liveness keeps what must outlive one in the record). `--every <s>`
 * instead sends `{"action":"reconcile"}` every s seconds. The Lambda context reports a remaining time
 * from `--timeout <s>` (default: 60 s plus the worst-case tick), like the function's timeout.
 *
 * Manual invocations: each JSON line on stdin, `{"id": any, "payload": {...}}`, is invoked at once (like
 * `aws lambda invoke`); the answer is printed as one line `{"runner":"response","id":…,"response":…}`.
 * Everything else on stdout is the handler's own JSON log (the `tick` lines) and EMF metrics.
 * The process exits on SIGINT/SIGTERM, when stdin closes, or when RUNNER_OWNER_PID is gone.
 *
 * Usage: tsx local/runner.ts [--every <s>] [--timeout <s>] [--no-schedule] [--once <payload-json>]
 */
import { createInterface } from 'node:readline';
import type { Context } from 'aws-lambda';
import { settingsFromEnv } from '../functions/core/config.js';
import { worstCaseTickSeconds } from '../functions/runtime/app.js';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const contextFor = (id: string, timeoutMs: number): Context => {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'airflow-scheduler-watchdog-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:airflow-scheduler-watchdog-local',
    memoryLimitInMB: '256',
    awsRequestId: id,
    logGroupName: '/aws/lambda/airflow-scheduler-watchdog-local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
};

const write = (obj: unknown): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

const main = async (): Promise<void> => {
  const settings = settingsFromEnv(process.env);
  const { handler } = (await import('../functions/handler.js')) as { handler: Handler };
  const tag = process.env.RUNNER_NAME ?? `runner-${process.pid}`;
  const timeoutMs = Number(flag('--timeout') ?? 60 + worstCaseTickSeconds(settings) + 5) * 1000;
  let seq = 0;
  const invoke = (payload: unknown): Promise<unknown> => handler(payload, contextFor(`${tag}-${++seq}`, timeoutMs));

  let stopping = false;
  const exit = (code: number): void => {
    if (stopping) return;
    stopping = true;
    process.exit(code);
  };
  process.on('SIGINT', () => exit(130));
  process.on('SIGTERM', () => exit(143));
  const owner = process.env.RUNNER_OWNER_PID ? Number(process.env.RUNNER_OWNER_PID) : undefined;
  if (owner !== undefined) {
    setInterval(() => {
      try {
        process.kill(owner, 0);
      } catch {
        exit(0);
      }
    }, 1000).unref();
  }

  const once = flag('--once');
  if (once !== undefined) {
    write({ runner: 'response', id: 'once', response: await invoke(JSON.parse(once)) });
    exit(0);
    return;
  }

  const rl = createInterface({ input: process.stdin });
  const pending = { count: 0 };
  let stdinClosed = false;
  const maybeExit = (): void => {
    if (stdinClosed && pending.count === 0 && process.env.RUNNER_EXIT_ON_STDIN_END !== '0') exit(0);
  };
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let msg: { id?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(line) as { id?: unknown; payload?: unknown };
    } catch {
      write({ runner: 'response', id: null, response: { ok: false, error: { code: 'InvalidRequest', message: 'stdin line is not JSON' } } });
      return;
    }
    pending.count += 1;
    invoke(msg.payload)
      .then(
        (response) => write({ runner: 'response', id: msg.id ?? null, response }),
        (err: unknown) =>
          write({
            runner: 'response',
            id: msg.id ?? null,
            response: { ok: false, error: { code: 'Internal', message: String((err as Error)?.message ?? err) } },
          }),
      )
      .finally(() => {
        pending.count -= 1;
        maybeExit();
      });
  });
  // The parent going away closes stdin: stop, once manual invocations under way have answered.
  rl.on('close', () => {
    stdinClosed = true;
    maybeExit();
  });

  write({ runner: 'ready', name: tag, pid: process.pid });
  if (args.includes('--no-schedule')) return;
  const every = flag('--every');
  for (;;) {
    const started = Date.now();
    try {
      if (every !== undefined) await invoke({ action: 'reconcile', caller: tag });
      else await invoke({ version: '0', id: `${tag}-${seq}`, 'detail-type': 'Scheduled Event', source: 'aws.scheduler', detail: {} });
    } catch (err) {
      // A scheduled invocation that throws is a Lambda error (the errors alarm); the schedule goes on.
      write({ runner: 'invocation-error', error: String((err as Error)?.message ?? err) });
    }
    const periodMs = every !== undefined ? Number(every) * 1000 : 60_000;
    const wait = started + periodMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`runner: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
