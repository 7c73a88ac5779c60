/**
 * The Airflow control-plane components the watchdog supervises (docs/design.md, "Components"). Airflow 3
 * needs three services: the scheduler, the DAG processor (`airflow dag-processor`) and the triggerer
 * (`airflow triggerer`); each heartbeats in the same `job` table under its own `job_type`. Airflow 2
 * runs the DAG processor inside the scheduler unless `[scheduler] standalone_dag_processor` is set.
 *
 * Defaults are Airflow's own (airflow-core config.yml): scheduler `[scheduler]
 * scheduler_health_check_threshold` 30 s with `scheduler_heartbeat_sec` 5; triggerer `[triggerer]
 * triggerer_health_check_threshold` 30 s with `[triggerer] job_heartbeat_sec` 5; DAG processor
 * `[dag_processor] health_check_threshold` 30 s (added after 3.0; 3.0.x judges it by `job_heartbeat_sec`
 * × 2.1 = 10.5 s, which its one-beat-old stored heartbeat reaches, so 10.5 s would flap) with
 * `[scheduler] job_heartbeat_sec` 5.
 */

const COMPONENT_NAMES = ['scheduler', 'dagProcessor', 'triggerer'] as const;
type ComponentName = (typeof COMPONENT_NAMES)[number];
/** The components whose state is kept apart from the scheduler's legacy top-level fields. */
type OtherComponent = Exclude<ComponentName, 'scheduler'>;
const OTHER_COMPONENTS: readonly OtherComponent[] = ['dagProcessor', 'triggerer'];

const JOB_TYPE: Readonly<Record<ComponentName, string>> = {
  scheduler: 'SchedulerJob',
  dagProcessor: 'DagProcessorJob',
  triggerer: 'TriggererJob',
};

const DEFAULT_UNIT: Readonly<Record<ComponentName, string>> = {
  scheduler: 'airflow-scheduler',
  dagProcessor: 'airflow-dag-processor',
  triggerer: 'airflow-triggerer',
};

/** How reasons and the CLI name each component's process. */
const NOUN: Readonly<Record<ComponentName, string>> = {
  scheduler: 'scheduler',
  dagProcessor: 'dag-processor',
  triggerer: 'triggerer',
};

const DEFAULT_STALE_AFTER_SECONDS: Readonly<Record<ComponentName, number>> = { scheduler: 30, dagProcessor: 30, triggerer: 30 };
const DEFAULT_HEARTBEAT_SECONDS: Readonly<Record<ComponentName, number>> = { scheduler: 5, dagProcessor: 5, triggerer: 5 };

interface ComponentNode {
  readonly id: string;
  readonly hostname: string;
}

/** One supervised component, every setting resolved. */
interface ComponentSpec {
  readonly name: ComponentName;
  readonly jobType: string;
  readonly unitName: string;
  readonly noun: string;
  readonly mode: 'single' | 'multi';
  readonly desired: number;
  readonly staleAfterSeconds: number;
  readonly heartbeatSeconds: number;
  readonly startupGraceSeconds: number;
  readonly restartInPlaceAttempts: number;
  readonly banAfterFailures: number;
  readonly failureResetSeconds: number;
  readonly maxFailoversPerHour: number;
  /** Nodes it may run on, in failover priority order. */
  readonly nodes: readonly ComponentNode[];
}

const isComponentName = (v: unknown): v is ComponentName => typeof v === 'string' && (COMPONENT_NAMES as readonly string[]).includes(v);

export { COMPONENT_NAMES, DEFAULT_HEARTBEAT_SECONDS, DEFAULT_STALE_AFTER_SECONDS, DEFAULT_UNIT, isComponentName, JOB_TYPE, NOUN, OTHER_COMPONENTS };
export type { ComponentName, ComponentNode, ComponentSpec, OtherComponent };
