import type { Context } from 'aws-lambda';
import { settingsFromEnv } from './core/config.js';
import { errorMessage } from './core/errors.js';
import { TICK_QUEUE_URL_ENV } from './core/limits.js';
import { createApp, type Response } from './runtime/app.js';
import { createLogger } from './runtime/telemetry.js';
import { buildDeps, preloadModules } from './runtime/wiring.js';

/**
 * Lambda entry point: configuration is parsed once per cold start, and the modules the first tick needs
 * (DB driver, password source, SQS client) are imported during init. A bad configuration is answered on
 * every invocation (and fails scheduled ones, so the errors alarm fires) instead of crashing the init.
 */
const boot: { app: ReturnType<typeof createApp> } | { error: string } = await (async () => {
  try {
    const settings = settingsFromEnv(process.env);
    const queueUrl = process.env[TICK_QUEUE_URL_ENV];
    const deps = buildDeps(settings, {
      ...(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
      ...(queueUrl ? { tickQueueUrl: queueUrl } : {}),
    });
    await preloadModules(settings, deps);
    return { app: createApp(settings, deps) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
})();

/** Scheduled events and queued ticks throw on a configuration error; manual requests get it as an answer. */
const isAutomatic = (event: unknown): boolean => event !== null && typeof event === 'object' && ('source' in event || 'Records' in event);

const handler = async (event: unknown, context: Context): Promise<Response> => {
  if ('error' in boot) {
    createLogger().error('configuration invalid', { error: boot.error });
    if (isAutomatic(event)) throw new Error(boot.error);
    return { ok: false, error: { code: 'ConfigError', message: boot.error } };
  }
  return boot.app.handle(event, context);
};

export { handler };
