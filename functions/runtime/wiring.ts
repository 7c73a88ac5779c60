import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { passwordSource } from '../adapters/db-credentials.js';
import { Ec2Fencer } from '../adapters/ec2-fencer.js';
import { SsmFleet, createSsmClient } from '../adapters/fleet.js';
import { createMetadataDb } from '../adapters/metadata-db.js';
import { DynamoRecordStore } from '../adapters/record-store.js';
import type { WatchdogSettings } from '../core/config.js';
import { type Clock, systemClock } from '../core/ports.js';
import type { AppDeps } from './app.js';
import { createLogger, createMetrics } from './telemetry.js';

/**
 * Builds the production adapters from validated settings. SDK clients resolve region, credentials and
 * endpoints the standard way (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SSM), which is
 * how the local runner points the same code at dynalite and the local SSM endpoint.
 */
const buildDeps = (settings: WatchdogSettings, opts: { region?: string; clock?: Clock } = {}): AppDeps => {
  const clock = opts.clock ?? systemClock;
  const region = opts.region;
  const logger = createLogger();
  return {
    db: createMetadataDb(settings.db, {
      password: passwordSource(settings.db, { ...(region === undefined ? {} : { region }) }),
      warn: (message) => logger.warn('metadata DB row skipped', { detail: message }),
    }),
    store: new DynamoRecordStore({
      client: new DynamoDBClient({ retryMode: 'adaptive', maxAttempts: 5, ...(region === undefined ? {} : { region }) }),
      tableName: settings.aws.tableName,
    }),
    fleet: new SsmFleet({
      client: createSsmClient({ ...(region === undefined ? {} : { region }) }),
      documents: { start: settings.aws.startDocument, stop: settings.aws.stopDocument, status: settings.aws.statusDocument },
      unitName: settings.aws.unitName,
      commandTimeoutSeconds: settings.cluster.commandTimeoutSeconds,
      clock,
      ...(settings.aws.commandLogGroupName === undefined ? {} : { cloudWatchLogGroupName: settings.aws.commandLogGroupName }),
    }),
    clock,
    ...(settings.cluster.fenceUnreachable === 'ec2-stop'
      ? {
          fencer: new Ec2Fencer({
            clock,
            // Loaded only when a fence is needed: most ticks never pay for the EC2 client.
            client: async () => new (await import('@aws-sdk/client-ec2')).EC2Client({ retryMode: 'adaptive', maxAttempts: 3, ...(region === undefined ? {} : { region }) }),
          }),
        }
      : {}),
    logger,
    metrics: createMetrics(settings.cluster.clusterName),
  };
};

export { buildDeps };
