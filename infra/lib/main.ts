import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAppConfig } from './app-config.js';
import { AirflowSchedulerWatchdogStack, defaultStackName } from './stack.js';

/**
 * Builds the deployable app on `app` from its context (see app-config.ts). The cdk-nag AwsSolutions
 * pack runs on every synth (and so on every deploy): an unacknowledged error fails it.
 */
const addWatchdogStack = (app: App): AirflowSchedulerWatchdogStack => {
  const config = loadAppConfig((key) => app.node.tryGetContext(key));
  const stackName = config.stackName ?? defaultStackName(config);
  const env = config.env === undefined ? {} : { env: config.env };
  const stack = new AirflowSchedulerWatchdogStack(app, stackName, config, { stackName, ...env });
  if (app.node.tryGetContext('watchdogNag') !== false && app.node.tryGetContext('watchdogNag') !== 'false') {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return stack;
};

export { addWatchdogStack };
