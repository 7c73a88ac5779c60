/**
 * The contract between the watchdog and the node-side script (node/airflow-scheduler.sh, SPEC §7).
 * The script is bash; test/node pins that its exit codes, parameter names, result words and report
 * fields match these constants and types. `parseNodeReport` (node-report.ts) reads a report strictly.
 *
 * Files on the node (defaults; each directory is a tunable of the script):
 *   /var/lib/airflow-scheduler-watchdog/epoch-<unit>   highest epoch seen for the unit (one line)
 *   /var/lib/airflow-scheduler-watchdog/epoch          pre-per-unit epoch, read for a unit without its own file
 *   /var/lib/airflow-scheduler-watchdog/lock           flock of every start/stop, all units
 *   /var/lib/airflow-scheduler-watchdog/bin/airflow-watchdog-node   the script itself: systemd's checker
 *   /run/airflow-scheduler-watchdog/permit-<unit>      the permit: the epoch of the start that wrote it (a tmpfs)
 *   /etc/systemd/system/<unit>.service.d/50-airflow-watchdog-permit.conf
 *       [Service]
 *       ExecCondition=+<checker> check-permit <unit> <state dir> <run dir>
 * `<unit>` is the UnitName parameter without a trailing `.service`.
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

/** Exit codes of the SSM actions (start, stop, status). */
const NODE_EXIT = {
  ok: 0,
  /** A parameter or tunable is missing or does not match its pattern (the agent checks parameters too). */
  badParameter: 64,
  /** The node has seen a higher epoch: the command comes from an outdated watchdog and is refused. */
  staleEpoch: 65,
  /**
   * start only: the node's stored epoch for the unit is malformed, so whether this command is stale
   * cannot be told; refused until an operator fixes or removes the file (the report's `problems` names it).
   */
  badState: 66,
  /** The scheduler survived stop, even after SIGKILL. */
  stopFailed: 70,
  /** The unit did not become active. */
  startFailed: 71,
  /** Another command held the node lock for too long. */
  busy: 75,
} as const;

/**
 * Exit codes of `airflow-watchdog-node check-permit <unit> <state dir> <run dir>`, which systemd runs as
 * the unit's ExecCondition= before every start: 0 lets the start proceed; 1–254 make systemd skip it (the
 * unit stays inactive, not failed, and `systemctl start` still exits 0).
 */
const CHECK_PERMIT_EXIT = {
  permitted: 0,
  notPermitted: 1,
  badParameter: 64,
} as const;

/** Names of the node-side files, relative to WATCHDOG_STATE_DIR / WATCHDOG_SYSTEMD_DIR/<unit>.service.d. */
const NODE_FILES = {
  checker: 'bin/airflow-watchdog-node',
  dropIn: '50-airflow-watchdog-permit.conf',
} as const;

const REPORT_ACTIONS = ['start', 'stop', 'status'] as const;
type ReportAction = (typeof REPORT_ACTIONS)[number];

/** `systemctl is-active` words the script reports; anything else systemd prints becomes `unknown`. */
const UNIT_STATES = ['active', 'activating', 'deactivating', 'failed', 'inactive', 'reloading', 'unknown'] as const;
type UnitState = (typeof UNIT_STATES)[number];

/** `systemctl is-enabled` words the script reports; no answer or any other word becomes `unknown`. */
const ENABLED_STATES = [
  'enabled',
  'enabled-runtime',
  'linked',
  'linked-runtime',
  'alias',
  'masked',
  'masked-runtime',
  'static',
  'indirect',
  'disabled',
  'generated',
  'transient',
  'bad',
  'not-found',
  'unknown',
] as const;
type EnabledState = (typeof ENABLED_STATES)[number];

/**
 * Whether systemd checks the permit before starting the unit:
 * - `installed`: the drop-in and the checker are as this script writes them, and systemd has loaded
 *   the ExecCondition (`systemctl show -p ExecCondition` names the checker);
 * - `missing`: no drop-in, and no such ExecCondition loaded (a node no start/stop has reached yet);
 * - `outdated`: anything else (edited or stale drop-in or checker, not reloaded, or systemd < 243,
 *   which ignores ExecCondition=): the next start or stop rewrites it;
 * - `unknown`: not looked at (bad-parameter reports, which touch nothing).
 */
const GUARD_STATES = ['installed', 'missing', 'outdated', 'unknown'] as const;
type GuardState = (typeof GUARD_STATES)[number];

/** Results every action can end with. */
const COMMON_RESULTS = [
  /** Exit 64: a parameter or tunable was refused before anything was done. */
  'bad-parameter',
  /** An unexpected failure of the script itself; its exit code is kept. */
  'error',
] as const;

/** Results of start and stop (they take the node lock and check the epoch). */
const FENCED_RESULTS = [
  /** Exit 65: the node has seen a higher epoch; nothing was done. */
  'stale-epoch',
  /** Exit 75: the node lock was held longer than the lock timeout; nothing was done. */
  'busy',
] as const;

