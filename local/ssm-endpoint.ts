import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A local, SSM-compatible HTTP endpoint (AWS JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`), enough of
 * Run Command for the fleet adapter and the real `@aws-sdk/client-ssm`: SendCommand, GetCommandInvocation,
 * ListCommandInvocations, CancelCommand and DescribeInstanceInformation (SPEC §9).
 *
 * It runs Command documents (schemaVersion 2.2, one `aws:runShellScript` step) the way the SSM agent does:
 * parameters are checked against `allowedPattern` at the API, passed as `SSM_<Name>` environment
 * variables (`interpolationType: ENV_VAR`), the step's `runCommand` lines are written to `_script.sh` and
 * run with `sh -c <path>` in the node's working directory and environment. Each simulated node has its own
 * directory and environment (the harness puts a `systemctl` shim on its PATH).
 *
 * Faults: a node can be `offline` (PingStatus ConnectionLost; commands stay Pending and time out as
 * DeliveryTimedOut unless cancelled or the node comes back), `lost` (absent from
 * DescribeInstanceInformation, SendCommand answers InvalidInstanceId), `slow` (delivery delay); the API
 * can throttle, fail with 5xx, or answer slowly; new invocations are invisible for a moment
 * (InvocationDoesNotExist, research/aws.md §2.2).
 */

type DocumentParameter = {
  readonly type: string;
  readonly default?: string;
  readonly allowedPattern?: string;
  readonly description?: string;
  readonly interpolationType?: string;
};

/** The parts of a Command document the endpoint uses. */
interface CommandDocument {
  readonly schemaVersion: string;
  readonly parameters?: Readonly<Record<string, DocumentParameter>>;
  readonly mainSteps: readonly {
    readonly action: string;
    readonly name: string;
    readonly inputs: { readonly runCommand: readonly string[]; readonly timeoutSeconds?: number | string };
  }[];
}

type NodeReachability = 'online' | 'offline' | 'lost';

interface SimNodeSpec {
  readonly id: string;
  readonly hostname: string;
  /** Working directory of the node's "agent". */
  readonly dir: string;
  /** Complete environment of commands on this node (before the SSM_ parameters); may be replaced at run time. */
  env: Readonly<Record<string, string>>;
}

interface ApiFault {
  /** Operations affected; all when omitted. */
  readonly operations?: readonly string[];
  /** Probability of the fault per request (0–1). */
  readonly probability?: number;
  /** Or: the next `count` requests (decremented). */
  count?: number;
}

interface EndpointFaults {
  throttle?: ApiFault;
  serverError?: ApiFault;
  /** Added to every answer. */
  latencyMs?: number;
}

type CommandStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled' | 'Cancelling';

/** One thing that happened at the endpoint; the harness records them on its timeline. */
type SsmEvent =
  | { readonly t: number; readonly type: 'api'; readonly operation: string; readonly error?: string }
  | {
      readonly t: number;
      readonly type: 'command';
      readonly phase: 'sent' | 'started' | 'finished';
      readonly commandId: string;
      readonly nodeId: string;
      readonly document: string;
      readonly parameters: Readonly<Record<string, string>>;
      readonly status: CommandStatus;
      readonly statusDetails: string;
      readonly responseCode?: number;
      readonly stdoutTail?: string;
      readonly stderrTail?: string;
    };

interface Invocation {
  readonly commandId: string;
  readonly nodeId: string;
  readonly document: string;
  readonly comment: string;
  readonly parameters: Record<string, string>;
  readonly requestedAt: number;
  readonly deliveryDeadline: number;
  readonly visibleAt: number;
  status: CommandStatus;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  startedAt?: number;
  endedAt?: number;
  child?: ChildProcess;
  timers: NodeJS.Timeout[];
}

interface SsmEndpointOptions {
  readonly nodes: readonly SimNodeSpec[];
  /** Document name → content. */
  readonly documents: Readonly<Record<string, CommandDocument>>;
  /** How long a new invocation answers InvocationDoesNotExist (default 150 ms). */
  readonly invocationVisibilityDelayMs?: number;
  readonly onEvent?: (e: SsmEvent) => void;
  readonly port?: number;
}

class SsmApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const STDOUT_CAP = 24_000;
const STDERR_CAP = 8_000;
const tail = (s: string, n = 400): string => (s.length <= n ? s : s.slice(-n));
const epochSeconds = (ms: number): number => ms / 1000;
const isoOrEmpty = (ms: number | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString());

const TERMINAL: ReadonlySet<CommandStatus> = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

class SimNode {
  reachability: NodeReachability = 'online';
  deliveryDelayMs = 0;
  lastPingAt = Date.now();
  constructor(readonly spec: SimNodeSpec) {}
}

class SsmEndpoint {
  readonly #server: Server;
  readonly #nodes = new Map<string, SimNode>();
  readonly #documents: Readonly<Record<string, CommandDocument>>;
  readonly #invocations = new Map<string, Invocation>();
  readonly #visibilityMs: number;
  readonly #onEvent: (e: SsmEvent) => void;
  faults: EndpointFaults = {};
  #url = '';
  #closed = false;

  constructor(options: SsmEndpointOptions) {
    for (const n of options.nodes) this.#nodes.set(n.id, new SimNode(n));
    this.#documents = options.documents;
    this.#visibilityMs = options.invocationVisibilityDelayMs ?? 150;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  get url(): string {
    return this.#url;
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.#url;
  }

  /** Node control for fault injection. */
  node(id: string): SimNode {
    const n = this.#nodes.get(id);
    if (n === undefined) throw new Error(`unknown node ${id}`);
    return n;
  }

  addNode(spec: SimNodeSpec): void {
    this.#nodes.set(spec.id, new SimNode(spec));
  }

  setReachability(id: string, r: NodeReachability): void {
    const n = this.node(id);
    const was = n.reachability;
    n.reachability = r;
    if (r === 'online') {
      n.lastPingAt = Date.now();
      if (was !== 'online') for (const inv of this.#invocations.values()) if (inv.nodeId === id && inv.status === 'Pending') this.#scheduleDelivery(inv);
    }
    if (r === 'lost') {
      // The host is gone: whatever ran there dies with it, and its agent never reports again.
      for (const inv of this.#invocations.values()) {
        if (inv.nodeId === id && inv.child !== undefined && inv.status === 'InProgress') killGroup(inv.child, 'SIGKILL');
      }
    }
  }

  setDeliveryDelay(id: string, ms: number): void {
    this.node(id).deliveryDelayMs = ms;
  }

  invocations(): readonly Invocation[] {
    return [...this.#invocations.values()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const inv of this.#invocations.values()) {
      for (const t of inv.timers) clearTimeout(t);
      if (inv.child !== undefined && inv.child.exitCode === null && inv.child.signalCode === null) killGroup(inv.child, 'SIGKILL');
    }
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ------------------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target;
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const latency = this.faults.latencyMs ?? 0;
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    if (this.#closed) {
      res.destroy();
      return;
    }
    try {
      if (this.#hit(this.faults.throttle, operation)) throw new SsmApiError('ThrottlingException', 'Rate exceeded');
      if (this.#hit(this.faults.serverError, operation)) throw new SsmApiError('InternalServerError', 'simulated internal error', 500);
      let input: Record<string, unknown>;
      try {
        input = chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      } catch {
        throw new SsmApiError('SerializationException', 'request body is not JSON');
      }
      const out = this.#dispatch(operation, input);
      this.#onEvent({ t: Date.now(), type: 'api', operation });
      send(200, out);
    } catch (e) {
      if (e instanceof SsmApiError) {
        this.#onEvent({ t: Date.now(), type: 'api', operation, error: e.type });
        send(e.status, { __type: e.type, message: e.message });
      } else {
        this.#onEvent({ t: Date.now(), type: 'api', operation, error: 'InternalServerError' });
        send(500, { __type: 'InternalServerError', message: (e as Error).message });
      }
    }
  }

  #hit(fault: ApiFault | undefined, operation: string): boolean {
    if (fault === undefined) return false;
    if (fault.operations !== undefined && !fault.operations.includes(operation)) return false;
    if (fault.count !== undefined) {
      if (fault.count <= 0) return false;
      fault.count -= 1;
      return true;
    }
    return Math.random() < (fault.probability ?? 1);
  }

  #dispatch(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'SendCommand':
        return this.#sendCommand(input);
      case 'GetCommandInvocation':
        return this.#getCommandInvocation(input);
      case 'ListCommandInvocations':
        return this.#listCommandInvocations(input);
      case 'CancelCommand':
        return this.#cancelCommand(input);
      case 'DescribeInstanceInformation':
        return this.#describeInstanceInformation(input);
      default:
        throw new SsmApiError('UnknownOperationException', `operation ${operation || '(none)'} is not supported by the local endpoint`);
    }
  }

  #sendCommand(input: Record<string, unknown>): unknown {
    const name = input.DocumentName;
    if (typeof name !== 'string' || !/^[a-zA-Z0-9_\-.:/]{3,128}$/.test(name)) throw new SsmApiError('ValidationException', 'DocumentName is invalid');
    const doc = this.#documents[name];
    if (doc === undefined) throw new SsmApiError('InvalidDocument', `Document ${name} does not exist`);
    const ids = input.InstanceIds;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 50 || !ids.every((i) => typeof i === 'string')) {
      throw new SsmApiError('ValidationException', 'InstanceIds must hold 1–50 instance ids (Targets are not supported locally)');
    }
    const timeoutSeconds = input.TimeoutSeconds === undefined ? 3600 : Number(input.TimeoutSeconds);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
      throw new SsmApiError('ValidationException', `TimeoutSeconds must be 30–2592000 (got ${String(input.TimeoutSeconds)})`);
    }
    const comment = typeof input.Comment === 'string' ? input.Comment : '';
    if (comment.length > 100) throw new SsmApiError('ValidationException', 'Comment must be at most 100 characters');
    const parameters = this.#resolveParameters(doc, input.Parameters);
    for (const id of ids as string[]) {
      const n = this.#nodes.get(id);
      if (n === undefined || n.reachability === 'lost')
        throw new SsmApiError('InvalidInstanceId', `Instances [[${id}]] not in a valid state for account 000000000000`);
    }
    const commandId = randomUUID();
    const now = Date.now();
    for (const id of ids as string[]) {
      const inv: Invocation = {
        commandId,
        nodeId: id,
        document: name,
        comment,
        parameters,
        requestedAt: now,
        deliveryDeadline: now + timeoutSeconds * 1000,
        visibleAt: now + this.#visibilityMs,
        status: 'Pending',
        statusDetails: 'Pending',
        responseCode: -1,
        stdout: '',
        stderr: '',
        timers: [],
      };
      this.#invocations.set(`${commandId}/${id}`, inv);
      this.#emit(inv, 'sent');
      inv.timers.push(setTimeout(() => this.#deliveryTimeout(inv), timeoutSeconds * 1000));
      this.#scheduleDelivery(inv);
    }
    return {
      Command: {
        CommandId: commandId,
        DocumentName: name,
        DocumentVersion: '$DEFAULT',
        Comment: comment,
        Parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, [v]])),
        InstanceIds: ids,
        RequestedDateTime: epochSeconds(now),
        Status: 'Pending',
        StatusDetails: 'Pending',
        TimeoutSeconds: timeoutSeconds,
        TargetCount: ids.length,
        CompletedCount: 0,
        ErrorCount: 0,
        DeliveryTimedOutCount: 0,
        MaxConcurrency: '50',
        MaxErrors: '0',
      },
    };
  }

  /** Like SSM: unknown parameter names and pattern mismatches are refused at the API; defaults fill in. */
  #resolveParameters(doc: CommandDocument, raw: unknown): Record<string, string> {
    const given = (raw ?? {}) as Record<string, unknown>;
    const declared = doc.parameters ?? {};
    const out: Record<string, string> = {};
    for (const key of Object.keys(given)) {
      if (!(key in declared)) throw new SsmApiError('InvalidParameters', `Parameter "${key}" is not defined in the document`);
    }
    for (const [key, p] of Object.entries(declared)) {
      const v = given[key];
      let value: string;
      if (v === undefined) {
        if (p.default === undefined) throw new SsmApiError('InvalidParameters', `Parameter "${key}" is required`);
        value = p.default;
      } else {
        if (!Array.isArray(v) || v.length !== 1 || typeof v[0] !== 'string') {
          throw new SsmApiError('InvalidParameters', `Parameter "${key}" must be one string`);
        }
        value = v[0];
      }
      if (p.allowedPattern !== undefined && !new RegExp(p.allowedPattern).test(value)) {
        throw new SsmApiError('InvalidParameters', `Parameter "${key}" "${value}" failed to satisfy constraint: allowedPattern ${p.allowedPattern}`);
      }
      out[key] = value;
    }
    return out;
  }

  #scheduleDelivery(inv: Invocation): void {
    const n = this.#nodes.get(inv.nodeId);
    if (n === undefined || n.reachability !== 'online' || inv.status !== 'Pending') return;
    inv.timers.push(
      setTimeout(() => {
        if (inv.status !== 'Pending' || n.reachability !== 'online' || this.#closed) return;
        this.#run(inv, n);
      }, n.deliveryDelayMs),
    );
  }

  #deliveryTimeout(inv: Invocation): void {
    if (inv.status !== 'Pending') return;
    this.#finish(inv, 'TimedOut', 'DeliveryTimedOut', -1);
  }

  #run(inv: Invocation, n: SimNode): void {
    const doc = this.#documents[inv.document];
    const step = doc?.mainSteps[0];
    if (doc === undefined || step === undefined || step.action !== 'aws:runShellScript') {
      this.#finish(inv, 'Failed', 'Failed', 1, '', `document ${inv.document} has no aws:runShellScript step`);
      return;
    }
    const dir = join(n.spec.dir, 'ssm', inv.commandId);
    mkdirSync(dir, { recursive: true });
    const script = join(dir, '_script.sh');
    writeFileSync(script, `${step.inputs.runCommand.join('\n')}\n`);
    chmodSync(script, 0o700);
    const env: Record<string, string> = { ...n.spec.env };
    for (const [k, v] of Object.entries(inv.parameters)) env[`SSM_${k}`] = v;
    inv.status = 'InProgress';
    inv.statusDetails = 'InProgress';
    inv.startedAt = Date.now();
    n.lastPingAt = inv.startedAt;
    this.#emit(inv, 'started');
    const child = spawn('sh', ['-c', script], { cwd: n.spec.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    inv.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      if (inv.stdout.length < STDOUT_CAP) inv.stdout = (inv.stdout + d.toString('utf8')).slice(0, STDOUT_CAP);
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (inv.stderr.length < STDERR_CAP) inv.stderr = (inv.stderr + d.toString('utf8')).slice(0, STDERR_CAP);
    });
    const execTimeout = Number(step.inputs.timeoutSeconds ?? 3600);
    inv.timers.push(
      setTimeout(() => {
        if (inv.status !== 'InProgress') return;
        killGroup(child, 'SIGKILL');
        this.#finish(inv, 'TimedOut', 'ExecutionTimedOut', -1);
      }, execTimeout * 1000),
    );
    child.on('error', (err) => {
      if (!TERMINAL.has(inv.status)) this.#finish(inv, 'Failed', 'Failed', 1, '', `could not run the script: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      if (TERMINAL.has(inv.status)) return;
      if (inv.status === 'Cancelling') {
        this.#finish(inv, 'Cancelled', 'Cancelled', code ?? -1);
        return;
      }
      if (this.#nodes.get(inv.nodeId)?.reachability === 'lost') return; // nobody reports for a dead host
      if (code === 0) this.#finish(inv, 'Success', 'Success', 0);
      else this.#finish(inv, 'Failed', 'Failed', code ?? (signal === null ? 1 : 128 + 9));
    });
  }

  #finish(inv: Invocation, status: CommandStatus, details: string, code: number, stdout?: string, stderr?: string): void {
    inv.status = status;
    inv.statusDetails = details;
    inv.responseCode = code;
    inv.endedAt = Date.now();
    if (stdout !== undefined) inv.stdout += stdout;
    if (stderr !== undefined) inv.stderr += stderr;
    for (const t of inv.timers) clearTimeout(t);
    inv.timers = [];
    this.#emit(inv, 'finished');
  }

  #emit(inv: Invocation, phase: 'sent' | 'started' | 'finished'): void {
    this.#onEvent({
      t: Date.now(),
      type: 'command',
      phase,
      commandId: inv.commandId,
      nodeId: inv.nodeId,
      document: inv.document,
      parameters: inv.parameters,
      status: inv.status,
      statusDetails: inv.statusDetails,
      ...(phase === 'finished' ? { responseCode: inv.responseCode, stdoutTail: tail(inv.stdout), stderrTail: tail(inv.stderr) } : {}),
    });
  }

  #find(commandId: unknown, instanceId: unknown): Invocation {
    const inv = this.#invocations.get(`${String(commandId)}/${String(instanceId)}`);
    if (inv === undefined || Date.now() < inv.visibleAt) throw new SsmApiError('InvocationDoesNotExist', 'An error occurred (InvocationDoesNotExist)');
    return inv;
  }

  #invocationView(inv: Invocation): Record<string, unknown> {
    return {
      CommandId: inv.commandId,
      InstanceId: inv.nodeId,
      Comment: inv.comment,
      DocumentName: inv.document,
      DocumentVersion: '$DEFAULT',
      PluginName: this.#documents[inv.document]?.mainSteps[0]?.name ?? 'run',
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: isoOrEmpty(inv.startedAt),
      ExecutionElapsedTime: inv.startedAt === undefined ? '' : `PT${(((inv.endedAt ?? Date.now()) - inv.startedAt) / 1000).toFixed(3)}S`,
      ExecutionEndDateTime: isoOrEmpty(inv.endedAt),
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      StandardOutputContent: inv.stdout,
      StandardOutputUrl: '',
      StandardErrorContent: inv.stderr,
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: false },
    };
  }

  #getCommandInvocation(input: Record<string, unknown>): unknown {
    return this.#invocationView(this.#find(input.CommandId, input.InstanceId));
  }

  #listCommandInvocations(input: Record<string, unknown>): unknown {
    const now = Date.now();
    const rows = [...this.#invocations.values()].filter(
      (i) =>
        now >= i.visibleAt &&
        (input.CommandId === undefined || i.commandId === input.CommandId) &&
        (input.InstanceId === undefined || i.nodeId === input.InstanceId),
    );
    const details = input.Details === true;
    return {
      CommandInvocations: rows.map((i) => ({
        CommandId: i.commandId,
        InstanceId: i.nodeId,
        InstanceName: this.#nodes.get(i.nodeId)?.spec.hostname ?? '',
        Comment: i.comment,
        DocumentName: i.document,
        DocumentVersion: '$DEFAULT',
        RequestedDateTime: epochSeconds(i.requestedAt),
        Status: i.status,
        StatusDetails: i.statusDetails,
        StandardOutputUrl: '',
        StandardErrorUrl: '',
        ...(details
          ? {
              CommandPlugins: [
                {
                  Name: this.#documents[i.document]?.mainSteps[0]?.name ?? 'run',
                  Status: i.status,
                  StatusDetails: i.statusDetails,
                  ResponseCode: i.responseCode,
                  Output: tail(i.stdout, 2500),
                  ...(i.startedAt === undefined ? {} : { ResponseStartDateTime: epochSeconds(i.startedAt) }),
                  ...(i.endedAt === undefined ? {} : { ResponseFinishDateTime: epochSeconds(i.endedAt) }),
                },
              ],
            }
          : {}),
      })),
    };
  }

  #cancelCommand(input: Record<string, unknown>): unknown {
    const id = input.CommandId;
    const matching = [...this.#invocations.values()].filter((i) => i.commandId === id);
    if (matching.length === 0) throw new SsmApiError('InvalidCommandId', `command ${String(id)} does not exist`);
    const only = Array.isArray(input.InstanceIds) && input.InstanceIds.length > 0 ? new Set(input.InstanceIds as string[]) : undefined;
    for (const inv of matching) {
      if (only !== undefined && !only.has(inv.nodeId)) continue;
      if (inv.status === 'Pending') this.#finish(inv, 'Cancelled', 'Cancelled', -1);
      else if (inv.status === 'InProgress' && inv.child !== undefined) {
        inv.status = 'Cancelling';
        inv.statusDetails = 'Cancelling';
        killGroup(inv.child, 'SIGTERM');
      }
    }
    return {};
  }

  #describeInstanceInformation(input: Record<string, unknown>): unknown {
    let wanted: Set<string> | undefined;
    const filters = [
      ...((input.Filters as { Key?: string; Values?: string[] }[] | undefined) ?? []),
      ...((input.InstanceInformationFilterList as { key?: string; valueSet?: string[] }[] | undefined) ?? []).map((f) => ({ Key: f.key, Values: f.valueSet })),
    ];
    for (const f of filters) {
      if (f.Key === 'InstanceIds') wanted = new Set(f.Values ?? []);
      else throw new SsmApiError('InvalidInstanceInformationFilterValue', `filter ${String(f.Key)} is not supported by the local endpoint`);
    }
    const max = typeof input.MaxResults === 'number' ? input.MaxResults : 50;
    if (max < 5 || max > 50) throw new SsmApiError('ValidationException', 'MaxResults must be 5–50');
    const all = [...this.#nodes.values()].filter((n) => n.reachability !== 'lost' && (wanted === undefined || wanted.has(n.spec.id)));
    const start = typeof input.NextToken === 'string' ? Number(input.NextToken) : 0;
    const page = all.slice(start, start + max);
    const next = start + max < all.length ? String(start + max) : undefined;
    const now = Date.now();
    return {
      InstanceInformationList: page.map((n) => {
        if (n.reachability === 'online') n.lastPingAt = now;
        return {
          InstanceId: n.spec.id,
          PingStatus: n.reachability === 'online' ? 'Online' : 'ConnectionLost',
          LastPingDateTime: epochSeconds(n.lastPingAt),
          AgentVersion: '3.3.0.0-local',
          IsLatestVersion: true,
          PlatformType: 'Linux',
          PlatformName: 'Local simulation',
          ResourceType: n.spec.id.startsWith('mi-') ? 'ManagedInstance' : 'EC2Instance',
          ComputerName: n.spec.hostname,
          IPAddress: '127.0.0.1',
        };
      }),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }
}

const killGroup = (child: ChildProcess, signal: NodeJS.Signals): void => {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
};

const startSsmEndpoint = async (options: SsmEndpointOptions): Promise<SsmEndpoint> => {
  const ep = new SsmEndpoint(options);
  await ep.listen(options.port ?? 0);
  return ep;
};

export type { CommandDocument, DocumentParameter, EndpointFaults, Invocation, NodeReachability, SimNodeSpec, SsmEndpointOptions, SsmEvent };
export { SsmEndpoint, startSsmEndpoint };
