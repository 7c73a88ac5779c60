import type { DbConfig } from '../core/config.js';
import { errorMessage } from '../core/errors.js';
import type { OtherComponent } from '../core/components.js';
import type { DbObservation, JobRows, SchedulerRow } from '../core/model.js';
import type { HeartbeatQuery, MetadataDb } from '../core/ports.js';
import type { PasswordSource } from './db-credentials.js';
import { type DbDriver, type DbSession, DbTimeoutError, driverLabel, type RawHeartbeatRow } from './metadata-db-driver.js';

/**
 * Reads scheduler heartbeats from Airflow's metadata DB (SPEC §2, §4.1). One statement per observe
 * selects the live SchedulerJob rows of the lookback window through index `job_type_heart`; the
 * per-hostname reduction happens here. Every failure becomes `{ status: 'unreachable' }`, bounded by
 * connect + query timeouts and an overall deadline that destroys the socket, so a black-holed server
 * cannot hold the tick. One connection per adapter is kept across warm invocations.
 */

/** Slack on top of connect + query timeouts, so the drivers' own (more precise) errors win the race. */
const DEADLINE_SLACK_MS = 500;

interface MetadataDbDeps {
  readonly password: PasswordSource;
  /** Rows the adapter had to skip (null hostname, unreadable age); wire to the logger. */
  readonly warn?: (message: string) => void;
}

/** Where an observe failed, so the reason can say so. */
class PhaseError extends Error {
  constructor(
    readonly phase: 'password' | 'connect' | 'query',
    override readonly cause: unknown,
  ) {
    super(errorMessage(cause), { cause });
    this.name = 'PhaseError';
  }
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : undefined;
};

