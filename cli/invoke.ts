import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Response } from '../functions/runtime/app.js';
import { DEFAULT_LOCAL_FUNCTION, type Target } from './args.js';
import { CliError, EXIT } from './errors.js';

/**
 * Transports: the deployed function through Lambda `Invoke` (RequestResponse), found by name/ARN or by the
 * stack's `WatchdogFunctionName` output, or a local runner through the same Lambda client pointed at
 * `--endpoint` (local/lambda-endpoint.ts), so both paths run the same code. Every AWS failure is turned into
 * a CliError with a message an operator can act on.
 */

/** CloudFormation output key of the deployed function's name (set by the CDK stack in infra/). */
const FUNCTION_OUTPUT_KEY = 'WatchdogFunctionName';

interface ClientConfig {
  readonly region?: string;
  readonly endpoint?: string;
  readonly profile?: string;
  readonly maxAttempts: number;
  /** Static credentials, used for a loopback endpoint that checks no signature. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** How the CLI builds its SDK clients; tests inject failing credential providers through it. */
interface ClientFactory {
  lambda(cfg: ClientConfig): LambdaClient;
  sts(cfg: ClientConfig): STSClient;
  cloudformation(cfg: ClientConfig): CloudFormationClient;
}

const sdkConfig = (cfg: ClientConfig) => ({
  maxAttempts: cfg.maxAttempts,
  // Fail fast on a dead endpoint; a manual failover can legitimately run for minutes, so no request timeout.
  requestHandler: { connectionTimeout: 10_000 },
  ...(cfg.region === undefined ? {} : { region: cfg.region }),
  ...(cfg.endpoint === undefined ? {} : { endpoint: cfg.endpoint }),
  ...(cfg.profile === undefined ? {} : { profile: cfg.profile }),
  ...(cfg.credentials === undefined ? {} : { credentials: cfg.credentials }),
});

const defaultClients: ClientFactory = {
  lambda: (cfg) => new LambdaClient(sdkConfig(cfg)),
  sts: (cfg) => new STSClient(sdkConfig(cfg)),
  cloudformation: (cfg) => new CloudFormationClient(sdkConfig(cfg)),
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const isLoopback = (endpoint: string): boolean => LOOPBACK.has(new URL(endpoint).hostname);

interface ErrorLike {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly errors?: readonly unknown[];
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'TimeoutError']);
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'TokenRefreshRequired',
]);
const ACCESS_ERRORS = new Set(['AccessDeniedException', 'AccessDenied', 'AuthorizationError', 'KMSAccessDeniedException']);

/** Where the request went, for messages: "function airflow-watchdog-prod (eu-west-1)" or "… at http://127.0.0.1:9001". */
interface Where {
  readonly service: 'Lambda' | 'CloudFormation' | 'STS';
  readonly what: string;
  readonly endpoint?: string;
  readonly region?: string;
}

const place = (w: Where): string => `${w.what}${w.endpoint !== undefined ? ` at ${w.endpoint}` : w.region !== undefined ? ` in ${w.region}` : ''}`;

