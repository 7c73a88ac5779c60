import type { OtherComponent } from './components.js';
import type { NodeReport } from './node-protocol.js';

/**
 * Plain, serialisable data shared by the core and the adapters: what a tick observes, the record it
 * coordinates through, and the plan it produces. Times are epoch milliseconds unless the name says otherwise.
 */

/** The newest live SchedulerJob row of one hostname (end_date NULL, state not 'success'). */
interface SchedulerRow {
  readonly jobId: number;
  readonly hostname: string;
  readonly state: string | null;
  /** Age of latest_heartbeat by the database's clock; negative when the scheduler's clock runs ahead. */
  readonly ageSeconds: number;
  /** latest_heartbeat as ISO-8601 UTC, for humans. */
  readonly latestHeartbeat: string;
  /** Live rows of this hostname whose heartbeat is fresh (more than one = two processes on one host). */
  readonly freshRows: number;
}

/** The rows of one job type, reduced. */
interface JobRows {
  /** Newest live row per configured (or formerly configured) hostname; absent = no live row in the lookback window. */
  readonly rows: Readonly<Record<string, SchedulerRow>>;
  /** Rows with a fresh heartbeat whose hostname is not in the query's list. */
  readonly foreign: readonly SchedulerRow[];
}

type DbObservation =
  | ({
      readonly status: 'ok';
      /** The dag-processor's and triggerer's rows (Airflow 3), when configured; `rows`/`foreign` are the scheduler's. */
      readonly others?: Readonly<Partial<Record<OtherComponent, JobRows>>>;
    } & JobRows)
  | {
      readonly status: 'unreachable';
      readonly reason: string;
      /** An outage that may end any second (refused, cut, timed out), not a configuration error (password, table, TLS). */
      readonly transient?: boolean;
    };

/** SSM's view of a node. `absent` = not registered (or stopped/terminated); `unknown` = SSM could not be asked. */
type Reachability = 'Online' | 'ConnectionLost' | 'Inactive' | 'absent' | 'unknown';

/** The part of a node's status-command answer (node/airflow-scheduler.sh) that liveness needs. */
interface UnitReport {
  /** systemd's word for the unit: active, activating, deactivating, failed, inactive, reloading, unknown. */
  readonly unitState: string;
  readonly running: boolean;
  /** The epoch of the start permit on the node, or null when there is none. */
  readonly permitEpoch: number | null;
  /** Highest epoch the node has seen for this unit. */
  readonly nodeEpoch: number | null;
}

/** A status command's answer: the report, or why there is none we can trust (never a guess). */
type UnitProbe = { readonly ok: true; readonly report: UnitReport } | { readonly ok: false; readonly error: string };

/** An earlier reading of the metadata DB in the same invocation, kept as liveness evidence. */
interface EarlierReading {
  readonly observedAt: number;
  readonly rows: Readonly<Record<string, SchedulerRow>>;
  readonly others?: Readonly<Partial<Record<OtherComponent, Readonly<Record<string, SchedulerRow>>>>>;
}

interface Observation {
  readonly db: DbObservation;
  readonly reachability: Readonly<Record<string, Reachability>>;
  /** Why reachability is `unknown`, when SSM could not be asked. */
  readonly reachabilityError?: string;
  /**
   * Evidence for "dead, not merely unseen": a reading taken at least the liveness window earlier (the DB
   * reachable then and now), to tell a heartbeat that does not advance from one that does.
   */
  readonly earlier?: EarlierReading;
  /**
   * When this invocation read the DB again after finding it unreachable (clock ms). Until
   * staleAfterSeconds after that, a stale heartbeat that does not advance is not evidence of death: a
   * scheduler that lived through a black-holed outage is blocked on a socket that takes its time to recover.
   */
  readonly dbBackAt?: number;
  /** When this invocation first found the DB unreachable in the outage that `dbBackAt` ended (or that goes on). */
  readonly dbDownAt?: number;
  /** Status-command answers of nodes whose heartbeat is stale, by node id (the scheduler's unit). */
  readonly units?: Readonly<Record<string, UnitProbe>>;
  /** The same for the dag-processor's and triggerer's units. */
  readonly otherUnits?: Readonly<Partial<Record<OtherComponent, Readonly<Record<string, UnitProbe>>>>>;
}

interface NodeRef {
  readonly id: string;
  readonly hostname: string;
}

