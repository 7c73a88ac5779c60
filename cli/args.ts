import { parseArgs } from 'node:util';
import { CliError, EXIT } from './errors.js';

/**
 * Command-line parsing (node:util parseArgs, strict). Pure: argv and environment in, a command or a
 * usage error out; nothing is invoked before the whole command line is valid.
 */

type Command =
  | { readonly kind: 'status' }
  | { readonly kind: 'history'; readonly limit?: number }
  | { readonly kind: 'failover'; readonly component?: Component; readonly to?: string; readonly reason: string; readonly force: boolean }
  | { readonly kind: 'pause'; readonly component?: Component; readonly reason: string }
  | { readonly kind: 'resume'; readonly component?: Component; readonly reason?: string }
  | { readonly kind: 'reconcile'; readonly dryRun: boolean };

type CommandName = Command['kind'];

/** The Airflow component a failover, pause or resume is about (the scheduler when not given). */
const COMPONENT_NAMES = ['scheduler', 'dagProcessor', 'triggerer'] as const;
type Component = (typeof COMPONENT_NAMES)[number];
/** Also accepted as written in the CLI's own output and in systemd unit names. */
const COMPONENT_ALIASES: Readonly<Record<string, Component>> = { 'dag-processor': 'dagProcessor' };

/** Where the function is. Exactly one of functionName / stack is set, or endpoint with an optional functionName. */
interface Target {
  readonly functionName?: string;
  readonly stack?: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly profile?: string;
}

type Parsed =
  | { readonly kind: 'help'; readonly command?: CommandName }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'run';
      readonly command: Command;
      readonly target: Target;
      readonly json: boolean;
      readonly color: boolean | undefined;
      readonly caller?: string;
    };

const COMMANDS: readonly CommandName[] = ['status', 'failover', 'pause', 'resume', 'history', 'reconcile'];

/** Name the local endpoint hosts the watchdog under when no --function is given. */
const DEFAULT_LOCAL_FUNCTION = 'airflow-watchdog';

const ENV = {
  function: 'AIRFLOW_WATCHDOG_FUNCTION',
  stack: 'AIRFLOW_WATCHDOG_STACK',
  endpoint: 'AIRFLOW_WATCHDOG_ENDPOINT',
} as const;