/** Maps an SDK or network error to what the operator should know and the exit code scripts get. */
const classifyAwsError = (err: unknown, where: Where): CliError => {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as ErrorLike;
  const name = e.name ?? 'Error';
  const message = e.message ?? String(err);
  const code = e.code ?? (Array.isArray(e.errors) ? (e.errors[0] as ErrorLike | undefined)?.code : undefined);
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new CliError(EXIT.credentials, 'NoCredentials', `no AWS credentials: ${message}`, {
      hint: 'configure credentials (aws configure, aws sso login, AWS_PROFILE or --profile, or an instance role)',
    });
  }
  if (/region is missing/i.test(message)) {
    return new CliError(EXIT.credentials, 'NoCredentials', `no AWS region configured (${message})`, {
      hint: 'set AWS_REGION, a region in your profile, or pass --region',
    });
  }
  if (CREDENTIAL_ERRORS.has(name)) {
    return new CliError(EXIT.credentials, 'NoCredentials', `AWS rejected the credentials (${name}): ${message}`, {
      hint: 'refresh them (aws sso login, new session token) or check AWS_PROFILE / --profile',
    });
  }
  if (ACCESS_ERRORS.has(name) || e.$metadata?.httpStatusCode === 403) {
    const action =
      where.service === 'Lambda' ? 'lambda:InvokeFunction' : where.service === 'CloudFormation' ? 'cloudformation:DescribeStacks' : 'sts:GetCallerIdentity';
    return new CliError(EXIT.credentials, 'AccessDenied', `access denied to ${place(where)}: ${message}`, {
      hint: `your identity needs ${action} on it`,
    });
  }
  if (name === 'ResourceNotFoundException') {
    return new CliError(EXIT.notFound, 'FunctionNotFound', `${place(where)} not found: ${message}`, {
      hint: 'check the name, the region (AWS_REGION / --region) and the account; or use --stack to find it from the CloudFormation stack',
    });
  }
  if (where.service === 'CloudFormation' && name === 'ValidationError' && /does not exist/i.test(message)) {
    return new CliError(EXIT.notFound, 'StackNotFound', `${place(where)} not found: ${message}`, {
      hint: 'check the stack name, the region (AWS_REGION / --region) and the account',
    });
  }
  if (
    (code !== undefined && NETWORK_CODES.has(code)) ||
    NETWORK_CODES.has(name) ||
    /ECONNREFUSED|ENOTFOUND|getaddrinfo|socket hang up|timed out|timeout/i.test(message)
  ) {
    return new CliError(EXIT.notFound, 'Unreachable', `cannot reach ${where.service} for ${place(where)}: ${message}`, {
      hint: where.endpoint !== undefined ? 'is the local runner started, and on that port?' : 'check the network, proxy settings and the region',
    });
  }
  return new CliError(EXIT.other, 'AwsError', `${where.service} call for ${place(where)} failed (${name}): ${message}`);
};

interface Resolved {
  readonly functionName: string;
  readonly region?: string;
  readonly endpoint?: string;
  /** True for a loopback endpoint (local runner): dummy credentials, caller defaults to $USER@host. */
  readonly local: boolean;
  readonly config: (maxAttempts: number) => ClientConfig;
}

/** Region the clients use: --region, else the SDK's own chain; a loopback endpoint needs none configured. */
const regionFor = (target: Target, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  if (target.region !== undefined) return target.region;
  if (target.endpoint !== undefined && isLoopback(target.endpoint) && !env.AWS_REGION && !env.AWS_DEFAULT_REGION) return 'us-east-1';
  return target.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
};

/** Finds the function: --function, else the stack's WatchdogFunctionName output, else the local default name. */
const resolveTarget = async (target: Target, env: Readonly<Record<string, string | undefined>>, clients: ClientFactory): Promise<Resolved> => {
  const region = regionFor(target, env);
  const local = target.endpoint !== undefined && isLoopback(target.endpoint);
  const config = (maxAttempts: number): ClientConfig => ({
    maxAttempts,
    ...(region === undefined ? {} : { region }),
    ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
    ...(target.profile === undefined ? {} : { profile: target.profile }),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  const base = { ...(region === undefined ? {} : { region }), ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }), local, config };
  if (target.functionName !== undefined) return { functionName: target.functionName, ...base };
  if (target.stack === undefined) return { functionName: DEFAULT_LOCAL_FUNCTION, ...base };

  const where: Where = { service: 'CloudFormation', what: `stack ${target.stack}`, ...(region === undefined ? {} : { region }) };
  // The stack lives in real CloudFormation even when --endpoint points the Lambda client elsewhere.
  const cfnConfig: ClientConfig = {
    maxAttempts: 3,
    ...(region === undefined ? {} : { region }),
    ...(target.profile === undefined ? {} : { profile: target.profile }),
  };
  let outputs: { OutputKey?: string; OutputValue?: string }[];
  try {
    const res = await clients.cloudformation(cfnConfig).send(new DescribeStacksCommand({ StackName: target.stack }));
    outputs = res.Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    throw classifyAwsError(err, where);
  }
  const exact = outputs.find((o) => o.OutputKey === FUNCTION_OUTPUT_KEY)?.OutputValue;
  if (exact !== undefined) return { functionName: exact, ...base };
  // Tolerate a differently named output when it is the only function output of the stack.
  const candidates = outputs.filter((o) => /Function(Name|Arn)$/.test(o.OutputKey ?? '') && o.OutputValue !== undefined);
  const only = candidates.length === 1 ? candidates[0]?.OutputValue : undefined;
  if (only !== undefined) return { functionName: only, ...base };
  throw new CliError(
    EXIT.notFound,
    'FunctionNotFound',
    `stack ${target.stack} has no ${FUNCTION_OUTPUT_KEY} output (outputs: ${outputs.map((o) => o.OutputKey).join(', ') || 'none'})`,
    {
      hint: 'pass the function with --function NAME|ARN instead',
    },
  );
};

