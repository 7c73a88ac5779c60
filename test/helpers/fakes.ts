import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { CommandOutcome, DbObservation, Reachability, RecordState, SchedulerRow, StoredRecord } from '../../functions/core/model.js';
import { EMPTY_RECORD_STATE } from '../../functions/core/model.js';
import type { StatusReport, UnitState } from '../../functions/core/node-protocol.js';
import type {
  Clock,
  CommandRequest,
  Fleet,
  HeartbeatQuery,
  LeaseClaim,
  MetadataDb,
  ReachabilityResult,
  RecordStore,
  RunOptions,
  WriteResult,
} from '../../functions/core/ports.js';

/**
 * Small in-memory stand-ins for the ports, for tests of the handler and engine logic. The record store
 * keeps the same conditional-write rule as the DynamoDB adapter (version + lease), which the dynalite
 * suite pins for the real adapter.
 */

class ManualClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 24, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

const row = (hostname: string, ageSeconds: number, jobId = 1, state: string | null = 'running'): SchedulerRow => ({
  jobId,
  hostname,
  state,
  ageSeconds,
  latestHeartbeat: new Date(Date.UTC(2026, 10, 24, 12) - ageSeconds * 1000).toISOString(),
  freshRows: ageSeconds <= 30 ? 1 : 0,
});

class FakeDb implements MetadataDb {
  observation: DbObservation = { status: 'ok', rows: {}, foreign: [] };
  calls = 0;
  async observe(_q: HeartbeatQuery): Promise<DbObservation> {
    this.calls += 1;
    return this.observation;
  }
  setRows(rows: SchedulerRow[]): void {
    this.observation = { status: 'ok', rows: Object.fromEntries(rows.map((r) => [r.hostname, r])), foreign: [] };
  }
  async close(): Promise<void> {}
}

class MemoryStore implements RecordStore {
  item: StoredRecord | undefined;
  writes = 0;
  reads = 0;
  async read(clusterName: string): Promise<StoredRecord> {
    this.reads += 1;
    return this.item ?? { clusterName, version: 0, ...EMPTY_RECORD_STATE };
  }
  async write(expected: StoredRecord, next: RecordState, lease: LeaseClaim): Promise<WriteResult> {
    const cur = this.item;
    const version = cur?.version ?? 0;
    if (version !== expected.version) return { ok: false, reason: 'version', ...(cur === undefined ? {} : { current: cur }) };
    if (cur?.leaseOwner !== undefined && cur.leaseOwner !== lease.owner && (cur.leaseExpiresAt ?? 0) >= lease.now) {
      return { ok: false, reason: 'lease', current: cur };
    }
    this.writes += 1;
    this.item = {
      ...next,
      clusterName: expected.clusterName,
      version: version + 1,
      ...(lease.expiresAt === undefined ? {} : { leaseOwner: lease.owner, leaseExpiresAt: lease.expiresAt }),
    };
    return { ok: true, record: this.item };
  }
}

/** A node script's status report, as the fleet adapter hands it over (parsed). */
const statusReport = (req: CommandRequest, unitState: UnitState): StatusReport => ({
  action: 'status',
  result: unitState,
  unitState,
  running: unitState === 'active',
  epoch: req.epoch,
  nodeEpoch: req.epoch,
  permitEpoch: unitState === 'active' ? req.epoch : null,
  permitValid: unitState === 'active',
  enabled: 'disabled',
  guard: 'installed',
  processes: unitState === 'active' ? 1 : 0,
  killed: null,
  problems: [],
  hostname: req.nodeId,
  unit: req.unitName ?? 'airflow-scheduler',
});

class FakeFleet implements Fleet {
  reach: Record<string, Reachability> = {};
  /** Start and stop commands, in order (status probes are in `probes`). */
  runs: CommandRequest[] = [];
  probes: CommandRequest[] = [];
  reachCalls = 0;
  outcome: (req: CommandRequest) => CommandOutcome = (req) => ({ status: 'success', commandId: `cmd-${this.runs.length}`, output: `${req.kind} ok`, durationMs: 5 });
  /** What a status command reports for the unit; by default `failed`, as a crashed unit without Restart=always does. */
  unitState: (req: CommandRequest) => UnitState = () => 'failed';
  async reachability(ids: readonly string[]): Promise<ReachabilityResult> {
    this.reachCalls += 1;
    return { ok: true, nodes: Object.fromEntries(ids.map((id) => [id, this.reach[id] ?? 'absent'])) };
  }
  async run(req: CommandRequest, options: RunOptions = {}): Promise<CommandOutcome> {
    if (req.kind === 'status') {
      this.probes.push(req);
      const report = statusReport(req, this.unitState(req));
      return { status: 'success', commandId: `status-${this.probes.length}`, output: `${JSON.stringify(report)}\n`, report, durationMs: 5 };
    }
    this.runs.push(req);
    const outcome = this.outcome(req);
    // SSM accepted the command (it has an id): the engine marks a start sent before its outcome is known.
    if (outcome.commandId !== undefined) await options.onSent?.(outcome.commandId);
    return outcome;
  }
}

/** Logger and Metrics that write into arrays instead of stdout. */
const captureTelemetry = (clusterName: string) => {
  const lines: string[] = [];
  const sink = { log: (s: string) => lines.push(s), info: (s: string) => lines.push(s), warn: (s: string) => lines.push(s), error: (s: string) => lines.push(s), debug: (s: string) => lines.push(s) };
  const logger = new Logger({ serviceName: 'test', logLevel: 'DEBUG' });
  // Powertools writes through its console; route it to the array.
  (logger as unknown as { console: typeof sink }).console = sink;
  const metrics = new Metrics({ namespace: 'AirflowSchedulerWatchdog', serviceName: 'test' });
  (metrics as unknown as { console: typeof sink }).console = sink;
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ ClusterName: clusterName });
  return { logger, metrics, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};

export { captureTelemetry, FakeDb, FakeFleet, ManualClock, MemoryStore, row, statusReport };
