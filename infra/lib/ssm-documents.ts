import { NODE_PARAM_PATTERNS, NODE_PARAMS } from '../../functions/core/node-protocol.js';

/**
 * The project's own SSM Command documents (SPEC §7): `start`, `stop` and `status` of the scheduler.
 *
 * Pure: the content is a function of the node-side script's text and a few numbers, so the CDK
 * construct (at synth) and the local SSM emulator (at run time) produce exactly the same documents.
 * The node-side script is `node/airflow-scheduler.sh`; each document runs it whole, with the action
 * set by one line before it (the script installs itself from its body marker on as the unit's permit
 * checker, so these prefix lines are not part of that copy and start and stop install the same file):
 *
 * ```
 * #!/usr/bin/env bash                 <- the script's shebang, kept first (see below)
 * export WATCHDOG_ACTION=start        <- the document's action
 * export WATCHDOG_STOP_TIMEOUT_SECONDS="${WATCHDOG_STOP_TIMEOUT_SECONDS:-34}"   <- bounds, see nodeTimeouts
 * ...the rest of the script...
 * ```
 *
 * Why the shebang stays first: the SSM agent writes `runCommand` to `_script.sh` and runs
 * `sh -c <path>`, so the kernel honours the file's first line. With the export first, the script
 * would run under `/bin/sh` (dash on Debian/Ubuntu) instead of the interpreter it names.
 *
 * Parameters are validated twice by SSM (API and agent) with `allowedPattern`, and reach the script
 * only as environment variables (`interpolationType: ENV_VAR` → `SSM_Epoch`, `SSM_UnitName`); the
 * script text never contains a `{{ }}` reference, so nothing is spliced into shell text. This needs
 * SSM Agent ≥ 3.3.2746.0; an older agent leaves the variables unset and the script refuses to run
 * (exit 64), which fails safe.
 */

const NODE_ACTIONS = ['start', 'stop', 'status'] as const;
type NodeAction = (typeof NODE_ACTIONS)[number];

/** SSM's limit on a document's content. */
const MAX_DOCUMENT_BYTES = 64 * 1024;
/** Name of the environment variable carrying the action; the script reads it. */
const ACTION_ENV_VAR = 'WATCHDOG_ACTION';
const DEFAULT_UNIT_NAME = 'airflow-scheduler';

interface DocumentParameter {
  readonly type: 'String';
  readonly description: string;
  readonly allowedPattern: string;
  readonly interpolationType: 'ENV_VAR';
  readonly default?: string;
}

/** The JSON content of one Command document (schemaVersion 2.2). */
interface CommandDocumentContent {
  readonly schemaVersion: '2.2';
  readonly description: string;
  readonly parameters: Readonly<Record<string, DocumentParameter>>;
  readonly mainSteps: readonly [
    {
      readonly action: 'aws:runShellScript';
      readonly name: string;
      readonly precondition: { readonly StringEquals: readonly ['platformType', 'Linux'] };
      readonly inputs: { readonly timeoutSeconds: number; readonly runCommand: readonly string[] };
    },
  ];
}

/**
 * Bounds of the script's own waits, derived from the document's execution timeout `T` so that the
 * script finishes (and reports) before the agent kills it. With a delivery margin of 5 s, `B = T − 5`:
 *
 *   lock  = min(20, ⌊B/5⌋)        wait for another command on the node
 *   kill  = 5                     wait for the unit to go down after SIGKILL
 *   stop  = max(1, B − lock − 10) `systemctl stop` before SIGKILL  (stop path: lock + stop + 5 + kill ≤ B)
 *   start = max(1, B − lock − 8)  `systemctl start`                 (start path: lock + start + 3 + 5 ≤ B)
 *
 * T = 60 gives lock 11, stop 34, start 36. Each is exported only when the environment does not already
 * set it, so an operator (or the local emulator) can still override it.
 */
interface NodeTimeouts {
  readonly lockSeconds: number;
  readonly killWaitSeconds: number;
  readonly stopSeconds: number;
  readonly startSeconds: number;
}

const DELIVERY_MARGIN_SECONDS = 5;

const nodeTimeouts = (executionTimeoutSeconds: number): NodeTimeouts => {
  const budget = Math.max(0, executionTimeoutSeconds - DELIVERY_MARGIN_SECONDS);
  const lockSeconds = Math.min(20, Math.floor(budget / 5));
  return {
    lockSeconds,
    killWaitSeconds: 5,
    stopSeconds: Math.max(1, budget - lockSeconds - 10),
    startSeconds: Math.max(1, budget - lockSeconds - 8),
  };
};

const TUNABLE_ENV: Readonly<Record<keyof NodeTimeouts, string>> = {
  lockSeconds: 'WATCHDOG_LOCK_TIMEOUT_SECONDS',
  killWaitSeconds: 'WATCHDOG_KILL_WAIT_SECONDS',
  stopSeconds: 'WATCHDOG_STOP_TIMEOUT_SECONDS',
  startSeconds: 'WATCHDOG_START_TIMEOUT_SECONDS',
};

