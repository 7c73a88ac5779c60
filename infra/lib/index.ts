/** Public API of the watchdog's CDK library (the npm package's entry point): import the construct from here. */

export type { Component, MetricName, TickBudgetTerm } from '../../functions/core/limits.js';
/** The metric contract, for alarms and dashboards of your own. */
export { COMPONENTS, DIMENSION, METRIC, METRIC_NAMESPACE, METRIC_SERIES, tickBudget, worstCaseTickSeconds } from '../../functions/core/limits.js';
export type { FunctionFeatures } from './function-code.js';
export type { WatchdogAlarms } from './monitoring.js';
export type { AirflowSchedulerWatchdogProps, WatchdogClusterProps, WatchdogDatabaseProps } from './props.js';
export type { TimeoutBreakdown } from './sizing.js';
export { FUNCTION_MEMORY_MIB, functionTimeout } from './sizing.js';
export type { CommandDocumentContent, DocumentOptions, NodeAction } from './ssm-documents.js';
export { buildCommandDocument, buildCommandDocuments, documentScript, nodeTimeouts } from './ssm-documents.js';
export { AirflowSchedulerWatchdog, WATCHDOG_RUNTIME } from './watchdog.js';
