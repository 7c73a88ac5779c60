import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SignerConfig } from '@aws-sdk/rds-signer';
import type { DbConfig } from '../core/config.js';
import { errorMessage } from '../core/errors.js';

/**
 * Where the metadata DB password comes from (SPEC §3). Called once per new connection, so an IAM
 * token is fresh for every connect and a rotated secret is picked up after `passwordCacheSeconds`.
 * Errors name the parameter, secret or signer that failed, never a value.
 *
 * The Secrets Manager client and the RDS signer are imported only when the configuration names them
 * (each is a chunk of its own in the Lambda bundle); the SSM provider is static, since the function
 * loads the SSM client for the fleet anyway. `preloadPasswordSource` starts the import at cold start.
 */

/** `undefined` = connect without a password (local trust auth). */
type PasswordSource = () => Promise<string | undefined>;

interface PasswordSourceOptions {
  readonly region?: string;
  /** Injected clients (tests, or sharing one client); otherwise one is built for `region` on first use. */
  readonly ssmClient?: SSMClient;
  readonly secretsClient?: SecretsManagerClient;
  /** For the RDS signer; default: the SDK's credential chain. */
  readonly credentials?: SignerConfig['credentials'];
}

class PasswordSourceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PasswordSourceError';
  }
}

/** A secret is a plain password or JSON holding one under `password` (RDS-managed secrets). */
const passwordFromSecret = (secretId: string, text: string): string => {
  if (!text.trimStart().startsWith('{')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON after all; never quote the parse error, it echoes the text.
    return text;
  }
  const password = (parsed as { password?: unknown }).password;
  if (typeof password !== 'string') {
    throw new PasswordSourceError(`Secrets Manager secret "${secretId}" is JSON without a string "password" key`);
  }
  return password;
};

type Lazy<T> = () => Promise<T>;
const once = <T>(load: () => Promise<T>): Lazy<T> => {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
};
const secretsModule = once(() => import('./db-credentials-secrets.js'));
const signerModule = once(() => import('./db-credentials-iam.js'));

const ssmSource = (name: string, maxAge: number, opts: PasswordSourceOptions): PasswordSource => {
  let provider: SSMProvider | undefined;
  return async () => {
    provider ??= opts.ssmClient ? new SSMProvider({ awsSdkV3Client: opts.ssmClient }) : new SSMProvider({ clientConfig: { region: opts.region } });
    let value: unknown;
    try {
      value = await provider.get(name, { decrypt: true, maxAge });
    } catch (err) {
      throw new PasswordSourceError(`could not read the DB password from SSM parameter "${name}": ${errorMessage(err)}`, { cause: err });
    }
    if (typeof value !== 'string' || value === '') throw new PasswordSourceError(`SSM parameter "${name}" holds no DB password`);
    return value;
  };
};

const secretSource = (secretId: string, maxAge: number, opts: PasswordSourceOptions): PasswordSource => {
  let provider: InstanceType<Awaited<ReturnType<typeof secretsModule>>['SecretsProvider']> | undefined;
  return async () => {
    if (provider === undefined) {
      const { SecretsProvider } = await secretsModule();
      provider = opts.secretsClient
        ? new SecretsProvider({ awsSdkV3Client: opts.secretsClient })
        : new SecretsProvider({ clientConfig: { region: opts.region } });
    }
    let value: string | Uint8Array | undefined;
    try {
      value = await provider.get(secretId, { maxAge });
    } catch (err) {
      throw new PasswordSourceError(`could not read the DB password from Secrets Manager secret "${secretId}": ${errorMessage(err)}`, { cause: err });
    }
    const text = value instanceof Uint8Array ? new TextDecoder().decode(value) : value;
    if (text === undefined || text === '') throw new PasswordSourceError(`Secrets Manager secret "${secretId}" holds no DB password`);
    return passwordFromSecret(secretId, text);
  };
};

const iamSource = (config: DbConfig, opts: PasswordSourceOptions): PasswordSource => {
  const port = config.port ?? (config.dialect === 'mysql' ? 3306 : 5432);
  let signer: InstanceType<Awaited<ReturnType<typeof signerModule>>['Signer']> | undefined;
  return async () => {
    try {
      if (signer === undefined) {
        const { Signer } = await signerModule();
        signer = new Signer({ hostname: config.host, port, username: config.user, region: opts.region, credentials: opts.credentials });
      }
      return await signer.getAuthToken();
    } catch (err) {
      throw new PasswordSourceError(`could not sign an RDS IAM auth token for ${config.user}@${config.host}:${port}: ${errorMessage(err)}`, { cause: err });
    }
  };
};

/** Picks the source the configuration names (config validation guarantees at most one). */
const passwordSource = (config: DbConfig, opts: PasswordSourceOptions = {}): PasswordSource => {
  if (config.passwordParameterName !== undefined) return ssmSource(config.passwordParameterName, config.passwordCacheSeconds, opts);
  if (config.passwordSecretId !== undefined) return secretSource(config.passwordSecretId, config.passwordCacheSeconds, opts);
  if (config.iamAuth) return iamSource(config, opts);
  const literal = config.password;
  return async () => literal;
};

/** Imports the configured source's client library now (at cold start) instead of at the first connect. */
const preloadPasswordSource = async (config: DbConfig): Promise<void> => {
  if (config.passwordSecretId !== undefined) await secretsModule();
  else if (config.iamAuth) await signerModule();
};

export type { PasswordSource, PasswordSourceOptions };
export { PasswordSourceError, passwordFromSecret, passwordSource, preloadPasswordSource };
