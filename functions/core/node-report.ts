import { ENABLED_STATES, GUARD_STATES, NODE_PARAM_PATTERNS, type NodeReport, REPORT_ACTIONS, RESULTS_BY_ACTION, UNIT_STATES } from './node-protocol.js';

/**
 * Strict reader of the node script's report (the last non-empty stdout line, NodeReport JSON). Pure.
 * Every field must be present with its type and, for words, one of the contract's values; numbers are
 * non-negative safe integers. Fields the contract does not name are ignored (and not copied). Cross-field rules: the
 * result must be one of the action's results; a status result equals `unitState` (unless bad-parameter
 * or error); `permitValid` needs `permitEpoch ≥ nodeEpoch`; `unit` is a valid unit name except in a
 * bad-parameter report. A report that breaks any rule is an error naming every field at fault, never a
 * best guess.
 */

type NodeReportParse = { readonly ok: true; readonly report: NodeReport } | { readonly ok: false; readonly error: string };

const lastLine = (s: string): string => {
  const lines = s.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1]?.trim() ?? '';
};

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

const describe = (v: unknown): string => {
  if (v === undefined) return 'missing';
  const text = JSON.stringify(v);
  return `got ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
};

const parseNodeReport = (stdout: string): NodeReportParse => {
  const line = lastLine(stdout);
  if (line === '') return { ok: false, error: 'node report: stdout is empty (no report line)' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: `node report: the last stdout line is not JSON (truncated output?): ${JSON.stringify(line.slice(0, 80))}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: `node report: the last stdout line is JSON but not an object (${describe(value)})` };
  }
  const r = value as Record<string, unknown>;
  const errors: string[] = [];
  const oneOf = (field: string, allowed: readonly string[]) => {
    const v = r[field];
    if (typeof v !== 'string' || !allowed.includes(v)) errors.push(`${field}: must be one of ${allowed.join('|')} (${describe(v)})`);
  };
  const countOrNull = (field: string) => {
    const v = r[field];
    if (v !== null && !isCount(v)) errors.push(`${field}: must be a non-negative integer or null (${describe(v)})`);
  };
  const bool = (field: string) => {
    if (typeof r[field] !== 'boolean') errors.push(`${field}: must be a boolean (${describe(r[field])})`);
  };
  const str = (field: string) => {
    if (typeof r[field] !== 'string') errors.push(`${field}: must be a string (${describe(r[field])})`);
  };

  oneOf('action', REPORT_ACTIONS);
  const action = typeof r.action === 'string' && (REPORT_ACTIONS as readonly string[]).includes(r.action) ? (r.action as NodeReport['action']) : undefined;
  if (action === undefined) str('result');
  else oneOf('result', RESULTS_BY_ACTION[action]);
  countOrNull('epoch');
  countOrNull('nodeEpoch');
  bool('running');
  str('hostname');
  str('unit');
  oneOf('unitState', UNIT_STATES);
  oneOf('enabled', ENABLED_STATES);
  countOrNull('permitEpoch');
  bool('permitValid');
  oneOf('guard', GUARD_STATES);
  countOrNull('processes');
  countOrNull('killed');
  if (!Array.isArray(r.problems) || !r.problems.every((p) => typeof p === 'string')) {
    errors.push(`problems: must be an array of strings (${describe(r.problems)})`);
  }

  if (errors.length === 0) {
    const badParameter = r.result === 'bad-parameter';
    if (typeof r.unit === 'string' && !badParameter && !new RegExp(NODE_PARAM_PATTERNS.UnitName).test(r.unit)) {
      errors.push(`unit: must match ${NODE_PARAM_PATTERNS.UnitName} (${describe(r.unit)})`);
    }
    if (action === 'status' && !badParameter && r.result !== 'error' && r.result !== r.unitState) {
      errors.push(`result: a status result must equal unitState (result ${describe(r.result)}, unitState ${describe(r.unitState)})`);
    }
    if (r.permitValid === true && (r.permitEpoch === null || r.nodeEpoch === null || (r.permitEpoch as number) < (r.nodeEpoch as number))) {
      errors.push(`permitValid: true needs permitEpoch ≥ nodeEpoch (permitEpoch ${describe(r.permitEpoch)}, nodeEpoch ${describe(r.nodeEpoch)})`);
    }
  }
  if (errors.length > 0) return { ok: false, error: `node report: ${errors.join('; ')}` };
  // A copy of the contract's fields only: nothing else the line carried reaches the caller.
  const report = {
    action: r.action,
    result: r.result,
    epoch: r.epoch,
    nodeEpoch: r.nodeEpoch,
    running: r.running,
    hostname: r.hostname,
    unit: r.unit,
    unitState: r.unitState,
    enabled: r.enabled,
    permitEpoch: r.permitEpoch,
    permitValid: r.permitValid,
    guard: r.guard,
    processes: r.processes,
    killed: r.killed,
    problems: [...(r.problems as string[])],
  } as NodeReport;
  return { ok: true, report };
};

export type { NodeReportParse };
export { parseNodeReport };
