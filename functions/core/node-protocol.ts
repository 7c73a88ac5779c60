/**
 * The contract between the watchdog and the node-side script (node/airflow-scheduler.sh, SPEC §7).
 * The script is bash; test/node pins that its exit codes and parameter names match these constants.
 */

/** SSM document parameter names; SSM passes them to the script as environment variables `SSM_<name>`. */
const NODE_PARAMS = {
  epoch: 'Epoch',
  unitName: 'UnitName',
} as const;

const NODE_PARAM_PATTERNS = {
  Epoch: '^[0-9]{1,12}$',
  UnitName: '^[A-Za-z0-9@._-]{1,64}$',
} as const;

const NODE_EXIT = {
  ok: 0,
  /** A parameter is missing or does not match its pattern (the agent checks too; this is defence in depth). */
  badParameter: 64,
  /** The node has seen a higher epoch: the command comes from an outdated watchdog and is refused. */
  staleEpoch: 65,
  /** The scheduler survived stop, even after SIGKILL. */
  stopFailed: 70,
  /** The unit did not become active. */
  startFailed: 71,
  /** Another command held the node lock for too long. */
  busy: 75,
} as const;

/** The last stdout line of every command is one JSON object of this shape. */
interface NodeReport {
  readonly action: 'start' | 'stop' | 'status';
  readonly result: string;
  readonly epoch: number | null;
  /** Highest epoch the node has seen (after this command). */
  readonly nodeEpoch: number | null;
  readonly running: boolean;
  /** The hostname Airflow would write to job.hostname on this node (Airflow's getfqdn). */
  readonly hostname: string;
  readonly unit: string;
}

export { NODE_EXIT, NODE_PARAM_PATTERNS, NODE_PARAMS };
export type { NodeReport };
