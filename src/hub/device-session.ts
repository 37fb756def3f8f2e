/**
 * One device connection after the upgrade: hello, then each frame through the
 * parser and the limits into the store, cumulative acks once the store has
 * made them durable, nacks, and the close codes (SPEC: Device protocol).
 */
import type { WebSocket, RawData } from 'ws';
import { CLOSE, type WireErrorCode } from '../errors.js';
import type { DeviceLimits } from './config.js';
import { AckTracker } from './ack-tracker.js';
import { quotaAllows } from './device-limits.js';
import { ackMessage, helloMessage, nackMessage, parseFrame } from './protocol.js';
import type { AppendOutcome, Reading, Store } from '../store/types.js';
import { TokenBucket } from './token-bucket.js';
import type { DownlinkPort, SessionExtension, SessionExtensionFactory } from './session-extension.js';
import { downlinkBytes } from './protocol-v2.js';
import type { SessionSummary } from './session-summary.js';
import { wsErrorCloseCode } from './ws-close-codes.js';

/** How long a closing session waits for the peer's close frame before dropping the socket. */
const CLOSE_GRACE_MS = 2_000;

/** The window `maxRefusalsPerMinute` counts in. */
export const REFUSAL_WINDOW_MS = 60_000;

/** What a session reports to the hub (metrics, feed, logs); all optional work, no I/O expected. */
export interface SessionObserver {
  /** A frame arrived. */
  frame(bytes: number): void;
  /** Readings accepted and handed to the store. */
  accepted(count: number): void;
  /** A message was nacked with `code`. */
  nacked(device: string, code: WireErrorCode): void;
  /** Reading from the device stopped: its unread replies passed `maxUnreadReplyBytes`. */
  paused(): void;
  /** The session ended; `code` is the close code received or sent ({@link DeviceSession.summary} has its counts). */
  closed(session: DeviceSession, code: number): void;
}

/**
 * Cluster mode: one live connection per device across hubs
 * (cluster/session-ownership.ts). A session is claimed before its device's
 * state is opened, so the previous owner has settled its readings first.
 */
export interface SessionOwnership {
  /** Makes `session` its device's only connection; rejects when that cannot be recorded (the session closes with 1013). */
  claim(session: DeviceSession): Promise<void>;
  /** The session ended: its claim is given up (never throws). */
  release(session: DeviceSession): void;
}

/** What every session of a listener shares: made once, not per connection. */
export interface SessionContext {
  readonly store: Store;
  /** Cluster mode's ownership; null on a single hub (the registry alone decides). */
  readonly ownership: SessionOwnership | null;
  /** The close code when the store cannot take the device: 1011 on a single hub, 1013 in a cluster (another hub may). */
  readonly unavailableCode: number;
  /** Invalid messages in a row before 1008. */
  readonly maxInvalidInRow: number;
  /** Refused messages in a row before 4029. */
  readonly maxRefusedInRow: number;
  /** Refusals of any kind within {@link REFUSAL_WINDOW_MS} before a close (1008 if any was invalid, else 4029). */
  readonly maxRefusalsPerMinute: number;
  /** Bytes of replies the device has not read past which the hub stops reading from it. */
  readonly maxUnreadReplyBytes: number;
  readonly observer: SessionObserver;
  /** ms wall clock for `ts`, the UTC day and the rate limiter. */
  readonly now: () => number;
}

/**
 * One live device connection. What a session holds is made on first need
 * (the rate limiter at the first message, the ack tracker at the first
 * reading, the nack counts at the first nack): a hub accepts many
 * connections, and a connection's fixed cost is what they all pay.
 */
export class DeviceSession implements DownlinkPort {
  readonly device: string;
  /** Certificate serial (uppercase hex), to match the CRL. */
  readonly serial: string;
  readonly limits: DeviceLimits;
  readonly #ws: WebSocket;
  readonly #context: SessionContext;
  #bucket: TokenBucket | null = null;
  #acks: AckTracker | null = null;
  /** Appends handed to the store and not settled yet. */
  #appending = 0;
  #drained: (() => void) | null = null;
  #inFlight = 0;
  #invalidInRow = 0;
  #refusedInRow = 0;
  /** Start of the current refusal window (ms, `context.now`), and its counts. */
  #refusalWindowStart = 0;
  #refusalsInWindow = 0;
  #invalidInWindow = 0;
  /** Reading stopped until the device reads its replies. */
  #paused = false;
  #ackScheduled = false;
  /** A frame or a pong arrived since the last heartbeat sweep. */
  #heard = true;
  /** The last sweep pinged a silent device: silence until the next one means it is gone. */
  #awaitingPong = false;
  /** The pong listener is on (added with the first ping). */
  #pongListening = false;
  #closing = false;
  #closed = false;
  #closeCode = 1006;
  #accepted = 0;
  #nacked: SessionSummary['nacked'] | null = null;
  /** The store was asked to open this device ({@link Store.openDevice}): released when the session ends. */
  #opened = false;
  /** The session was claimed with {@link SessionContext.ownership}: released when it ends. */
  #claimed = false;
  /** Made on first need ({@link done}, {@link close}): most sessions end without anyone waiting for them. */
  #done: Promise<void> | null = null;
  #resolveDone: (() => void) | null = null;
  /** What a negotiated protocol adds (protocol 2); null for version 1. */
  readonly #ext: SessionExtension | null;

