/**
 * `--report-html FILE`: the report as one self-contained page (no scripts,
 * no external resources) with two charts drawn as inline SVG: the
 * ack-latency distribution and throughput over time. Pure.
 */
import type { HistogramBucket, ThroughputPoint } from './latency-histogram.js';
import { formatReportTable, type SimReport } from './report.js';

const WIDTH = 720;
const HEIGHT = 260;
const PAD = { left: 56, right: 16, top: 16, bottom: 40 };

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmtMs(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10_000 ? 0 : 1)}s`;
  if (value >= 10) return `${Math.round(value)}ms`;
  return `${value.toFixed(value >= 1 ? 1 : 2)}ms`;
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const steps = [1, 2, 5, 10];
  for (const step of steps) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function yAxis(max: number, innerH: number): string {
  let out = '';
  for (let i = 0; i <= 4; i++) {
    const value = (max * i) / 4;
    const y = PAD.top + innerH - (innerH * i) / 4;
    out += `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" class="grid"/>`;
    out += `<text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${Number.isInteger(value) ? value : value.toFixed(1)}</text>`;
  }
  return out;
}

/** Bar chart of the ack-latency histogram (log-spaced buckets, one bar each), with p50 and p99 marked. */
export function latencyChartSvg(buckets: readonly HistogramBucket[], marks: Readonly<Record<string, number>> = {}): string {
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  if (buckets.length === 0) return `<p class="empty">No acked messages.</p>`;
  const max = niceMax(Math.max(...buckets.map((b) => b.count)));
  const barW = innerW / buckets.length;
  let bars = '';
  let labels = '';
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    const h = (b.count / max) * innerH;
    const x = PAD.left + i * barW;
    bars += `<rect x="${x.toFixed(1)}" y="${(PAD.top + innerH - h).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${fmtMs(b.fromMs)}–${fmtMs(b.toMs)}: ${b.count}</title></rect>`;
    if (i % labelEvery === 0) labels += `<text x="${x.toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}">${fmtMs(b.fromMs)}</text>`;
  });
  let markers = '';
  for (const [name, value] of Object.entries(marks)) {
    const i = buckets.findIndex((b) => value <= b.toMs);
    if (i < 0) continue;
    const x = PAD.left + (i + 0.5) * barW;
    // Labels near the right edge sit left of their line, so they stay inside the chart.
    const right = x > WIDTH * 0.75;
    markers += `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${PAD.top}" y2="${PAD.top + innerH}" class="mark"/><text x="${(x + (right ? -4 : 4)).toFixed(1)}" y="${PAD.top + 10}" text-anchor="${right ? 'end' : 'start'}" class="mark-label">${escapeHtml(name)} ${fmtMs(value)}</text>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="ack latency distribution">${yAxis(max, innerH)}${bars}${markers}${labels}<text x="${WIDTH / 2}" y="${HEIGHT - 6}" text-anchor="middle">ack latency (log scale); bars: messages</text></svg>`;
}

/** Line chart of messages sent and acked per second over the run. */
export function throughputChartSvg(points: readonly ThroughputPoint[]): string {
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  if (points.length === 0) return `<p class="empty">No messages.</p>`;
  const rate = (count: number, widthMs: number): number => (count * 1000) / widthMs;
  const max = niceMax(Math.max(...points.map((p) => Math.max(rate(p.sent, p.widthMs), rate(p.acked, p.widthMs)))));
  const x = (i: number): number => PAD.left + (points.length === 1 ? innerW / 2 : (innerW * i) / (points.length - 1));
  const y = (v: number): number => PAD.top + innerH - (v / max) * innerH;
  const line = (pick: (p: ThroughputPoint) => number): string =>
    points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(rate(pick(p), p.widthMs)).toFixed(1)}`).join('');
  let labels = '';
  const labelEvery = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((p, i) => {
    if (i % labelEvery === 0) labels += `<text x="${x(i).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle">${Math.round(p.atMs / 1000)}s</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="throughput over time">${yAxis(max, innerH)}<path d="${line((p) => p.sent)}" class="sent"/><path d="${line((p) => p.acked)}" class="acked"/>${labels}<text x="${WIDTH / 2}" y="${HEIGHT - 6}" text-anchor="middle">messages per second: <tspan class="sent-label">sent</tspan> / <tspan class="acked-label">acked</tspan></text></svg>`;
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:780px;color:#1d2430;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
pre{background:#f4f6f8;padding:1rem;overflow-x:auto;border-radius:6px}
svg{width:100%;height:auto;font-size:11px;fill:#55606e}
svg rect{fill:#2f7dd1}svg .grid{stroke:#e3e7ec}
svg path{fill:none;stroke-width:2}svg .mark{stroke:#b42318;stroke-dasharray:4 3}svg .mark-label{fill:#b42318;font-weight:600}svg .sent{stroke:#9aa5b1}svg .acked{stroke:#2f7dd1}
.sent-label{fill:#9aa5b1}.acked-label{fill:#2f7dd1}
.pass{color:#17803d}.fail{color:#b42318}`;

/** The whole page. `verdict` is shown under the title (e.g. "zero lost" or the failure). */
export function renderReportHtml(report: SimReport, verdict: string | null = null): string {
  const title = `fleethub sim: ${report.run.behavior}, ${report.run.devices} devices`;
  const verdictHtml = verdict === null ? '' : `<p class="${report.messages.lost === 0 ? 'pass' : 'fail'}">${escapeHtml(verdict)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Started ${escapeHtml(report.run.startedAt)} against <code>${escapeHtml(report.run.url)}</code>.</p>
${verdictHtml}
<h2>Summary</h2>
<pre>${escapeHtml(formatReportTable(report))}</pre>
<h2>Ack latency distribution</h2>
${latencyChartSvg(report.charts.ackLatency, { p50: report.ackLatencyMs.p50, p99: report.ackLatencyMs.p99 })}
<h2>Throughput over time</h2>
${throughputChartSvg(report.charts.throughput)}
</body></html>
`;
}
