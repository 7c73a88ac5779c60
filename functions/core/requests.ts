import { z } from 'zod';
import { COMPONENT_NAMES } from './components.js';
import { InvalidRequestError } from './errors.js';

/**
 * The payloads the function accepts (SPEC §5). Strict: an unknown field, a wrong type or an unknown
 * action is an InvalidRequest naming the field, and nothing is read or written.
 */

// Free text goes only to the record and logs, never to a node; still, no control characters.
const freeText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
const caller = freeText(200).optional();
/** Which supervised component a manual action is about; the scheduler when absent. */
const component = z.enum(COMPONENT_NAMES, { message: `must be one of ${COMPONENT_NAMES.join(', ')}` }).optional();
const nodeRef = z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, 'must be a node id or hostname (letters, digits, . _ -)');

const reconcileRequest = z.object({ action: z.literal('reconcile'), dryRun: z.boolean().optional(), caller }).strict();
const statusRequest = z.object({ action: z.literal('status'), caller }).strict();
const historyRequest = z.object({ action: z.literal('history'), limit: z.number().int().min(1).max(50).optional(), caller }).strict();
const failoverRequest = z
  .object({ action: z.literal('failover'), component, to: nodeRef.optional(), reason: freeText(500), force: z.boolean().optional(), caller })
  .strict();
const pauseRequest = z.object({ action: z.literal('pause'), component, reason: freeText(500), caller }).strict();
const resumeRequest = z.object({ action: z.literal('resume'), component, reason: freeText(500).optional(), caller }).strict();

const manualRequest = z.discriminatedUnion('action', [reconcileRequest, statusRequest, historyRequest, failoverRequest, pauseRequest, resumeRequest]);
type ManualRequest = z.output<typeof manualRequest>;

/** A scheduled event from an EventBridge rule or EventBridge Scheduler. */
const scheduledEvent = z
  .object({
    source: z.enum(['aws.events', 'aws.scheduler']),
    'detail-type': z.string().optional(),
  })
  .passthrough();

type Request = ManualRequest | { action: 'scheduled' };

const ACTIONS = ['reconcile', 'status', 'history', 'failover', 'pause', 'resume'] as const;

/** A field name as sent, readable in a message: quoted (JSON) unless a plain name, and cut like an unknown action. */
const showField = (key: string): string => {
  const shown = [.../^[A-Za-z0-9_.$-]+$/.test(key) ? key : JSON.stringify(key)];
  return shown.length > 60 ? `${shown.slice(0, 57).join('')}...` : shown.join('');
};

const pathOf = (path: readonly PropertyKey[]): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');

/** Parses any invocation payload; throws InvalidRequestError naming the first bad field. */
const parseRequest = (payload: unknown): Request => {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InvalidRequestError(`payload: must be a JSON object (got ${payload === null ? 'null' : Array.isArray(payload) ? 'array' : typeof payload})`, 'payload');
  }
  if (!('action' in payload) && scheduledEvent.safeParse(payload).success) return { action: 'scheduled' };
  const action = (payload as Record<string, unknown>).action;
  if (action === undefined) {
    throw new InvalidRequestError(`action: required, one of ${ACTIONS.join(', ')} (or a scheduled event)`, 'action');
  }
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
    throw new InvalidRequestError(`action: unknown action ${JSON.stringify(action).slice(0, 60)}; expected one of ${ACTIONS.join(', ')}`, 'action');
  }
  const result = manualRequest.safeParse(payload);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new InvalidRequestError('payload: invalid', 'payload');
  if (issue.code === 'unrecognized_keys') {
    const field = showField(issue.keys[0] ?? 'payload');
    throw new InvalidRequestError(`${field}: unknown field for action "${action}"`, field);
  }
  const field = pathOf(issue.path) || 'payload';
  throw new InvalidRequestError(`${field}: ${issue.message}`, field);
};

export { ACTIONS, manualRequest, parseRequest };
export type { ManualRequest, Request };
