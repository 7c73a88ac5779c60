import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * An in-process dynalite (in-memory DynamoDB) on a free port, with the watchdog's table created
 * exactly as production defines it (`pk` string HASH key, on-demand). Each call is an isolated server.
 */

// dynalite is CommonJS without type declarations; load it through require and type the one call we use.
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

interface DynaliteHandle {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  close(): Promise<void>;
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

const createClient = (endpoint: string): DynamoDBClient =>
  new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'dynalite', secretAccessKey: 'dynalite' },
    maxAttempts: 2,
  });

const startDynalite = async (opts: { tableName?: string } = {}): Promise<DynaliteHandle> => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listen(server);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createClient(endpoint);
  const tableName = opts.tableName ?? 'airflow-watchdog-test';
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // createTableMs: 0 still flips CREATING → ACTIVE on a timer; writes to a CREATING table are refused.
  for (let i = 0; ; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (d.Table?.TableStatus === 'ACTIVE') break;
    if (i >= 100) throw new Error(`dynalite table ${tableName} did not become ACTIVE`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    endpoint,
    client,
    tableName,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((err?: Error) => (err ? reject(err) : resolve())));
    },
  };
};

export type { DynaliteHandle };
export { startDynalite };
