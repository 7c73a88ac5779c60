import { describe, expect, it } from 'vitest';
import { renderChange, renderError, renderHistory, renderReconcile, renderStatus, type TickSummary, visibleText } from '../../cli/render.js';
import type { NodeStatus, StatusView } from '../../functions/core/status-view.js';

/**
 * Golden files for the human output (test/cli/golden/*.txt). Regenerate after an intended change with
 * `npx vitest run test/cli -u` and review the diff; with CI=true vitest never writes them.
 */

const NOW = Date.UTC(2026, 10, 24, 3, 12, 0);
const at = (secondsAgo: number): string => new Date(NOW - secondsAgo * 1000).toISOString();
const plain = { now: NOW, color: false };

const node = (over: Partial<NodeStatus> & Pick<NodeStatus, 'id' | 'hostname'>): NodeStatus => ({
  reachability: 'Online',
  heartbeatAgeSeconds: null,
  jobId: null,
  healthy: false,
  role: 'standby',
  failures: 0,
  ...over,
});

const A = { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'ip-10-0-1-12.ec2.internal' };
const B = { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'ip-10-0-2-34.ec2.internal' };
const C = { id: 'mi-0123456789abcdef0', hostname: 'airflow-vm3.lan' };

const healthy: StatusView = {
  clusterName: 'prod',
  verdict: 'healthy',
  db: { reachable: true },
  epoch: 7,
  version: 212,
  nodes: [
    node({ ...A, heartbeatAgeSeconds: 6.4, jobId: 40211, healthy: true, role: 'active' }),
    node({ ...B, heartbeatAgeSeconds: 86_000, jobId: 39990 }),
    node({ ...C, reachability: 'ConnectionLost' }),
  ],
  foreign: [],
  wouldDo: { actions: [], reasons: ['active i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal) is healthy (heartbeat 6 s old)'], alarms: [] },
  history: [
    {
      at: at(2 * 3600),
      kind: 'outcome',
      node: A.id,
      epoch: 7,
      reason: 'start on i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal) (failover-start) succeeded in 2140 ms',
      caller: 'watchdog',
    },
    {
      at: at(2 * 3600 + 3),
      kind: 'failover',
      node: A.id,
      epoch: 7,
      reason:
        'failover from i-0bbbbbbbbbbbbbbb2: active i-0bbbbbbbbbbbbbbb2 (ip-10-0-2-34.ec2.internal) is not healthy (heartbeat 41 s old, stale after 30 s), restart budget spent',
      caller: 'watchdog',
    },
    {
      at: at(3 * 86_400),
      kind: 'resume',
      epoch: 6,
      reason: 'resumed (paused for: metadata DB upgrade)',
      caller: 'arn:aws:sts::123456789012:assumed-role/AirflowOps/alice',
    },
  ],
};

const paused: StatusView = {
  ...healthy,
  verdict: 'paused',
  paused: { reason: 'metadata DB upgrade to 15.4', since: at(25 * 60), by: 'arn:aws:sts::123456789012:assumed-role/AirflowOps/bob' },
  nodes: [
    node({ ...A, heartbeatAgeSeconds: 5, jobId: 40211, healthy: true, role: 'active' }),
    node({ ...B, role: 'banned', failures: 3, bannedUntil: new Date(NOW + 40 * 60_000).toISOString() }),
    node({ ...C, heartbeatAgeSeconds: -3, jobId: 40300, healthy: true, failures: 1 }),
  ],
  wouldDo: {
    actions: [],
    reasons: [`paused since ${at(25 * 60)} by arn:aws:sts::123456789012:assumed-role/AirflowOps/bob: metadata DB upgrade to 15.4; observing only`],
    alarms: ['clock-skew'],
  },
  history: [
    { at: at(25 * 60), kind: 'pause', epoch: 7, reason: 'metadata DB upgrade to 15.4', caller: 'arn:aws:sts::123456789012:assumed-role/AirflowOps/bob' },
  ],
};

