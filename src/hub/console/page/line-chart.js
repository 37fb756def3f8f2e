// A small canvas line chart for one numeric field over a time window: our
// own drawing code, no library (the page fetches nothing from outside).

const PAD = { left: 46, right: 12, top: 10, bottom: 20 };
const MIN = 60000;
const HOUR = 60 * MIN;
const TICK_STEPS_MS = [10000, 15000, 30000, MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR];

/** A time axis label: "now", "-30s", "-5m", "-2h", "-3d". */
function agoLabel(ago) {
  if (ago === 0) return 'now';
  if (ago % (24 * HOUR) === 0) return `-${ago / (24 * HOUR)}d`;
  if (ago % HOUR === 0) return `-${ago / HOUR}h`;
  if (ago % MIN === 0) return `-${ago / MIN}m`;
  return `-${Math.round(ago / 1000)}s`;
}

/** An axis label with just enough decimals to tell neighbouring grid lines (`step` apart) from each other. */
function axisLabel(value, step) {
  const abs = Math.abs(value);
  if (abs >= 1e6 || (abs !== 0 && abs < 1e-4)) return value.toExponential(1);
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step))));
  return value.toFixed(decimals);
}

/**
 * Draws `points` (arrays of times and values, oldest first) into `canvas`.
 * @param {HTMLCanvasElement} canvas
 * @param {{ t: number[], v: number[] }} points
 * @param {{ now: number, windowMs: number, color: string }} options
 */
export function drawLineChart(canvas, points, options) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const { now, windowMs, color } = options;
  const start = now - windowMs;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  let first = 0;
  while (first < points.t.length && points.t[first] < start) first++;
  // What the chart shows, for tests and the curious: the points inside the window.
  canvas.dataset.points = String(points.t.length - first);
  // Keep one point left of the window so the line enters from the edge.
  if (first > 0) first--;

  let min = Infinity;
  let max = -Infinity;
  for (let i = first; i < points.v.length; i++) {
    min = Math.min(min, points.v[i]);
    max = Math.max(max, points.v[i]);
  }
  if (!Number.isFinite(min)) {
    min = 0;
    max = 1;
  }
  if (max - min < 1e-9) {
    const pad = Math.abs(max) * 0.05 || 1;
    min -= pad;
    max += pad;
  } else {
    const pad = (max - min) * 0.08;
    min -= pad;
    max += pad;
  }
  const x = (t) => PAD.left + ((t - start) / windowMs) * plotW;
  const y = (v) => PAD.top + (1 - (v - min) / (max - min)) * plotH;

  // Grid and axes.
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#7d8aa6';
  ctx.strokeStyle = 'rgba(148, 163, 184, 0.12)';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 3; i++) {
    const value = min + ((max - min) * i) / 3;
    const yy = Math.round(y(value)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(PAD.left, yy);
    ctx.lineTo(width - PAD.right, yy);
    ctx.stroke();
    ctx.fillText(axisLabel(value, (max - min) / 3), PAD.left - 6, yy);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const step = TICK_STEPS_MS.find((ms) => windowMs / ms <= 6) ?? 24 * HOUR;
  for (let ago = Math.floor(windowMs / step) * step; ago >= 0; ago -= step) {
    ctx.fillText(agoLabel(ago), Math.min(Math.max(x(now - ago), PAD.left + 10), width - PAD.right - 10), height - PAD.bottom + 5);
  }

  if (points.t.length - first === 0) return;
  ctx.save();
  ctx.beginPath();
  ctx.rect(PAD.left, PAD.top, plotW, plotH);
  ctx.clip();
  // Area under the line.
  const gradient = ctx.createLinearGradient(0, PAD.top, 0, PAD.top + plotH);
  gradient.addColorStop(0, `${color}55`);
  gradient.addColorStop(1, `${color}00`);
  ctx.beginPath();
  ctx.moveTo(x(points.t[first]), PAD.top + plotH);
  for (let i = first; i < points.t.length; i++) ctx.lineTo(x(points.t[i]), y(points.v[i]));
  ctx.lineTo(x(points.t[points.t.length - 1]), PAD.top + plotH);
  ctx.closePath();
  ctx.fillStyle = gradient;
  ctx.fill();
  // The line.
  ctx.beginPath();
  for (let i = first; i < points.t.length; i++) {
    if (i === first) ctx.moveTo(x(points.t[i]), y(points.v[i]));
    else ctx.lineTo(x(points.t[i]), y(points.v[i]));
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  ctx.stroke();
  ctx.restore();
  // The newest point.
  const last = points.t.length - 1;
  ctx.beginPath();
  ctx.arc(x(points.t[last]), y(points.v[last]), 3.5, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
}
