import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local EC2-compatible endpoint (the Query protocol: form-encoded `Action=…` in, XML out), enough for
 * the watchdog's power fence (functions/adapters/ec2-fencer.ts) and the real `@aws-sdk/client-ec2`:
 * `StopInstances` and `DescribeInstances`, by instance id. A stop calls `onStop` (the local cluster powers
 * the node off: every process killed, absent from SSM, DB link cut); the answer says `stopping`, and
 * `DescribeInstances` says `stopped` from then on; `start` (the node booted again) sets it `running`. Signatures
 * are not checked. An id the endpoint does not know gets `InvalidInstanceID.NotFound`, as EC2 answers.
 */

/** `stopping` only ever appears in a StopInstances answer: a local power-off is over at once. */
type InstanceState = 'running' | 'stopping' | 'stopped';

const STATE_CODES: Readonly<Record<InstanceState, number>> = { running: 16, stopping: 64, stopped: 80 };

interface Ec2Call {
  readonly t: number;
  readonly action: string;
  readonly instanceIds: readonly string[];
  readonly force?: boolean;
}

interface Ec2EndpointOptions {
  readonly instanceIds: readonly string[];
  /** Called once per StopInstances of a running instance, before the answer. */
  readonly onStop: (instanceId: string, force: boolean) => void;
}

interface Ec2Endpoint {
  readonly url: string;
  /** Every call, in order (the tests read which instance was stopped and when). */
  readonly calls: readonly Ec2Call[];
  state(instanceId: string): InstanceState | undefined;
  /** The instance was started again (the node rebooted and is back). */
  start(instanceId: string): void;
  close(): Promise<void>;
}

const xmlEscape = (s: string): string => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
const stateXml = (tag: string, s: InstanceState): string => `<${tag}><code>${STATE_CODES[s]}</code><name>${s}</name></${tag}>`;
const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const startEc2Endpoint = async (opts: Ec2EndpointOptions): Promise<Ec2Endpoint> => {
  const states = new Map<string, InstanceState>(opts.instanceIds.map((id) => [id, 'running']));
  const calls: Ec2Call[] = [];
  const send = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string): void =>
    send(res, status, `<Response><Errors><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = new URLSearchParams(await readBody(req));
    const action = form.get('Action') ?? '';
    const ids = [...form.entries()].filter(([k]) => /^InstanceId\.\d+$/.test(k)).map(([, v]) => v);
    const force = form.get('Force') === 'true';
    calls.push({ t: Date.now(), action, instanceIds: ids, ...(action === 'StopInstances' ? { force } : {}) });
    const unknown = ids.find((id) => !states.has(id));
    if (unknown !== undefined) return fail(res, 400, 'InvalidInstanceID.NotFound', `The instance ID '${unknown}' does not exist`);
    const requestId = `<requestId>${randomUUID()}</requestId>`;
    if (action === 'StopInstances') {
      const items = ids.map((id) => {
        const before = states.get(id) ?? 'running';
        // The local power-off is over when onStop returns: EC2 answers `stopping`, later reads `stopped`.
        if (before === 'running') opts.onStop(id, force);
        states.set(id, 'stopped');
        return `<item><instanceId>${id}</instanceId>${stateXml('currentState', before === 'running' ? 'stopping' : 'stopped')}${stateXml('previousState', before)}</item>`;
      });
      return send(res, 200, `<StopInstancesResponse xmlns="${NS}">${requestId}<instancesSet>${items.join('')}</instancesSet></StopInstancesResponse>`);
    }
    if (action === 'DescribeInstances') {
      const wanted = ids.length === 0 ? [...states.keys()] : ids;
      const items = wanted.map((id) => `<item><instanceId>${id}</instanceId>${stateXml('instanceState', states.get(id) ?? 'running')}</item>`);
      return send(
        res,
        200,
        `<DescribeInstancesResponse xmlns="${NS}">${requestId}<reservationSet><item><reservationId>r-local</reservationId><ownerId>000000000000</ownerId><instancesSet>${items.join('')}</instancesSet></item></reservationSet></DescribeInstancesResponse>`,
      );
    }
    fail(res, 400, 'InvalidAction', `The action ${action || '(none)'} is not valid for this local endpoint (StopInstances, DescribeInstances)`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, 500, 'InternalError', (err as Error).message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    state: (id) => states.get(id),
    start: (id) => {
      if (states.has(id)) states.set(id, 'running');
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

export { startEc2Endpoint };
export type { Ec2Call, Ec2Endpoint, Ec2EndpointOptions, InstanceState };