const MAX_CALLER = 200;

/** The caller written to the history: the AWS identity ARN, or $USER@host for a local endpoint. */
const resolveCaller = async (resolved: Resolved, clients: ClientFactory, fallback: string): Promise<string> => {
  if (resolved.local) return fallback.slice(0, MAX_CALLER);
  try {
    const { endpoint: _e, ...cfg } = resolved.config(2);
    const id = await clients.sts(cfg).send(new GetCallerIdentityCommand({}));
    return (id.Arn ?? fallback).slice(0, MAX_CALLER);
  } catch (err) {
    const classified = classifyAwsError(err, {
      service: 'STS',
      what: 'caller identity',
      ...(resolved.region === undefined ? {} : { region: resolved.region }),
    });
    // Without credentials the invoke cannot work either: say so now. Anything else: fall back quietly.
    if (classified.exitCode === EXIT.credentials && classified.code === 'NoCredentials') throw classified;
    return fallback.slice(0, MAX_CALLER);
  }
};

const isResponse = (v: unknown): v is Response => {
  if (v === null || typeof v !== 'object' || !('ok' in v)) return false;
  const r = v as { ok: unknown; error?: { code?: unknown; message?: unknown } };
  if (r.ok === true) return typeof (v as { action?: unknown }).action === 'string';
  return r.ok === false && typeof r.error?.code === 'string' && typeof r.error.message === 'string';
};

/** One RequestResponse invocation; returns the function's answer (ok or not) or throws a CliError. */
const invokeFunction = async (
  resolved: Resolved,
  clients: ClientFactory,
  payload: Readonly<Record<string, unknown>>,
  maxAttempts: number,
): Promise<Response> => {
  const where: Where = {
    service: 'Lambda',
    what: `function ${resolved.functionName}`,
    ...(resolved.endpoint === undefined ? {} : { endpoint: resolved.endpoint }),
    ...(resolved.region === undefined ? {} : { region: resolved.region }),
  };
  let out: InvokeCommandOutput;
  try {
    out = await clients.lambda(resolved.config(maxAttempts)).send(
      new InvokeCommand({
        FunctionName: resolved.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
  } catch (err) {
    throw classifyAwsError(err, where);
  }
  const text = out.Payload === undefined ? '' : new TextDecoder().decode(out.Payload);
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  if (out.FunctionError !== undefined) {
    const fe = (body ?? {}) as { errorType?: string; errorMessage?: string };
    const detail = typeof fe === 'object' ? `${fe.errorType ?? out.FunctionError}: ${fe.errorMessage ?? text}` : String(body);
    throw new CliError(EXIT.other, 'FunctionError', `${place(where)} failed: ${detail}`, {
      hint: /timed out/i.test(detail)
        ? 'the invocation ran out of time; raise the function timeout or check the SSM command timeouts'
        : "see the function's CloudWatch logs",
    });
  }
  if (!isResponse(body)) {
    throw new CliError(EXIT.other, 'UnexpectedResponse', `${place(where)} answered something that is not a watchdog response: ${text.slice(0, 200)}`, {
      hint: 'is this the watchdog function?',
    });
  }
  return body;
};

export { classifyAwsError, defaultClients, FUNCTION_OUTPUT_KEY, invokeFunction, isLoopback, resolveCaller, resolveTarget };
export type { ClientConfig, ClientFactory, Resolved };
