import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { passwordSource } from '../../functions/adapters/db-credentials.js';
import { dbSchema } from '../../functions/core/config.js';

/** The password source: literal, SSM SecureString, Secrets Manager, RDS IAM token; errors name the source, never a value. */

const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);

const config = (over: Record<string, unknown>) =>
  dbSchema.parse({ dialect: 'postgres', host: 'db.example.internal', port: 5432, database: 'airflow', user: 'watchdog', passwordCacheSeconds: 60, ...over });

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

afterEach(() => {
  ssm.reset();
  secrets.reset();
  vi.useRealTimers();
});

describe('passwordSource', () => {
  it('returns a literal password, or none', async () => {
    await expect(passwordSource(config({ password: 'local-pw' }))()).resolves.toBe('local-pw');
    await expect(passwordSource(config({}))()).resolves.toBeUndefined();
  });

  it('reads an SSM SecureString with decryption and caches it for passwordCacheSeconds', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    ssm.on(GetParameterCommand, { Name: '/airflow/db-password', WithDecryption: true }).resolves({ Parameter: { Value: 'from-ssm' } });
    const source = passwordSource(config({ passwordParameterName: '/airflow/db-password' }), { region: 'eu-west-1' });
    await expect(source()).resolves.toBe('from-ssm');
    await expect(source()).resolves.toBe('from-ssm');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    vi.advanceTimersByTime(61_000);
    await expect(source()).resolves.toBe('from-ssm');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });

  it('names the SSM parameter when reading fails, and an empty one', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'Parameter /airflow/db-password not found.', $metadata: {} }));
    const err = await rejection(passwordSource(config({ passwordParameterName: '/airflow/db-password' }), { region: 'eu-west-1' })());
    expect(err.message).toMatch(/^could not read the DB password from SSM parameter "\/airflow\/db-password": /);

    ssm.reset();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '' } });
    const empty = await rejection(passwordSource(config({ passwordParameterName: '/airflow/empty' }), { region: 'eu-west-1' })());
    expect(empty.message).toBe('SSM parameter "/airflow/empty" holds no DB password');
  });

  it.each([
    ['a plain string', 'plain-secret', 'plain-secret'],
    ['JSON with a password key', JSON.stringify({ username: 'watchdog', password: 'json-secret', host: 'x' }), 'json-secret'],
    ['text that only looks like JSON', '{not-json', '{not-json'],
  ])('reads a Secrets Manager secret holding %s', async (_what, stored, expected) => {
    secrets.on(GetSecretValueCommand, { SecretId: 'airflow/db' }).resolves({ SecretString: stored });
    await expect(passwordSource(config({ passwordSecretId: 'airflow/db' }), { region: 'eu-west-1' })()).resolves.toBe(expected);
  });

  it('reads a binary secret', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new TextEncoder().encode('binary-secret') });
    await expect(passwordSource(config({ passwordSecretId: 'airflow/db' }), { region: 'eu-west-1' })()).resolves.toBe('binary-secret');
  });

  it('refuses JSON without a password key, without quoting the secret', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ pass: 'do-not-show' }) });
    const err = await rejection(passwordSource(config({ passwordSecretId: 'airflow/db' }), { region: 'eu-west-1' })());
    expect(err.message).toBe('Secrets Manager secret "airflow/db" is JSON without a string "password" key');
    expect(err.message).not.toContain('do-not-show');
  });

  it('names the secret when reading fails', async () => {
    secrets.on(GetSecretValueCommand).rejects(new Error('User is not authorized to perform secretsmanager:GetSecretValue'));
    const err = await rejection(passwordSource(config({ passwordSecretId: 'airflow/db' }), { region: 'eu-west-1' })());
    expect(err.message).toMatch(/^could not read the DB password from Secrets Manager secret "airflow\/db": .*not authorized/);
  });

  it('signs a fresh RDS IAM token for the configured user, host and port on every call', async () => {
    const source = passwordSource(config({ iamAuth: true, tls: true }), {
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-key-example' },
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = await source();
    vi.advanceTimersByTime(2000);
    const second = await source();
    expect(first).toMatch(/^db\.example\.internal:5432\/\?Action=connect&DBUser=watchdog&X-Amz-Algorithm=AWS4-HMAC-SHA256&.*eu-west-1%2Frds-db%2Faws4_request/);
    expect(second).not.toBe(first);
  });

  it('names the signer target when signing fails', async () => {
    const source = passwordSource(config({ iamAuth: true, tls: true }), {
      region: 'eu-west-1',
      credentials: async () => {
        throw new Error('no credentials in the chain');
      },
    });
    const err = await rejection(source());
    expect(err.message).toBe('could not sign an RDS IAM auth token for watchdog@db.example.internal:5432: no credentials in the chain');
  });
});
