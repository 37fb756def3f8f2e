// The chart data of the selected device over the picked range: first its
// stored readings (history-loader.js), then each live reading appended, so
// the chart starts full and goes on live without a gap or a repeat.
import { CHART_POINTS, foldReadings, loadHistory } from './history-loader.js';
import { readingTime } from './fleet-model.js';

/** Live readings kept while the history request runs. */
const MAX_PENDING = 2000;

export class DeviceSeries {
  /** @type {Map<string, {t: number[], v: number[]}>} field → points, oldest first */
  fields = new Map();
  /** 'loading' | 'ready' | 'error' */
  state = 'loading';
  /** Readings the history answered with. */
  readings = 0;
  /** True when the range held more than a page and was sampled. */
  sampled = false;
  /** The history error's text when state is 'error'. */
  error = '';
  /** Bumped on every change, so views redraw only when needed. */
  version = 0;
  #id;
  #rangeMs;
  #pending = [];
  #lastTs = 0;
  #lastSeq = 0;
  #abort = new AbortController();

  /** Starts loading `id`'s last `rangeMs`; `onChange` runs when the history has arrived (or failed). */
  constructor(id, rangeMs, token, onChange) {
    this.#id = id;
    this.#rangeMs = rangeMs;
    const now = Date.now();
    loadHistory(token, id, rangeMs, now, this.#abort.signal).then(
      (history) => {
        this.fields = history.series;
        this.readings = history.readings;
        this.sampled = history.sampled;
        this.#lastTs = history.lastTs;
        this.#lastSeq = history.lastSeq;
        this.state = 'ready';
        this.#takePending();
        onChange();
      },
      (err) => {
        if (this.#abort.signal.aborted) return;
        // Live readings still chart: the history is what is missing.
        this.state = 'error';
        this.error = err && err.status ? `history refused (${err.status}: ${err.message})` : 'history unavailable';
        this.#takePending();
        onChange();
      },
    );
  }

  get rangeMs() {
    return this.#rangeMs;
  }

  /** Stops a history request still running. */
  stop() {
    this.#abort.abort();
  }

  /** One reading from the stream (any device; others are ignored). */
  live(message) {
    if (message.device !== this.#id) return;
    if (this.state === 'loading') {
      if (this.#pending.length < MAX_PENDING) this.#pending.push(message);
      return;
    }
    this.#append(message, Date.now());
  }

  #takePending() {
    const now = Date.now();
    for (const message of this.#pending) this.#append(message, now);
    this.#pending = [];
    this.version++;
  }

  #append(message, now) {
    const ts = readingTime(message, now);
    const seq = typeof message.seq === 'number' ? message.seq : 0;
    // Held already (the stream's snapshot repeats the latest stored reading), or older than the line's end.
    if (ts < this.#lastTs || (ts === this.#lastTs && seq <= this.#lastSeq)) return;
    this.#lastTs = ts;
    this.#lastSeq = seq;
    const data = message.data && typeof message.data === 'object' ? message.data : {};
    for (const [name, value] of Object.entries(data)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      let series = this.fields.get(name);
      if (!series) this.fields.set(name, (series = { t: [], v: [] }));
      series.t.push(ts);
      series.v.push(value);
      if (series.t.length > 2 * CHART_POINTS) this.#refold(name, series, now);
    }
    this.version++;
  }

  /** Keeps a long-running live chart bounded: back to CHART_POINTS points over the range. */
  #refold(name, series, now) {
    const from = now - this.#rangeMs;
    const readings = series.t.map((ts, i) => ({ ts, data: { v: series.v[i] } })).filter((r) => r.ts >= from);
    this.fields.set(name, foldReadings(readings, from, now).get('v') ?? { t: [], v: [] });
  }
}
