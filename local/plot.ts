import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { ComponentName } from '../functions/core/components.js';
import { componentOfUnit, eventsOf, newestPerHost, type Timeline, timelineComponents } from './timeline.js';

/**
 * An SVG picture of a timeline: heartbeat age (by the DB's clock) of each node's newest live row over
 * time, the `staleAfterSeconds` line, injected faults as labelled vertical markers, and the watchdog's
 * start/stop commands as ticks along the bottom. With components (Airflow 3) one panel per component
 * (scheduler, dag-processor, triggerer), stacked on the same time axis, each with its own threshold and
 * its own commands; a node has the same colour in every panel (a pure function of the timeline), and
 * the same picture as PNG, rasterised by resvg (@resvg/resvg-js, prebuilt binaries on npm), for pasting
 * where SVG is not accepted (issues, chat).
 */

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const TITLES: Readonly<Record<ComponentName, string>> = { scheduler: 'scheduler', dagProcessor: 'dag-processor', triggerer: 'triggerer' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const plotHeartbeats = (tl: Timeline, opts: { width?: number; height?: number; title?: string } = {}): string => {
  const components = timelineComponents(tl.config);
  const panels = components.length;
  const width = opts.width ?? 1200;
  const panelGap = 28;
  // One panel keeps the original 520 px picture; each further panel adds 220 px.
  const height = opts.height ?? 520 + (panels - 1) * 220;
  const m = { left: 60, right: 170, top: 40, bottom: 120 };
  const w = width - m.left - m.right;
  const h = (height - m.top - m.bottom - (panels - 1) * panelGap) / panels;
  const samples = eventsOf(tl, 'sample').filter((s) => s.error === undefined);
  const t0 = tl.startedAt;
  const tEnd = Math.max(t0 + 1000, ...tl.events.map((e) => e.t));
  const bottom = m.top + panels * h + (panels - 1) * panelGap;
  const x = (t: number): number => m.left + ((t - t0) / (tEnd - t0)) * w;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  const defaultTitle = panels === 1 ? 'Scheduler heartbeat age per node (by the DB clock)' : 'Heartbeat age per component and node (by the DB clock)';
  parts.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(opts.title ?? defaultTitle)}</text>`);
  const span = (tEnd - t0) / 1000;
  const step = span > 480 ? 60 : span > 240 ? 30 : span > 120 ? 15 : span > 40 ? 10 : 5;
  const outages: { from: number; to: number }[] = [];
  let outFrom: number | undefined;
  for (const f of eventsOf(tl, 'fault')) {
    if (f.kind === 'db-outage') outFrom = f.t;
    if (f.kind === 'db-back' && outFrom !== undefined) {
      outages.push({ from: outFrom, to: f.t });
      outFrom = undefined;
    }
  }
  components.forEach((k, p) => {
    const top = m.top + p * (h + panelGap);
    const stale = k.staleAfterSeconds;
    const yMax = Math.max(stale * 3, 1);
    const y = (age: number): number => top + h - (Math.max(0, Math.min(age, yMax)) / yMax) * h;
    for (let s = 0; s <= span; s += step) {
      const xx = x(t0 + s * 1000);
      parts.push(`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${top + h}" stroke="#eee"/>`);
      if (p === panels - 1) parts.push(`<text x="${xx}" y="${top + h + 16}" text-anchor="middle" fill="#555">${s}s</text>`);
    }
    const yStep = yMax > 40 ? 10 : yMax > 15 ? 5 : yMax > 6 ? 2 : 1;
    for (let a = 0; a <= yMax; a += yStep) {
      parts.push(`<line x1="${m.left}" y1="${y(a)}" x2="${m.left + w}" y2="${y(a)}" stroke="#eee"/>`);
      parts.push(`<text x="${m.left - 6}" y="${y(a) + 4}" text-anchor="end" fill="#555">${a}</text>`);
    }
    const label = panels === 1 ? 'heartbeat age (s)' : `${TITLES[k.name]} age (s)`;
    parts.push(`<text x="16" y="${top + h / 2}" transform="rotate(-90 16 ${top + h / 2})" text-anchor="middle" fill="#333">${esc(label)}</text>`);
    if (panels > 1) parts.push(`<text x="${m.left + 6}" y="${top + 14}" font-weight="bold" fill="#333">${esc(`${TITLES[k.name]} (${k.jobType})`)}</text>`);
    for (const o of outages) {
      parts.push(`<rect x="${x(o.from)}" y="${top}" width="${x(o.to) - x(o.from)}" height="${h}" fill="#fbe3e3" opacity="0.7"/>`);
    }
    parts.push(`<rect x="${m.left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
    parts.push(`<line x1="${m.left}" y1="${y(stale)}" x2="${m.left + w}" y2="${y(stale)}" stroke="#d62728" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${m.left + w + 6}" y="${y(stale) + 4}" fill="#d62728">staleAfter ${stale}s</text>`);
    // one polyline per hostname, broken when the host has no live row
    tl.config.nodes.forEach((n, i) => {
      const color = COLORS[i % COLORS.length];
      const segments: string[][] = [];
      let cur: string[] = [];
      for (const s of samples) {
        const r = newestPerHost(s.rows, k.jobType).get(n.hostname);
        if (r === undefined) {
          if (cur.length > 0) segments.push(cur);
          cur = [];
          continue;
        }
        cur.push(`${x(s.t).toFixed(1)},${y(r.age).toFixed(1)}`);
      }
      if (cur.length > 0) segments.push(cur);
      for (const seg of segments) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${seg.join(' ')}"/>`);
    });
    // the watchdog's commands to this component's unit, along the panel's bottom
    for (const c of eventsOf(tl, 'command')) {
      if (c.phase !== 'sent' || componentOfUnit(tl.config, c.unit) !== k.name) continue;
      const xx = x(c.t);
      const color = c.action === 'start' ? '#2ca02c' : c.action === 'stop' ? '#d62728' : '#777';
      parts.push(
        `<path d="M ${xx} ${top + h - 2} l -4 -8 l 8 0 z" fill="${color}"><title>${esc(`${c.action} ${c.unit ?? k.unitName} on ${c.nodeId} (epoch ${c.epoch ?? '?'})`)}</title></path>`,
      );
    }
  });
  tl.config.nodes.forEach((n, i) => {
    const color = COLORS[i % COLORS.length];
    parts.push(`<rect x="${m.left + w + 8}" y="${m.top + 30 + i * 20}" width="14" height="4" fill="${color}"/>`);
    parts.push(`<text x="${m.left + w + 26}" y="${m.top + 35 + i * 20}">${esc(n.hostname)}</text>`);
  });
  parts.push(
    `<text x="${m.left + w + 8}" y="${m.top + 35 + tl.config.nodes.length * 20 + 10}" fill="#777" font-size="11">above 3 × staleAfter: clipped</text>`,
  );
  // faults, across every panel
  eventsOf(tl, 'fault').forEach((f, i) => {
    const xx = x(f.t);
    parts.push(`<line x1="${xx}" y1="${m.top}" x2="${xx}" y2="${bottom}" stroke="#444" stroke-dasharray="2 3"/>`);
    const ly = bottom + 34 + (i % 4) * 14;
    const whose = f.components === undefined || panels === 1 ? '' : ` (${f.components.map((c) => TITLES[c]).join(', ')})`;
    parts.push(`<text x="${xx + 2}" y="${ly}" fill="#222" font-size="11">${esc(`${f.kind}${whose}`)}</text>`);
  });
  parts.push(
    `<text x="${m.left}" y="${height - 8}" fill="#555" font-size="11">▼ green: start command, red: stop command (SSM), in the panel of the unit they name; dotted lines: injected faults; shaded: metadata DB outage</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
};

/** Fonts: the system's (any sans-serif; DejaVu Sans where present). Without any, the text is left out. */
const svgToPng = (svg: string): Buffer =>
  new Resvg(svg, { background: '#ffffff', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' } }).render().asPng();

/** Writes `<name>.svg` and `<name>.png` into `dir`; returns both paths. */
const writePictures = (dir: string, name: string, svg: string): { svg: string; png: string } => {
  const paths = { svg: join(dir, `${name}.svg`), png: join(dir, `${name}.png`) };
  writeFileSync(paths.svg, svg);
  writeFileSync(paths.png, svgToPng(svg));
  return paths;
};

export { plotHeartbeats, svgToPng, writePictures };
