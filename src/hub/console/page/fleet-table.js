// The fleet list: one row per device, sorted by id, updated in place once
// per animation frame for the devices that changed (and once a second for
// "last seen"), so a thousand streaming devices stay smooth.
import { deviceFilter, formatAgo, formatCount, formatValues } from './format.js';

export class FleetTable {
  #body;
  #empty;
  #onSelect;
  /** id → row parts and the text last written to them. */
  #rows = new Map();
  #order = [];
  #filter = () => true;
  #selected = null;

  constructor(body, empty, onSelect) {
    this.#body = body;
    this.#empty = empty;
    this.#onSelect = onSelect;
    body.addEventListener('click', (event) => {
      const tr = event.target.closest('tr');
      if (tr && tr.dataset.id !== undefined) this.#onSelect(tr.dataset.id);
    });
    body.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      const tr = event.target.closest('tr');
      if (tr && tr.dataset.id !== undefined) {
        event.preventDefault();
        this.#onSelect(tr.dataset.id);
      }
    });
  }

  setFilter(text) {
    this.#filter = deviceFilter(text);
    for (const [id, row] of this.#rows) row.tr.hidden = !this.#filter(id);
    this.#updateEmpty();
  }

  select(id) {
    if (this.#selected !== null) this.#rows.get(this.#selected)?.tr.classList.remove('selected');
    this.#selected = id;
    if (id !== null) this.#rows.get(id)?.tr.classList.add('selected');
  }

  clear() {
    this.#rows.clear();
    this.#order = [];
    this.#body.replaceChildren();
    this.#updateEmpty();
  }

  /** Brings rows up to date: new devices, changed ones, and with `all` every row's clock. */
  render(model, now, all) {
    if (model.added) {
      for (const device of model.devices.values()) if (!this.#rows.has(device.id)) this.#insert(device.id);
      this.#updateEmpty();
    }
    const ids = all ? model.devices.keys() : model.dirty;
    for (const id of ids) {
      const device = model.devices.get(id);
      const row = this.#rows.get(id);
      if (device && row) this.#update(row, device, model, now);
    }
  }

  #insert(id) {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    tr.tabIndex = 0;
    const cells = ['c-state', 'c-name', 'c-seen', 'num', 'c-values'].map((cls) => {
      const td = document.createElement('td');
      td.className = cls;
      tr.append(td);
      return td;
    });
    const dot = document.createElement('span');
    dot.className = 'dot';
    cells[0].append(dot);
    const name = document.createElement('span');
    name.textContent = id;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.hidden = true;
    cells[1].append(name, badge);
    const row = { tr, dot, badge, seen: cells[2], rate: cells[3], values: cells[4], text: { seen: '', rate: '', values: '', badge: '', online: null } };
    tr.hidden = !this.#filter(id);
    if (id === this.#selected) tr.classList.add('selected');
    // Sorted insert (binary search over the ids in DOM order).
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#order[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    const before = this.#order[lo];
    this.#body.insertBefore(tr, before === undefined ? null : this.#rows.get(before).tr);
    this.#order.splice(lo, 0, id);
    this.#rows.set(id, row);
  }

  #update(row, device, model, now) {
    const t = row.text;
    if (t.online !== device.online) {
      t.online = device.online;
      row.dot.className = device.online ? 'dot online' : 'dot offline';
      row.dot.title = device.online ? 'online' : 'offline';
      row.tr.classList.toggle('offline', !device.online);
    }
    const seen = formatAgo(device.lastSeen, now);
    if (seen !== t.seen) row.seen.textContent = t.seen = seen;
    const rate = formatCount(model.deviceRate(device, now));
    if (rate !== t.rate) row.rate.textContent = t.rate = rate;
    const values = formatValues(device.data);
    if (values !== t.values) row.values.textContent = t.values = values;
    const badge = device.rejected > 0 ? `${formatCount(device.rejected)} rejected` : '';
    if (badge !== t.badge) {
      row.badge.textContent = t.badge = badge;
      row.badge.hidden = badge === '';
    }
  }

  #updateEmpty() {
    let visible = false;
    for (const row of this.#rows.values()) {
      if (!row.tr.hidden) {
        visible = true;
        break;
      }
    }
    this.#empty.hidden = visible;
    this.#empty.textContent = this.#rows.size === 0 ? 'Waiting for devices…' : 'No device matches the filter.';
  }
}
