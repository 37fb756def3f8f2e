// A device's stored readings over a time range (SPEC "History"), folded into
// at most CHART_POINTS points per field for the charts. The token goes in an
// Authorization header only: never a cookie (no CSRF), never the URL.

/** The range picker's choices, in ms. */
export const RANGES = new Map([
  ['1h', 60 * 60 * 1000],
  ['24h', 24 * 60 * 60 * 1000],
  ['7d', 7 * 24 * 60 * 60 * 1000],
]);
/** Most points a chart draws per field; more readings are averaged per time bucket. */
export const CHART_POINTS = 360;
/**
 * A range holding more than one page (the hub's default `limit`, 1,000) is
 * sampled: the rest of it is cut into this many slices and only the first
 * page of each is read, so a chart costs at most SAMPLE_SLICES + 1 requests.
 */
const SAMPLE_SLICES = 24;
/** Slice requests in flight at once (the hub answers a few at a time: historyMaxInFlight). */
const PARALLEL = 2;
/** Tries of one request the hub answered 503 (busy), Retry-After apart. */
const BUSY_TRIES = 3;

/** A refused or failed history request; `status` is the HTTP status (0: no answer). */
export class HistoryError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function fetchPage(token, device, params, signal) {
  const url = `/v1/devices/${encodeURIComponent(device)}/readings?${new URLSearchParams(params)}`;
  for (let attempt = 1; ; attempt++) {
    let res;
    try {
      res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit', cache: 'no-store', signal });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new HistoryError(0, 'the hub did not answer');
    }
    if (res.status === 503 && attempt < BUSY_TRIES) {
      const seconds = Number(res.headers.get('Retry-After')) || 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(seconds, 5) * 1000));
      continue;
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        const body = await res.json();
        if (typeof body.message === 'string') message = body.message;
      } catch {
        // not JSON: the status says enough
      }
      throw new HistoryError(res.status, message);
    }
    const body = await res.json();
    return { readings: Array.isArray(body.readings) ? body.readings : [], next: typeof body.next === 'string' ? body.next : null };
  }
}

/**
 * Averages each field's readings per time bucket (CHART_POINTS buckets over
 * [from, to]); a field with no more readings than buckets keeps them all.
 * @returns {Map<string, {t: number[], v: number[]}>} in the order fields first appear
 */
export function foldReadings(readings, from, to, points = CHART_POINTS) {
  const raw = new Map();
  for (const r of readings) {
    if (!r || typeof r.ts !== 'number' || !r.data || typeof r.data !== 'object') continue;
    for (const [name, value] of Object.entries(r.data)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      let series = raw.get(name);
      if (!series) raw.set(name, (series = { t: [], v: [] }));
      series.t.push(r.ts);
      series.v.push(value);
    }
  }
  const span = Math.max(1, to - from);
  for (const [name, series] of raw) {
    if (series.t.length <= points) continue;
    const sumT = new Float64Array(points);
    const sumV = new Float64Array(points);
    const count = new Uint32Array(points);
    for (let i = 0; i < series.t.length; i++) {
      const b = Math.min(points - 1, Math.max(0, Math.floor(((series.t[i] - from) / span) * points)));
      sumT[b] += series.t[i];
      sumV[b] += series.v[i];
      count[b]++;
    }
    const folded = { t: [], v: [] };
    for (let b = 0; b < points; b++) {
      if (count[b] === 0) continue;
      folded.t.push(sumT[b] / count[b]);
      folded.v.push(sumV[b] / count[b]);
    }
    raw.set(name, folded);
  }
  return raw;
}

/**
 * Loads `device`'s readings of the last `rangeMs` before `now`.
 * @returns {Promise<{series: Map<string, {t: number[], v: number[]}>, readings: number, sampled: boolean, lastTs: number, lastSeq: number}>}
 */
export async function loadHistory(token, device, rangeMs, now, signal) {
  const from = now - rangeMs;
  const first = await fetchPage(token, device, { from: String(from), to: String(now) }, signal);
  const readings = [...first.readings];
  let sampled = false;
  if (first.next !== null && readings.length > 0) {
    // More than a page: the rest slice by slice, the first page of each (sampled when a slice holds more).
    const start = readings[readings.length - 1].ts + 1;
    const step = Math.max(1, Math.ceil((now - start) / SAMPLE_SLICES));
    const slices = []; // [from, to): the hub's ranges leave out `to`
    for (let s = start; s < now; s += step) slices.push([s, Math.min(now, s + step)]);
    const pages = new Array(slices.length);
    let nextSlice = 0;
    const worker = async () => {
      while (nextSlice < slices.length) {
        const i = nextSlice++;
        const [a, b] = slices[i];
        const page = await fetchPage(token, device, { from: String(a), to: String(b) }, signal);
        pages[i] = page.readings;
        if (page.next !== null) sampled = true;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    for (const page of pages) readings.push(...page);
  }
  const last = readings[readings.length - 1];
  return { series: foldReadings(readings, from, now), readings: readings.length, sampled, lastTs: last?.ts ?? 0, lastSeq: last?.seq ?? 0 };
}
