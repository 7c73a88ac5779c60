import type { NodeStatus, StatusView } from '../functions/core/status-view.js';
import type { Action, Verdict } from '../functions/core/model.js';

/**
 * The CLI's human output. Pure functions of the function's answer, `now` and whether to colour, so
 * golden files pin them (test/cli/golden/). The first line answers "what is happening?"; the rest
 * explains why and what the watchdog is about to do.
 */

interface RenderOptions {
  /** For "… ago" texts. */
  readonly now: number;
  readonly color: boolean;
}

type Tone = 'good' | 'warn' | 'bad' | 'dim' | 'bold' | 'plain';

const ANSI: Readonly<Record<Exclude<Tone, 'plain'>, string>> = {
  good: '\x1b[32m',
  warn: '\x1b[33m',
  bad: '\x1b[31m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
};

const paint = (text: string, tone: Tone, color: boolean): string => (!color || tone === 'plain' || text === '' ? text : `${ANSI[tone]}${text}\x1b[0m`);

interface Cell {
  readonly text: string;
  readonly tone?: Tone;
}

/** Left-aligned columns two spaces apart; widths from the plain text, colour applied after padding. */
const table = (header: readonly string[], rows: readonly (readonly Cell[])[], color: boolean, indent = ''): string[] => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: readonly Cell[]): string =>
    indent +
    cells
      .map((c, i) => {
        const last = i === cells.length - 1;
        const padded = last ? c.text : c.text.padEnd(widths[i] ?? 0);
        return last ? paint(padded, c.tone ?? 'plain', color) : `${paint(c.text, c.tone ?? 'plain', color)}${padded.slice(c.text.length)}`;
      })
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => ({ text: h, tone: 'dim' as const }))), ...rows.map(line)];
};

interface VerdictInfo {
  readonly symbol: string;
  readonly label: string;
  readonly tone: Tone;
  readonly gloss: string;
}

const VERDICTS: Readonly<Record<Verdict, VerdictInfo>> = {
  healthy: { symbol: '✔', label: 'HEALTHY', tone: 'good', gloss: 'the scheduler runs where it should' },
  degraded: { symbol: '▲', label: 'DEGRADED', tone: 'warn', gloss: 'a scheduler runs, but something needs attention (see below)' },
  recovering: { symbol: '↻', label: 'RECOVERING', tone: 'warn', gloss: 'no healthy scheduler yet; a start, restart or failover is under way' },
  down: { symbol: '✖', label: 'DOWN', tone: 'bad', gloss: 'fewer healthy schedulers than desired and none starting' },
  suppressed: {
    symbol: '✖',
    label: 'DOWN, FAILOVER SUPPRESSED',
    tone: 'bad',
    gloss: 'no healthy scheduler and maxFailoversPerHour is spent: the watchdog will not act; fix the cause, then `failover`',
  },
  'no-candidate': {
    symbol: '✖',
    label: 'DOWN, NO CANDIDATE',
    tone: 'bad',
    gloss: 'no healthy scheduler and no node can take it (not Online in SSM, or banned)',
  },
  unknown: {
    symbol: '?',
    label: 'UNKNOWN',
    tone: 'bad',
    gloss: 'the metadata DB is unreachable: scheduler health cannot be judged, so the watchdog does nothing',
  },
  paused: { symbol: '⏸', label: 'PAUSED', tone: 'warn', gloss: 'the watchdog observes and reports only' },
  'observe-only': { symbol: '◉', label: 'OBSERVE-ONLY', tone: 'warn', gloss: 'enforcement is `observe`: the watchdog acts on nothing' },
};

const verdictInfo = (v: string): VerdictInfo => VERDICTS[v as Verdict] ?? { symbol: '?', label: v.toUpperCase(), tone: 'warn', gloss: '' };

/** `2026-11-24T11:58:03.120Z` → `2026-11-24 11:58:03Z`. */
const clock = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

const span = (seconds: number): string => {
  const s = Math.abs(seconds);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 120 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
};

const relative = (iso: string, now: number): string => {
  const seconds = (now - Date.parse(iso)) / 1000;
  if (Math.abs(seconds) < 1) return 'now';
  return seconds >= 0 ? `${span(seconds)} ago` : `in ${span(seconds)}`;
};

const nodeLabel = (id: string, nodes: readonly NodeStatus[]): string => {
  const n = nodes.find((x) => x.id === id);
  return n === undefined ? id : `${id} (${n.hostname})`;
};

