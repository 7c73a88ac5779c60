/** The in-process dynalite lives in local/ (the local cluster uses it too); tests import it from here. */
export type { DynaliteHandle } from '../../local/dynalite.js';
export { startDynalite } from '../../local/dynalite.js';
