// The selected device: state, last seen, rate, a live line chart per numeric
// field over the last minutes, and its other fields as text.
import { drawLineChart } from './line-chart.js';
import { formatAgo, formatCount, formatValue } from './format.js';
import { HISTORY_MS } from './fleet-model.js';

const COLORS = ['#2dd4bf', '#818cf8', '#f472b6', '#fbbf24', '#38bdf8', '#a3e635', '#fb923c', '#c084fc'];
/** Redraw charts at least this often so they scroll with time. */
const SCROLL_MS = 500;

/** The chart's time span: the data's age rounded up to a minute, from one minute to HISTORY_MS. */
function chartWindow(series, now) {
  const oldest = series.t[0] ?? now;
  return Math.min(HISTORY_MS, Math.max(60000, Math.ceil((now - oldest) / 60000) * 60000));
}

export class DeviceView {
  #el;
  #id = null;
  #charts = new Map();
  #fieldsKey = '';
  #drawnAt = 0;
  #fresh = true;

  /** @param {Record<string, HTMLElement>} el */
  constructor(el) {
    this.#el = el;
  }

  get selected() {
    return this.#id;
  }

  show(id) {
    this.#id = id;
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
    const changed = model.dirty.has(this.#id) || this.#fresh;
    if (!changed && now - this.#drawnAt < SCROLL_MS) return;
    this.#fresh = false;
    this.#drawnAt = now;
    this.#el.state.textContent = device.online ? 'online' : 'offline';
    this.#el.state.className = device.online ? 'pill online' : 'pill offline';
    this.#el.seen.textContent = formatAgo(device.lastSeen, now);
    this.#el.seen.title = device.lastSeen ? new Date(device.lastSeen).toLocaleString() : '';
    this.#el.seq.textContent = device.seq ? String(device.seq) : '–';
    this.#el.rate.textContent = formatCount(model.deviceRate(device, now));

    const numeric = [...device.history.keys()]; // in the order the device sends them
    const key = numeric.join('\n');
    if (key !== this.#fieldsKey) this.#buildCharts(numeric);
    for (const [name, chart] of this.#charts) {
      const value = device.data[name];
      chart.value.textContent = value === undefined ? '–' : formatValue(value);
      const series = device.history.get(name);
      drawLineChart(chart.canvas, series, { now, windowMs: chartWindow(series, now), color: chart.color });
    }
    if (changed) this.#renderFields(device.data);
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
      canvas.setAttribute('aria-label', `${name} over the last minutes`);
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
      note.textContent = 'No numeric fields yet: charts appear with the first number this device sends.';
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