const heartbeatCell = (n: NodeStatus, dbReachable: boolean): Cell => {
  if (!dbReachable) return { text: 'unknown (DB)', tone: 'dim' };
  if (n.heartbeatAgeSeconds === null) return { text: 'no live row', tone: 'dim' };
  const age = n.heartbeatAgeSeconds;
  const text = age < 0 ? `${span(age)} ahead (clock skew)` : `${span(age)} ago`;
  return n.healthy ? { text, tone: 'good' } : { text: `${text} (stale)`, tone: 'bad' };
};

const reachabilityCell = (n: NodeStatus): Cell => ({
  text: n.reachability,
  tone: n.reachability === 'Online' ? 'good' : n.reachability === 'unknown' ? 'warn' : 'bad',
});

const roleCell = (n: NodeStatus, now: number, nodes: readonly NodeStatus[], dbReachable: boolean): Cell => {
  const failures = n.failures > 0 && n.role !== 'banned' ? `, ${n.failures} failed start${n.failures === 1 ? '' : 's'}` : '';
  switch (n.role) {
    case 'active':
      if (!dbReachable) return { text: `active (health unknown)${failures}`, tone: 'warn' };
      return n.healthy ? { text: `active${failures}`, tone: 'good' } : { text: `active, NOT HEALTHY${failures}`, tone: 'bad' };
    case 'pending':
      return { text: `pending: start issued, waiting for a fresh heartbeat${failures}`, tone: 'warn' };
    case 'banned':
      return {
        text: `banned until ${n.bannedUntil === undefined ? '?' : `${clock(n.bannedUntil)} (${relative(n.bannedUntil, now)})`}, ${n.failures} failed starts`,
        tone: 'bad',
      };
    case 'removed':
      return { text: `removed from config${n.healthy ? ', scheduler still running' : ''}`, tone: n.healthy ? 'warn' : 'dim' };
    default:
      if (!n.healthy) return { text: `standby${failures}`, tone: 'plain' };
      // A healthy standby beside a healthy active node is a duplicate a tick stops; alone it is adopted.
      return nodes.some((o) => o.id !== n.id && o.healthy && (o.role === 'active' || o.role === 'pending'))
        ? { text: `standby, DUPLICATE SCHEDULER RUNNING${failures}`, tone: 'bad' }
        : { text: `standby, scheduler running (not the recorded active)${failures}`, tone: 'warn' };
  }
};

interface ActionLike {
  readonly kind: string;
  readonly nodeId: string;
  readonly hostname?: string;
  readonly reason: string;
  readonly epoch?: number;
  readonly component?: string;
}

const actionLine = (index: number, a: ActionLike, nodes: readonly NodeStatus[], suffix = ''): string[] => [
  `  ${index}. ${a.kind}${a.component === undefined ? '' : ` ${a.component}`} ${a.hostname === undefined ? nodeLabel(a.nodeId, nodes) : `${a.nodeId} (${a.hostname})`}${a.epoch === undefined ? '' : `, epoch ${a.epoch}`}${suffix}`,
  `     ${a.reason}`,
];

type HistoryRow = StatusView['history'][number];

const eventsTable = (events: readonly HistoryRow[], opts: RenderOptions, indent = ''): string[] =>
  table(
    ['WHEN', 'AGO', 'KIND', 'NODE', 'EPOCH', 'CALLER', 'REASON'],
    events.map((e) => [
      { text: clock(e.at) },
      { text: relative(e.at, opts.now), tone: 'dim' },
      {
        text: e.component === undefined ? e.kind : `${e.kind} [${e.component}]`,
        tone: ['failover', 'manual-failover', 'ban', 'suppressed', 'no-candidate', 'start-expired'].includes(e.kind)
          ? 'warn'
          : e.kind === 'pause' || e.kind === 'resume'
            ? 'bold'
            : 'plain',
      },
      { text: e.node ?? '-' },
      { text: String(e.epoch) },
      { text: e.caller },
      { text: e.reason },
    ]),
    opts.color,
    indent,
  );

