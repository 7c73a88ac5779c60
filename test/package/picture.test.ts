import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plotHeartbeats, svgToPng, writePictures } from '../../local/plot.js';
import type { Timeline } from '../../local/timeline.js';

/** The picture the demo and the soak write: SVG, and the same rasterised to PNG by resvg. */

const T0 = Date.UTC(2026, 10, 24, 12);
const timeline: Timeline = {
  config: {
    mode: 'single',
    desiredSchedulers: 1,
    staleAfterSeconds: 5,
    checkIntervalSeconds: 1,
    commandTimeoutSeconds: 5,
    startupGraceSeconds: 10,
    nodes: [
      { id: 'i-0aaaaaaaaaaaaaaa1', hostname: 'sched-a' },
      { id: 'i-0bbbbbbbbbbbbbbb2', hostname: 'sched-b' },
    ],
  },
  startedAt: T0,
  events: [
    ...Array.from({ length: 30 }, (_, k) => ({
      t: T0 + k * 1000,
      type: 'sample' as const,
      rows: [{ jobId: 1, hostname: 'sched-a', state: 'running', age: k < 10 ? 1 : k - 9 }, ...(k > 18 ? [{ jobId: 2, hostname: 'sched-b', state: 'running', age: 1 }] : [])],
    })),
    { t: T0 + 10_000, type: 'fault', kind: 'crash', node: 'i-0aaaaaaaaaaaaaaa1', detail: 'SIGKILL' },
  ],
};

/** Width, height and colour type from a PNG's IHDR chunk. */
const ihdr = (png: Buffer) => ({ signature: png.subarray(0, 8).toString('hex'), width: png.readUInt32BE(16), height: png.readUInt32BE(20) });

const dir = mkdtempSync(join(tmpdir(), 'watchdog-picture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Pictures: heartbeat age per node as SVG and PNG', () => {
  const svg = plotHeartbeats(timeline, { title: 'test' });

  it('rasterises the SVG at its own size into a real PNG', () => {
    const png = svgToPng(svg);
    expect(ihdr(png)).toEqual({ signature: '89504e470d0a1a0a', width: 1200, height: 520 });
  });

  it('draws something: the PNG of the timeline differs from that of an empty picture of the same size', () => {
    const blank = svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="520"><rect width="1200" height="520" fill="#fff"/></svg>');
    expect(svgToPng(svg).length).toBeGreaterThan(blank.length * 3);
  });

  it('writes both files side by side', () => {
    const paths = writePictures(dir, 'heartbeats', svg);
    expect(paths).toEqual({ svg: join(dir, 'heartbeats.svg'), png: join(dir, 'heartbeats.png') });
    expect(readFileSync(paths.svg, 'utf8')).toBe(svg);
    expect(ihdr(readFileSync(paths.png)).width).toBe(1200);
  });
});
