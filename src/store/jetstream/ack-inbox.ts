/**
 * JetStream publishes whose acks come back on one subscription.
 *
 * A JetStream publish is a core NATS publish with a reply subject; the
 * stream's leader answers on it with a PubAck (`{"stream","seq"}`, with
 * `"duplicate":true` for a message id it already has) or an API error
 * (`{"error":{"code","err_code","description"}}`), and a publish nobody
 * receives gets a 503 "no responders" status. The NATS client's own
 * `jetstream().publish` makes a request per message: a request object with
 * its own timer, a promise, a token lookup, and an Error (with a stack) built
 * and thrown away when the request ends. At a fleet's rate that was a tenth
 * of a cluster hub's CPU. This inbox subscribes once to `<inbox>.*`, gives
 * each publish a counter as its reply token, and times the publishes out
 * with one timer, in the order they were sent (every publish has the same
 * timeout, so the oldest is always the first to expire).
 *
 * The outcome is the client's: PubAck, `JetStreamApiError` for a refusal,
 * `errors.TimeoutError` when no answer came in time (the message may still
 * be stored: the caller resends with the same message id),
 * `errors.NoRespondersError`, and `errors.ClosedConnectionError` once the
 * connection or the inbox is closed.
 */
import { createInbox, errors, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';

/** JetStream's message id header (the client's `PubHeaders.MsgIdHdr`). */
const MSG_ID_HEADER = 'Nats-Msg-Id';
/** The status of a publish that no stream received. */
const NO_RESPONDERS_STATUS = 503;

/** One publish waiting for its ack. */
interface Pending {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  /** performance.now() after which it has timed out. */
  readonly deadline: number;
  readonly subject: string;
}

/** The shape of a JetStream publish answer (jsapi_types: PubAck or ApiResponse with an error). */
interface PubAckJson {
  readonly stream?: unknown;
  readonly seq?: unknown;
  readonly duplicate?: unknown;
  readonly domain?: unknown;
  readonly error?: { readonly code?: unknown; readonly err_code?: unknown; readonly description?: unknown };
}

/** Publishes to JetStream with the acks on one reply subscription. */
export class AckInbox {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  /** `timeoutMs`: how long a publish waits for its ack before it rejects with a timeout. */
  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    const inbox = createInbox();
    this.#prefix = `${inbox}.`;
    this.#sub = nc.subscribe(`${inbox}.*`, { callback: (err, msg) => (err === null ? this.#answer(msg) : this.close()) });
    void nc.closed().then(() => this.close());
  }

  /** Acks waiting now. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes `payload` on `subject` with `headers` (and `msgID` as its
   * message id) and resolves with JetStream's PubAck. The headers object
   * gets the message id set on it.
   */
  publish(subject: string, payload: Uint8Array | string, msgID: string, headers: MsgHdrs): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new errors.ClosedConnectionError());
    const token = (this.#next++).toString(36);
    headers.set(MSG_ID_HEADER, msgID);
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.#nc.publish(subject, payload, { reply: this.#prefix + token, headers });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.#pending.set(token, { resolve, reject, deadline: performance.now() + this.#timeoutMs, subject });
      this.#timer ??= setTimeout(() => this.#expire(), this.#timeoutMs);
    });
  }

  /** Rejects every waiting publish with a closed-connection error and unsubscribes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#nc.isClosed()) this.#sub.unsubscribe();
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of waiting) p.reject(new errors.ClosedConnectionError());
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length);
    const pending = this.#pending.get(token);
    if (pending === undefined) return; // timed out already: the resend will be answered as a duplicate
    this.#pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === NO_RESPONDERS_STATUS) {
      pending.reject(new errors.NoRespondersError(pending.subject));
      return;
    }
    let json: PubAckJson;
    try {
      json = msg.json<PubAckJson>();
    } catch (err) {
      pending.reject(new Error(`JetStream answered a publish on ${pending.subject} with something not JSON`, { cause: err }));
      return;
    }
    const error = json.error;
    if (error !== undefined && error !== null) {
      const code = typeof error.code === 'number' ? error.code : 0;
      const errCode = typeof error.err_code === 'number' ? error.err_code : 0;
      const description = typeof error.description === 'string' ? error.description : `error ${code}`;
      pending.reject(new JetStreamApiError({ code, err_code: errCode, description }));
      return;
    }
    if (typeof json.stream !== 'string' || json.stream === '' || typeof json.seq !== 'number') {
      pending.reject(new Error(`JetStream answered a publish on ${pending.subject} with an invalid ack`));
      return;
    }
    pending.resolve({ stream: json.stream, seq: json.seq, duplicate: json.duplicate === true, ...(typeof json.domain === 'string' ? { domain: json.domain } : {}) });
  }

  /** Rejects the publishes past their deadline (the oldest first), then waits for the next one's. */
  #expire(): void {
    this.#timer = null;
    const now = performance.now();
    for (const [token, p] of this.#pending) {
      if (p.deadline > now) {
        this.#timer = setTimeout(() => this.#expire(), Math.max(1, p.deadline - now));
        return;
      }
      this.#pending.delete(token);
      p.reject(new errors.TimeoutError());
    }
  }
}
