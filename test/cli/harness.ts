import type { ClientFactory } from '../../cli/invoke.js';
import { main } from '../../cli/main.js';
import { parseSettings } from '../../functions/core/config.js';
import { createApp } from '../../functions/runtime/app.js';
import { type LambdaEndpoint, startLambdaEndpoint } from '../../local/lambda-endpoint.js';
import { captureTelemetry, FakeDb, FakeFleet, ManualClock, MemoryStore } from '../helpers/fakes.js';

/**
 * The CLI against a locally hosted watchdog: the real app with in-memory fakes behind
 * local/lambda-endpoint.ts on a free port, and `main` run in-process with captured streams.
 */

const NODES = [
  { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
  { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
  { id: 'mi-0123456789abcdef0', hostname: 'vm-c.lan' },
] as const;

const settings = parseSettings({
  cluster: { clusterName: 'prod', nodes: NODES },
  db: { dialect: 'postgres', host: 'db', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/db' },
  aws: { tableName: 'watchdog', startDocument: 'Watchdog-Start', stopDocument: 'Watchdog-Stop', statusDocument: 'Watchdog-Status' },
});

const FUNCTION_NAME = 'airflow-watchdog';

interface Hosted {
  readonly db: FakeDb;
  readonly store: MemoryStore;
  readonly fleet: FakeFleet;
  readonly clock: ManualClock;
  readonly endpoint: LambdaEndpoint;
  /** Payloads the function received, in order. */
  readonly received: unknown[];
  close(): Promise<void>;
}

const hostWatchdog = async (): Promise<Hosted> => {
  const db = new FakeDb();
  const store = new MemoryStore();
  const fleet = new FakeFleet();
  const clock = new ManualClock();
  const tel = captureTelemetry('prod');
  fleet.reach = Object.fromEntries(NODES.map((n) => [n.id, 'Online' as const]));
  const app = createApp(settings, { db, store, fleet, clock, logger: tel.logger, metrics: tel.metrics });
  const received: unknown[] = [];
  const endpoint = await startLambdaEndpoint({
    functions: {
      [FUNCTION_NAME]: async (event, ctx) => {
        received.push(event);
        return app.handle(event, ctx);
      },
    },
  });
  return { db, store, fleet, clock, endpoint, received, close: () => endpoint.close() };
};

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly clients?: ClientFactory;
  readonly now?: number;
  readonly tty?: boolean;
}

/** Runs the CLI in-process; `now` defaults to the fakes' clock start so "… ago" texts are stable. */
const runCli = async (argv: readonly string[], opts: RunOptions = {}): Promise<CliRun> => {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: { USER: 'tester', ...opts.env },
    now: () => opts.now ?? new ManualClock().now(),
    localCaller: 'tester@workstation',
    ...(opts.clients === undefined ? {} : { clients: opts.clients }),
  });
  return { code, stdout, stderr };
};

export { FUNCTION_NAME, hostWatchdog, NODES, runCli, settings };
export type { CliRun, Hosted };
