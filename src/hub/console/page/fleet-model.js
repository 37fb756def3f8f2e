// The dashboard's picture of the fleet, fed by stream messages: presence,
// latest values, a few minutes of numeric history per field, message rates
// and rejections. No DOM here; the views read it once per animation frame.

/** How much history the charts show. */
export const HISTORY_MS = 5 * 60 * 1000;
const MAX_POINTS = 900;
const RATE_WINDOW_MS = 10 * 1000;
const MAX_ARRIVALS = 256;
const MAX_REJECTIONS = 100;
/** Device clocks without NTP can be far off; beyond this skew the browser's clock is used. */
const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

/** A reading's time: the device's `ts`, or the browser's clock when there is none or it is off by more than MAX_CLOCK_SKEW_MS. */
export function readingTime(message, now) {
  return typeof message.ts === 'number' && Math.abs(message.ts - now) < MAX_CLOCK_SKEW_MS ? Math.min(message.ts, now) : now;
}

function arrivalRate(arrivals, now) {
  let n = 0;
  for (let i = arrivals.length - 1; i >= 0 && arrivals[i] > now - RATE_WINDOW_MS; i--) n++;
  return n / (RATE_WINDOW_MS / 1000);
}

export class FleetModel {
  /** @type {Map<string, {id: string, online: boolean, lastSeen: number, seq: number, data: Record<string, unknown>, history: Map<string, {t: number[], v: number[]}>, arrivals: number[], rejected: number}>} */
  devices = new Map();
  rejections = [];
  rejectedTotal = 0;
  /** True when `rejections` changed since the views last looked. */
  rejectionsChanged = false;
  dropped = 0;
  #arrivals = [];
  /** Ids changed since the views last looked. */
  dirty = new Set();
  /** True when devices were added since the views last looked. */
  added = false;

  #device(id) {
    let device = this.devices.get(id);
    if (!device) {
      device = { id, online: false, lastSeen: 0, seq: 0, data: {}, history: new Map(), arrivals: [], rejected: 0 };
      this.devices.set(id, device);
      this.added = true;
    }
    return device;
  }

  /** {"presence":{"device","online"}} */
  presence(id, online) {
    const device = this.#device(id);
    device.online = online === true;
    if (device.online) device.lastSeen = Math.max(device.lastSeen, Date.now());
    this.dirty.add(id);
  }

  /**
   * {"device","seq","ts","data"}. The first reading of a device (the
   * subscribe snapshot) sets its values without counting toward msgs/s; a
   * seq already seen (the snapshot again after a reconnect) is skipped.
   */
  reading(message) {
    const now = Date.now();
    const device = this.#device(message.device);
    const seq = typeof message.seq === 'number' ? message.seq : 0;
    const live = device.seq > 0;
    if (live && seq <= device.seq) return;
    const ts = readingTime(message, now);
    device.seq = seq;
    device.lastSeen = Math.max(device.lastSeen, ts);
    device.data = message.data && typeof message.data === 'object' ? message.data : {};
    for (const [name, value] of Object.entries(device.data)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      let series = device.history.get(name);
      if (!series) {
        series = { t: [], v: [] };
        device.history.set(name, series);
      }
      if (series.t.length > 0 && ts < series.t[series.t.length - 1]) continue; // keep the line going forward
      series.t.push(ts);
      series.v.push(value);
      if (series.t.length > MAX_POINTS || series.t[0] < now - HISTORY_MS - 60000) {
        let cut = 0;
        while (cut < series.t.length - 1 && (series.t.length - cut > MAX_POINTS || series.t[cut] < now - HISTORY_MS - 60000)) cut++;
        series.t.splice(0, cut);
        series.v.splice(0, cut);
      }
    }
    if (live) {
      device.arrivals.push(now);
      if (device.arrivals.length > MAX_ARRIVALS) device.arrivals.shift();
      this.#arrivals.push(now);
      if (this.#arrivals.length > 20000) this.#arrivals.splice(0, this.#arrivals.length - 20000);
    }
    this.dirty.add(device.id);
  }

  /** {"rejected":{"device","code","count","codes","at"}}: `count` refusals since the device's previous event. */
  rejected(event) {
    const device = this.#device(event.device);
    const count = Number.isSafeInteger(event.count) && event.count > 0 ? event.count : 1;
    device.rejected += count;
    this.rejectedTotal += count;
    this.rejections.unshift({ device: event.device, code: String(event.code), count, at: typeof event.at === 'number' ? event.at : Date.now() });
    if (this.rejections.length > MAX_REJECTIONS) this.rejections.length = MAX_REJECTIONS;
    this.rejectionsChanged = true;
    this.dirty.add(device.id);
  }

  /** Messages per second of one device over the last ten seconds. */
  deviceRate(device, now = Date.now()) {
    return arrivalRate(device.arrivals, now);
  }

  /** Messages per second of the whole visible fleet. */
  fleetRate(now = Date.now()) {
    const cutoff = now - RATE_WINDOW_MS;
    let i = 0;
    while (i < this.#arrivals.length && this.#arrivals[i] <= cutoff) i++;
    if (i > 0) this.#arrivals.splice(0, i);
    return this.#arrivals.length / (RATE_WINDOW_MS / 1000);
  }

  onlineCount() {
    let n = 0;
    for (const device of this.devices.values()) if (device.online) n++;
    return n;
  }

  clear() {
    this.devices.clear();
    this.rejections = [];
    this.rejectedTotal = 0;
    this.rejectionsChanged = true;
    this.dropped = 0;
    this.#arrivals = [];
    this.dirty.clear();
    this.added = true;
  }
}