const recovering: StatusView = {
  ...healthy,
  verdict: 'recovering',
  epoch: 8,
  lease: { owner: '5f1c0b7e-2d7a-4d0e-9a51-0c7f3e1b2a11#0', expiresAt: at(-75) },
  nodes: [
    node({ ...A, heartbeatAgeSeconds: 44, jobId: 40211, role: 'standby', failures: 1 }),
    node({ ...B, heartbeatAgeSeconds: null, role: 'pending' }),
    node({ ...C, reachability: 'absent' }),
  ],
  wouldDo: {
    actions: [
      {
        kind: 'stop',
        nodeId: A.id,
        hostname: A.hostname,
        epoch: 8,
        purpose: 'fence',
        reason: 'fence: stop the scheduler on the old active i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal) before starting elsewhere',
      },
    ],
    reasons: ['waiting for the start on i-0bbbbbbbbbbbbbbb2 (ip-10-0-2-34.ec2.internal) issued 20 s ago (grace 120 s)'],
    alarms: [],
  },
  history: [],
};

const degraded: StatusView = {
  ...healthy,
  verdict: 'degraded',
  foreign: [{ hostname: 'airflow-old.corp', heartbeatAgeSeconds: 4, jobId: 40400 }],
  wouldDo: {
    actions: [],
    reasons: ['a foreign scheduler is healthy on airflow-old.corp (job 40400): it counts as running and is never stopped'],
    alarms: ['foreign-scheduler'],
  },
  history: healthy.history.slice(0, 1),
};

const unknown: StatusView = {
  ...healthy,
  verdict: 'unknown',
  db: { reachable: false, error: 'connect ETIMEDOUT 10.0.3.5:5432' },
  nodes: healthy.nodes.map((n) => ({ ...n, heartbeatAgeSeconds: null, jobId: null, healthy: false })),
  wouldDo: {
    actions: [],
    reasons: ['metadata DB unreachable (connect ETIMEDOUT 10.0.3.5:5432): no action; a DB outage is never a reason to fail over'],
    alarms: [],
  },
};

const suppressed: StatusView = {
  ...healthy,
  verdict: 'suppressed',
  nodes: [
    node({ ...A, heartbeatAgeSeconds: 300, jobId: 40211, role: 'active' }),
    node({ ...B, heartbeatAgeSeconds: 900, jobId: 40100, failures: 2 }),
    node({ ...C }),
  ],
  wouldDo: {
    actions: [],
    reasons: [
      'active i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal) is not healthy (heartbeat 300 s old, stale after 30 s), restart budget spent; automatic failover suppressed: 3 failover(s) in the last hour (maxFailoversPerHour 3)',
    ],
    alarms: ['suppressed'],
  },
};

const failoverResult: TickSummary = {
  verdict: 'recovering',
  disposition: 'acted',
  epoch: 8,
  actions: [
    {
      kind: 'stop',
      nodeId: A.id,
      purpose: 'fence',
      reason: 'stop the scheduler on i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal): manual failover by alice: kernel patching',
      outcome: 'success',
    },
    {
      kind: 'start',
      nodeId: B.id,
      purpose: 'failover-start',
      reason: 'start scheduler on i-0bbbbbbbbbbbbbbb2 (ip-10-0-2-34.ec2.internal) (epoch 8): manual failover by alice: kernel patching',
      outcome: 'timeout',
    },
  ],
  reasons: [
    'manual failover by alice: kernel patching: i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal) → i-0bbbbbbbbbbbbbbb2 (ip-10-0-2-34.ec2.internal) (epoch 8)',
  ],
  alarms: [],
};

