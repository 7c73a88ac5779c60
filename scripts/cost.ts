/**
 * `npm run cost`: the monthly cost of one cluster, from the synthesized templates and a table of list
 * prices (scripts/cost-inputs.ts), as the markdown table docs/deploy.md carries between its
 * `cost-table` markers.
 *
 *   npm run cost               print the table
 *   npm run cost -- --write    rewrite it in docs/deploy.md
 *   npm run cost -- --check    exit 1 when docs/deploy.md differs (test/infra/cost.test.ts does the same)
 *
 * What drives cost is read from the templates of two deployments synthesized with the construct (60 s
 * and 10 s checks, outside a VPC, two nodes, PostgreSQL, password in Parameter Store): function memory
 * and architecture, the schedule, the tick queue and its event source mapping, the check interval in the
 * function's configuration, the alarms and the metrics each reads, the dashboard, the log retention, and
 * (from VPC variants) the interface endpoints. Measured here: the bytes the function logs per tick (its
 * real log lines, through Powertools, for a tick that changes nothing) and the read units of the record
 * with a full history (built by the real app through a run of incidents). The rest are the stated
 * assumptions of cost-inputs.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { CONFIG_ENV_VAR, parseSettings } from '../functions/core/config.js';
import type { StoredRecord } from '../functions/core/model.js';
import { createApp } from '../functions/runtime/app.js';
import type { AirflowSchedulerWatchdogProps } from '../infra/lib/props.js';
import { AirflowSchedulerWatchdog } from '../infra/lib/watchdog.js';
import { FakeDb, FakeFleet, ManualClock, MemoryStore, row } from '../test/helpers/fakes.js';
import { REPO_ROOT } from './build-lambda.js';
import { ASSUMPTIONS, PLATFORM_LINES, PRICES } from './cost-inputs.js';

const DOC = join(REPO_ROOT, 'docs', 'deploy.md');
const START = '<!-- cost-table:start -->';
const END = '<!-- cost-table:end -->';

const NODES = [
  { id: 'i-0123456789abcdef0', hostname: 'ip-10-0-1-10.ec2.internal' },
  { id: 'i-0fedcba9876543210', hostname: 'ip-10-0-2-10.ec2.internal' },
];

// ---- Templates -----------------------------------------------------------------------------------

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const synth = (checkIntervalSeconds: number, inVpc: boolean): Resources => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Cost', { env: { account: '123456789012', region: 'us-east-1' } });
  const props: AirflowSchedulerWatchdogProps = {
    cluster: { clusterName: 'prod', nodes: NODES, checkIntervalSeconds },
    database: {
      dialect: 'postgres',
      host: 'airflow-db.example.com',
      databaseName: 'airflow',
      user: 'airflow_watchdog',
      passwordParameter: ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Pw', { parameterName: '/airflow/watchdog/db-password' }),
    },
    ...(inVpc
      ? {
          vpc: ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
            vpcId: 'vpc-0123456789abcdef0',
            availabilityZones: ['us-east-1a', 'us-east-1b'],
            privateSubnetIds: ['subnet-0a', 'subnet-0b'],
            privateSubnetRouteTableIds: ['rtb-0a', 'rtb-0b'],
          }),
          createVpcEndpoints: true,
        }
      : { publicDatabase: true }),
  };
  new AirflowSchedulerWatchdog(stack, 'Watchdog', props);
  return Template.fromStack(stack).toJSON().Resources as Resources;
};

const ofType = (r: Resources, type: string) => Object.values(r).filter((x) => x.Type === type);

/** Flattens `Fn::Join` and friends into text, tokens as placeholders (for the function's configuration). */
const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(text).join(sep);
  }
  return 'placeholder-token';
};

interface Drivers {
  readonly memoryGb: number;
  readonly arm: boolean;
  readonly checkIntervalSeconds: number;
  readonly scheduledPerMinute: number;
  readonly queuedPerMinute: number;
  readonly alarms: number;
  readonly alarmMetrics: number;
  readonly dashboards: number;
  readonly logRetentionDays: number;
  readonly interfaceEndpointAzs: number;
}

