// The selected device: state, last seen, rate, a line chart per numeric
// field over the picked range (history first, then live: device-series.js),
// and its other fields as text.
import { drawLineChart } from './line-chart.js';
import { formatAgo, formatCount, formatValue } from './format.js';
import { DeviceSeries } from './device-series.js';
import { RANGES } from './history-loader.js';

const COLORS = ['#2dd4bf', '#818cf8', '#f472b6', '#fbbf24', '#38bdf8', '#a3e635', '#fb923c', '#c084fc'];
/** Redraw charts at least this often so they scroll with time. */
const SCROLL_MS = 500;
const RANGE_WORDS = new Map([['1h', 'the last hour'], ['24h', 'the last 24 hours'], ['7d', 'the last 7 days']]);

export class DeviceView {
  #el;
  #id = null;
  #charts = new Map();
  #fieldsKey = '';
  #drawnAt = 0;
  #fresh = true;
  #range = '1h';
  /** @type {DeviceSeries | null} */
  #series = null;
  #seriesVersion = -1;
  #token;

  /**
   * @param {Record<string, HTMLElement>} el
   * @param {() => string | null} token the dashboard token, for history requests
   */
  constructor(el, token) {
    this.#el = el;
    this.#token = token;
    for (const button of el.ranges.querySelectorAll('button[data-range]')) {
      button.addEventListener('click', () => this.setRange(button.dataset.range));
    }
  }

  get selected() {
    return this.#id;
  }

  /** Picks the range (a key of RANGES) and reloads the selected device's history. */
  setRange(key) {
    if (!RANGES.has(key)) return;
    this.#range = key;
    for (const button of this.#el.ranges.querySelectorAll('button[data-range]')) {
      button.setAttribute('aria-pressed', String(button.dataset.range === key));
    }
    if (this.#id !== null) this.show(this.#id);
  }

  /** A reading from the stream: the selected device's goes on its charts. */
  live(message) {
    this.#series?.live(message);
  }

  show(id) {
    this.#id = id;
    this.#series?.stop();
    const token = this.#token();
    this.#series = id === null || token === null ? null : new DeviceSeries(id, RANGES.get(this.#range), token, () => {
      this.#fresh = true;
    });
    this.#seriesVersion = -1;
    this.#el.ranges.hidden = id === null;
    this.#el.historyNote.textContent = id === null ? '' : `Loading ${RANGE_WORDS.get(this.#range)} from history…`;
    this.#el.charts.dataset.range = this.#range;
    this.#el.charts.dataset.state = 'loading';
    this.#charts.clear();
    this.#fieldsKey = '';
    this.#el.charts.replaceChildren();
    this.#el.fieldsBody.replaceChildren();
    this.#el.title.textContent = id ?? 'Pick a device';
    this.#el.hint.hidden = id !== null;
    this.#el.facts.hidden = id === null;
    this.#el.state.hidden = id === null;
    this.#el.fields.hidden = true;
    this.#drawnAt = 0;
    this.#fresh = true;
  }

  render(model, now) {
    if (this.#id === null) return;
    const device = model.devices.get(this.#id);
    if (!device) return;
    const series = this.#series;
    const seriesChanged = series !== null && series.version !== this.#seriesVersion;
    const changed = model.dirty.has(this.#id) || this.#fresh || seriesChanged;
    if (!changed && now - this.#drawnAt < SCROLL_MS) return;
    this.#fresh = false;
    this.#drawnAt = now;
    this.#el.state.textContent = device.online ? 'online' : 'offline';
    this.#el.state.className = device.online ? 'pill online' : 'pill offline';
    this.#el.seen.textContent = formatAgo(device.lastSeen, now);
    this.#el.seen.title = device.lastSeen ? new Date(device.lastSeen).toLocaleString() : '';
    this.#el.seq.textContent = device.seq ? String(device.seq) : '–';
    this.#el.rate.textContent = formatCount(model.deviceRate(device, now));

    if (series === null) return;
    if (seriesChanged) this.#noteHistory(series);
    this.#seriesVersion = series.version;
    if (series.state === 'loading') return;
    const numeric = [...series.fields.keys()]; // in the order they first appear
    const key = numeric.join('\n');
    if (key !== this.#fieldsKey) this.#buildCharts(numeric);
    for (const [name, chart] of this.#charts) {
      const value = device.data[name];
      chart.value.textContent = value === undefined ? '–' : formatValue(value);
      drawLineChart(chart.canvas, series.fields.get(name), { now, windowMs: series.rangeMs, color: chart.color });
    }
    if (changed) this.#renderFields(device.data);
  }

  #noteHistory(series) {
    const charts = this.#el.charts;
    if (charts.dataset.state !== series.state) charts.dataset.state = series.state;
    charts.dataset.readings = String(series.readings);
    const words = RANGE_WORDS.get(this.#range);
    this.#el.historyNote.textContent = series.state === 'loading' ? `Loading ${words} from history…`
      : series.state === 'error' ? `Live only: ${series.error}.`
        : `${formatCount(series.readings)} stored readings over ${words}${series.sampled ? ' (sampled: some stretches held more than a page)' : ''}, then live.`;
  }

  #buildCharts(names) {
    this.#fieldsKey = names.join('\n');
    this.#charts.clear();
    const cards = names.map((name, i) => {
      const card = document.createElement('figure');
      card.className = 'chart';
      const caption = document.createElement('figcaption');
      const label = document.createElement('span');
      label.className = 'field';
      label.textContent = name;
      const value = document.createElement('span');
      value.className = 'latest';
      caption.append(label, value);
      const canvas = document.createElement('canvas');
      canvas.setAttribute('aria-label', `${name} over ${RANGE_WORDS.get(this.#range)}`);
      canvas.setAttribute('role', 'img');
      card.append(caption, canvas);
      const color = COLORS[i % COLORS.length];
      label.classList.add(`swatch-${i % COLORS.length}`);
      this.#charts.set(name, { canvas, value, color });
      return card;
    });
    if (cards.length === 0) {
      const note = document.createElement('p');
      note.className = 'hint';
      note.textContent = 'No numeric fields in this range yet: charts appear with the first number this device sends.';
      cards.push(note);
    }
    this.#el.charts.replaceChildren(...cards);
  }

  #renderFields(data) {
    const rows = [];
    for (const [name, value] of Object.entries(data)) {
      if (typeof value === 'number') continue;
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = name;
      const td = document.createElement('td');
      td.textContent = String(value); // untrusted: text, never HTML
      tr.append(th, td);
      rows.push(tr);
    }
    this.#el.fieldsBody.replaceChildren(...rows);
    this.#el.fields.hidden = rows.length === 0;
  }
}
