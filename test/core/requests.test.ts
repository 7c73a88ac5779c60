import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../functions/core/errors.js';
import { parseRequest } from '../../functions/core/requests.js';

/** Invocation payloads (SPEC §5): scheduled events, manual actions, and malformed payloads naming the field. */

describe('scheduled events', () => {
  it('accepts an EventBridge rule event', () => {
    const event = {
      version: '0',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2026-11-24T12:00:00Z',
      region: 'eu-west-1',
      resources: ['arn:aws:events:eu-west-1:123456789012:rule/airflow-watchdog-tick'],
      detail: {},
    };
    expect(parseRequest(event)).toEqual({ action: 'scheduled' });
  });

  it('accepts an EventBridge Scheduler event', () => {
    expect(parseRequest({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({ action: 'scheduled' });
  });

  it('does not take events of other sources for a tick', () => {
    expect(() => parseRequest({ source: 'aws.s3', 'detail-type': 'Object Created' })).toThrow(InvalidRequestError);
  });
});

describe('manual actions', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['reconcile', { action: 'reconcile' }, { action: 'reconcile' }],
    ['reconcile dry-run', { action: 'reconcile', dryRun: true }, { action: 'reconcile', dryRun: true }],
    ['status', { action: 'status' }, { action: 'status' }],
    ['status with caller', { action: 'status', caller: 'alice@example.com' }, { action: 'status', caller: 'alice@example.com' }],
    ['history', { action: 'history', limit: 50 }, { action: 'history', limit: 50 }],
    [
      'failover to a node id',
      { action: 'failover', to: 'i-0bbbbbbb', reason: 'patch airflow-a' },
      { action: 'failover', to: 'i-0bbbbbbb', reason: 'patch airflow-a' },
    ],
    [
      'failover to a hostname with force',
      { action: 'failover', to: 'ip-10-0-2-12.ec2.internal', reason: 'DB failover', force: true },
      { action: 'failover', to: 'ip-10-0-2-12.ec2.internal', reason: 'DB failover', force: true },
    ],
    ['failover to the next candidate', { action: 'failover', reason: 'drain' }, { action: 'failover', reason: 'drain' }],
    ['pause', { action: 'pause', reason: 'airflow db migrate (CHG-4411)' }, { action: 'pause', reason: 'airflow db migrate (CHG-4411)' }],
    ['resume', { action: 'resume' }, { action: 'resume' }],
    ['resume with a reason', { action: 'resume', reason: 'migration done' }, { action: 'resume', reason: 'migration done' }],
  ])('%s', (_name, payload, want) => {
    expect(parseRequest(payload)).toEqual(want);
  });

  it('trims free text', () => {
    expect(parseRequest({ action: 'pause', reason: '  upgrade  ' })).toEqual({ action: 'pause', reason: 'upgrade' });
  });
});

describe('malformed payloads throw InvalidRequestError naming the field', () => {
  it.each<[string, unknown, string, string[]]>([
    ['an unknown action', { action: 'reboot' }, 'action', ['unknown action "reboot"', 'reconcile']],
    ['a non-string action', { action: 42 }, 'action', ['unknown action 42']],
    ['a missing action', { reason: 'x' }, 'action', ['required']],
    ['an empty object', {}, 'action', ['required']],
    ['an unknown field', { action: 'reconcile', verbose: true }, 'verbose', ['unknown field', '"reconcile"']],
    ['an extra field on status', { action: 'status', to: 'i-0bbbbbbb' }, 'to', ['unknown field', '"status"']],
    ['a scheduled-event field on a manual action', { action: 'reconcile', source: 'aws.events' }, 'source', ['unknown field']],
    ['dryRun as a string', { action: 'reconcile', dryRun: 'true' }, 'dryRun', ['expected boolean']],
    ['force as a string', { action: 'failover', reason: 'x', force: 'yes' }, 'force', ['expected boolean']],
    ['a missing reason for failover', { action: 'failover', to: 'i-0bbbbbbb' }, 'reason', ['expected string']],
    ['a missing reason for pause', { action: 'pause' }, 'reason', ['expected string']],
    ['an empty reason', { action: 'failover', reason: '' }, 'reason', ['must not be empty']],
    ['a blank reason', { action: 'pause', reason: '   ' }, 'reason', ['must not be empty']],
    ['a reason with a newline inside', { action: 'failover', reason: 'line 1\nline 2' }, 'reason', ['control characters']],
    ['a reason with an escape sequence', { action: 'pause', reason: 'x\u001b[31mred' }, 'reason', ['control characters']],
    ['a reason that is too long', { action: 'pause', reason: 'x'.repeat(501) }, 'reason', ['at most 500']],
    ['a reason that is a number', { action: 'pause', reason: 7 }, 'reason', ['expected string']],
    ['`to` with a shell command separator', { action: 'failover', reason: 'x', to: 'i-0b; rm -rf /' }, 'to', ['node id or hostname']],
    ['`to` with command substitution', { action: 'failover', reason: 'x', to: '$(reboot)' }, 'to', ['node id or hostname']],
    ['`to` with a space', { action: 'failover', reason: 'x', to: 'airflow b' }, 'to', ['node id or hostname']],
    ['`to` empty', { action: 'failover', reason: 'x', to: '' }, 'to', ['node id or hostname']],
    ['a history limit of 0', { action: 'history', limit: 0 }, 'limit', ['>=1']],
    ['a history limit above 50', { action: 'history', limit: 51 }, 'limit', ['<=50']],
    ['a fractional history limit', { action: 'history', limit: 2.5 }, 'limit', ['expected int']],
    ['an empty caller', { action: 'status', caller: '' }, 'caller', ['must not be empty']],
    ['an array payload', [{ action: 'status' }], 'payload', ['must be a JSON object (got array)']],
    ['a null payload', null, 'payload', ['must be a JSON object (got null)']],
    ['a string payload', 'reconcile', 'payload', ['must be a JSON object (got string)']],
    ['a number payload', 42, 'payload', ['must be a JSON object (got number)']],
    ['an undefined payload', undefined, 'payload', ['must be a JSON object (got undefined)']],
  ])('%s', (_name, payload, field, needles) => {
    let caught: unknown;
    try {
      parseRequest(payload);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidRequestError);
    const err = caught as InvalidRequestError;
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    for (const needle of needles) expect(err.message).toContain(needle);
  });
});
