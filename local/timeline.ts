/**
 * The recorded history of a local-cluster run: plain, JSON-serialisable data, so a run can be saved,
 * checked by `checkInvariants` (local/invariants.ts), plotted (local/plot.ts) and printed.
 * Times are epoch milliseconds of the harness's clock.
 */

interface TimelineNode {
  readonly id: string;
  readonly hostname: string;
}

/** The cluster settings the invariants need (a subset of ClusterConfig). */
interface TimelineConfig {
  readonly mode: 'single' | 'multi';
  readonly desiredSchedulers: number;
  readonly staleAfterSeconds: number;
  readonly checkIntervalSeconds: number;
  readonly commandTimeoutSeconds: number;
  readonly startupGraceSeconds: number;
  /** Caps the per-fault recovery allowance; absent in timelines saved before it was recorded. */
  readonly leaseSeconds?: number;
  readonly nodes: readonly TimelineNode[];
}

/** One live SchedulerJob row (end_date NULL, state not success) with its age by the DB's clock. */
interface SampleRow {
  readonly jobId: number;
  readonly hostname: string;
  readonly state: string | null;
  readonly age: number;
}

type FaultKind =
  | 'crash'
  | 'hang'
  | 'unhang'
  | 'node-lost'
  | 'node-back'
  | 'node-offline'
  | 'node-online'
  | 'partition'
  | 'heal'
  | 'duplicate'
  | 'db-outage'
  | 'db-back'
  | 'dynamodb-outage'
  | 'dynamodb-back'
  | 'clock-skew'
  | 'watchdog-killed'
  | 'manual-failover'
  | 'pause'
  | 'resume'
  | 'ssm-throttle'
  | 'ssm-slow'
  | 'ssm-errors'
  | 'ssm-ok'
  | 'flapping'
  | 'other';

type TimelineEvent =
  /** Ground truth read directly from the metadata DB (bypassing injected outages). */
  | { readonly t: number; readonly type: 'sample'; readonly rows: readonly SampleRow[]; readonly error?: string }
  /** A fault or operator action injected by the harness. `expectRecovery`: a healthy candidate exists, so the recovery bound applies. */
  | {
      readonly t: number;
      readonly type: 'fault';
      readonly kind: FaultKind;
      readonly node?: string;
      readonly detail: string;
      readonly expectRecovery?: boolean;
      /**
       * Only with `expectRecovery`: a delay the harness knows it caused (the watchdogs could not act while
       * DynamoDB was down, while no runner ran, or while a killed or cut tick's lease was left on the
       * record; SSM faults; an operator's failover racing the recovery). The bound grows by this much for
       * this fault only, capped by the checker; `recoveryExtraReason` says where it comes from. The harness
       * may raise it after the fault, once it has read the record (a lease is only known after the cut).
       */
      readonly recoveryExtraSeconds?: number;
      readonly recoveryExtraReason?: string;
      /**
       * A fault that must change nothing (a sub-threshold stall, a standby lost, clock skew, SSM faults, a
       * DB or DynamoDB outage while the active scheduler is healthy): until the next fault that expects a
       * recovery or changes nothing, no stop or start may be sent to `activeNode`, no start anywhere, and
       * its scheduler (job `activeJobId`) must stay its live row.
       */
      readonly expectNoChange?: boolean;
      readonly activeNode?: string;
      readonly activeJobId?: number;
    }
  /** One watchdog tick, from the handler's `tick` log line. */
  | {
      readonly t: number;
      readonly type: 'tick';
      readonly watchdog: string;
      readonly verdict: string;
      readonly disposition: string;
      readonly epoch: number;
      readonly dbReachable: boolean;
      readonly actions: readonly {
        readonly kind: string;
        readonly nodeId: string;
        readonly epoch: number;
        readonly purpose: string;
        readonly reason: string;
        readonly outcome?: string;
        readonly skipped?: string;
      }[];
      readonly reasons: readonly string[];
      readonly alarms: readonly string[];
      readonly note?: string;
      readonly durationMs?: number;
    }
  /** An SSM command as the local endpoint saw it. */
  | {
      readonly t: number;
      readonly type: 'command';
      readonly phase: 'sent' | 'started' | 'finished';
      readonly commandId: string;
      readonly nodeId: string;
      readonly document: string;
      readonly action: string;
      readonly epoch: number | null;
      readonly status: string;
      readonly statusDetails: string;
      readonly responseCode?: number;
      readonly result?: string;
    }
  /** The record (DynamoDB item) when its version changed. */
  | {
      readonly t: number;
      readonly type: 'record';
      readonly version: number;
      readonly epoch: number;
      readonly active: readonly string[];
      readonly paused: boolean;
    }
  /** A lifecycle line of a simulated scheduler. */
  | {
      readonly t: number;
      readonly type: 'sim';
      readonly node: string;
      readonly pid: number;
      readonly event: string;
      readonly jobId?: number;
      readonly childPid?: number;
    }
  /** Answer to a manual invocation. */
  | { readonly t: number; readonly type: 'manual'; readonly payload: unknown; readonly ok: boolean; readonly summary: string }
  | { readonly t: number; readonly type: 'note'; readonly text: string };

interface Timeline {
  readonly config: TimelineConfig;
  readonly startedAt: number;
  readonly events: TimelineEvent[];
}

type EventOf<K extends TimelineEvent['type']> = Extract<TimelineEvent, { type: K }>;

const eventsOf = <K extends TimelineEvent['type']>(tl: { events: readonly TimelineEvent[] }, type: K): EventOf<K>[] =>
  tl.events.filter((e): e is EventOf<K> => e.type === type);

/** The newest live row per hostname (highest job id), as SPEC §2 defines a scheduler's row. */
const newestPerHost = (rows: readonly SampleRow[]): Map<string, SampleRow> => {
  const m = new Map<string, SampleRow>();
  for (const r of rows) {
    const cur = m.get(r.hostname);
    if (cur === undefined || r.jobId > cur.jobId) m.set(r.hostname, r);
  }
  return m;
};

/** Configured hostnames with a healthy scheduler in one sample. */
const healthyHosts = (sample: EventOf<'sample'>, config: TimelineConfig): string[] => {
  const newest = newestPerHost(sample.rows);
  return config.nodes
    .filter((n) => {
      const r = newest.get(n.hostname);
      return r !== undefined && r.age <= config.staleAfterSeconds;
    })
    .map((n) => n.hostname);
};

export type { EventOf, FaultKind, SampleRow, Timeline, TimelineConfig, TimelineEvent, TimelineNode };
export { eventsOf, healthyHosts, newestPerHost };
