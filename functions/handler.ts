import type { Context } from 'aws-lambda';
import { settingsFromEnv } from './core/config.js';
import { errorMessage } from './core/errors.js';
import { createApp, type Response } from './runtime/app.js';
import { createLogger } from './runtime/telemetry.js';
import { buildDeps } from './runtime/wiring.js';

/**
 * Lambda entry point: configuration is parsed once per cold start; a bad configuration is answered on
 * every invocation (and fails scheduled ones, so the errors alarm fires) instead of crashing the init.
 */
const boot: { app: ReturnType<typeof createApp> } | { error: string } = (() => {
  try {
    const settings = settingsFromEnv(process.env);
    return { app: createApp(settings, buildDeps(settings, process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {})) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
})();

const handler = async (event: unknown, context: Context): Promise<Response> => {
  if ('error' in boot) {
    createLogger().error('configuration invalid', { error: boot.error });
    if (event !== null && typeof event === 'object' && 'source' in event) throw new Error(boot.error);
    return { ok: false, error: { code: 'ConfigError', message: boot.error } };
  }
  return boot.app.handle(event, context);
};

export { handler };