interface DocumentOptions {
  /** Text of `node/airflow-scheduler.sh`. */
  readonly script: string;
  /**
   * The agent kills the script after this many seconds (`timeoutSeconds` of the step). The construct
   * uses `commandTimeoutSeconds`, so a command cannot outlive the watchdog's wait for it.
   */
  readonly executionTimeoutSeconds: number;
  /** Default of the `UnitName` parameter. @default 'airflow-scheduler' */
  readonly defaultUnitName?: string;
}

const DESCRIPTIONS: Record<NodeAction, string> = {
  start:
    'Airflow scheduler watchdog: start the unit (refused when a higher epoch was seen). Writes the node permit systemd checks before every start (ExecCondition drop-in), clears leftovers of a crashed run first.',
  stop: 'Airflow scheduler watchdog: revoke the node permit, then stop the unit and its whole process tree, escalating to SIGKILL (refused when a higher epoch was seen).',
  status:
    'Airflow scheduler watchdog: report the unit state, permit, guard, process count and the hostname Airflow writes to job.hostname. Reads only: writes or revokes nothing.',
};

/** Lines of the script, without a trailing empty line; the shebang (if any) apart. */
const splitScript = (script: string): { shebang: string | undefined; body: string[] } => {
  const lines = script.replace(/\r\n/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const first = lines[0];
  if (first?.startsWith('#!')) return { shebang: first, body: lines.slice(1) };
  return { shebang: undefined, body: lines };
};

/** Throws when the script cannot be embedded safely; the message names the problem. */
const checkScript = (script: string): void => {
  if (script.trim() === '') throw new Error('node script: is empty');
  const braces = script.indexOf('{{');
  if (braces >= 0) {
    const line = script.slice(0, braces).split('\n').length;
    throw new Error(`node script: contains "{{" at line ${line}; SSM would read it as a parameter reference and splice text into the shell`);
  }
};

/** The `runCommand` lines of one document: shebang, the action, the derived bounds, then the script. */
const runCommandLines = (action: NodeAction, script: string, timeouts: NodeTimeouts): string[] => {
  checkScript(script);
  const { shebang, body } = splitScript(script);
  const tunables = (Object.keys(TUNABLE_ENV) as (keyof NodeTimeouts)[]).map((k) => {
    const name = TUNABLE_ENV[k];
    return `export ${name}="\${${name}:-${timeouts[k]}}"`;
  });
  return [...(shebang === undefined ? [] : [shebang]), `export ${ACTION_ENV_VAR}=${action}`, ...tunables, ...body];
};

/** The content of one Command document. Throws when the result would be refused by SSM. */
const buildCommandDocument = (action: NodeAction, options: DocumentOptions): CommandDocumentContent => {
  const timeout = options.executionTimeoutSeconds;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 172_800) {
    throw new Error(`executionTimeoutSeconds: must be an integer from 1 to 172800 (got ${timeout})`);
  }
  const unitName = options.defaultUnitName ?? DEFAULT_UNIT_NAME;
  if (!new RegExp(NODE_PARAM_PATTERNS.UnitName).test(unitName)) {
    throw new Error(`defaultUnitName: must match ${NODE_PARAM_PATTERNS.UnitName} (got ${JSON.stringify(unitName)})`);
  }
  const content: CommandDocumentContent = {
    schemaVersion: '2.2',
    description: DESCRIPTIONS[action],
    parameters: {
      [NODE_PARAMS.epoch]: {
        type: 'String',
        description: 'Fencing epoch of the command; the node refuses an epoch lower than the highest it has seen.',
        allowedPattern: NODE_PARAM_PATTERNS.Epoch,
        interpolationType: 'ENV_VAR',
      },
      [NODE_PARAMS.unitName]: {
        type: 'String',
        description: 'systemd unit of the Airflow scheduler.',
        allowedPattern: NODE_PARAM_PATTERNS.UnitName,
        interpolationType: 'ENV_VAR',
        default: unitName,
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: `${action}Scheduler`,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: timeout, runCommand: runCommandLines(action, options.script, nodeTimeouts(timeout)) },
      },
    ],
  };
  const bytes = Buffer.byteLength(JSON.stringify(content), 'utf8');
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw new Error(`node script: the ${action} document would be ${bytes} bytes; SSM accepts at most ${MAX_DOCUMENT_BYTES}`);
  }
  return content;
};

/** All three documents, keyed by action. */
const buildCommandDocuments = (options: DocumentOptions): Record<NodeAction, CommandDocumentContent> => ({
  start: buildCommandDocument('start', options),
  stop: buildCommandDocument('stop', options),
  status: buildCommandDocument('status', options),
});

/** The shell text the agent would run for one document (its `runCommand` joined), e.g. for an emulator. */
const documentScript = (content: CommandDocumentContent): string => `${content.mainSteps[0].inputs.runCommand.join('\n')}\n`;

export type { CommandDocumentContent, DocumentOptions, DocumentParameter, NodeAction, NodeTimeouts };
export {
  ACTION_ENV_VAR,
  buildCommandDocument,
  buildCommandDocuments,
  DEFAULT_UNIT_NAME,
  documentScript,
  MAX_DOCUMENT_BYTES,
  NODE_ACTIONS,
  nodeTimeouts,
  TUNABLE_ENV,
};