const TLS_CODES = new Set([
  'HANDSHAKE_NO_SSL_SUPPORT',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

/** Names the failure in operator words; the driver's own code and message follow in parentheses. */
const failureKind = (err: unknown): string => {
  const code = codeOf(err);
  const message = errorMessage(err);
  if (err instanceof DbTimeoutError || code === 'ETIMEDOUT' || code === 'PROTOCOL_SEQUENCE_TIMEOUT' || /time(d)? ?out/i.test(message)) return 'timed out';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if ((code && TLS_CODES.has(code)) || /\b(ssl|tls|certificate)\b/i.test(message)) return 'TLS failure';
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === '28P01' || code === '28000') return 'authentication failed';
  if (code === 'ER_NO_SUCH_TABLE' || code === '42P01') return 'job table not found';
  if (code === 'ER_BAD_DB_ERROR' || code === '3D000') return 'database not found';
  if (code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_COLUMNACCESS_DENIED_ERROR' || code === '42501') return 'permission denied';
  if (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'PROTOCOL_CONNECTION_LOST' ||
    code?.startsWith('57P') ||
    /terminat|closed state|connection lost/i.test(message)
  ) {
    return 'connection lost';
  }
  return 'failed';
};

/** Failures an outage causes and that end with it; a wrong password or a missing table does not. */
const TRANSIENT_FAILURES = new Set(['timed out', 'connection refused', 'connection lost', 'failed']);
const isTransient = (err: unknown): boolean => {
  if (err instanceof PhaseError && err.phase === 'password') return false;
  return TRANSIENT_FAILURES.has(failureKind(err instanceof PhaseError ? err.cause : err));
};

const REASON_MAX = 400;

/** Replaces every occurrence of a secret (raw and URL-encoded) with `***`. */
const scrub = (text: string, secrets: readonly (string | undefined)[]): string => {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.replaceAll(form, '***');
  }
  return out;
};

const PHASE_WORDS = { connect: ' while connecting', query: ' during the heartbeat query' } as const;

const describeFailure = (label: string, err: unknown, secrets: readonly (string | undefined)[]): string => {
  const phase = err instanceof PhaseError ? err.phase : undefined;
  const cause = err instanceof PhaseError ? err.cause : err;
  const code = codeOf(cause);
  const detail = `${code && !errorMessage(cause).includes(code) ? `${code}: ` : ''}${errorMessage(cause)}`;
  let text: string;
  if (phase === 'password') text = `${label}: no password: ${detail}`;
  else text = `${label}: ${failureKind(cause)}${phase ? PHASE_WORDS[phase] : ''} (${detail})`;
  text = scrub(text.replace(/\s+/g, ' '), secrets);
  return text.length > REASON_MAX ? `${text.slice(0, REASON_MAX - 1)}…` : text;
};

const HEARTBEAT_TEXT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

/** Drivers give numbers, bigints or decimal text; Number() would read blank text as 0 and accept hex. */
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const toNumber = (value: unknown): number =>
  typeof value === 'number' || typeof value === 'bigint'
    ? Number(value)
    : typeof value === 'string' && DECIMAL_TEXT.test(value)
      ? Number(value)
      : Number.NaN;

interface ParsedRow {
  readonly row: Omit<SchedulerRow, 'freshRows'>;
  /** Sortable µs text, to order rows without losing precision. */
  readonly key: string;
}

const parseRow = (raw: RawHeartbeatRow): ParsedRow | string => {
  const jobId = toNumber(raw.id);
  if (!Number.isSafeInteger(jobId)) return `job row with unreadable id ${JSON.stringify(String(raw.id))}`;
  if (typeof raw.hostname !== 'string' || raw.hostname === '') return `job ${jobId}: no hostname`;
  if (raw.state !== null && typeof raw.state !== 'string') return `job ${jobId}: unreadable state`;
  const ageSeconds = toNumber(raw.age_seconds);
  if (!Number.isFinite(ageSeconds)) return `job ${jobId}: unreadable heartbeat age ${JSON.stringify(String(raw.age_seconds))}`;
  if (typeof raw.heartbeat_utc !== 'string' || !HEARTBEAT_TEXT.test(raw.heartbeat_utc)) return `job ${jobId}: unreadable latest_heartbeat`;
  return {
    row: { jobId, hostname: raw.hostname, state: raw.state, ageSeconds, latestHeartbeat: `${raw.heartbeat_utc}Z` },
    key: `${raw.heartbeat_utc.padEnd(26, '0')}#${String(jobId).padStart(16, '0')}`,
  };
};

/** The job types a query reads: SchedulerJob, then the configured components' own. */
const jobTypesOf = (query: HeartbeatQuery): string[] => ['SchedulerJob', ...Object.values(query.others ?? {}).filter((t): t is string => t !== undefined)];

/**
 * The live row per requested hostname and job type (fresh or stale; `supersedes` chooses), the newest
 * fresh row per other hostname, each with its count of fresh live rows. SchedulerJob rows are `rows`/`foreign`; the other
 * components' rows go under `others`. Unreadable rows, and rows of a job type not asked for, are skipped
 * and reported.
 */
const reduceRows = (
  raws: readonly RawHeartbeatRow[],
  query: HeartbeatQuery,
  warn?: (message: string) => void,
): { rows: Record<string, SchedulerRow>; foreign: SchedulerRow[]; others?: Partial<Record<OtherComponent, JobRows>> } => {
  const componentOf = new Map<string, OtherComponent>(Object.entries(query.others ?? {}).map(([c, t]) => [t as string, c as OtherComponent]));
  const groups = new Map<string, RawHeartbeatRow[]>([['SchedulerJob', []]]);
  for (const t of componentOf.keys()) groups.set(t, []);
  for (const raw of raws) {
    const type = raw.job_type ?? 'SchedulerJob';
    const group = typeof type === 'string' ? groups.get(type) : undefined;
    if (group === undefined) {
      warn?.(`metadata DB: skipped a row of job type ${JSON.stringify(String(type)).slice(0, 40)} that was not asked for`);
      continue;
    }
    group.push(raw);
  }
  const staleOf = (type: string): number => query.staleAfterSecondsByJobType?.[type] ?? query.staleAfterSeconds;
  const scheduler = reduceJobRows(groups.get('SchedulerJob') ?? [], query, staleOf('SchedulerJob'), warn);
  if (componentOf.size === 0) return scheduler;
  const others: Partial<Record<OtherComponent, JobRows>> = {};
  for (const [type, component] of componentOf) others[component] = reduceJobRows(groups.get(type) ?? [], query, staleOf(type), warn);
  return { ...scheduler, others };
};

/**
 * Which of a host's live rows stands for it. A fresh row beats a stale one, and of fresh rows the newest
 * heartbeat wins (as Airflow's own `most_recent_job`). Of stale rows the latest inserted wins: the row
 * of the process the unit runs now, not an orphan a SIGKILL left `running`, whose heartbeat can be the
 * newer one once the host's clock has been stepped back (docs/soak.md, "Findings").
 */
const supersedes = (a: ParsedRow, b: ParsedRow, staleAfterSeconds: number): boolean => {
  const freshA = a.row.ageSeconds <= staleAfterSeconds;
  const freshB = b.row.ageSeconds <= staleAfterSeconds;
  if (freshA !== freshB) return freshA;
  return freshA ? a.key > b.key : a.row.jobId > b.row.jobId;
};

const reduceJobRows = (
  raws: readonly RawHeartbeatRow[],
  query: HeartbeatQuery,
  /** This job type's own threshold: which of a host's rows stands for it. */
  staleAfterSeconds: number,
  warn?: (message: string) => void,
): { rows: Record<string, SchedulerRow>; foreign: SchedulerRow[] } => {
  const wanted = new Set(query.hostnames);
  const newest = new Map<string, ParsedRow>();
  const fresh = new Map<string, number>();
  for (const raw of raws) {
    const parsed = parseRow(raw);
    if (typeof parsed === 'string') {
      warn?.(`metadata DB: skipped ${parsed}`);
      continue;
    }
    const { hostname, ageSeconds } = parsed.row;
    const isFresh = ageSeconds <= query.staleAfterSeconds;
    if (isFresh) fresh.set(hostname, (fresh.get(hostname) ?? 0) + 1);
    // Foreign hosts matter only while fresh.
    if (!wanted.has(hostname) && !isFresh) continue;
    const current = newest.get(hostname);
    if (current === undefined || supersedes(parsed, current, staleAfterSeconds)) newest.set(hostname, parsed);
  }
  const rows: Record<string, SchedulerRow> = {};
  const foreign: SchedulerRow[] = [];
  for (const [hostname, parsed] of newest) {
    const row: SchedulerRow = { ...parsed.row, freshRows: fresh.get(hostname) ?? 0 };
    if (wanted.has(hostname)) rows[hostname] = row;
    else foreign.push(row);
  }
  foreign.sort((a, b) => a.ageSeconds - b.ageSeconds);
  return { rows, foreign };
};

/**
 * The configured dialect's driver, imported on first use: each dialect file is a chunk of its own in the
 * Lambda bundle, so a function never loads the DB client library it does not use. One import per
 * dialect per process; `preloadDriver` lets the handler start it at cold start.
 */
const driverFactories: Partial<Record<DbConfig['dialect'], Promise<(config: DbConfig) => DbDriver>>> = {};
const driverFactory = (dialect: DbConfig['dialect']): Promise<(config: DbConfig) => DbDriver> =>
  (driverFactories[dialect] ??=
    dialect === 'mysql'
      ? import('./metadata-db-mysql.js').then((m) => m.mysqlDriver)
      : import('./metadata-db-postgres.js').then((m) => m.postgresDriver));
const preloadDriver = async (config: DbConfig): Promise<void> => {
  await driverFactory(config.dialect);
};
const loadDriver = async (config: DbConfig): Promise<DbDriver> => (await driverFactory(config.dialect))(config);

class SqlMetadataDb implements MetadataDb {
  readonly #config: DbConfig;
  readonly #deps: MetadataDbDeps;
  readonly #label: string;
  #driver: Promise<DbDriver> | undefined;
  #session: DbSession | undefined;
  #opening: Promise<DbSession> | undefined;
  /** The last password used, so a driver that echoes it cannot leak it into a reason. */
  #lastPassword: string | undefined;

  constructor(config: DbConfig, deps: MetadataDbDeps, driver?: DbDriver) {
    this.#config = config;
    this.#deps = deps;
    this.#label = driver?.label ?? driverLabel(config);
    if (driver) this.#driver = Promise.resolve(driver);
  }

  async observe(query: HeartbeatQuery): Promise<DbObservation> {
    const deadlineMs = (this.#config.connectTimeoutSeconds + this.#config.queryTimeoutSeconds) * 1000 + DEADLINE_SLACK_MS;
    const abandoned = { value: false };
    const attempt = this.#attempt(abandoned, jobTypesOf(query));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DbTimeoutError('deadline', deadlineMs)), deadlineMs);
    });
    try {
      const raws = await Promise.race([attempt, deadline]);
      return { status: 'ok', ...reduceRows(raws, query, this.#deps.warn) };
    } catch (err) {
      // The attempt may still settle after the deadline; it must not open anything more.
      abandoned.value = true;
      attempt.catch(() => undefined);
      this.#drop();
      return {
        status: 'unreachable',
        reason: describeFailure(this.#label, err, [this.#config.password, this.#lastPassword]),
        transient: isTransient(err),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    // A connection still being opened is destroyed by #connect once it sees it was dropped.
    this.#opening = undefined;
    await session?.end();
  }

  async #attempt(abandoned: { readonly value: boolean }, jobTypes: readonly string[]): Promise<readonly RawHeartbeatRow[]> {
    const lookback = this.#config.lookbackSeconds;
    const queryMs = this.#config.queryTimeoutSeconds * 1000;
    const kept = this.#session?.alive ? this.#session : undefined;
    const session = kept ?? (await this.#connect());
    try {
      return await session.heartbeatRows(lookback, queryMs, jobTypes);
    } catch (err) {
      this.#discard(session);
      // A kept connection can die while the function is frozen (server restart, idle kill, failover):
      // one fresh connection gets a second try. A timeout does not, it would double the wait.
      if (!kept || err instanceof DbTimeoutError || abandoned.value) throw new PhaseError('query', err);
    }
    const fresh = await this.#connect();
    try {
      return await fresh.heartbeatRows(lookback, queryMs, jobTypes);
    } catch (err) {
      this.#discard(fresh);
      throw new PhaseError('query', err);
    }
  }

  #connect(): Promise<DbSession> {
    if (this.#opening) return this.#opening;
    const opening = this.#open();
    this.#opening = opening;
    opening.then(
      (session) => {
        if (this.#opening === opening) {
          this.#opening = undefined;
          this.#session = session;
        } else session.destroy(); // dropped (deadline, close) while connecting
      },
      () => {
        if (this.#opening === opening) this.#opening = undefined;
      },
    );
    return opening;
  }

  async #open(): Promise<DbSession> {
    this.#driver ??= loadDriver(this.#config);
    const driver = await this.#driver;
    let password: string | undefined;
    try {
      password = await this.#deps.password();
    } catch (err) {
      throw new PhaseError('password', err);
    }
    if (password) this.#lastPassword = password;
    try {
      return await driver.open(password, this.#config.connectTimeoutSeconds * 1000);
    } catch (err) {
      throw new PhaseError('connect', err);
    }
  }

  #discard(session: DbSession): void {
    if (this.#session === session) this.#session = undefined;
    session.destroy();
  }

  /** After any failure: the next observe starts from a new connection. */
  #drop(): void {
    const session = this.#session;
    if (session) this.#discard(session);
    this.#opening = undefined;
  }
}

/** The adapter for the configured dialect; no connection is made until the first observe. */
const createMetadataDb = (config: DbConfig, deps: MetadataDbDeps): MetadataDb => new SqlMetadataDb(config, deps);

export type { DbDriver, DbSession, MetadataDbDeps, RawHeartbeatRow };
export { ROW_LIMIT } from './metadata-db-driver.js';
export { createMetadataDb, DbTimeoutError, describeFailure, driverLabel, PhaseError, preloadDriver, reduceRows, SqlMetadataDb, scrub };
