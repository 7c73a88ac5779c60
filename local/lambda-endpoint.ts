import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Context } from 'aws-lambda';
import type { InvocationContext } from '../functions/runtime/app.js';

/**
 * A tiny stand-in for the Lambda service's Invoke REST call, so the CLI (and anything else using
 * `@aws-sdk/client-lambda` with `endpoint: http://127.0.0.1:PORT`) drives a locally hosted handler
 * through exactly the code path it uses against AWS.
 *
 * Implemented: `POST /2015-03-31/functions/{FunctionName}/invocations` with the invocation types
 * `RequestResponse` (default), `Event` (202, result discarded) and `DryRun` (204). The function name may be
 * a name, a full or partial ARN, with or without a qualifier. Errors look like the real service's, so the
 * SDK raises the same exceptions: unknown function → 404 `ResourceNotFoundException`; a body that is not
 * JSON → 400 `InvalidRequestContentException`; a handler that throws → 200 with `X-Amz-Function-Error:
 * Unhandled` and `{ errorType, errorMessage, trace }`. Signatures are not checked.
 *
 * Run directly, it serves the real handler (functions/handler.ts, configured like the local runner:
 * WATCHDOG_CONFIG, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SSM) so the CLI can drive it:
 *
 *   tsx local/lambda-endpoint.ts [--port 9001] [--name airflow-watchdog] [--timeout 900]
 *   npm run cli -- status --endpoint http://127.0.0.1:9001
 */

type LocalHandler = (event: unknown, context: InvocationContext) => Promise<unknown>;

interface LambdaEndpointOptions {
  /** Hosted functions by name. */
  readonly functions: Readonly<Record<string, LocalHandler>>;
  /** 0 (default) = a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Timeout reported through `getRemainingTimeInMillis`, as the function's configured timeout. Default 900. */
  readonly timeoutSeconds?: number;
  /** Used in ARNs of error messages. */
  readonly region?: string;
  readonly accountId?: string;
}

interface LambdaEndpoint {
  /** `http://host:port`, to pass as the SDK's `endpoint`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
/** `name`, `name:qualifier`, `123456789012:function:name[:qualifier]`, `arn:aws:lambda:region:acct:function:name[:qualifier]`. */
const FUNCTION_REF = /^(?:arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?([A-Za-z0-9_-]{1,140})(?::[A-Za-z0-9$_-]{1,128})?$/;

const functionNameOf = (ref: string): string | undefined => FUNCTION_REF.exec(ref)?.[1];

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** Error shape of the Lambda service: the type in `x-amzn-ErrorType`, and `{ Type, message }` as the body. */
const sendServiceError = (res: ServerResponse, status: number, type: string, message: string, requestId: string): void => {
  const body = JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': type,
    'x-amzn-requestid': requestId,
  });
  res.end(body);
};

const startLambdaEndpoint = async (opts: LambdaEndpointOptions): Promise<LambdaEndpoint> => {
  const timeoutMs = (opts.timeoutSeconds ?? 900) * 1000;
  const region = opts.region ?? 'us-east-1';
  const account = opts.accountId ?? '000000000000';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== 'POST' || match === null) {
      sendServiceError(res, 404, 'UnknownOperationException', `unsupported operation ${req.method ?? '?'} ${url.pathname}`, requestId);
      return;
    }
    const ref = decodeURIComponent(match[1] ?? '');
    const name = functionNameOf(ref);
    const fn = name === undefined ? undefined : opts.functions[name];
    if (fn === undefined) {
      sendServiceError(res, 404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${region}:${account}:function:${name ?? ref}`, requestId);
      return;
    }
    const raw = await readBody(req);
    let event: unknown = {};
    if (raw.length > 0) {
      try {
        event = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        sendServiceError(res, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${(err as Error).message}`, requestId);
        return;
      }
    }
    const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (invocationType === 'DryRun') {
      res.writeHead(204, { 'x-amzn-requestid': requestId });
      res.end();
      return;
    }
    const started = Date.now();
    const context: InvocationContext = { awsRequestId: requestId, getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)) };
    const run = fn(event, context);
    if (invocationType === 'Event') {
      run.catch(() => undefined);
      res.writeHead(202, { 'x-amzn-requestid': requestId });
      res.end();
      return;
    }
    let body: string;
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'x-amzn-requestid': requestId,
      'x-amz-executed-version': '$LATEST',
    };
    try {
      const result = await run;
      body = JSON.stringify(result === undefined ? null : result);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      body = JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') });
      headers['x-amz-function-error'] = 'Unhandled';
    }
    headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(200, headers);
    res.end(body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendServiceError(res, 500, 'ServiceException', (err as Error).message ?? String(err), randomUUID());
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
  };
};

/** Serves functions/handler.ts until SIGINT/SIGTERM. */
const serveHandler = async (argv: readonly string[]): Promise<void> => {
  const { values } = parseArgs({
    args: [...argv],
    options: { port: { type: 'string', default: '9001' }, name: { type: 'string', default: 'airflow-watchdog' }, timeout: { type: 'string', default: '900' } },
    strict: true,
  });
  const { handler } = (await import('../functions/handler.js')) as { handler: (event: unknown, context: Context) => Promise<unknown> };
  const name = values.name;
  const timeoutSeconds = Number(values.timeout);
  const toContext = (ctx: InvocationContext): Context => ({
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: ctx.awsRequestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => ctx.getRemainingTimeInMillis(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  });
  const endpoint = await startLambdaEndpoint({
    functions: { [name]: (event, ctx) => handler(event, toContext(ctx)) },
    port: Number(values.port),
    timeoutSeconds,
  });
  process.stderr.write(`lambda endpoint: ${endpoint.url} serving function "${name}"; try: npm run cli -- status --endpoint ${endpoint.url}\n`);
  const stop = (): void => {
    endpoint.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  serveHandler(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`lambda endpoint: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}

export type { LambdaEndpoint, LambdaEndpointOptions, LocalHandler };
export { functionNameOf, startLambdaEndpoint };
