/** Public API of the watchdog's CDK library: import the construct from here in another CDK app. */

export type { WatchdogAlarms } from './monitoring.js';
export type { AirflowSchedulerWatchdogProps, WatchdogClusterProps, WatchdogDatabaseProps } from './props.js';
export { FUNCTION_MEMORY_MIB, functionTimeout } from './sizing.js';
export type { CommandDocumentContent, DocumentOptions, NodeAction } from './ssm-documents.js';
export { buildCommandDocument, buildCommandDocuments, documentScript, nodeTimeouts } from './ssm-documents.js';
export { AirflowSchedulerWatchdog, WATCHDOG_RUNTIME } from './watchdog.js';