/** What drives cost, read from a template. */
const driversOf = (r: Resources): Drivers => {
  const fns = ofType(r, 'AWS::Lambda::Function').filter((f) => f.Properties.Handler === 'index.handler');
  if (fns.length !== 1) throw new Error(`cost: expected one watchdog function, found ${fns.length}`);
  const fn = fns[0] as (typeof fns)[number];
  const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const settings = parseSettings(JSON.parse(text(env[CONFIG_ENV_VAR])));
  const schedules = ofType(r, 'AWS::Scheduler::Schedule');
  if (schedules.length !== 1 || schedules[0]?.Properties.ScheduleExpression !== 'rate(1 minute)') throw new Error('cost: expected one rate(1 minute) schedule');
  const mappings = ofType(r, 'AWS::Lambda::EventSourceMapping');
  const queues = ofType(r, 'AWS::SQS::Queue');
  const ci = settings.cluster.checkIntervalSeconds;
  const queuedPerMinute = ci < 60 ? 60 / ci - 1 : 0;
  if ((queuedPerMinute > 0) !== (queues.length === 1 && mappings.length === 1 && mappings[0]?.Properties.BatchSize === 1)) {
    throw new Error(`cost: ${ci} s checks but ${queues.length} queue(s) and ${mappings.length} event source mapping(s)`);
  }
  const alarms = ofType(r, 'AWS::CloudWatch::Alarm');
  const metricsOf = (a: (typeof alarms)[number]): number =>
    a.Properties.MetricName !== undefined ? 1 : ((a.Properties.Metrics as { MetricStat?: unknown }[] | undefined) ?? []).filter((m) => m.MetricStat !== undefined).length;
  const logGroup = ofType(r, 'AWS::Logs::LogGroup').find((g) => JSON.stringify(fn.Properties.LoggingConfig).includes(Object.entries(r).find(([, v]) => v === g)?.[0] ?? '?'));
  const interfaces = ofType(r, 'AWS::EC2::VPCEndpoint').filter((e) => e.Properties.VpcEndpointType === 'Interface');
  return {
    memoryGb: (fn.Properties.MemorySize as number) / 1024,
    arm: (fn.Properties.Architectures as string[]).includes('arm64'),
    checkIntervalSeconds: ci,
    scheduledPerMinute: 1,
    queuedPerMinute,
    alarms: alarms.length,
    alarmMetrics: alarms.reduce((sum, a) => sum + metricsOf(a), 0),
    dashboards: ofType(r, 'AWS::CloudWatch::Dashboard').length,
    logRetentionDays: (logGroup?.Properties.RetentionInDays as number | undefined) ?? 30,
    interfaceEndpointAzs: interfaces.reduce((sum, e) => sum + ((e.Properties.SubnetIds as unknown[] | undefined)?.length ?? 0), 0),
  };
};

// ---- Measurements --------------------------------------------------------------------------------

const settingsFor = (checkIntervalSeconds: number) =>
  parseSettings({
    cluster: { clusterName: 'prod', nodes: NODES, checkIntervalSeconds },
    db: { dialect: 'postgres', host: 'airflow-db.example.com', database: 'airflow', user: 'airflow_watchdog', passwordParameterName: '/airflow/watchdog/db-password' },
    aws: { tableName: 'AirflowWatchdog-Table-1A2B3C4D5E6F', startDocument: 'AirflowWatchdog-Start-1A2B3C', stopDocument: 'AirflowWatchdog-Stop-1A2B3C', statusDocument: 'AirflowWatchdog-Status-1A2B3C' },
  });

