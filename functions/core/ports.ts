import type { OtherComponent } from './components.js';
import type { CommandOutcome, DbObservation, Reachability, RecordState, StoredRecord } from './model.js';

/**
 * The small interfaces the core needs from the outside world. Adapters implement them; tests and the
 * local runner swap them. Reads never throw for an outside failure: they return it as a value.
 */

interface HeartbeatQuery {
  /** Hostnames whose newest live row is wanted, fresh or stale. */
  readonly hostnames: readonly string[];
  /** Job types to read besides SchedulerJob (Airflow 3's DagProcessorJob, TriggererJob), by component. */
  readonly others?: Readonly<Partial<Record<OtherComponent, string>>>;
  /** Rows of other hostnames are reported as foreign only when at most this old. */
  readonly staleAfterSeconds: number;
  /** Each job type's own staleAfterSeconds (its component's), for choosing a host's row; default staleAfterSeconds. */
  readonly staleAfterSecondsByJobType?: Readonly<Record<string, number>>;
}

interface MetadataDb {
  observe(query: HeartbeatQuery): Promise<DbObservation>;
  close(): Promise<void>;
}

interface LeaseClaim {
  readonly owner: string;
  /** Lease end to write; `undefined` writes the item released. */
  readonly expiresAt: number | undefined;
  /** The writer's clock, for judging whether someone else's lease has expired. */
  readonly now: number;
}

type WriteResult =
  | { readonly ok: true; readonly record: StoredRecord }
  | {
      readonly ok: false;
      /** `version`: someone wrote since we read; `lease`: another watchdog holds an unexpired lease. */
      readonly reason: 'version' | 'lease';
      readonly current?: StoredRecord;
    };

interface RecordStore {
  /** Strongly consistent read; version 0 and the empty state when the item does not exist. */
  read(clusterName: string): Promise<StoredRecord>;
  /**
   * Writes `next` only if the item still has `expected.version` and no other watchdog holds an unexpired
   * lease. A lost race is a value, not an error.
   */
  write(expected: StoredRecord, next: RecordState, lease: LeaseClaim): Promise<WriteResult>;
}

interface CommandRequest {
  readonly kind: 'start' | 'stop' | 'status';
  readonly nodeId: string;
  readonly epoch: number;
  /** The component's systemd unit; absent = the fleet's default (the scheduler's). */
  readonly unitName?: string;
  /** Shown in SSM's console and CloudTrail. */
  readonly comment: string;
}

type ReachabilityResult =
  | { readonly ok: true; readonly nodes: Readonly<Record<string, Reachability>> }
  | { readonly ok: false; readonly error: string };

interface RunOptions {
  /** A tighter bound than commandTimeoutSeconds for this command (liveness probes). */
  readonly boundMs?: number;
  /** Called once SSM has accepted the command (it has a command id): it is sent, whatever follows. */
  readonly onSent?: (commandId: string) => Promise<void>;
}

interface Fleet {
  reachability(nodeIds: readonly string[]): Promise<ReachabilityResult>;
  run(request: CommandRequest, options?: RunOptions): Promise<CommandOutcome>;
}

/**
 * STONITH for EC2 nodes (fenceUnreachable `ec2-stop`): force-stops an instance and waits, up to
 * `boundMs`, until EC2 reports it `stopping` or `stopped`. Success only then; anything else (refused,
 * throttled, still running at the bound) is a failure, and the start it guards is not attempted.
 */
interface Fencer {
  forceStop(instanceId: string, boundMs: number): Promise<CommandOutcome>;
}

interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export { systemClock };
export type { Clock, CommandRequest, Fencer, Fleet, HeartbeatQuery, LeaseClaim, MetadataDb, ReachabilityResult, RecordStore, RunOptions, WriteResult };
