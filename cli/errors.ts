import type { Verdict } from '../functions/core/model.js';

/**
 * Exit codes of the CLI. Scripts may rely on them; the README's "CLI" section lists them, and
 * test/cli pins them.
 */
const EXIT = {
  ok: 0,
  /** Anything else: the function failed, answered something unexpected, or an action did not succeed. */
  other: 1,
  /** Bad command line, or the function answered InvalidRequest. */
  usage: 2,
  /** The function refused a well-formed request in the current state (e.g. already paused). */
  refused: 3,
  /** Function, stack or endpoint not found or not reachable. */
  notFound: 4,
  /** No AWS credentials or region, expired credentials, or access denied. */
  credentials: 5,
} as const;

/**
 * `status` exits by verdict so a cron job or monitoring check can alert on it. Codes start at 10 to stay
 * apart from the error codes above.
 */
const STATUS_EXIT: Readonly<Record<Verdict, number>> = {
  healthy: 0,
  degraded: 10,
  recovering: 11,
  down: 12,
  suppressed: 12,
  'no-candidate': 12,
  unknown: 13,
  paused: 14,
  'observe-only': 14,
};

/** Stable error kinds, shown in `--json` output as `error.code` next to the function's own codes. */
type CliErrorCode =
  | 'Usage'
  | 'InvalidRequest'
  | 'Refused'
  | 'ConfigError'
  | 'Internal'
  | 'FunctionError'
  | 'UnexpectedResponse'
  | 'FunctionNotFound'
  | 'StackNotFound'
  | 'Unreachable'
  | 'NoCredentials'
  | 'AccessDenied'
  | 'AwsError'
  | 'ActionFailed';

/** An error the CLI reports and exits with; everything the user sees is in here. */
class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly code: CliErrorCode,
    message: string,
    readonly details: { readonly hint?: string; readonly field?: string } = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export { CliError, EXIT, STATUS_EXIT };
export type { CliErrorCode };
