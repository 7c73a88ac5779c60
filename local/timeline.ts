import type { ComponentName } from '../functions/core/components.js';

/**
 * The recorded history of a local-cluster run: plain, JSON-serialisable data, so a run can be saved,
 * checked by `checkInvariants` (local/invariants.ts), plotted (local/plot.ts) and printed.
 * Times are epoch milliseconds of the harness's clock.
 *
 * Components (Airflow 3's scheduler, dag-processor and triggerer): a timeline of a cluster that
 * supervises more than the scheduler lists them in `config.components`; samples carry each row's job
 * type, faults the components they hit, commands their unit. Everything absent means the scheduler, so
 * timelines saved before components existed read as before.
 */

interface TimelineNode {
  readonly id: string;
  readonly hostname: string;
}

/** One supervised component as the invariants need it (resolved from the watchdog's configuration). */
interface TimelineComponent {
  readonly name: ComponentName;
  /** Airflow's job_type of its rows. */
  readonly jobType: string;
  /** Its systemd unit on the nodes (how a command is attributed to it). */
  readonly unitName: string;
  readonly mode: 'single' | 'multi';
  readonly desired: number;
  readonly staleAfterSeconds: number;
  readonly heartbeatSeconds: number;
  /** Nodes it may run on. */
  readonly nodes: readonly TimelineNode[];
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
  /** The scheduler's heartbeat interval (the liveness window is 2.25 × it); absent in older timelines. */
  readonly heartbeatSeconds?: number;
  readonly nodes: readonly TimelineNode[];
  /** Every supervised component, the scheduler first; absent = the scheduler only, from the fields above. */
  readonly components?: readonly TimelineComponent[];
}

/** One live control-plane row (end_date NULL, state not success) with its age by the DB's clock. */
interface SampleRow {
  readonly jobId: number;
  readonly hostname: string;
  readonly state: string | null;
  readonly age: number;
  /** SchedulerJob, DagProcessorJob or TriggererJob; absent = SchedulerJob. */
  readonly jobType?: string;
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
      /** The components it hits, whose recovery (or no change) is checked; absent = the scheduler. */
      readonly components?: readonly ComponentName[];
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
      /**
       * With components: the node and job of each component hit (`components`) at the fault, checked as
       * `activeNode`/`activeJobId` are for the scheduler. When present it replaces those two.
       */
      readonly activeJobs?: Readonly<Partial<Record<ComponentName, { readonly node: string; readonly jobId: number }>>>;
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
        /** The component acted on, when the tick's log line names it; absent = the scheduler. */
        readonly component?: string;
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
      /** The command's UnitName parameter; absent = the scheduler's unit. */
      readonly unit?: string;
      /** The component whose unit it is (by config.components); absent = the scheduler. */
      readonly component?: ComponentName;
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
      /** The dag-processor's and triggerer's epoch and active nodes (Airflow 3), when the record has them. */
      readonly components?: Readonly<Partial<Record<ComponentName, { readonly epoch: number; readonly active: readonly string[] }>>>;
    }
  /** A lifecycle line of a simulated scheduler (or dag-processor, triggerer: `jobType`). */
  | {
      readonly t: number;
      readonly type: 'sim';
      readonly node: string;
      readonly pid: number;
      readonly event: string;
      readonly jobType?: string;
      readonly jobId?: number;
      readonly childPid?: number;
    }
  /**
   * A unit's main process changed, as the harness saw it on the node (the fake systemd's record): `pid`
   * the new one, null when none runs; `previous` the one before. Works for real Airflow processes too.
   */
  | {
      readonly t: number;
      readonly type: 'unit';
      readonly node: string;
      readonly component: ComponentName;
      readonly pid: number | null;
      readonly previous: number | null;
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

const JOB_TYPES: Readonly<Record<ComponentName, string>> = { scheduler: 'SchedulerJob', dagProcessor: 'DagProcessorJob', triggerer: 'TriggererJob' };

/** The row's job type (a row without one is a SchedulerJob row). */
const jobTypeOf = (r: SampleRow): string => r.jobType ?? 'SchedulerJob';

/**
 * The newest live row per hostname (highest job id) of one job type (default SchedulerJob), as SPEC §2
 * defines a scheduler's row.
 */
const newestPerHost = (rows: readonly SampleRow[], jobType = 'SchedulerJob'): Map<string, SampleRow> => {
  const m = new Map<string, SampleRow>();
  for (const r of rows) {
    if (jobTypeOf(r) !== jobType) continue;
    const cur = m.get(r.hostname);
    if (cur === undefined || r.jobId > cur.jobId) m.set(r.hostname, r);
  }
  return m;
};

/** The supervised components of a timeline, the scheduler first (older timelines: the scheduler only). */
const timelineComponents = (config: TimelineConfig): readonly TimelineComponent[] =>
  config.components ?? [
    {
      name: 'scheduler',
      jobType: 'SchedulerJob',
      unitName: 'airflow-scheduler',
      mode: config.mode,
      desired: config.desiredSchedulers,
      staleAfterSeconds: config.staleAfterSeconds,
      heartbeatSeconds: config.heartbeatSeconds ?? 0,
      nodes: config.nodes,
    },
  ];

/** One component of a timeline (the scheduler when not listed, for older timelines). */
const timelineComponent = (config: TimelineConfig, name: ComponentName = 'scheduler'): TimelineComponent => {
  const all = timelineComponents(config);
  const found = all.find((k) => k.name === name);
  if (found !== undefined) return found;
  if (name === 'scheduler') return all[0] as TimelineComponent;
  throw new Error(`the timeline has no ${name} component`);
};

/** The component a unit name belongs to (the scheduler for an unknown or absent unit). */
const componentOfUnit = (config: TimelineConfig, unit: string | undefined): ComponentName =>
  unit === undefined ? 'scheduler' : (timelineComponents(config).find((k) => k.unitName === unit.replace(/\.service$/, ''))?.name ?? 'scheduler');

/** Hostnames the component may run on with a healthy row of its job type in one sample (default: the scheduler). */
const healthyHosts = (sample: EventOf<'sample'>, config: TimelineConfig, component: ComponentName = 'scheduler'): string[] => {
  const k = timelineComponent(config, component);
  const newest = newestPerHost(sample.rows, k.jobType);
  return k.nodes
    .filter((n) => {
      const r = newest.get(n.hostname);
      return r !== undefined && r.age <= k.staleAfterSeconds;
    })
    .map((n) => n.hostname);
};

export type { EventOf, FaultKind, SampleRow, Timeline, TimelineComponent, TimelineConfig, TimelineEvent, TimelineNode };
export { componentOfUnit, eventsOf, healthyHosts, JOB_TYPES, jobTypeOf, newestPerHost, timelineComponent, timelineComponents };
