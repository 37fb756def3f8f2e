// The dashboard side of SPEC "Dashboard protocol": connect to /v1/stream on
// this same origin, send {"auth":token} first, subscribe to the token's devices
// (when it may read them), and reconnect with capped exponential backoff and
// full jitter. A 4401 close
// means the token is bad, expired or revoked: no retry, back to the login.

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30000;
const UNAUTHORIZED = 4401;

export class StreamClient {
  #token;
  #handlers;
  #ws = null;
  #attempt = 0;
  #timer = 0;
  #stopped = false;

  /**
   * @param {string} token
   * @param {{ message(m: object): void, state(s: string, detail?: string): void, unauthorized(reason: string): void }} handlers
   */
  constructor(token, handlers) {
    this.#token = token;
    this.#handlers = handlers;
  }

  start() {
    this.#stopped = false;
    this.#open();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#ws) this.#ws.close(1000, 'signed out');
    this.#ws = null;
  }

  /** @param {object} message */
  send(message) {
    if (this.#ws && this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #open() {
    this.#handlers.state('connecting');
    const ws = new WebSocket(`wss://${location.host}/v1/stream`);
    this.#ws = ws;
    ws.addEventListener('open', () => ws.send(JSON.stringify({ auth: this.#token })));
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message === 'object') {
        if (message.authed) {
          this.#attempt = 0;
          this.#handlers.state('live');
          // SPEC Token scopes: readings need `read` (a hub from before scopes sends none: read).
          const scopes = Array.isArray(message.authed.scopes) ? message.authed.scopes : ['read'];
          if (scopes.includes('read')) ws.send(JSON.stringify({ subscribe: message.authed.devices }));
        }
        this.#handlers.message(message);
      }
    });
    ws.addEventListener('close', (event) => {
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      if (event.code === UNAUTHORIZED) {
        this.#handlers.unauthorized(event.reason || 'token refused');
        return;
      }
      const delay = Math.random() * Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.#attempt++);
      this.#handlers.state('reconnecting', `closed (${event.code}); retrying in ${Math.ceil(delay / 1000)} s`);
      this.#timer = setTimeout(() => this.#open(), delay);
    });
  }
}
