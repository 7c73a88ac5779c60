/**
 * The inputs of the cost table (scripts/cost.ts) that are not read from the synthesized template or
 * measured: list prices and the assumptions, each with where it comes from. Edit here, then run
 * `npm run cost -- --write` to regenerate the table in docs/deploy.md (a test fails while it is stale).
 */

/** us-east-1 list prices, without any free tier. */
const PRICES = {
  lambdaRequestPerMillion: { usd: 0.2, source: 'https://aws.amazon.com/lambda/pricing/ (requests)' },
  lambdaArmGbSecond: { usd: 0.0000133334, source: 'https://aws.amazon.com/lambda/pricing/ (duration, Arm, first 7.5 billion GB-s)' },
  schedulerInvocationPerMillion: { usd: 1.0, source: 'https://aws.amazon.com/eventbridge/pricing/ (Scheduler, after 14 million free invocations)' },
  sqsStandardRequestPerMillion: { usd: 0.4, source: 'https://aws.amazon.com/sqs/pricing/ (standard queue, first 100 billion requests; each 64 KB chunk is a request)' },
  dynamoReadPerMillionRru: { usd: 0.125, source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (read request units)' },
  dynamoWritePerMillionWru: { usd: 0.625, source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (write request units)' },
  logsIngestPerGb: { usd: 0.5, source: 'https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard ingestion; Lambda logs: first tier)' },
  logsStoragePerGbMonth: { usd: 0.03, source: 'https://aws.amazon.com/cloudwatch/pricing/ (Logs, archival storage)' },
  customMetricPerMonth: { usd: 0.3, source: 'https://aws.amazon.com/cloudwatch/pricing/ (metrics, first 10,000; prorated by the hour a metric receives data)' },
  alarmMetricPerMonth: { usd: 0.1, source: 'https://aws.amazon.com/cloudwatch/pricing/ (standard-resolution alarm, per metric it reads)' },
  dashboardPerMonth: { usd: 3.0, source: 'https://aws.amazon.com/cloudwatch/pricing/ (dashboard)' },
  interfaceEndpointPerAzHour: { usd: 0.01, source: 'https://aws.amazon.com/privatelink/pricing/ (interface endpoint per AZ-hour; plus $0.01 per GB)' },
  natGatewayPerHour: { usd: 0.045, source: 'https://aws.amazon.com/vpc/pricing/ (NAT gateway per hour; plus $0.045 per GB)' },
} as const;

/** Assumptions: what the table cannot read from the template or measure on this machine. */
const ASSUMPTIONS = {
  hoursPerMonth: { value: 730, why: 'AWS pricing convention (8,760 h / 12)' },
  billedMsPerTick: {
    value: 250,
    why: 'billed duration of a warm tick that changes nothing, at 128 MiB: the record, the DB and SSM are read in parallel, and SSM DescribeInstanceInformation (tens of ms) dominates; the same tick takes about 5 ms on a full core against local services, with one component or three (npm run bench:tick, p50 5.2 ms), and 128 MiB gets about a fourteenth of a vCPU',
  },
  coldStartsPerMonth: { value: 1500, why: 'about two execution environments, each replaced every hour or so' },
  billedMsPerColdStart: { value: 2000, why: 'init (module load and preload, about 0.1–0.2 s on a full core: npm run bench:bundle) at a fourteenth of a vCPU; Lambda bills init' },
  sqsPollers: {
    value: 5,
    why: 'the event source mapping long-polls (20 s) with up to five concurrent pollers on a quiet queue, and may scale down to two (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html); five is the upper end',
  },
  sqsLongPollSeconds: { value: 20, why: 'SQS long polling maximum, which the event source mapping uses' },
  incidentHoursPerMonth: { value: 4, why: 'hours a month with an incident (a failover, a DB outage, recovery under way); incident metrics are billed only for those hours' },
  incidentSeries: { value: 6, why: 'metric series one incident writes at most (cluster and component series of ComponentsDown, Failovers, RecoveryBlocked, MissingInstances …)' },
  cloudWatchEventOverheadBytes: { value: 26, why: 'CloudWatch Logs counts 26 bytes of metadata per log event on top of its message' },
} as const;

/**
 * The lines the Lambda platform writes per invocation (text log format), as samples of their real shape;
 * their length is what the table counts.
 */
const PLATFORM_LINES = [
  'START RequestId: 8c5d1e6a-5b7f-4e7a-9d0c-0e9b1f3c2a4d Version: $LATEST',
  'END RequestId: 8c5d1e6a-5b7f-4e7a-9d0c-0e9b1f3c2a4d',
  'REPORT RequestId: 8c5d1e6a-5b7f-4e7a-9d0c-0e9b1f3c2a4d\tDuration: 187.43 ms\tBilled Duration: 188 ms\tMemory Size: 128 MB\tMax Memory Used: 91 MB\t',
] as const;

export { ASSUMPTIONS, PLATFORM_LINES, PRICES };