interface PendingStart {
  readonly nodeId: string;
  readonly epoch: number;
  /** When the intent was committed. */
  readonly issuedAt: number;
  /** When SSM accepted the start command; absent = not (yet) sent, so its expiry charges the node nothing. */
  readonly sentAt?: number;
}

interface NodeFailures {
  readonly count: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  /** Set once count reaches banAfterFailures: lastFailureAt + failureResetSeconds. */
  readonly bannedUntil?: number;
  readonly lastReason?: string;
}

/** Every kind of history event; the record store validates stored items against this list. */
const HISTORY_KINDS = [
  'start',
  'restart',
  'failover',
  'adopt',
  'stop-duplicate',
  'scale-up',
  'stop-removed',
  'start-expired',
  'outcome',
  'ban',
  'pause',
  'resume',
  'manual-failover',
  'suppressed',
  'no-candidate',
  'epoch-jump',
] as const;
type HistoryKind = (typeof HISTORY_KINDS)[number];

interface HistoryEvent {
  readonly at: number;
  readonly kind: HistoryKind;
  /** The component the event is about; absent = the scheduler. */
  readonly component?: OtherComponent;
  readonly node?: string;
  readonly epoch: number;
  readonly reason: string;
  readonly caller: string;
}

/** What the record keeps per supervised component (the scheduler's lives in RecordState's own fields). */
interface ComponentState {
  readonly epoch: number;
  readonly active: readonly string[];
  readonly pending: readonly PendingStart[];
  readonly failures: Readonly<Record<string, NodeFailures>>;
  readonly failoverTimes: readonly number[];
  readonly restartAttempts: number;
  /** Eligible nodes at the last write, so a node that left the component's list can still be stopped. */
  readonly nodes: readonly NodeRef[];
  readonly lastAlarm?: { readonly kind: string; readonly at: number; readonly reason: string };
  readonly paused?: { readonly reason: string; readonly since: number; readonly by: string };
}

/** The coordination state kept in the cluster's DynamoDB item (SPEC §6), minus version and lease. */
interface RecordState {
  readonly epoch: number;
  /** Node ids intended to run a scheduler (one in single mode). */
  readonly active: readonly string[];
  readonly pending: readonly PendingStart[];
  readonly failures: Readonly<Record<string, NodeFailures>>;
  readonly paused?: { readonly reason: string; readonly since: number; readonly by: string };
  readonly history: readonly HistoryEvent[];
  /** Times of automatic failovers in the last hour (suppression window). */
  readonly failoverTimes: readonly number[];
  /** Restarts in place spent on the current active node since it was last healthy. */
  readonly restartAttempts: number;
  /** Nodes as configured at the last write, so a node removed from config can still be stopped. */
  readonly nodes: readonly NodeRef[];
  /** Alarms raised by the last decision that changed state (no-candidate, suppressed), for the status view. */
  readonly lastAlarm?: { readonly kind: string; readonly at: number; readonly reason: string };
  /** The dag-processor's and triggerer's state (Airflow 3); the fields above are the scheduler's. */
  readonly components?: Readonly<Partial<Record<OtherComponent, ComponentState>>>;
  /**
   * The last metadata-DB outage a tick saw: when it found the DB unreachable, and when a later reading
   * (this tick's or the next one's, in any invocation) answered again. Liveness only: rule (b) gives a
   * survivor staleAfterSeconds from `backAt` (functions/core/liveness.ts). Never holds any other rule.
   */
  readonly dbOutageSeen?: { readonly downAt: number; readonly backAt?: number };
}

interface StoredRecord extends RecordState {
  readonly clusterName: string;
  /** 0 when the item does not exist yet. */
  readonly version: number;
  readonly leaseOwner?: string;
  readonly leaseExpiresAt?: number;
}

type ActionPurpose =
  | 'stop-duplicate'
  | 'fence'
  | 'restart-stop'
  | 'restart-start'
  | 'failover-start'
  | 'initial-start'
  | 'scale-up'
  | 'stop-removed'
  | 'clear-stale'
  | 'cancel-pending'
  /** STONITH: force-stop the EC2 instance of an old active SSM cannot reach (fenceUnreachable `ec2-stop`). */
  | 'power-fence';

