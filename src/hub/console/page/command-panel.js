// The command panel (SPEC "Token scopes"): a name from the hub's allow-list,
// JSON arguments, and each command's state as it changes (queued, sent, then
// how it ended). Shown only to a token with the `command` scope. Results and
// errors come from devices: text, never HTML.

/** Commands remembered for the list (all devices of this tab); older ones are forgotten. */
const MAX_ROWS = 50;
/** How long the form waits for the hub's first answer before it lets the operator try again. */
const ANSWER_WAIT_MS = 15000;
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'expired', 'lost', 'refused']);

/** A result as one line of text (JSON for objects), shortened. */
function resultText(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

export class CommandPanel {
  #el;
  #send;
  #device = null;
  #allowed = false;
  /** id → {id, device, name, state, detail, at}, newest last. */
  #rows = new Map();
  /** The request sent and not answered yet: its first answer carries the id. */
  #awaiting = null;
  #timer = 0;

  /**
   * @param {Record<string, HTMLElement>} el panel, form, name (select), args (textarea), submit, error, list, empty
   * @param {(message: object) => void} send
   */
  constructor(el, send) {
    this.#el = el;
    this.#send = send;
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  /** What the token allows (from `authed`): the scope and the allow-listed names. */
  setAllowed(allowed, names) {
    this.#allowed = allowed;
    const options = names.map((name) => {
      const option = document.createElement('option');
      option.value = name;
      option.textContent = name;
      return option;
    });
    this.#el.name.replaceChildren(...options);
    this.#el.submit.disabled = names.length === 0 || this.#awaiting !== null;
    this.#el.error.textContent = names.length === 0 ? 'The hub allows no commands (its config has no commands allow-list).' : '';
    this.#update();
  }

  show(id) {
    this.#device = id;
    this.#el.error.textContent = '';
    this.#update();
  }

  /** True when the waiting request was answered with this `{"error":code}`. */
  refused(code) {
    if (this.#awaiting === null) return false;
    this.#el.error.textContent = `The hub refused the command: ${code}`;
    this.#settle();
    return true;
  }

  /** `{"command":{id,device,state}}` (queued, sent) or `{"commandResult":{id,device,state,result,error}}`. */
  update(body) {
    if (!body || typeof body.id !== 'string') return;
    let row = this.#rows.get(body.id);
    if (!row) {
      if (this.#awaiting === null) return; // not ours (sent before a reconnect)
      row = { id: body.id, device: String(body.device), name: this.#awaiting.name, state: '', detail: '', at: Date.now() };
      this.#rows.set(row.id, row);
      if (this.#rows.size > MAX_ROWS) this.#rows.delete(this.#rows.keys().next().value);
      this.#settle();
    }
    row.state = String(body.state);
    if (FINAL.has(row.state)) {
      row.detail = body.error !== undefined ? resultText(body.error) : body.result !== undefined ? resultText(body.result) : '';
    }
    this.#render();
  }

  #submit() {
    if (this.#device === null || this.#awaiting !== null) return;
    const name = this.#el.name.value;
    let args;
    const text = this.#el.args.value.trim();
    if (text !== '') {
      try {
        args = JSON.parse(text);
      } catch {
        args = null;
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) {
        this.#el.error.textContent = 'Arguments must be a JSON object, such as {"interval_s": 5}.';
        return;
      }
    }
    this.#el.error.textContent = '';
    this.#awaiting = { name };
    this.#el.submit.disabled = true;
    this.#timer = setTimeout(() => this.#settle(), ANSWER_WAIT_MS);
    this.#send({ command: args === undefined ? { device: this.#device, name } : { device: this.#device, name, args } });
  }

  #settle() {
    clearTimeout(this.#timer);
    this.#awaiting = null;
    this.#el.submit.disabled = this.#el.name.options.length === 0;
  }

  #update() {
    this.#el.panel.hidden = !this.#allowed || this.#device === null;
    this.#render();
  }

  #render() {
    const items = [];
    for (const row of [...this.#rows.values()].reverse()) {
      if (row.device !== this.#device) continue;
      const li = document.createElement('li');
      li.dataset.id = row.id;
      li.dataset.state = row.state;
      const time = document.createElement('time');
      time.textContent = new Date(row.at).toLocaleTimeString();
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = row.name;
      const state = document.createElement('span');
      state.className = `state ${row.state}`;
      state.textContent = row.state.replace('_', ' ');
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = row.detail; // from the device: text, never HTML
      li.append(time, name, state, detail);
      items.push(li);
    }
    this.#el.list.replaceChildren(...items);
    this.#el.empty.hidden = items.length > 0;
  }
}
