// The desired configuration of the selected device (SPEC "Token scopes"):
// the version the hub holds, the document, what the device acknowledged,
// and a form to set a new one. Shown only to a token with the `config`
// scope. The document's strings are the operators', its acks the device's:
// text, never HTML.

/** How often the panel asks again while it is shown, so an ack appears without a reload. */
const REFRESH_MS = 5000;

function formatTime(ms) {
  return typeof ms === 'number' ? new Date(ms).toLocaleString() : '';
}

export class ConfigPanel {
  #el;
  #send;
  #device = null;
  #allowed = false;
  #timer = 0;
  /** A set request sent and not answered yet. */
  #saving = false;

  /**
   * @param {Record<string, HTMLElement>} el panel, version, sync, desired, acked, form, text, submit, error
   * @param {(message: object) => void} send
   */
  constructor(el, send) {
    this.#el = el;
    this.#send = send;
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#save();
    });
  }

  setAllowed(allowed) {
    this.#allowed = allowed;
    this.show(this.#device);
  }

  show(id) {
    this.#device = id;
    clearInterval(this.#timer);
    this.#timer = 0;
    this.#saving = false;
    this.#el.submit.disabled = false;
    this.#el.error.textContent = '';
    this.#el.version.textContent = '–';
    this.#el.sync.hidden = true;
    this.#el.desired.textContent = '';
    this.#el.acked.textContent = '';
    this.#el.panel.hidden = !this.#allowed || id === null;
    if (this.#el.panel.hidden) return;
    this.#ask();
    this.#timer = setInterval(() => {
      if (document.visibilityState === 'visible') this.#ask();
    }, REFRESH_MS);
  }

  /** True when the waiting set request was answered with this `{"error":code}`. */
  refused(code) {
    if (!this.#saving) return false;
    this.#saving = false;
    this.#el.submit.disabled = false;
    this.#el.error.textContent = code === 'invalid_config' ? 'The hub refused it: names and values follow the telemetry rules.'
      : code === 'too_large' ? 'The hub refused it: larger than the device accepts (maxDownlinkBytes).'
        : `The hub refused it: ${code}`;
    return true;
  }

  /** `{"config":{device,version}}` after a set, or `{"config":{device,version,desired,updatedAt,acked}}`. */
  update(body) {
    if (!body || body.device !== this.#device) return;
    if (!('desired' in body)) {
      this.#saving = false;
      this.#el.submit.disabled = false;
      this.#el.text.value = '';
      this.#ask();
      return;
    }
    const { version, desired, updatedAt, acked } = body;
    this.#el.version.textContent = version === null ? 'none set' : `v${version}`;
    this.#el.version.title = formatTime(updatedAt);
    this.#el.desired.textContent = desired === null ? '' : JSON.stringify(desired, null, 2);
    if (acked && typeof acked === 'object') {
      const at = formatTime(acked.at);
      this.#el.acked.textContent = acked.ok === false
        ? `v${acked.version} refused by the device: ${String(acked.error ?? 'no reason given')}${at ? ` (${at})` : ''}`
        : `v${acked.version} applied${at ? ` (${at})` : ''}`;
    } else {
      this.#el.acked.textContent = 'nothing acknowledged yet';
    }
    const inSync = version !== null && acked && acked.version === version && acked.ok !== false;
    this.#el.sync.hidden = version === null;
    this.#el.sync.textContent = inSync ? 'in sync' : 'pending';
    this.#el.sync.className = inSync ? 'pill online' : 'pill pending';
  }

  #ask() {
    if (this.#device !== null) this.#send({ config: { device: this.#device } });
  }

  #save() {
    if (this.#device === null || this.#saving) return;
    let desired;
    try {
      desired = JSON.parse(this.#el.text.value);
    } catch {
      desired = null;
    }
    if (desired === null || typeof desired !== 'object' || Array.isArray(desired)) {
      this.#el.error.textContent = 'The desired configuration is a JSON object, such as {"interval_s": 30}.';
      return;
    }
    this.#el.error.textContent = '';
    this.#saving = true;
    this.#el.submit.disabled = true;
    this.#send({ config: { device: this.#device, desired } });
  }
}