interface Action {
  readonly kind: 'start' | 'stop';
  /** The component acted on; absent = the scheduler. */
  readonly component?: OtherComponent;
  readonly nodeId: string;
  readonly hostname: string;
  /** The fencing token sent to the node. */
  readonly epoch: number;
  readonly purpose: ActionPurpose;
  readonly reason: string;
  /** For a start: stops (by node id) that must succeed first, or the start is skipped. */
  readonly requiresStopped?: readonly string[];
  /**
   * A required stop that could not reach its node (undeliverable, delivery timeout) still lets the start
   * go ahead: used for fencing, where the old node's heartbeat is already stale. A stop that ran and
   * failed, or was refused for a stale epoch, always blocks.
   */
  readonly proceedIfUnreachable?: boolean;
}

type Verdict =
  | 'healthy'
  | 'degraded'
  | 'recovering'
  | 'down'
  | 'unknown'
  | 'paused'
  | 'suppressed'
  | 'no-candidate'
  | 'observe-only';

type AlarmKind = 'no-candidate' | 'suppressed' | 'foreign-scheduler' | 'clock-skew' | 'duplicate-on-host' | 'bad-node-report' | 'epoch-jump';

/** One component's part of a plan. */
interface ComponentPlan {
  readonly component: string;
  readonly verdict: Verdict;
  /** The rule that decided (rules/*.ts), when one did. */
  readonly rule?: string;
  readonly reasons: readonly string[];
  readonly alarms: readonly AlarmKind[];
  readonly counts: Plan['counts'];
}

interface Plan {
  readonly verdict: Verdict;
  /** Per supervised component, in configuration order (the scheduler first). */
  readonly components?: readonly ComponentPlan[];
  /** Ordered: stops before starts. */
  readonly actions: readonly Action[];
  /** Human sentences explaining the verdict, including when nothing is done. */
  readonly reasons: readonly string[];
  readonly alarms: readonly AlarmKind[];
  /** The record state to commit before acting; undefined = nothing to write. */
  readonly next?: RecordState;
  /** Counters for metrics (SPEC §8). */
  readonly counts: {
    readonly healthy: number;
    readonly failovers: number;
    readonly restarts: number;
    readonly duplicateStops: number;
    readonly suppressed: number;
    readonly noCandidate: number;
  };
}

/** Result of one SSM command, as the fleet adapter classifies it. */
type CommandOutcome =
  | {
      readonly status: 'success';
      readonly commandId: string;
      readonly output: string;
      readonly durationMs: number;
      /** status commands only: the node's report, parsed strictly (node-report.ts). */
      readonly report?: NodeReport;
      /** status commands only: why the output is not a valid report (then `report` is absent). */
      readonly reportError?: string;
    }
  | { readonly status: 'failed'; readonly commandId?: string; readonly exitCode: number | null; readonly stderrTail: string; readonly durationMs: number }
  | {
      readonly status: 'timeout';
      readonly commandId?: string;
      /** `delivery`: the node never picked the command up; `execution`: it ran past the bound. */
      readonly phase: 'delivery' | 'execution';
      readonly detail: string;
      readonly durationMs: number;
    }
  | { readonly status: 'undeliverable'; readonly commandId?: string; readonly detail: string; readonly durationMs: number }
  | { readonly status: 'stale-epoch'; readonly commandId?: string; readonly nodeEpoch: number | null; readonly detail: string; readonly durationMs: number };

/** A command outcome before its duration is stamped (adapters add `durationMs` when it settles). */
type CommandOutcomeDraft = CommandOutcome extends infer T ? (T extends unknown ? Omit<T, 'durationMs'> : never) : never;

const EMPTY_RECORD_STATE: RecordState = {
  epoch: 0,
  active: [],
  pending: [],
  failures: {},
  history: [],
  failoverTimes: [],
  restartAttempts: 0,
  nodes: [],
};

const HISTORY_LIMIT = 50;

export { EMPTY_RECORD_STATE, HISTORY_KINDS, HISTORY_LIMIT };
export type {
  Action,
  ActionPurpose,
  AlarmKind,
  CommandOutcome,
  CommandOutcomeDraft,
  ComponentPlan,
  ComponentState,
  JobRows,
  DbObservation,
  EarlierReading,
  HistoryEvent,
  HistoryKind,
  NodeFailures,
  NodeRef,
  Observation,
  PendingStart,
  Plan,
  Reachability,
  RecordState,
  SchedulerRow,
  StoredRecord,
  UnitProbe,
  UnitReport,
  Verdict,
};
