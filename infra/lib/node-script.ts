import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The node-side script embedded in the SSM documents (SPEC §7). A real file, so it is tested on its own. */
const NODE_SCRIPT_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../node/airflow-scheduler.sh');

/** Reads the node-side script; the error names the path when it is missing. */
const readNodeScript = (path: string = NODE_SCRIPT_PATH): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`node script: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
};

export { NODE_SCRIPT_PATH, readNodeScript };
