import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { StatusView } from '../functions/core/status-view.js';
import type { Verdict } from '../functions/core/model.js';
import type { Response } from '../functions/runtime/app.js';
import { type Command, helpText, parseCli } from './args.js';
import { CliError, EXIT, STATUS_EXIT } from './errors.js';
import { type ClientFactory, defaultClients, invokeFunction, resolveCaller, resolveTarget } from './invoke.js';
import { allSucceeded, renderChange, renderError, renderHistory, renderReconcile, renderStatus, type TickSummary, visibleText } from './render.js';

/**
 * `airflow-watchdog`: the operator's CLI. `main` takes argv and its outside world (streams, environment,
 * SDK client factory, clock) as arguments, so tests run it in-process; bin/airflow-watchdog.mjs calls `run`.
 */

interface Output {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** SDK clients; default: real ones configured from the environment. */
  readonly clients?: ClientFactory;
  readonly now?: () => number;
  /** Default caller for a local endpoint (and when no AWS identity is available). */
  readonly localCaller?: string;
}

const version = (): string => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'airflow-scheduler-watchdog' && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next location (source tree vs. built dist/)
    }
  }
  return 'unknown';
};

const defaultLocalCaller = (env: Readonly<Record<string, string | undefined>>): string => {
  let user = env.USER ?? env.USERNAME ?? env.LOGNAME;
  if (user === undefined) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`;
};

/** Commands that only read: safe for the SDK to retry. A mutating invoke is sent once, never twice. */
const readOnly = (c: Command): boolean => c.kind === 'status' || c.kind === 'history' || (c.kind === 'reconcile' && c.dryRun);

const payloadOf = (c: Command, caller: string | undefined): Record<string, unknown> => {
  const by = caller === undefined ? {} : { caller };
  switch (c.kind) {
    case 'status':
      return { action: 'status' };
    case 'history':
      return { action: 'history', ...(c.limit === undefined ? {} : { limit: c.limit }) };
    case 'failover':
      return {
        action: 'failover',
        ...(c.component === undefined ? {} : { component: c.component }),
        reason: c.reason,
        ...(c.to === undefined ? {} : { to: c.to }),
        ...(c.force ? { force: true } : {}),
        ...by,
      };
    case 'pause':
      return { action: 'pause', ...(c.component === undefined ? {} : { component: c.component }), reason: c.reason, ...by };
    case 'resume':
      return { action: 'resume', ...(c.component === undefined ? {} : { component: c.component }), ...(c.reason === undefined ? {} : { reason: c.reason }), ...by };
    case 'reconcile':
      return { action: 'reconcile', ...(c.dryRun ? { dryRun: true } : {}) };
  }
};

const FUNCTION_ERROR_EXIT: Readonly<Record<string, number>> = {
  InvalidRequest: EXIT.usage,
  Refused: EXIT.refused,
  ConfigError: EXIT.other,
  Internal: EXIT.other,
};

const isStatusView = (v: unknown): v is StatusView =>
  typeof v === 'object' &&
  v !== null &&
  Array.isArray((v as StatusView).nodes) &&
  typeof (v as StatusView).verdict === 'string' &&
  Array.isArray((v as StatusView).history);

const unexpected = (what: string): CliError =>
  new CliError(EXIT.other, 'UnexpectedResponse', `the function's answer lacks ${what}`, { hint: 'are the CLI and the deployed function the same version?' });

const main = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const color = (requested: boolean | undefined): boolean =>
    requested ?? (io.stdout.isTTY === true && (io.env.NO_COLOR ?? '') === '' && io.env.TERM !== 'dumb');
  let json = argv.includes('--json');
  const fail = (err: CliError): number => {
    if (json) {
      const { hint, field } = err.details;
      io.stdout.write(
        `${JSON.stringify({ ok: false, error: { code: err.code, message: err.message, ...(field === undefined ? {} : { field }), ...(hint === undefined ? {} : { hint }) } }, null, 2)}\n`,
      );
    } else {
      // The function's error text may quote data (a hostname, a DB error): keep its lines, not its escapes.
      const message = visibleText(err.message.split('\n')).join('\n');
      io.stderr.write(renderError({ code: err.code, message, ...visibleText(err.details) }, io.stderr.isTTY === true && (io.env.NO_COLOR ?? '') === ''));
    }
    return err.exitCode;
  };

  try {
    const parsed = parseCli(argv, io.env);
    if (parsed.kind === 'help') {
      io.stdout.write(helpText(parsed.command));
      return EXIT.ok;
    }
    if (parsed.kind === 'version') {
      io.stdout.write(`airflow-watchdog ${version()}\n`);
      return EXIT.ok;
    }
    json = parsed.json;
    const clients = io.clients ?? defaultClients;
    const { command } = parsed;
    const resolved = await resolveTarget(parsed.target, io.env, clients);
    const records = command.kind === 'failover' || command.kind === 'pause' || command.kind === 'resume';
    const caller = !records ? undefined : (parsed.caller ?? (await resolveCaller(resolved, clients, io.localCaller ?? defaultLocalCaller(io.env))));
    const answer: Response = await invokeFunction(resolved, clients, payloadOf(command, caller), readOnly(command) ? 3 : 1);
    // Hostnames and error texts come from the metadata DB and the nodes: never let them drive the terminal.
    const res = json ? answer : visibleText(answer);

    if (!res.ok) {
      const exit = FUNCTION_ERROR_EXIT[res.error.code] ?? EXIT.other;
      if (json) {
        io.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
        return exit;
      }
      io.stderr.write(
        renderError(
          {
            code: res.error.code,
            message: res.error.message,
            ...(res.error.field === undefined ? {} : { field: res.error.field }),
            ...(res.error.code === 'InvalidRequest' ? { hint: `check the value given for ${res.error.field ?? 'the request'}` } : {}),
          },
          io.stderr.isTTY === true && (io.env.NO_COLOR ?? '') === '',
        ),
      );
      return exit;
    }

    const opts = { now: (io.now ?? Date.now)(), color: color(parsed.color) };
    let exit: number = EXIT.ok;
    let human: string;
    switch (command.kind) {
      case 'status': {
        if (!isStatusView(res.status)) throw unexpected('a status view');
        exit = STATUS_EXIT[res.status.verdict as Verdict] ?? EXIT.other;
        human = renderStatus(res.status, opts);
        break;
      }
      case 'history': {
        if (!Array.isArray(res.history)) throw unexpected('a history');
        human = renderHistory(res.history as StatusView['history'], opts);
        break;
      }
      case 'reconcile': {
        if (!Array.isArray(res.ticks)) throw unexpected('tick summaries');
        human = renderReconcile(res.ticks as TickSummary[], command.dryRun, opts);
        break;
      }
      default: {
        if (!isStatusView(res.status) || typeof res.result !== 'object' || res.result === null) throw unexpected('a result and status');
        const result = res.result as TickSummary;
        if (!allSucceeded(result) || result.disposition === 'lease-lost') exit = EXIT.other;
        human = renderChange(command.kind, result, res.status, opts);
      }
    }
    io.stdout.write(json ? `${JSON.stringify(res, null, 2)}\n` : human);
    return exit;
  } catch (err) {
    if (err instanceof CliError) return fail(err);
    return fail(new CliError(EXIT.other, 'Internal', `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  }
};

/** Process entry used by bin/airflow-watchdog.mjs. */
const run = async (): Promise<void> => {
  // A closed pipe (`| head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
};

export { main, run };
export type { CliIo, Output };