/** The app with in-memory ports and a real Powertools logger whose lines are collected. */
const appWithCapturedLogs = (checkIntervalSeconds: number) => {
  const lines: string[] = [];
  const sink = { log: (s: string) => lines.push(s), info: (s: string) => lines.push(s), warn: (s: string) => lines.push(s), error: (s: string) => lines.push(s), debug: (s: string) => lines.push(s) };
  const logger = new Logger({ serviceName: 'airflow-scheduler-watchdog' });
  (logger as unknown as { console: typeof sink }).console = sink;
  const metrics = new Metrics({ namespace: 'AirflowSchedulerWatchdog', serviceName: 'airflow-scheduler-watchdog' });
  (metrics as unknown as { console: typeof sink }).console = sink;
  metrics.clearDefaultDimensions();
  metrics.setDefaultDimensions({ ClusterName: 'prod' });
  const db = new FakeDb();
  const store = new MemoryStore();
  const fleet = new FakeFleet();
  const clock = new ManualClock();
  fleet.reach = Object.fromEntries(NODES.map((n) => [n.id, 'Online' as const]));
  const app = createApp(settingsFor(checkIntervalSeconds), { db, store, fleet, clock, logger, metrics });
  let n = 0;
  const ctx = () => ({ awsRequestId: `8c5d1e6a-5b7f-4e7a-9d0c-${String(++n).padStart(12, '0')}`, getRemainingTimeInMillis: () => 205_000 });
  return { app, lines, db, store, fleet, clock, ctx };
};

