import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';

const ctx = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

const loadHandler = async (config: unknown) => {
  vi.resetModules();
  vi.stubEnv('WATCHDOG_CONFIG', typeof config === 'string' ? config : JSON.stringify(config));
  vi.stubEnv('AWS_REGION', 'us-east-1');
  return (await import('../../functions/handler.js')).handler;
};

const valid = {
  cluster: { clusterName: 'prod', nodes: [{ id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' }] },
  db: { dialect: 'postgres', host: '127.0.0.1', database: 'airflow', user: 'watchdog', passwordParameterName: '/airflow/db' },
  aws: { tableName: 'watchdog', startDocument: 'Wd-Start', stopDocument: 'Wd-Stop', statusDocument: 'Wd-Status' },
};

describe('Function: handler (module entry)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('builds the production adapters at cold start and rejects a bad payload without any I/O', async () => {
    const handler = await loadHandler(valid);
    const res = await handler({ action: 'failover', reason: 'x', to: '$(reboot)' }, ctx);
    expect(res).toMatchObject({ ok: false, error: { code: 'InvalidRequest', field: 'to' } });
  });

  it('answers every manual invocation with the configuration error, naming the field and value', async () => {
    const handler = await loadHandler({ ...valid, cluster: { ...valid.cluster, staleAfterSeconds: 5 } });
    const res = await handler({ action: 'status' }, ctx);
    expect(res).toMatchObject({ ok: false, error: { code: 'ConfigError' } });
    expect(JSON.stringify(res)).toContain('staleAfterSeconds');
    expect(JSON.stringify(res)).toContain('5');
  });

  it('fails scheduled invocations on a configuration error so the errors alarm fires', async () => {
    const handler = await loadHandler('{not json');
    await expect(handler({ source: 'aws.events' }, ctx)).rejects.toThrow(/WATCHDOG_CONFIG is not valid JSON/);
  });

  it('fails queued ticks on a configuration error too', async () => {
    const handler = await loadHandler('{not json');
    await expect(handler({ Records: [{ eventSource: 'aws:sqs', messageId: 'm', body: '{}' }] }, ctx)).rejects.toThrow(/WATCHDOG_CONFIG is not valid JSON/);
  });

  it('never echoes a literal password from a bad configuration', async () => {
    const handler = await loadHandler({ ...valid, db: { ...valid.db, passwordParameterName: undefined, password: 42 } });
    const res = await handler({ action: 'status' }, ctx);
    expect(res.ok).toBe(false);
    expect(JSON.stringify(res)).toContain('db.password');
    expect(JSON.stringify(res)).not.toContain('42');
  });
});
