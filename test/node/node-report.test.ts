import { describe, expect, it } from 'vitest';
import { ENABLED_STATES, GUARD_STATES, STATUS_RESULTS, START_RESULTS, STOP_RESULTS, UNIT_STATES } from '../../functions/core/node-protocol.js';
import { parseNodeReport } from '../../functions/core/node-report.js';

const STATUS = {
  action: 'status',
  result: 'active',
  epoch: null,
  nodeEpoch: 12,
  running: true,
  hostname: 'ip-10-0-1-12.ec2.internal',
  unit: 'airflow-scheduler',
  unitState: 'active',
  enabled: 'enabled',
  permitEpoch: 12,
  permitValid: true,
  guard: 'installed',
  processes: 9,
  killed: null,
  problems: [],
} as const;

const FIELDS = Object.keys(STATUS);

const line = (o: Record<string, unknown>) => `airflow-scheduler.sh status: unit is active\n${JSON.stringify(o)}\n`;
const withField = (field: string, value: unknown) => ({ ...STATUS, [field]: value });
const without = (field: string) => Object.fromEntries(Object.entries(STATUS).filter(([k]) => k !== field));

const error = (stdout: string): string => {
  const r = parseNodeReport(stdout);
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.report)}`);
  return r.error;
};

describe('Function: parseNodeReport', () => {
  it('reads the last non-empty stdout line into a report with exactly the contract fields', () => {
    const r = parseNodeReport(`${line({ ...STATUS, future: 'field' })}\n\n`);
    expect(r).toEqual({ ok: true, report: STATUS });
  });

  it.each([
    ['start', START_RESULTS],
    ['stop', STOP_RESULTS],
    ['status', STATUS_RESULTS],
  ] as const)('accepts every result word of %s', (action, results) => {
    for (const result of results) {
      const unitState = action === 'status' && (UNIT_STATES as readonly string[]).includes(result) ? result : 'inactive';
      const r = parseNodeReport(line({ ...STATUS, action, result, unitState, running: false, permitValid: false }));
      expect(r.ok, `${action} ${result}`).toBe(true);
    }
  });

  it.each(FIELDS)('names a missing %s', (field) => {
    expect(error(line(without(field)))).toMatch(new RegExp(`\\b${field}: .*\\(missing\\)`));
  });

  const wrong: Record<string, unknown[]> = {
    action: ['restart', 1, null, ''],
    result: ['started', 'stopped', 7, null],
    epoch: [-1, 1.5, '7', Number.MAX_SAFE_INTEGER + 2, true],
    nodeEpoch: [-1, 2.5, '12', {}],
    running: ['true', 1, null],
    hostname: [null, 7, ['h']],
    unit: [null, 3, 'a b', '../x', ''],
    unitState: ['running', 'maintenance', null, ''],
    enabled: ['yes', true, null, ''],
    permitEpoch: [-3, '12', 0.5],
    permitValid: ['true', 0, null],
    guard: ['present', null, ''],
    processes: [-1, '9', 1.5],
    killed: [-2, '0', 0.1],
    problems: ['none', [1], null, {}],
  };

  it.each(FIELDS)('names %s when it has the wrong type or an unknown word', (field) => {
    expect(Object.keys(wrong)).toContain(field);
    for (const value of wrong[field] ?? []) {
      expect(error(line(withField(field, value))), `${field}=${JSON.stringify(value)}`).toContain(`${field}: `);
    }
  });

  it('names every field at fault at once', () => {
    const e = error(line({ ...STATUS, epoch: 'x', guard: 'x', problems: 'x' }));
    expect(e).toContain('epoch: ');
    expect(e).toContain('guard: ');
    expect(e).toContain('problems: ');
  });

  it('checks the words against the contract lists', () => {
    for (const enabled of ENABLED_STATES) expect(parseNodeReport(line(withField('enabled', enabled))).ok).toBe(true);
    for (const guard of GUARD_STATES) expect(parseNodeReport(line(withField('guard', guard))).ok).toBe(true);
  });

  it('refuses a status result other than its unitState, a permitValid the epochs contradict, a bad unit name outside bad-parameter', () => {
    expect(error(line({ ...STATUS, result: 'inactive' }))).toContain('result: a status result must equal unitState');
    expect(error(line({ ...STATUS, permitEpoch: 11 }))).toContain('permitValid: true needs permitEpoch ≥ nodeEpoch');
    expect(error(line({ ...STATUS, permitEpoch: null }))).toContain('permitValid');
    expect(error(line({ ...STATUS, nodeEpoch: null }))).toContain('permitValid');
    expect(parseNodeReport(line({ ...STATUS, result: 'bad-parameter', unit: '', permitValid: false })).ok).toBe(true);
    expect(parseNodeReport(line({ ...STATUS, result: 'error' })).ok).toBe(true);
  });

  it.each([
    ['empty output', '', 'stdout is empty'],
    ['blank lines only', '\n \n', 'stdout is empty'],
    ['a progress line last', `${JSON.stringify(STATUS)}\nairflow-scheduler.sh status: done\n`, 'not JSON'],
    ['a truncated report', JSON.stringify(STATUS).slice(0, 60), 'not JSON'],
    ['a JSON array', '[1,2]', 'not an object'],
    ['JSON null', 'null', 'not an object'],
    ['a JSON string', '"active"', 'not an object'],
  ])('refuses %s', (_what, stdout, message) => {
    expect(error(stdout)).toContain(message);
  });
});
