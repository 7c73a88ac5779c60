/**
 * bench:tick — N warm no-action ticks of the real app (handler logic, MySQL adapter, DynamoDB record
 * store) against the local MariaDB and an in-process dynalite, with SSM mocked. Prints p50/p95 tick
 * latency and the DB statements and DynamoDB requests per tick.
 *
 * `--components all` supervises Airflow 3's three components (scheduler, dag-processor, triggerer,
 * one live row each): the tick must still be one DB statement and one DynamoDB request.
 *
 *   npm run bench:tick -- [--ticks 300] [--task-rows 20000] [--components scheduler|all]
 */
import { parseArgs } from 'node:util';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { SsmFleet } from '../functions/adapters/fleet.js';
import { createMetadataDb } from '../functions/adapters/metadata-db.js';
import { DynamoRecordStore } from '../functions/adapters/record-store.js';
import { parseSettings } from '../functions/core/config.js';
import { systemClock } from '../functions/core/ports.js';
import { createApp } from '../functions/runtime/app.js';
import { airflowJobDdl } from '../local/airflow-schema.js';
import { startDynalite } from '../test/helpers/dynalite.js';
import { captureTelemetry } from '../test/helpers/fakes.js';
import { requireService, tempMariaDb } from '../test/helpers/services.js';

const { values } = parseArgs({
  options: { ticks: { type: 'string', default: '300' }, 'task-rows': { type: 'string', default: '20000' }, components: { type: 'string', default: 'scheduler' } },
});
const ticks = Number(values.ticks);
const taskRows = Number(values['task-rows']);
if (values.components !== 'scheduler' && values.components !== 'all') throw new Error(`--components must be scheduler or all, not ${values.components}`);
const allComponents = values.components === 'all';

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

const main = async (): Promise<void> => {
  const base = await requireService('mariadb');
  const tmp = await tempMariaDb(base, 'bench_tick');
  const dyn = await startDynalite();
  try {
    for (const stmt of airflowJobDdl('mysql')) await tmp.conn.query(stmt);
    // A realistic table: many LocalTaskJob rows, a few dead scheduler rows, one live scheduler.
    const values: string[] = [];
    for (let i = 0; i < taskRows; i++) {
      values.push(`('dag_${i % 50}','success','LocalTaskJob',UTC_TIMESTAMP(6) - INTERVAL ${i} SECOND,UTC_TIMESTAMP(6) - INTERVAL ${i} SECOND,UTC_TIMESTAMP(6) - INTERVAL ${i} SECOND,'worker-${i % 7}','airflow')`);
      if (values.length === 1000 || i === taskRows - 1) {
        await tmp.conn.query(`INSERT INTO job (dag_id,state,job_type,start_date,end_date,latest_heartbeat,hostname,unixname) VALUES ${values.join(',')}`);
        values.length = 0;
      }
    }
    for (let i = 1; i <= 5; i++) {
      await tmp.conn.query(
        `INSERT INTO job (state,job_type,start_date,latest_heartbeat,hostname,unixname) VALUES ('failed','SchedulerJob',UTC_TIMESTAMP(6) - INTERVAL ${i} HOUR,UTC_TIMESTAMP(6) - INTERVAL ${i} HOUR,'sched-b','airflow')`,
      );
    }
    for (const jobType of allComponents ? ['SchedulerJob', 'DagProcessorJob', 'TriggererJob'] : ['SchedulerJob']) {
      await tmp.conn.query(
        `INSERT INTO job (state,job_type,start_date,latest_heartbeat,hostname,unixname) VALUES ('running','${jobType}',UTC_TIMESTAMP(6),UTC_TIMESTAMP(6),'sched-a','airflow')`,
      );
    }

    const settings = parseSettings({
      cluster: {
        clusterName: 'bench',
        nodes: [
          { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
          { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
          { id: 'i-0ccccccccccccccc3', hostname: 'sched-c' },
        ],
        ...(allComponents ? { components: { dagProcessor: {}, triggerer: {} } } : {}),
      },
      db: { dialect: 'mysql', host: tmp.settings.host, port: tmp.settings.port, database: tmp.settings.database, user: tmp.settings.user, password: '', tls: false },
      aws: { tableName: dyn.tableName, startDocument: 'Wd-Start', stopDocument: 'Wd-Stop', statusDocument: 'Wd-Status' },
    });

    let dynamoRequests = 0;
    dyn.client.middlewareStack.add(
      (next) => async (args) => {
        dynamoRequests += 1;
        return next(args);
      },
      { step: 'initialize', name: 'benchCounter' },
    );
    const ssm = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const ssmMock = mockClient(ssm);
    ssmMock.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: settings.cluster.nodes.map((n) => ({ InstanceId: n.id, PingStatus: 'Online' })),
    });

    const db = createMetadataDb(settings.db, { password: async () => '' });
    const tel = captureTelemetry('bench');
    const app = createApp(settings, {
      db,
      store: new DynamoRecordStore({ client: dyn.client, tableName: dyn.tableName }),
      fleet: new SsmFleet({ client: ssm, documents: { start: 'Wd-Start', stop: 'Wd-Stop', status: 'Wd-Status' }, unitName: 'airflow-scheduler', commandTimeoutSeconds: 60, clock: systemClock }),
      clock: systemClock,
      logger: tel.logger,
      metrics: tel.metrics,
    });
    const ctx = (i: number) => ({ awsRequestId: `bench-${i}`, getRemainingTimeInMillis: () => 900_000 });

    // Warm-up: the first tick adopts sched-a (one write), the next ones find nothing to do.
    for (let i = 0; i < 20; i++) await app.handle({ source: 'aws.events' }, ctx(i));
    const questions = async (): Promise<number> => {
      const [rows] = await tmp.conn.query("SHOW GLOBAL STATUS LIKE 'Questions'");
      return Number((rows as { Value: string }[])[0]?.Value);
    };
    const q0 = await questions();
    const d0 = dynamoRequests;
    const s0 = ssmMock.calls().length;
    const latencies: number[] = [];
    const verdicts = new Map<string, number>();
    for (let i = 0; i < ticks; i++) {
      const t = performance.now();
      const res = await app.handle({ source: 'aws.events' }, ctx(100 + i));
      latencies.push(performance.now() - t);
      const v = res.ok ? String((res.ticks as { verdict: string; disposition: string }[])[0]?.disposition) : 'error';
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
    // The two SHOW GLOBAL STATUS statements count themselves once (the second one).
    const dbStatements = (await questions()) - q0 - 1;
    latencies.sort((a, b) => a - b);
    const fmt = (n: number) => n.toFixed(2);
    console.log(
      `bench:tick  ${ticks} warm ticks, ${allComponents ? 'scheduler + dag-processor + triggerer' : 'scheduler only'}, MariaDB job table with ${taskRows} LocalTaskJob rows, dynalite, SSM mocked`,
    );
    console.log(`dispositions: ${[...verdicts].map(([k, v]) => `${k}=${v}`).join(', ')}`);
    console.log(`tick latency ms: p50 ${fmt(percentile(latencies, 50))}  p95 ${fmt(percentile(latencies, 95))}  max ${fmt(latencies.at(-1) ?? Number.NaN)}`);
    console.log(`per tick: DB statements ${(dbStatements / ticks).toFixed(2)}, DynamoDB requests ${((dynamoRequests - d0) / ticks).toFixed(2)}, SSM requests ${((ssmMock.calls().length - s0) / ticks).toFixed(2)}`);
    await db.close();
  } finally {
    await dyn.close();
    await tmp.drop();
  }
};

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
