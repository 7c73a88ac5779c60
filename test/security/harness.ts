import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import type { DynaliteHandle } from '../helpers/dynalite.js';

/**
 * Shared pieces of the security suites: a distinctive password, a capture of everything the process
 * writes (stdout/stderr, where Powertools' Logger and Metrics write outside dev mode, plus every
 * console method), a full dump of thrown errors, a scan of the DynamoDB table, and a scanner that
 * looks for a secret in every encoding it could plausibly leak in.
 */

/**
 * 24 characters: `Wd` + a 14-character random alphanumeric core + 8 symbols that need URL and JSON
 * escaping (`@:/%'"\$`), so a leak through a connection URL, a JSON string or a SQL literal changes its
 * spelling. The random core survives all of those unchanged, so it is scanned for too.
 */
const distinctivePassword = (): { password: string; core: string } => {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const core = [...randomBytes(14)].map((b) => alphabet[b % alphabet.length]).join('');
  const password = `Wd${core}@:/%'"\\$`;
  if (password.length !== 24) throw new Error(`password has ${password.length} characters`);
  return { password, core };
};

/** Every spelling of `secret` a leak could take: raw, URL-encoded, JSON-escaped, base64(url), and its random core. */
const leakForms = (secret: string, core?: string): Map<string, string> => {
  const forms = new Map<string, string>([
    ['raw', secret],
    ['url-encoded', encodeURIComponent(secret)],
    ['form-encoded', new URLSearchParams({ p: secret }).toString().slice(2)],
    ['json-escaped', JSON.stringify(secret).slice(1, -1)],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base64url', Buffer.from(secret).toString('base64url')],
    ['hex', Buffer.from(secret).toString('hex')],
  ]);
  if (core !== undefined) forms.set('random core', core);
  return forms;
};

interface Leak {
  readonly source: string;
  readonly form: string;
  readonly excerpt: string;
}

/** Where any form of any secret occurs in the corpus (empty: no leak). */
const findLeaks = (corpus: Corpus, secrets: readonly { password: string; core?: string }[]): Leak[] => {
  const leaks: Leak[] = [];
  for (const { source, text } of corpus.entries) {
    for (const s of secrets) {
      for (const [form, value] of leakForms(s.password, s.core)) {
        const at = text.indexOf(value);
        if (at >= 0) leaks.push({ source, form, excerpt: text.slice(Math.max(0, at - 80), at + value.length + 40) });
      }
    }
  }
  return leaks;
};

/** Everything observable, tagged by where it came from. */
class Corpus {
  readonly entries: { source: string; text: string }[] = [];

  add(source: string, text: string): void {
    this.entries.push({ source, text });
  }

  text(source?: string): string {
    return this.entries
      .filter((e) => source === undefined || e.source === source)
      .map((e) => e.text)
      .join('\n');
  }

  get bytes(): number {
    return this.entries.reduce((n, e) => n + Buffer.byteLength(e.text), 0);
  }

  get lines(): number {
    return this.entries.reduce((n, e) => n + e.text.split('\n').filter((l) => l !== '').length, 0);
  }
}

/** message, stack, cause chain, own properties (JSON) and util.inspect of an error and everything it wraps. */
const dumpError = (err: unknown): string => {
  const parts: string[] = [String(err), inspect(err, { depth: 20, showHidden: true, breakLength: Number.POSITIVE_INFINITY })];
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e !== null && e !== undefined && !seen.has(e)) {
    seen.add(e);
    if (e instanceof Error) {
      parts.push(e.message, e.stack ?? '', JSON.stringify(e, Object.getOwnPropertyNames(e)));
      if (e instanceof AggregateError) for (const inner of e.errors) parts.push(dumpError(inner));
      e = e.cause;
    } else {
      parts.push(JSON.stringify(e) ?? String(e));
      break;
    }
  }
  return parts.join('\n');
};

const chunkText = (chunk: unknown): string =>
  typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);

/**
 * Swallows and records everything written to stdout/stderr and through any console method while
 * active. Powertools' Logger and Metrics build their own `Console` over process.stdout/stderr, which
 * looks up `write` on every call, so spying on the streams catches them.
 */
const captureOutput = (corpus: Corpus) => {
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      corpus.add('stdout', chunkText(chunk));
      return true;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      corpus.add('stderr', chunkText(chunk));
      return true;
    }),
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        corpus.add(`console.${method}`, args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 20 }))).join(' '));
      }),
    ),
  ];
  return {
    stop: () => {
      for (const s of spies) s.mockRestore();
    },
  };
};

/** Every item of the record table, as stored (raw attribute values, JSON and inspect). */
const scanTable = async (dyn: DynaliteHandle): Promise<{ items: Record<string, unknown>[]; text: string }> => {
  const res = await dyn.client.send(new ScanCommand({ TableName: dyn.tableName, ConsistentRead: true }));
  const items = (res.Items ?? []) as Record<string, unknown>[];
  return { items, text: `${JSON.stringify(items)}\n${inspect(items, { depth: 30 })}` };
};

let requestCounter = 0;
const lambdaContext = (): Context =>
  ({
    awsRequestId: `sec-${process.pid}-${++requestCounter}`,
    functionName: 'airflow-scheduler-watchdog',
    // Too little time left for the outage watch (functions/runtime/app.ts): a DB failure answers at once.
    getRemainingTimeInMillis: () => 60_000,
  }) as unknown as Context;

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/**
 * Imports functions/handler.ts afresh with the given environment, as a Lambda cold start does
 * (configuration parsed from WATCHDOG_CONFIG, production adapters built by runtime/wiring.ts).
 */
const coldStart = async (config: unknown, env: Record<string, string>): Promise<Handler> => {
  vi.resetModules();
  vi.stubEnv('WATCHDOG_CONFIG', typeof config === 'string' ? config : JSON.stringify(config));
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  return (await import('../../functions/handler.js')).handler as Handler;
};

/** Invokes the handler, recording the returned payload or the thrown error in the corpus. */
const invoke = async (corpus: Corpus, handler: Handler, event: unknown): Promise<{ result?: unknown; error?: unknown }> => {
  try {
    const result = await handler(event, lambdaContext());
    corpus.add('result', `${JSON.stringify(result)}\n${inspect(result, { depth: 30 })}`);
    return { result };
  } catch (error) {
    corpus.add('thrown', dumpError(error));
    return { error };
  }
};

export type { Handler, Leak };
export { Corpus, captureOutput, coldStart, distinctivePassword, dumpError, findLeaks, invoke, lambdaContext, leakForms, scanTable };