/** The status view: verdict line, banners, nodes, foreign schedulers, what a tick would do, last events. */
const renderStatus = (s: StatusView, opts: RenderOptions): string => {
  const c = opts.color;
  const v = verdictInfo(s.verdict);
  const out: string[] = [];
  const healthy = s.nodes.filter((n) => n.healthy);
  out.push(
    `${paint(`${v.symbol} ${s.clusterName}: ${v.label}`, v.tone, c)}  ·  epoch ${s.epoch}${s.paused !== undefined && s.verdict !== 'paused' ? `  ·  ${paint('PAUSED', 'warn', c)}` : ''}`,
  );
  // Which schedulers run, unless the gloss already says none does.
  const saysNone = ['recovering', 'down', 'suppressed', 'no-candidate'].includes(s.verdict);
  const running = !s.db.reachable
    ? ''
    : healthy.length + s.foreign.length === 0
      ? saysNone
        ? ''
        : '; no healthy scheduler'
      : `; healthy: ${[...healthy.map((n) => n.hostname), ...s.foreign.map((f) => `${f.hostname} (foreign)`)].join(', ')}`;
  if (s.components === undefined) out.push(`  ${v.gloss}${running}`);
  else out.push(`  ${s.components.map((k) => `${k.noun} ${verdictInfo(k.verdict).label.toLowerCase()}`).join('  ·  ')}`);
  if (s.paused !== undefined) {
    out.push(
      paint(`  ⏸ paused ${relative(s.paused.since, opts.now)} (${clock(s.paused.since)}) by ${s.paused.by}: ${s.paused.reason}`, 'warn', c),
      '    ticks only observe; lift with `airflow-watchdog resume`',
    );
  }
  if (!s.db.reachable) out.push(paint(`  metadata DB UNREACHABLE: ${s.db.error ?? 'no detail'}`, 'bad', c));
  if (s.lease !== undefined) out.push(`  a tick is in progress: lease held by ${s.lease.owner} until ${clock(s.lease.expiresAt)}`);

  const nodeTable = (nodes: readonly NodeStatus[]): string[] =>
    table(
      ['NODE', 'HOSTNAME', 'SSM', 'HEARTBEAT', 'ROLE'],
      nodes.map((n) => [{ text: n.id }, { text: n.hostname }, reachabilityCell(n), heartbeatCell(n, s.db.reachable), roleCell(n, opts.now, nodes, s.db.reachable)]),
      c,
    );
  if (s.components === undefined) {
    out.push('');
    out.push(...nodeTable(s.nodes));
  } else {
    // Airflow 3: one table per component, each with its own verdict, epoch and pause.
    for (const k of s.components) {
      const kv = verdictInfo(k.verdict);
      const mode = k.mode === 'multi' ? `multi (${k.desired ?? '?'} desired)` : 'single';
      out.push('');
      out.push(
        `${paint(`${kv.symbol} ${k.noun}`, kv.tone, c)}  ·  ${kv.label}  ·  unit ${k.unit}  ·  ${mode}  ·  epoch ${k.epoch}${k.paused === undefined ? '' : `  ·  ${paint(`PAUSED by ${k.paused.by}: ${k.paused.reason}`, 'warn', c)}`}`,
      );
      out.push(...nodeTable(k.nodes));
    }
  }

  if (s.foreign.length > 0) {
    out.push('');
    out.push(paint('Foreign schedulers (hostname not in the node list: they count as running and are never stopped):', 'warn', c));
    for (const f of s.foreign) out.push(`  ${f.hostname}  job ${f.jobId}  heartbeat ${span(f.heartbeatAgeSeconds)} ago`);
  }

  out.push('');
  out.push(paint('A tick now would:', 'bold', c));
  if (s.wouldDo.actions.length === 0) out.push('  send no command');
  out.push(...s.wouldDo.actions.flatMap((a, i) => actionLine(i + 1, a, s.nodes)));
  for (const r of s.wouldDo.reasons) out.push(`  · ${r}`);
  if (s.wouldDo.alarms.length > 0) out.push(paint(`  alarms: ${s.wouldDo.alarms.join(', ')}`, 'bad', c));

  out.push('');
  if (s.history.length === 0) out.push(paint('Last events: none recorded yet', 'bold', c));
  else {
    out.push(paint('Last events (newest first):', 'bold', c));
    out.push(...eventsTable(s.history, opts, '  '));
  }
  return `${out.join('\n')}\n`;
};

const renderHistory = (history: readonly HistoryRow[], opts: RenderOptions): string => {
  if (history.length === 0) return 'No events recorded yet.\n';
  return `${[paint(`${history.length} event${history.length === 1 ? '' : 's'}, newest first:`, 'bold', opts.color), ...eventsTable(history, opts)].join('\n')}\n`;
};

/** The `summarise()` of a tick report, as functions/runtime/app.ts returns it. */
interface TickSummary {
  readonly verdict: string;
  readonly disposition: string;
  readonly epoch: number;
  readonly actions: readonly { readonly kind: string; readonly nodeId: string; readonly purpose: string; readonly reason: string; readonly outcome: string }[];
  readonly planned?: readonly Action[];
  readonly reasons: readonly string[];
  readonly alarms: readonly string[];
  readonly note?: string;
}

const OUTCOME_TONE: Readonly<Record<string, Tone>> = { success: 'good', skipped: 'warn' };

const executedLines = (t: TickSummary, nodes: readonly NodeStatus[], c: boolean): string[] =>
  t.actions.flatMap((a, i) =>
    actionLine(i + 1, { kind: a.kind, nodeId: a.nodeId, reason: a.reason }, nodes, `: ${paint(a.outcome, OUTCOME_TONE[a.outcome] ?? 'bad', c)}`),
  );