  constructor(context: SessionContext, ws: WebSocket, device: string, serial: string, limits: DeviceLimits, extend: SessionExtensionFactory | null = null) {
    this.#context = context;
    this.#ws = ws;
    this.device = device;
    this.serial = serial;
    this.limits = limits;
    this.#ext = extend === null ? null : extend(this);
    // 'on', not 'once' (ws emits 'close' once): no wrapper per session.
    this.#ws.on('close', (code: number) => {
      this.#closed = true;
      if (this.#opened) this.#context.store.releaseDevice(this.device);
      if (this.#claimed) this.#context.ownership?.release(this);
      this.#closeCode = this.#closing ? this.#closeCode : code;
      this.#context.observer.closed(this, this.#closeCode);
      this.#ext?.closed(this.#closeCode);
      this.#resolveDone?.();
    });
    this.#ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    // The listener's ws servers leave pongs to the session (autoPong off), so they count as replies too.
    this.#ws.on('ping', (data: Buffer) => this.#onPing(data));
    // ws emits 'error' for a frame over maxPayload (then closes with 1009) and
    // for protocol errors (1002, 1007); the 'close' handler does the bookkeeping.
    this.#ws.on('error', (err: Error & { code?: string }) => {
      const code = wsErrorCloseCode(err);
      if (code !== null && !this.#closing) {
        // ws has already sent this close code (SPEC: 1009 for a frame over maxPayloadBytes).
        this.#closing = true;
        this.#closeCode = code;
      }
    });
    this.#start();
  }

  /**
   * Before `hello`: a store that cannot write refuses the device (SPEC: 1011,
   * 1013 in a cluster); in a cluster the connection is claimed first (the
   * previous owner closes with 4002 and settles its readings); then the
   * device's state must be ready (a cluster store loads it) before `hello`
   * tells its lastSeq. Frames that arrive meanwhile wait in the socket.
   */
  #start(): void {
    if (!this.#context.store.health().ok) {
      this.#refuseStart();
      return;
    }
    const ownership = this.#context.ownership;
    if (ownership === null) {
      this.#open();
      return;
    }
    this.#ws.pause();
    this.#claimed = true;
    ownership.claim(this).then(
      () => {
        if (!this.#closing && !this.#closed) this.#open();
      },
      () => this.#refuseStart(),
    );
  }

  #open(): void {
    const store = this.#context.store;
    this.#opened = true;
    const opening = store.openDevice(this.device);
    if (opening === undefined) {
      this.#hello(store.lastSeq(this.device));
      if (this.#claimed) this.#ws.resume();
      return;
    }
    this.#ws.pause();
    opening.then(
      () => {
        if (this.#closing || this.#closed) return;
        this.#hello(store.lastSeq(this.device));
        this.#ws.resume();
      },
      () => this.#refuseStart(),
    );
  }

  #hello(lastSeq: number | null): void {
    if (this.#ext === null) {
      this.#send(helloMessage(this.device, lastSeq, this.limits));
      return;
    }
    this.#send(this.#ext.hello(lastSeq));
    this.#ext.opened();
  }

  /** Open: not closing, not closed. */
  get open(): boolean {
    return !this.#closing && !this.#closed;
  }

  /** Sends a hub-to-device message of a protocol extension (SPEC: every one at most `maxDownlinkBytes`). */
  sendDownlink(text: string): boolean {
    if (!this.open || downlinkBytes(text) > this.limits.maxDownlinkBytes) return false;
    this.#send(text);
    return true;
  }

  #refuseStart(): void {
    if (this.#closing || this.#closed) return;
    void this.close(this.#context.unavailableCode);
  }

  /** What the session did, for its disconnect line. */
  get summary(): SessionSummary {
    return { accepted: this.#accepted, nacked: this.#nacked ?? {} };
  }

  /** Resolves when the connection has closed. */
  get done(): Promise<void> {
    this.#done ??= this.#closed ? Promise.resolve() : new Promise((resolve) => (this.#resolveDone = resolve));
    return this.#done;
  }

  /**
   * Heartbeat sweep (RFC 6455 §5.5.2), every `pingIntervalMs`. A device heard
   * from since the last sweep (any frame, or a pong) is alive and is never
   * pinged: one busy sending costs nothing here. One silent for a whole
   * interval is pinged, and dropped at the next sweep if it stayed silent, so
   * a device that stopped answering is gone two to three intervals after its
   * last frame.
   */
  heartbeat(): void {
    if (this.#closed) return;
    if (this.#heard) {
      this.#heard = false;
      this.#awaitingPong = false;
      return;
    }
    if (this.#awaitingPong) {
      this.#ws.terminate();
      return;
    }
    if (!this.#pongListening) {
      this.#pongListening = true;
      this.#ws.on('pong', () => {
        this.#heard = true;
      });
    }
    this.#awaitingPong = true;
    this.#ws.ping();
  }

  /**
   * Closes with `code`. With `drain`, first waits for readings already handed
   * to the store and acks them (shutdown 1001, and the policy closes 1008 and
   * 4029: what was stored is acked, so the device never resends it). Frames
   * arriving meanwhile are ignored. Resolves once closed.
   */
  async close(code: number, drain = false): Promise<void> {
    if (this.#closing || this.#closed) return this.done;
    this.#closing = true;
    this.#closeCode = code;
    if (drain) {
      await this.#drain();
      this.#flushAcks();
    }
    this.#ws.close(code);
    const timer = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
    await this.done;
    clearTimeout(timer);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closing) return;
    this.#heard = true;
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    this.#context.observer.frame(bytes);
    if (isBinary) {
      // SPEC: text frames, one JSON object each.
      this.#invalid(null, 'invalid_json');
      return;
    }
    const now = this.#context.now();
    // ws hands over a Buffer (binaryType 'nodebuffer'); decode it without copying.
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
    const context = { maxFields: this.limits.maxFields, now };
    const items = this.#ext === null ? parseFrame(text, context) : this.#ext.parse(text, context);
    const readings: Reading[] = [];
    for (const item of items) {
      if (this.#closing) return;
      if (!item.ok) {
        this.#invalid(item.seq, item.error);
        continue;
      }
      this.#invalidInRow = 0;
      const { seq, ts, data: fields } = item.message;
      // Made at the first message, full: one made at the connect would have refilled to full by then.
      this.#bucket ??= new TokenBucket({ ratePerSec: this.limits.msgsPerSec, burst: this.limits.burst, now: this.#context.now });
      const retryAfterMs = this.#bucket.take(now);
      if (retryAfterMs > 0) {
        this.#refuse(seq, 'rate_limited', retryAfterMs);
        continue;
      }
      if (!quotaAllows(this.#context.store.countToday(this.device, now), this.#inFlight + readings.length, this.limits.msgsPerDay)) {
        this.#refuse(seq, 'quota_exceeded');
        continue;
      }
      this.#refusedInRow = 0;
      // The object JSON.parse made and parseFrame validated, and nothing else, is what the store serialises.
      readings.push({ device: this.device, seq, ts, data: fields });
    }
    if (readings.length > 0 && !this.#closing) this.#append(readings);
  }

  #append(readings: Reading[]): void {
    this.#accepted += readings.length;
    this.#context.observer.accepted(readings.length);
    this.#inFlight += readings.length;
    this.#appending += 1;
    const acks = (this.#acks ??= new AckTracker());
    for (const { seq } of readings) acks.accepted(seq);
    this.#context.store.append(readings).then(
      (outcomes) => this.#appended(acks, readings, outcomes),
      () => this.#appended(acks, readings, null),
    );
  }

  /** `outcomes` is null when the append failed. */
  #appended(acks: AckTracker, readings: readonly Reading[], outcomes: readonly AppendOutcome[] | null): void {
    this.#inFlight -= readings.length;
    const durable = outcomes !== null;
    for (let i = 0; i < readings.length; i += 1) {
      const { seq } = readings[i] as Reading;
      // SPEC: an ack never covers a reading that is not stored: below the dedupe window the store cannot
      // tell a repeat from a new reading, and stores neither; it is nacked instead.
      if (outcomes?.[i] === 'stale') {
        acks.nacked(seq);
        if (!this.#closing) this.#invalid(seq, 'invalid_message');
        continue;
      }
      // SPEC: a repeat ('duplicate') is acked again; the store resolves it once the original is durable.
      acks.settled(seq, durable);
    }
    if (durable) this.#scheduleAck();
    // Never ack what may not be durable: the device keeps it and resends after reconnecting.
    else void this.close(this.#context.unavailableCode);
    this.#appending -= 1;
    if (this.#appending === 0 && this.#drained !== null) this.#drained();
  }

  /** Resolves when every append handed to the store has settled. */
  #drain(): Promise<void> {
    if (this.#appending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = () => {
        this.#drained = null;
        resolve();
      };
    });
  }

  /**
   * Coalesces the acks of appends that resolve together into one `{"ack":N}`.
   * A group commit resolves all its appends at once, so their callbacks are
   * all queued before this microtask runs.
   */
  #scheduleAck(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    queueMicrotask(() => {
      this.#ackScheduled = false;
      this.#flushAcks();
    });
  }

  /** Sends the ack the tracker allows now, if any (SPEC: Acks). */
  #flushAcks(): void {
    if (this.#closed) return;
    const ack = this.#acks?.take() ?? null;
    if (ack !== null) this.#send(ackMessage(ack));
  }

  #invalid(seq: number | null, code: 'invalid_json' | 'invalid_message'): void {
    this.#nack(seq, code);
    this.#invalidInRow += 1;
    this.#invalidInWindow += 1;
    // SPEC: too many invalid messages → 1008 (after acking what was already stored, so the device need not resend it).
    if (this.#invalidInRow >= this.#context.maxInvalidInRow) void this.close(CLOSE.POLICY, true);
    else this.#countRefusal();
  }

  #refuse(seq: number, code: 'rate_limited' | 'quota_exceeded', retryAfterMs?: number): void {
    this.#nack(seq, code, retryAfterMs);
    this.#refusedInRow += 1;
    // SPEC: kept sending while rate-limited or over quota → 4029 (after acking what was already stored).
    if (this.#refusedInRow >= this.#context.maxRefusedInRow) void this.close(CLOSE.RATE_LIMITED, true);
    else this.#countRefusal();
  }

  /**
   * Refusals of every kind count towards a close within a window, whatever
   * lies between them: a valid message resets the in-a-row counts, so a
   * device interleaving valid messages with invalid or rate-limited ones
   * would otherwise never be closed. Past `maxRefusalsPerMinute` in one
   * window: 1008 when any of them was invalid (a broken device), else 4029.
   */
  #countRefusal(): void {
    const now = this.#context.now();
    if (now - this.#refusalWindowStart >= REFUSAL_WINDOW_MS) {
      this.#refusalWindowStart = now;
      this.#refusalsInWindow = 0;
      this.#invalidInWindow = 0;
    }
    this.#refusalsInWindow += 1;
    if (this.#refusalsInWindow > this.#context.maxRefusalsPerMinute) void this.close(this.#invalidInWindow > 0 ? CLOSE.POLICY : CLOSE.RATE_LIMITED, true);
  }

  #nack(seq: number | null, code: WireErrorCode, retryAfterMs?: number): void {
    this.#nacked ??= {};
    this.#nacked[code] = (this.#nacked[code] ?? 0) + 1;
    this.#context.observer.nacked(this.device, code);
    this.#send(nackMessage(seq, code, retryAfterMs));
  }

  /** Bytes of replies queued for the device and not yet taken by the network (it has not read them). */
  get unreadReplyBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /** The hub is not reading from the device now: its unread replies are past `maxUnreadReplyBytes`. */
  get readPaused(): boolean {
    return this.#paused;
  }

  #onPing(data: Buffer): void {
    this.#heard = true;
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    // RFC 6455 §5.5.3: a pong carries the ping's data.
    this.#ws.pong(data, false, this.#flushed);
    this.#pauseIfUnread();
  }

  #send(text: string): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    // Each reply reports when it has left, so a paused device is read again once its replies are gone.
    this.#ws.send(text, this.#flushed);
    this.#pauseIfUnread();
  }

  /**
   * A device that does not read its replies must not grow the hub's memory
   * (acks, nacks and pongs queue in its socket): past `maxUnreadReplyBytes`
   * the hub stops reading from it, so it can send nothing more that would
   * need a reply, until it has read them. TCP then pushes back on the device.
   */
  #pauseIfUnread(): void {
    if (this.#paused || this.#ws.bufferedAmount <= this.#context.maxUnreadReplyBytes) return;
    this.#paused = true;
    this.#ws.pause();
    this.#context.observer.paused();
  }

  /** A reply has left: if reading is paused, resume once what is left is within the limit. */
  readonly #flushed = (err?: Error | null): void => {
    // Node passes null when the write went well.
    if (err instanceof Error || !this.#paused || this.#ws.bufferedAmount > this.#context.maxUnreadReplyBytes) return;
    this.#paused = false;
    this.#ws.resume();
  };
}
