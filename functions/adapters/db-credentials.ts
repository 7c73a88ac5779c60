import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { Signer, type SignerConfig } from '@aws-sdk/rds-signer';
import type { DbConfig } from '../core/config.js';
import { errorMessage } from '../core/errors.js';

/**
 * Where the metadata DB password comes from (SPEC §3). Called once per new connection, so an IAM
 * token is fresh for every connect and a rotated secret is picked up after `passwordCacheSeconds`.
 * Errors name the parameter, secret or signer that failed, never a value.
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
  let provider: SecretsProvider | undefined;
  return async () => {
    provider ??= opts.secretsClient
      ? new SecretsProvider({ awsSdkV3Client: opts.secretsClient })
      : new SecretsProvider({ clientConfig: { region: opts.region } });
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
  const signer = new Signer({ hostname: config.host, port, username: config.user, region: opts.region, credentials: opts.credentials });
  return async () => {
    try {
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

export type { PasswordSource, PasswordSourceOptions };
export { PasswordSourceError, passwordFromSecret, passwordSource };