/** Whether every executed action succeeded. */
const allSucceeded = (t: TickSummary): boolean => t.actions.every((a) => a.outcome === 'success');

const DISPOSITIONS: Readonly<Record<string, string>> = {
  acted: 'commands sent',
  'no-change': 'no command needed',
  'dry-run': 'dry run',
  'lost-race': 'observe-only: another watchdog is acting',
  'lease-lost': 'LEASE LOST during the tick',
};

const renderTick = (t: TickSummary, opts: RenderOptions, nodes: readonly NodeStatus[] = []): string[] => {
  const c = opts.color;
  const v = verdictInfo(t.verdict);
  const out = [`${paint(`${v.symbol} ${v.label}`, v.tone, c)}  ·  epoch ${t.epoch}  ·  ${DISPOSITIONS[t.disposition] ?? t.disposition}`];
  if (t.disposition === 'dry-run') {
    const planned = t.planned ?? [];
    out.push(planned.length === 0 ? '  would send no command' : '  would do:');
    out.push(...planned.flatMap((a, i) => actionLine(i + 1, a, nodes)));
  } else if (t.actions.length > 0) {
    out.push('  did:');
    out.push(...executedLines(t, nodes, c));
  } else {
    out.push('  sent no command');
  }
  for (const r of t.reasons) out.push(`  · ${r}`);
  if (t.alarms.length > 0) out.push(paint(`  alarms: ${t.alarms.join(', ')}`, 'bad', c));
  if (t.note !== undefined) out.push(paint(`  note: ${t.note}`, 'warn', c));
  return out;
};

const renderReconcile = (ticks: readonly TickSummary[], dryRun: boolean, opts: RenderOptions): string => {
  const out: string[] = [dryRun ? 'Dry run: nothing was written and no command was sent.' : `Ran ${ticks.length} tick${ticks.length === 1 ? '' : 's'}.`];
  for (const t of ticks) out.push('', ...renderTick(t, opts));
  return `${out.join('\n')}\n`;
};

/** failover / pause / resume: what changed, each command's outcome, then the status after it. */
const renderChange = (action: string, result: TickSummary, status: StatusView, opts: RenderOptions): string => {
  const c = opts.color;
  const out: string[] = [];
  if (action === 'failover') {
    const active = status.nodes.find((n) => n.role === 'active' || n.role === 'pending');
    const ok = allSucceeded(result);
    out.push(
      paint(
        `${ok ? '✔' : '✖'} failover recorded: epoch ${result.epoch}, scheduler moving to ${active === undefined ? '?' : `${active.id} (${active.hostname})`}${ok ? '' : '; NOT EVERY COMMAND SUCCEEDED'}`,
        ok ? 'good' : 'bad',
        c,
      ),
    );
    out.push(...executedLines(result, status.nodes, c));
    if (result.note !== undefined) out.push(paint(`  note: ${result.note}`, 'warn', c));
  } else if (action === 'pause') {
    out.push(paint('⏸ paused: ticks now observe only; lift with `airflow-watchdog resume`', 'warn', c));
  } else {
    out.push(paint('✔ resumed: the watchdog acts again from its next tick', 'good', c));
  }
  out.push('', renderStatus(status, opts).trimEnd());
  return `${out.join('\n')}\n`;
};

interface ErrorView {
  readonly code: string;
  readonly message: string;
  readonly field?: string;
  readonly hint?: string;
}

const ERROR_HEADLINE: Readonly<Record<string, string>> = {
  InvalidRequest: 'the function rejected the request',
  Refused: 'refused',
  ConfigError: "the function's configuration is invalid",
  Internal: 'the function failed',
};

/** Control and bidi-override characters in answered strings (e.g. an ANSI escape in a `job.hostname`) shown as `\u{…}`, not interpreted. */
const visibleText = <T>(value: T): T => {
  if (typeof value === 'string') return value.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`) as T;
  if (Array.isArray(value)) return value.map(visibleText) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [visibleText(k), visibleText(v)])) as T;
  }
  return value;
};

const renderError = (e: ErrorView, color: boolean): string => {
  const head = ERROR_HEADLINE[e.code];
  const out = [paint(`✖ ${head === undefined ? e.message : `${head}: ${e.message}`}`, 'bad', color)];
  if (e.field !== undefined) out.push(`  field: ${e.field}`);
  if (e.hint !== undefined) out.push(`  hint: ${e.hint}`);
  return `${out.join('\n')}\n`;
};

export { allSucceeded, renderChange, renderError, renderHistory, renderReconcile, renderStatus, VERDICTS, visibleText };
export type { ErrorView, RenderOptions, TickSummary };