/** Log events and bytes of one scheduled tick that changes nothing (healthy active scheduler), platform lines included. */
const measureTickLogs = async (): Promise<{ events: number; bytes: number }> => {
  const { app, lines, db, ctx } = appWithCapturedLogs(60);
  db.setRows([row(NODES[0]?.hostname as string, 7.3)]);
  await app.handle({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event' }, ctx()); // adopts the running scheduler
  lines.length = 0;
  await app.handle({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event' }, ctx());
  const all = [...lines, ...PLATFORM_LINES];
  return { events: all.length, bytes: all.reduce((sum, l) => sum + Buffer.byteLength(l, 'utf8') + ASSUMPTIONS.cloudWatchEventOverheadBytes.value, 0) };
};

/** DynamoDB's item size: attribute names and values (numbers by significant digits), lists and maps with their overhead. */
const dynamoBytes = (value: unknown): number => {
  if (value === undefined) return 0;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace(/^0+|\.|0+$/g, '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + dynamoBytes(v), 0);
  return (
    3 +
    Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .reduce((sum, [k, v]) => sum + 1 + Buffer.byteLength(k, 'utf8') + dynamoBytes(v), 0)
  );
};

/**
 * The record's size once its history is full (50 events), from a run of incidents through the real app:
 * crash, restart in place, failover when the restart does not take, the new node healthy, repeated.
 */
const measureRecord = async (): Promise<{ bytes: number; events: number; readUnits: number }> => {
  const { app, store, db, clock, ctx } = appWithCapturedLogs(60);
  const healthy = (i: number) => db.setRows([row(NODES[i]?.hostname as string, 6, 100 + i)]);
  const stale = (i: number) => db.setRows([row(NODES[i]?.hostname as string, 95, 100 + i)]);
  const tick = () => app.handle({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event' }, ctx()).catch(() => undefined);
  healthy(0);
  await tick();
  for (let cycle = 0; (store.item?.history.length ?? 0) < 50 && cycle < 100; cycle++) {
    const active = NODES.findIndex((n) => n.id === store.item?.active[0]);
    stale(active);
    await tick(); // restart in place
    clock.t += 150_000;
    await tick(); // the restart did not take: failover
    healthy(active === 0 ? 1 : 0);
    clock.t += 30_000;
    await tick(); // the new node is healthy
    clock.t += 3_600_000;
  }
  const item = store.item as StoredRecord;
  const { clusterName: _c, ...attributes } = item;
  const bytes = dynamoBytes({ pk: `cluster#${item.clusterName}`, ...attributes });
  return { bytes, events: item.history.length, readUnits: Math.ceil(bytes / 4096) };
};

// ---- The table -----------------------------------------------------------------------------------

interface Line {
  readonly item: string;
  readonly driver: (d: Drivers) => string;
  readonly price: string;
  readonly usd: (d: Drivers) => number;
  /** Not in the total (optional add-ons). */
  readonly addOn?: boolean;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const usd = (n: number): string => (n === 0 ? '$0' : n < 0.005 ? '< $0.01' : `$${n.toFixed(2)}`);

interface CostModel {
  readonly lines: readonly Line[];
  readonly drivers: readonly [Drivers, Drivers];
  readonly vpc: readonly [Drivers, Drivers];
  readonly logs: { events: number; bytes: number };
  readonly record: { bytes: number; events: number; readUnits: number };
}

const buildModel = async (): Promise<CostModel> => {
  const drivers = [driversOf(synth(60, false)), driversOf(synth(10, false))] as const;
  const vpc = [driversOf(synth(60, true)), driversOf(synth(10, true))] as const;
  const logs = await measureTickLogs();
  const record = await measureRecord();
  const A = ASSUMPTIONS;
  const P = PRICES;
  const minutes = A.hoursPerMonth.value * 60;
  const ticks = (d: Drivers) => minutes * (d.scheduledPerMinute + d.queuedPerMinute);
  const gbSeconds = (d: Drivers) => (ticks(d) * A.billedMsPerTick.value + A.coldStartsPerMonth.value * A.billedMsPerColdStart.value) / 1000 * d.memoryGb;
  const sqs = (d: Drivers) => {
    if (d.queuedPerMinute === 0) return { sends: 0, receives: 0, deletes: 0, total: 0 };
    const sends = minutes; // one SendMessageBatch per scheduled invocation
    const receives = minutes * (A.sqsPollers.value * (60 / A.sqsLongPollSeconds.value) + d.queuedPerMinute);
    const deletes = minutes * d.queuedPerMinute;
    return { sends, receives, deletes, total: sends + receives + deletes };
  };
  const logGb = (d: Drivers) => (ticks(d) * logs.bytes) / 1e9;
  const lines: Line[] = [
    {
      item: 'Lambda requests',
      driver: (d) => `${int(ticks(d))} invocations (${d.scheduledPerMinute + d.queuedPerMinute} a minute)`,
      price: `$${P.lambdaRequestPerMillion.usd.toFixed(2)} per 1M`,
      usd: (d) => (ticks(d) / 1e6) * P.lambdaRequestPerMillion.usd,
    },
    {
      item: `Lambda duration (${drivers[0].arm ? 'arm64' : 'x86'}, ${drivers[0].memoryGb * 1024} MiB)`,
      driver: (d) => `${A.billedMsPerTick.value} ms a tick, ${int(A.coldStartsPerMonth.value)} cold starts of ${A.billedMsPerColdStart.value / 1000} s: ${int(gbSeconds(d))} GB-s`,
      price: `$${P.lambdaArmGbSecond.usd} per GB-s`,
      usd: (d) => gbSeconds(d) * P.lambdaArmGbSecond.usd,
    },
    {
      item: 'EventBridge Scheduler',
      driver: () => `${int(minutes)} invocations`,
      price: `$${P.schedulerInvocationPerMillion.usd.toFixed(2)} per 1M`,
      usd: () => (minutes / 1e6) * P.schedulerInvocationPerMillion.usd,
    },
    {
      item: 'SQS tick queue',
      driver: (d) =>
        d.queuedPerMinute === 0
          ? 'no queue at 60 s checks'
          : `1 SendMessageBatch, ${A.sqsPollers.value} pollers × ${60 / A.sqsLongPollSeconds.value} long polls and ${d.queuedPerMinute} receives + deletes a minute: ${int(sqs(d).total)} requests`,
      price: `$${P.sqsStandardRequestPerMillion.usd.toFixed(2)} per 1M requests`,
      usd: (d) => (sqs(d).total / 1e6) * P.sqsStandardRequestPerMillion.usd,
    },
    {
      item: 'DynamoDB reads',
      driver: (d) => `1 strongly consistent read a tick, ${record.readUnits} RRU (full record, ${int(record.bytes)} bytes): ${int(ticks(d) * record.readUnits)} RRU`,
      price: `$${P.dynamoReadPerMillionRru.usd} per 1M RRU`,
      usd: (d) => ((ticks(d) * record.readUnits) / 1e6) * P.dynamoReadPerMillionRru.usd,
    },
    {
      item: 'DynamoDB writes',
      driver: () => 'none while nothing changes; a few per incident',
      price: `$${P.dynamoWritePerMillionWru.usd} per 1M WRU`,
      usd: () => 0,
    },
    {
      item: 'CloudWatch Logs ingestion',
      driver: (d) => `${int(logs.bytes)} bytes in ${logs.events} events a tick (measured): ${(logGb(d)).toFixed(3)} GB`,
      price: `$${P.logsIngestPerGb.usd.toFixed(2)} per GB`,
      usd: (d) => logGb(d) * P.logsIngestPerGb.usd,
    },
    {
      item: 'CloudWatch Logs storage',
      driver: (d) => `${d.logRetentionDays} days kept: ${(logGb(d) * Math.min(1, d.logRetentionDays / 30)).toFixed(3)} GB (uncompressed, erring high)`,
      price: `$${P.logsStoragePerGbMonth.usd.toFixed(2)} per GB-month`,
      usd: (d) => logGb(d) * Math.min(1, d.logRetentionDays / 30) * P.logsStoragePerGbMonth.usd,
    },
    {
      item: 'CloudWatch custom metrics',
      driver: () => `none while all is well; ${A.incidentHoursPerMonth.value} incident hours × ${A.incidentSeries.value} series`,
      price: `$${P.customMetricPerMonth.usd.toFixed(2)} per metric-month, by the hour`,
      usd: () => ((A.incidentSeries.value * A.incidentHoursPerMonth.value) / A.hoursPerMonth.value) * P.customMetricPerMonth.usd,
    },
    {
      item: 'CloudWatch alarms',
      driver: (d) => `${d.alarms} alarms reading ${d.alarmMetrics} metrics`,
      price: `$${P.alarmMetricPerMonth.usd.toFixed(2)} per alarm metric`,
      usd: (d) => d.alarmMetrics * P.alarmMetricPerMonth.usd,
    },
    {
      item: 'CloudWatch dashboard (`dashboard: false` removes it)',
      driver: (d) => `${d.dashboards}`,
      price: `$${P.dashboardPerMonth.usd.toFixed(2)} each`,
      usd: (d) => d.dashboards * P.dashboardPerMonth.usd,
      addOn: true,
    },
  ];
  return { lines, drivers, vpc, logs, record };
};

const renderTable = (m: CostModel): string => {
  const [d60, d10] = m.drivers;
  const rows = m.lines.filter((l) => !l.addOn);
  const total = (d: Drivers) => rows.reduce((sum, l) => sum + l.usd(d), 0);
  const cell = (l: Line, d: Drivers) => `${usd(l.usd(d))}<br><sub>${l.driver(d)}</sub>`;
  const out: string[] = [
    '<!-- Generated by scripts/cost.ts from the synthesized templates and scripts/cost-inputs.ts; run `npm run cost -- --write`. -->',
    '',
    '| item | unit price | 60 s checks | 10 s checks |',
    '| --- | --- | --- | --- |',
    ...rows.map((l) => `| ${l.item} | ${l.price} | ${cell(l, d60)} | ${cell(l, d10)} |`),
    `| **total**, outside a VPC, alarms included, dashboard excluded | | **${usd(total(d60))}** | **${usd(total(d10))}** |`,
  ];
  for (const l of m.lines.filter((x) => x.addOn)) out.push(`| + ${l.item} | ${l.price} | + ${usd(l.usd(d60))} | + ${usd(l.usd(d10))} |`);
  const [v60, v10] = m.vpc;
  const hours = ASSUMPTIONS.hoursPerMonth.value;
  const endpoints = (v: Drivers) => v.interfaceEndpointAzs * hours * PRICES.interfaceEndpointPerAzHour.usd;
  out.push(
    `| + in a VPC with \`createVpcEndpoints\` (2 AZs): interface endpoints, per AZ; the DynamoDB gateway endpoint is free | $${PRICES.interfaceEndpointPerAzHour.usd} per AZ-hour + $0.01 per GB | + ${usd(endpoints(v60))}<br><sub>${v60.interfaceEndpointAzs} endpoint-AZs (SSM)</sub> | + ${usd(endpoints(v10))}<br><sub>${v10.interfaceEndpointAzs} endpoint-AZs (SSM, SQS)</sub> |`,
    `| + or in a VPC through a NAT gateway instead | $${PRICES.natGatewayPerHour.usd} per hour + $0.045 per GB | + ${usd(hours * PRICES.natGatewayPerHour.usd)} | + ${usd(hours * PRICES.natGatewayPerHour.usd)} |`,
  );
  const A = ASSUMPTIONS;
  out.push(
    '',
    `Measured: a tick that changes nothing logs ${int(m.logs.bytes)} bytes in ${m.logs.events} events (its one JSON line through Powertools, Lambda's START, END and REPORT lines, ${A.cloudWatchEventOverheadBytes.value} bytes of CloudWatch overhead each); the record with a full history of ${m.record.events} events is ${int(m.record.bytes)} bytes, ${m.record.readUnits} read units for a strongly consistent read. Assumed:`,
    '',
    `- ${A.billedMsPerTick.value} ms billed per tick: ${A.billedMsPerTick.why}.`,
    `- ${int(A.coldStartsPerMonth.value)} cold starts a month (${A.coldStartsPerMonth.why}), ${A.billedMsPerColdStart.value / 1000} s billed each: ${A.billedMsPerColdStart.why}.`,
    `- ${A.sqsPollers.value} SQS pollers: ${A.sqsPollers.why}.`,
    `- Custom metrics: ${A.incidentHoursPerMonth.value} ${A.incidentHoursPerMonth.why}; ${A.incidentSeries.value} ${A.incidentSeries.why}.`,
    `- ${A.hoursPerMonth.value} hours a month; no free tier; us-east-1 list prices (scripts/cost-inputs.ts names each source).`,
  );
  return `${out.join('\n')}\n`;
};

/** The generated table; its two totals for checks (test/infra/cost.test.ts). */
const costTable = async (): Promise<{ markdown: string; totals: { at60: number; at10: number }; model: CostModel }> => {
  const model = await buildModel();
  const rows = model.lines.filter((l) => !l.addOn);
  const total = (d: Drivers) => rows.reduce((sum, l) => sum + l.usd(d), 0);
  return { markdown: renderTable(model), totals: { at60: total(model.drivers[0]), at10: total(model.drivers[1]) }, model };
};

/** The table as docs/deploy.md holds it now. */
const documentedTable = (doc: string = readFileSync(DOC, 'utf8')): string | undefined => {
  const i = doc.indexOf(START);
  const j = doc.indexOf(END);
  return i < 0 || j < i ? undefined : doc.slice(i + START.length + 1, j);
};

const main = async (): Promise<void> => {
  const { markdown } = await costTable();
  const mode = process.argv[2];
  if (mode === '--write') {
    const doc = readFileSync(DOC, 'utf8');
    if (documentedTable(doc) === undefined) throw new Error(`${DOC} has no ${START} … ${END} section`);
    writeFileSync(DOC, `${doc.slice(0, doc.indexOf(START) + START.length)}\n${markdown}${doc.slice(doc.indexOf(END))}`);
    process.stdout.write(`cost: table written to ${DOC}\n`);
  } else if (mode === '--check') {
    if (documentedTable() !== markdown) {
      process.stderr.write('cost: docs/deploy.md is stale; run `npm run cost -- --write`\n');
      process.exitCode = 1;
    }
  } else process.stdout.write(markdown);
};

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/scripts\//, '/scripts/'))) {
  main().catch((err: unknown) => {
    process.stderr.write(`cost: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}

export type { CostModel, Drivers };
export { costTable, documentedTable, driversOf, dynamoBytes, END, START };
