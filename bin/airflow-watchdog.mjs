#!/usr/bin/env node
// airflow-watchdog CLI launcher. In a checkout (after `npm ci`) it runs the TypeScript sources through
// tsx's ESM loader, so no build step is needed; after `npm run build` without tsx installed it runs the
// compiled dist/cli/main.js instead.
import { existsSync } from 'node:fs';

// The operator asked for the watchdog, not for the SDK's Node-version notice on every call.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const source = new URL('../cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

const load = async () => {
  if (existsSync(source)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return await import(source.href);
    } catch (err) {
      if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(built)) throw err;
    }
  }
  return import(built.href);
};

const cli = await load();
await cli.run();