const START_RESULTS = [
  /** Exit 0: the unit was not active and is now (permit written first). */
  'started',
  /** Exit 0: the unit was already active; the permit was rewritten for this epoch, nothing restarted. */
  'already-running',
  /** Exit 71: systemctl start failed or the unit did not become active; the permit is revoked and the unit left stopped. */
  'start-failed',
  /** Exit 66: the stored epoch is malformed; nothing was done. */
  'bad-state',
  ...FENCED_RESULTS,
  ...COMMON_RESULTS,
] as const;
type StartResult = (typeof START_RESULTS)[number];

const STOP_RESULTS = [
  /** Exit 0: the unit was active, activating, reloading or deactivating and is now down with no process left. */
  'stopped',
  /** Exit 0: the unit was failed or inactive but processes were left in it (crash orphans); they were SIGKILLed. */
  'cleared-leftovers',
  /** Exit 0: the unit was failed or inactive with no process left; nothing to do. */
  'already-stopped',
  /** Exit 0: `systemctl stop` did not finish within WATCHDOG_STOP_TIMEOUT_SECONDS; SIGKILL to the whole unit was needed. */
  'killed',
  /** Exit 70: the unit or some of its processes survived SIGKILL. */
  'stop-failed',
  ...FENCED_RESULTS,
  ...COMMON_RESULTS,
] as const;
type StopResult = (typeof STOP_RESULTS)[number];

/** status's result is the unit's state word (= `unitState`), or a common result. */
const STATUS_RESULTS = [...UNIT_STATES, ...COMMON_RESULTS] as const;
type StatusResult = (typeof STATUS_RESULTS)[number];

const RESULTS_BY_ACTION: Readonly<Record<ReportAction, readonly string[]>> = {
  start: START_RESULTS,
  stop: STOP_RESULTS,
  status: STATUS_RESULTS,
};

/** The last stdout line of every start, stop and status is one JSON object of this shape. */
interface NodeReportBase {
  /** The epoch the command carried (the `Epoch` parameter, normalised); null when status got none or it was refused. */
  readonly epoch: number | null;
  /**
   * The node's stored epoch for the unit when the report was written (after the command stored its own);
   * null when none is stored, the file is malformed (see `problems`), or the command was refused as a bad parameter.
   */
  readonly nodeEpoch: number | null;
  /** The command's verdict: whether the unit runs (`systemctl is-active` succeeded) as the command left it. */
  readonly running: boolean;
  /** The hostname Airflow would write to job.hostname on this node (Airflow's getfqdn). */
  readonly hostname: string;
  /** The `UnitName` parameter as given; '' when it was refused. */
  readonly unit: string;
  /** `systemctl is-active` when the report was written. */
  readonly unitState: UnitState;
  /** `systemctl is-enabled` when the report was written (whether boot starts the unit, through the guard). */
  readonly enabled: EnabledState;
  /** The epoch of a well-formed permit on the node; null when there is none or it is malformed (see `problems`). */
  readonly permitEpoch: number | null;
  /**
   * What the checker would answer now: the permit exists, is well-formed, and `permitEpoch ≥ nodeEpoch`.
   * When true, systemd would (re)start the unit by itself (Restart=, a boot of an enabled unit).
   */
  readonly permitValid: boolean;
  /** Whether systemd checks the permit before starting the unit (see GUARD_STATES). */
  readonly guard: GuardState;
  /**
   * Processes in the unit's cgroup: for stop, before it stopped anything; otherwise when the report was
   * written. null when they could not be counted (see `problems`) or nothing was looked at.
   */
  readonly processes: number | null;
  /**
   * Processes this command had to SIGKILL: stop, those left once the unit was down (orphans, what
   * KillMode=process spares) or all of them when the stop timed out; start, a previous run's leftovers
   * cleared before starting. null for status, for commands that did nothing, or when uncountable.
   */
  readonly killed: number | null;
  /** Malformed node state and other trouble, each naming the file or command and what is wrong. Empty when all is well. */
  readonly problems: readonly string[];
}

interface StartReport extends NodeReportBase {
  readonly action: 'start';
  readonly result: StartResult;
}
interface StopReport extends NodeReportBase {
  readonly action: 'stop';
  readonly result: StopResult;
}
interface StatusReport extends NodeReportBase {
  readonly action: 'status';
  readonly result: StatusResult;
}
type NodeReport = StartReport | StopReport | StatusReport;

export {
  CHECK_PERMIT_EXIT,
  ENABLED_STATES,
  GUARD_STATES,
  NODE_EXIT,
  NODE_FILES,
  NODE_PARAM_PATTERNS,
  NODE_PARAMS,
  REPORT_ACTIONS,
  RESULTS_BY_ACTION,
  START_RESULTS,
  STATUS_RESULTS,
  STOP_RESULTS,
  UNIT_STATES,
};
export type {
  EnabledState,
  GuardState,
  NodeReport,
  NodeReportBase,
  ReportAction,
  StartReport,
  StartResult,
  StatusReport,
  StatusResult,
  StopReport,
  StopResult,
  UnitState,
};
