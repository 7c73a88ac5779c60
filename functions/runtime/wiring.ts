import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { passwordSource, preloadPasswordSource } from '../adapters/db-credentials.js';
import { Ec2Fencer, preloadEc2 } from '../adapters/ec2-fencer.js';
import { createSsmClient, SsmFleet } from '../adapters/fleet.js';
import { createMetadataDb, preloadDriver } from '../adapters/metadata-db.js';
import { DynamoRecordStore } from '../adapters/record-store.js';
import type { WatchdogSettings } from '../core/config.js';
import { type Clock, systemClock } from '../core/ports.js';
import type { AppDeps } from './app.js';
import { createLogger, createMetrics } from './telemetry.js';
import { SqsTickQueue } from './tick-queue.js';

/**
 * Builds the production adapters from validated settings. SDK clients resolve region, credentials and
 * endpoints the standard way (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SSM /
 * AWS_ENDPOINT_URL_SQS), which is how the local runner points the same code at dynalite and the local
 * SSM endpoint.
 */
const buildDeps = (settings: WatchdogSettings, opts: { region?: string; clock?: Clock; tickQueueUrl?: string } = {}): AppDeps => {
  const clock = opts.clock ?? systemClock;
  const region = opts.region;
  const logger = createLogger();
  const inRegion = region === undefined ? {} : { region };
  return {
    db: createMetadataDb(settings.db, {
      password: passwordSource(settings.db, inRegion),
      warn: (message) => logger.warn('metadata DB row skipped', { detail: message }),
    }),
    store: new DynamoRecordStore({
      client: new DynamoDBClient({ retryMode: 'adaptive', maxAttempts: 5, ...inRegion }),
      tableName: settings.aws.tableName,
    }),
    fleet: new SsmFleet({
      client: createSsmClient(inRegion),
      documents: { start: settings.aws.startDocument, stop: settings.aws.stopDocument, status: settings.aws.statusDocument },
      unitName: settings.aws.unitName,
      commandTimeoutSeconds: settings.cluster.commandTimeoutSeconds,
      clock,
      ...(settings.aws.commandLogGroupName === undefined ? {} : { cloudWatchLogGroupName: settings.aws.commandLogGroupName }),
    }),
    clock,
    ...(settings.cluster.fenceUnreachable === 'ec2-stop'
      ? {
          fencer: new Ec2Fencer({ clock, ...inRegion }),
        }
      : {}),
    logger,
    metrics: createMetrics(settings.cluster.clusterName),
    ...(opts.tickQueueUrl === undefined || settings.cluster.checkIntervalSeconds >= 60
      ? {}
      : { tickQueue: new SqsTickQueue({ queueUrl: opts.tickQueueUrl, ...inRegion }) }),
  };
};

/**
 * Imports, at cold start, every module the first tick will import on demand: the configured DB driver,
 * the password source's client library and, with a tick queue, the SQS client. The handler awaits it
 * during init, so no invocation pays for a module load and the cold-import figure covers all of it.
 */
const preloadModules = async (settings: WatchdogSettings, deps: AppDeps): Promise<void> => {
  const queue = deps.tickQueue instanceof SqsTickQueue ? deps.tickQueue.preload() : undefined;
  const ec2 = settings.cluster.fenceUnreachable === 'ec2-stop' ? preloadEc2() : undefined;
  await Promise.all([preloadDriver(settings.db), preloadPasswordSource(settings.db), queue, ec2]);
};

export { buildDeps, preloadModules };