describe('CLI: human renderer', () => {
  it.each([
    ['healthy', healthy],
    ['paused', paused],
    ['recovering', recovering],
    ['degraded', degraded],
    ['unknown', unknown],
    ['suppressed', suppressed],
  ] as const)('renders the %s status view', async (name, view) => {
    // Act
    const text = renderStatus(view, plain);
    // Assess
    await expect(text).toMatchFileSnapshot(`./golden/status-${name}.txt`);
    expect(text).not.toContain('\x1b[');
  });

  it('puts cluster, verdict with symbol, epoch first, then the paused banner', () => {
    const [first, , banner] = renderStatus(paused, plain).split('\n');
    expect(first).toBe('⏸ prod: PAUSED  ·  epoch 7');
    expect(banner).toContain('paused 25 min ago');
    expect(banner).toContain('metadata DB upgrade to 15.4');
    expect(renderStatus(healthy, plain).split('\n')[0]).toBe('✔ prod: HEALTHY  ·  epoch 7');
  });

  it('shows control characters from answered strings (a hostile job.hostname) instead of sending them to the terminal', () => {
    const hostile = { ...healthy, foreign: [{ hostname: 'evil\u001b[2J\u001b]0;pwned\u0007\nfake line', heartbeatAgeSeconds: 3, jobId: 9 }] };
    const out = renderStatus(visibleText(hostile), plain);
    expect([...out].filter((c) => c !== '\n' && /\p{Cc}/u.test(c))).toEqual([]);
    expect(out).toContain('evil\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{a}fake line');
    expect(visibleText(healthy)).toEqual(healthy);
  });

  it('colours only when asked, and the text under the colours is the same', async () => {
    const coloured = renderStatus(paused, { ...plain, color: true });
    expect(coloured).toContain('\x1b[');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderStatus(paused, plain));
    await expect(coloured).toMatchFileSnapshot('./golden/status-paused.color.txt');
  });

  it('renders history, reconcile dry-run, a failover with a failed command and errors', async () => {
    await expect(renderHistory(healthy.history, plain)).toMatchFileSnapshot('./golden/history.txt');
    expect(renderHistory([], plain)).toBe('No events recorded yet.\n');
    const dryRun: TickSummary = {
      verdict: 'recovering',
      disposition: 'dry-run',
      epoch: 8,
      actions: [],
      planned: recovering.wouldDo.actions,
      reasons: recovering.wouldDo.reasons,
      alarms: [],
    };
    await expect(renderReconcile([dryRun], true, plain)).toMatchFileSnapshot('./golden/reconcile-dry-run.txt');
    await expect(renderChange('failover', failoverResult, recovering, plain)).toMatchFileSnapshot('./golden/failover-partial.txt');
    expect(renderError({ code: 'InvalidRequest', message: 'reason: must not be empty', field: 'reason' }, false)).toBe(
      '✖ the function rejected the request: reason: must not be empty\n  field: reason\n',
    );
  });
});

describe('status of an Airflow 3 control plane', () => {
  const components: StatusView = {
    ...healthy,
    verdict: 'recovering',
    components: [
      { name: 'scheduler', noun: 'scheduler', unit: 'airflow-scheduler', mode: 'single', verdict: 'healthy', epoch: 7, nodes: healthy.nodes },
      {
        name: 'dagProcessor',
        noun: 'dag-processor',
        unit: 'airflow-dag-processor',
        mode: 'single',
        verdict: 'recovering',
        epoch: 3,
        nodes: [node({ ...A, heartbeatAgeSeconds: 70, jobId: 501, role: 'active' }), node({ ...B }), node({ ...C, reachability: 'ConnectionLost' })],
      },
      {
        name: 'triggerer',
        noun: 'triggerer',
        unit: 'airflow-triggerer',
        mode: 'multi',
        desired: 2,
        verdict: 'paused',
        epoch: 2,
        paused: { reason: 'triggerer upgrade', since: at(600), by: 'ops' },
        nodes: [node({ ...A, heartbeatAgeSeconds: 4, jobId: 601, healthy: true, role: 'active' }), node({ ...B, heartbeatAgeSeconds: 5, jobId: 602, healthy: true, role: 'active' }), node({ ...C, reachability: 'ConnectionLost' })],
      },
    ],
    wouldDo: {
      actions: [],
      reasons: ['dag-processor: active i-0aaaaaaaaaaaaaaa1 (ip-10-0-1-12.ec2.internal): heartbeat 70 s old, stale after 30 s, but not proven dead (no evidence yet that it stopped beating)'],
      alarms: [],
    },
  };

  it('shows one node table per component, each with its verdict, unit, mode, epoch and pause', async () => {
    const text = renderStatus(components, plain);
    await expect(text).toMatchFileSnapshot('golden/status-components.txt');
    expect(text).toContain('dag-processor  ·  RECOVERING  ·  unit airflow-dag-processor  ·  single  ·  epoch 3');
    expect(text).toContain('PAUSED by ops: triggerer upgrade');
  });

  it('keeps the scheduler-only view as it was (no component headers)', () => {
    expect(renderStatus(healthy, plain)).not.toContain('unit airflow-scheduler');
  });
});