const OPTIONS = {
  function: { type: 'string', short: 'f' },
  stack: { type: 'string', short: 's' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  caller: { type: 'string' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  // command options
  to: { type: 'string' },
  component: { type: 'string', short: 'c' },
  reason: { type: 'string', short: 'r' },
  force: { type: 'boolean' },
  limit: { type: 'string', short: 'n' },
  'dry-run': { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;

const COMMAND_OPTIONS: Readonly<Record<CommandName, readonly OptionName[]>> = {
  status: [],
  history: ['limit'],
  failover: ['component', 'to', 'reason', 'force'],
  pause: ['component', 'reason'],
  resume: ['component', 'reason'],
  reconcile: ['dry-run'],
};

const usage = (message: string, command?: CommandName): CliError =>
  new CliError(EXIT.usage, 'Usage', message, { hint: `run \`airflow-watchdog ${command === undefined ? '' : `${command} `}--help\` for usage` });

const parseCli = (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed => {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs messages are already clear ("Unknown option '--frobnicate'", "Option '--reason <value>' argument missing").
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw usage(message);
  }
  const { values, positionals } = parsed;
  const [name, ...extra] = positionals;
  const command = COMMANDS.find((c) => c === name);

  if (values.version === true) return { kind: 'version' };
  if (values.help === true || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c === extra[0]) : command;
    return topic === undefined ? { kind: 'help' } : { kind: 'help', command: topic };
  }
  if (name === undefined) throw usage(`a command is required: one of ${COMMANDS.join(', ')}`);
  if (command === undefined) throw usage(`unknown command "${name}"; expected one of ${COMMANDS.join(', ')}`);
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}" for ${command}`, command);

  for (const opt of Object.keys(values) as OptionName[]) {
    const global = !Object.values(COMMAND_OPTIONS).some((list) => list.includes(opt));
    if (!global && !COMMAND_OPTIONS[command].includes(opt)) {
      throw usage(`option --${opt} does not apply to ${command}`, command);
    }
  }

  const text = (v: string | undefined, opt: string): string | undefined => {
    if (v === undefined) return undefined;
    if (v.trim() === '') throw usage(`--${opt} must not be empty`, command);
    return v;
  };

  const componentText = text(values.component, 'component');
  const component = componentText === undefined ? undefined : (COMPONENT_ALIASES[componentText] ?? COMPONENT_NAMES.find((c) => c === componentText));
  if (componentText !== undefined && component === undefined) {
    throw usage(`--component must be one of ${COMPONENT_NAMES.join(', ')} (got "${componentText}")`, command);
  }
  const comp = component === undefined ? {} : { component };

  let cmd: Command;
  switch (command) {
    case 'status':
      cmd = { kind: 'status' };
      break;
    case 'history': {
      const raw = values.limit;
      if (raw === undefined) {
        cmd = { kind: 'history' };
        break;
      }
      const limit = Number(raw);
      if (!/^\d+$/.test(raw) || limit < 1 || limit > 50) throw usage(`--limit must be a whole number from 1 to 50 (got "${raw}")`, command);
      cmd = { kind: 'history', limit };
      break;
    }
    case 'failover': {
      const reason = text(values.reason, 'reason');
      if (reason === undefined) throw usage('failover needs --reason "<why>": it is written to the history with your name', command);
      const to = text(values.to, 'to');
      cmd = { kind: 'failover', ...comp, reason, force: values.force === true, ...(to === undefined ? {} : { to }) };
      break;
    }
    case 'pause': {
      const reason = text(values.reason, 'reason');
      if (reason === undefined) throw usage('pause needs --reason "<why>": it is shown to everyone until resume', command);
      cmd = { kind: 'pause', ...comp, reason };
      break;
    }
    case 'resume': {
      const reason = text(values.reason, 'reason');
      cmd = { kind: 'resume', ...comp, ...(reason === undefined ? {} : { reason }) };
      break;
    }
    case 'reconcile':
      cmd = { kind: 'reconcile', dryRun: values['dry-run'] === true };
      break;
  }

  const functionName = text(values.function, 'function') ?? (values.stack === undefined ? env[ENV.function] || undefined : undefined);
  const stack = text(values.stack, 'stack') ?? (values.function === undefined ? env[ENV.stack] || undefined : undefined);
  const endpoint = text(values.endpoint, 'endpoint') ?? (env[ENV.endpoint] || undefined);
  if (values.function !== undefined && values.stack !== undefined) throw usage('give either --function or --stack, not both', command);
  if (functionName !== undefined && stack !== undefined) {
    throw usage(`both ${ENV.function} and ${ENV.stack} are set; pass --function or --stack to choose`, command);
  }
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw usage(`--endpoint must be a URL such as http://127.0.0.1:9001 (got "${endpoint}")`, command);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--endpoint must be an http(s) URL (got "${endpoint}")`, command);
  }
  if (functionName === undefined && stack === undefined && endpoint === undefined) {
    throw usage(
      `which watchdog? pass --stack <CloudFormation stack>, --function <name or ARN>, or --endpoint <URL> for a local runner (or set ${ENV.stack} / ${ENV.function})`,
      command,
    );
  }
  const target: Target = {
    ...(functionName === undefined ? {} : { functionName }),
    ...(stack === undefined ? {} : { stack }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values.profile === undefined ? {} : { profile: values.profile }),
  };
  const caller = text(values.caller, 'caller');
  return {
    kind: 'run',
    command: cmd,
    target,
    json: values.json === true,
    color: values['no-color'] === true ? false : undefined,
    ...(caller === undefined ? {} : { caller }),
  };
};

const HELP_TARGET = `Where the watchdog is (one of):
  -s, --stack NAME       CloudFormation stack; the function is its WatchdogFunctionName output
  -f, --function NAME    function name or ARN
      --endpoint URL     a local Lambda endpoint (local runner, tests); function name
                         defaults to "${DEFAULT_LOCAL_FUNCTION}"
  Environment: ${ENV.stack}, ${ENV.function}, ${ENV.endpoint}.
  Region and credentials come from the usual AWS configuration (AWS_REGION, AWS_PROFILE,
  ~/.aws/config, SSO, instance role); override with --region and --profile.

Output:
      --json             the function's answer as JSON on stdout (errors too), for scripts
      --no-color         no colours (also when NO_COLOR is set or stdout is not a terminal)
      --caller TEXT      who you are, for the history (default: your AWS identity ARN,
                         or $USER@host against a local endpoint)`;

const HELP_EXIT = `Exit codes:
  0  ok (status: the scheduler is healthy)
  1  other failure (function error, unexpected answer, an action did not succeed)
  2  usage error, or the function rejected the request (InvalidRequest)
  3  refused in the current state (e.g. already paused, DB unreachable without --force)
  4  function, stack or endpoint not found or not reachable
  5  no AWS credentials or region, or access denied
  status only: 10 degraded, 11 recovering, 12 down (also suppressed, no-candidate),
               13 unknown (metadata DB unreachable), 14 paused or observe-only`;

const COMMAND_HELP: Readonly<Record<CommandName, string>> = {
  status: `airflow-watchdog status [target] [--json]
  Verdict, each node (SSM reachability, heartbeat age, role), foreign schedulers, what a tick
  would do now, and the last events. Changes nothing. Exit code tells the verdict (see below).`,
  failover: `airflow-watchdog failover --reason TEXT [--component NAME] [--to NODE] [--force] [target]
  Stop the scheduler on the active node (fencing), start it on NODE (node id or hostname) or on
  the next candidate in priority order; epoch + 1. Written to the history with reason and caller.
  --force: also while the metadata DB is unreachable, or to a node SSM does not see Online.
  --component: scheduler (default), dagProcessor (or dag-processor) or triggerer (Airflow 3).`,
  pause: `airflow-watchdog pause --reason TEXT [--component NAME] [target]
  Maintenance of one component (the scheduler by default): ticks observe and report it only until resume.`,
  resume: `airflow-watchdog resume [--reason TEXT] [--component NAME] [target]
  Lift a pause; the next tick re-plans from what it sees.`,
  history: `airflow-watchdog history [--limit N] [target]
  The record's events (newest first, at most 50): time, kind, node, epoch, caller, reason.`,
  reconcile: `airflow-watchdog reconcile [--dry-run] [target]
  Run one tick now. --dry-run: plan and show, write and run nothing.`,
};

const helpText = (command?: CommandName): string => {
  if (command !== undefined) return `${COMMAND_HELP[command]}\n\n${HELP_TARGET}\n\n${HELP_EXIT}\n`;
  return `airflow-watchdog: operate the Airflow scheduler watchdog

Usage: airflow-watchdog <command> [options]

Commands:
  status                          what is happening now (read-only)
  failover --reason TEXT [--component NAME] [--to NODE] [--force]
                                  move the scheduler (or a component) to another node
  pause --reason TEXT [--component NAME]
                                  stop acting (maintenance); ticks only observe
  resume [--reason TEXT] [--component NAME]
                                  act again
  history [--limit N]             recent events with reasons and callers
  reconcile [--dry-run]           run one tick now (--dry-run: only show the plan)

${HELP_TARGET}

${HELP_EXIT}

Examples:
  airflow-watchdog status --stack AirflowWatchdog
  airflow-watchdog failover --stack AirflowWatchdog --to sched-b --reason "kernel patching on sched-a"
  airflow-watchdog pause --function airflow-watchdog-prod --reason "metadata DB upgrade"
  airflow-watchdog status --endpoint http://127.0.0.1:9001 --json
`;
};

export { COMMANDS, DEFAULT_LOCAL_FUNCTION, ENV, helpText, parseCli };
export type { Command, CommandName, Parsed, Target };
