/**
 * One simulated ESP32: its own key and certificate, TLS 1.2 (or 1.3), the
 * Arduino WebSockets library's subprotocol and Origin, a hello-paced sender,
 * a bounded outbox resent after every reconnect, and reconnects with capped
 * exponential backoff and full jitter. Talks to the hub only over the wire.
 *
 * Everything it observes goes into the shared {@link FleetStats}.
 */
import tls from 'node:tls';
import { isIP } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';
import { Backoff } from '../src/backoff.js';
import { FLOOD_BATCH, FLOOD_TICK_MS, OVERSIZE_AFTER_GOOD, garbageFrame, oversizeFrame, type BehaviorProfile } from './behaviors.js';
import type { FleetStats } from './fleet-stats.js';
import { parseHubMessage, type HelloLimits } from './hub-messages.js';
import { Outbox } from './outbox.js';
import { SEND_SHARE, SendPacer } from './send-pacer.js';
import { SensorModel, buildTelemetryFrame, seededRandom, type Random, type SensorReading } from './sensor-model.js';
import { classifyConnectError } from './connect-errors.js';
import { openSlowloris } from './slowloris-connection.js';

export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  ESP32_TLS12_CIPHERS,
  type DeviceCredentials,
  type SimDeviceOptions,
} from './sim-device-options.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HELLO_TIMEOUT_MS, ESP32_TLS12_CIPHERS, type SimDeviceOptions } from './sim-device-options.js';

/** Frames written per pump before yielding to the event loop. */
const PUMP_BUDGET = 256;
/** Socket send buffer a device fills before waiting, like a small lwIP window. */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** Time the hub gets to answer our close frame before the socket is cut. */
const CLOSE_WAIT_MS = 2_000;
/** Readings a device generates per tick at most, whatever the rate (the outbox bounds it anyway). */
const MAX_READINGS_PER_TICK = 1_000;

/** What every connection of a device passes to `tls.connect` (through ws, or directly for slowloris). */
interface DeviceTlsOptions {
  readonly secureContext: tls.SecureContext;
  readonly session?: Buffer;
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  readonly localAddress?: string;
}

/** One simulated device. Call {@link start}, later {@link stopSending}, then {@link close}. */
export class SimDevice {
  readonly id: string;
  readonly #o: SimDeviceOptions;
  readonly #stats: FleetStats;
  readonly #profile: BehaviorProfile;
  readonly #outbox: Outbox<SensorReading>;
  readonly #sensors: SensorModel;
  readonly #random: Random;
  readonly #backoff: Backoff;
  #ws: WebSocket | null = null;
  #secureContext: tls.SecureContext | undefined;
  /** The last TLS session the hub gave us, for {@link SimDeviceOptions.tlsResume}. */
  #session: Buffer | undefined;
  #raw: tls.TLSSocket | null = null;
  #limits: HelloLimits | null = null;
  #pacer: SendPacer | null = null;
  #ready = false;
  #everReady = false;
  #lostAt: number | null = null;
  #started = false;
  #stopped = false;
  #generating = true;
  #genTimer: NodeJS.Timeout | null = null;
  #genAt = 0;
  #credit = 0;
  #pumpTimer: NodeJS.Timeout | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #junkSent = 0;
  #sentThisConnection = 0;
  /** Set by {@link dropConnection}: the next close is ours, not the hub's. */
  #dropping = false;
  #closeTimer: NodeJS.Timeout | null = null;
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;

  constructor(options: SimDeviceOptions) {
    this.#o = options;
    this.id = options.credentials.id;
    this.#stats = options.stats;
    this.#profile = options.profile;
    this.#outbox = new Outbox<SensorReading>({ capacity: options.outbox });
    this.#sensors = new SensorModel(options.seed);
    this.#random = seededRandom(options.seed ^ 0x5bd1e995);
    this.#backoff = new Backoff(options.backoff);
  }

  /** True while the WebSocket is open and the hello received. */
  get connected(): boolean {
    return this.#ready;
  }

  /**
   * True when nothing is left to deliver: the outbox is empty and the device
   * has connected at least once (one still on its first handshake is not
   * done; one never started, after Ctrl-C in the ramp, is).
   */
  get drained(): boolean {
    return this.#outbox.size === 0 && (this.#everReady || !this.#started);
  }

  /** Readings dropped by the full outbox so far (cheap: the progress line reads it every second). */
  get dropped(): number {
    return this.#outbox.dropped;
  }

  /** Starts connecting (and, after the first hello, generating readings). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#connect();
  }

  /** Ends the sending phase: no new readings; the outbox still drains. */
  stopSending(): void {
    this.#generating = false;
    if (this.#genTimer !== null) clearInterval(this.#genTimer);
    this.#genTimer = null;
  }

  /** Drops the connection abruptly, as a Wi-Fi loss would; the device reconnects by itself. */
  dropConnection(): void {
    if (this.#ws !== null && this.#ready) {
      this.#dropping = true;
      this.#ws.terminate();
    }
  }

  /** What is still in the outbox: `lost` are sent but unacked (or dropped after sending). */
  endState(): { lost: number; unsent: number; dropped: number; connected: boolean } {
    const sentUnacked = this.#outbox.sentUnacked;
    return {
      lost: sentUnacked + this.#outbox.droppedSent,
      unsent: this.#outbox.size - sentUnacked,
      dropped: this.#outbox.dropped,
      connected: this.#ready,
    };
  }

  /** Stops for good: closes the connection (1000) and clears every timer. Idempotent. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#stopped = true;
    this.stopSending();
    this.#clearTimer('pump');
    this.#clearTimer('retry');
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    if (this.#raw !== null) this.#raw.destroy();
    const ws = this.#ws;
    if (ws === null) this.#finishClose();
    else if (ws.readyState === WebSocket.OPEN) {
      ws.close(1000);
      // A hub that never answers the close frame must not hold the run.
      this.#closeTimer = setTimeout(() => ws.terminate(), CLOSE_WAIT_MS);
    } else ws.terminate();
    return this.#closed;
  }

  #finishClose(): void {
    if (this.#stopped && this.#ws === null && this.#raw === null && this.#resolveClosed !== null) {
      if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
      this.#resolveClosed();
      this.#resolveClosed = null;
    }
  }

  #clearTimer(which: 'pump' | 'retry'): void {
    if (which === 'pump' && this.#pumpTimer !== null) {
      clearTimeout(this.#pumpTimer);
      this.#pumpTimer = null;
    } else if (which === 'retry' && this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
  }

  /**
   * The device's TLS settings. The key, certificate and CA are parsed once
   * into a SecureContext and reused for every reconnect: a storm of 1,000
   * reconnects then costs handshakes, not PEM parsing.
   */
  #tlsOptions(): DeviceTlsOptions {
    const version = this.#o.tls ?? '1.2';
    this.#secureContext ??= tls.createSecureContext({
      ca: this.#o.ca,
      cert: this.#o.credentials.cert,
      key: this.#o.credentials.key,
      minVersion: 'TLSv1.2',
      maxVersion: version === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
      ...(version === '1.2' ? { ciphers: ESP32_TLS12_CIPHERS } : {}),
    });
    return {
      secureContext: this.#secureContext,
      ...(this.#o.tlsResume === true && this.#session !== undefined ? { session: this.#session } : {}),
      minVersion: 'TLSv1.2',
      maxVersion: version === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
      ...(this.#o.localAddress === undefined ? {} : { localAddress: this.#o.localAddress }),
    };
  }

  #connect(): void {
    this.#retryTimer = null;
    if (this.#stopped) return;
    this.#stats.connectAttempts += 1;
    if (this.#profile.transport === 'slowloris') {
      this.#connectSlowloris();
      return;
    }
    // The TLS context is built (once) before the clock starts: the handshake
    // figure is the wire's and the hub's time, not our PEM parsing.
    const tlsOptions = this.#tlsOptions();
    const startedAt = performance.now();
    const subprotocol = this.#o.subprotocol === undefined ? 'arduino' : this.#o.subprotocol;
    const origin = this.#o.origin === undefined ? 'file://' : this.#o.origin;
    this.#stats.pendingConnects += 1;
    this.#stats.peakPendingConnects = Math.max(this.#stats.peakPendingConnects, this.#stats.pendingConnects);
    let pending = true;
    const settle = (): void => {
      if (pending) this.#stats.pendingConnects -= 1;
      pending = false;
    };
    const ws = new WebSocket(this.#o.url, subprotocol === null ? [] : [subprotocol], {
      ...tlsOptions,
      ...(origin === null ? {} : { origin }),
      ...(this.#o.tlsResume === true
        ? { createConnection: ((opts: tls.ConnectionOptions) => this.#tlsConnectKeepingSession(opts)) as unknown as ClientOptions['createConnection'] }
        : {}),
      perMessageDeflate: false,
      handshakeTimeout: this.#o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxPayload: 64 * 1024,
    });
    this.#ws = ws;
    let opened = false;
    let selfClosed = false;
    let lastError: unknown = null;
    let helloTimer: NodeJS.Timeout | null = null;

    ws.on('open', () => {
      settle();
      opened = true;
      this.#stats.handshake.record(performance.now() - startedAt);
      helloTimer = setTimeout(() => {
        this.#stats.countClose('hello_timeout');
        selfClosed = true;
        ws.terminate();
      }, this.#o.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = parseHubMessage(data.toString());
      if (message.type === 'hello') {
        if (helloTimer !== null) clearTimeout(helloTimer);
        helloTimer = null;
        this.#onHello(message.lastSeq, message.limits);
      } else if (message.type === 'ack') this.#onAck(message.seq);
      else if (message.type === 'nack') this.#onNack(message.seq, message.error, message.retryAfterMs);
    });
    ws.on('error', (err) => {
      lastError = err;
    });
    ws.on('close', (code) => {
      settle();
      if (helloTimer !== null) clearTimeout(helloTimer);
      this.#ws = null;
      this.#clearTimer('pump');
      const wasReady = this.#ready;
      if (wasReady) {
        this.#ready = false;
        this.#stats.connected -= 1;
        this.#lostAt = performance.now();
      }
      let tlsFailure = false;
      const dropped = this.#dropping;
      this.#dropping = false;
      if (!opened) {
        // A connect we cut short ourselves at the end of the run is not a refusal.
        if (!this.#stopped) {
          const reason = classifyConnectError(lastError);
          tlsFailure = reason !== 'connect_error';
          this.#stats.countClose(reason);
          this.#o.logger.log('debug', 'sim.device.refused', { device: this.id, reason });
        }
      } else if (!selfClosed && !dropped && !this.#stopped) {
        // 1005/1006: the socket ended without a close frame (RFC 6455 §7.1.5).
        this.#stats.countClose(code === 1006 || code === 1005 ? 'dropped' : String(code));
        this.#o.logger.log('debug', 'sim.device.closed', { device: this.id, code });
      }
      if (this.#stopped) this.#finishClose();
      else this.#scheduleReconnect(tlsFailure);
    });
  }

  /** ws's own TLS connect, plus keeping the session (it arrives during or after the handshake) for the next connect. */
  #tlsConnectKeepingSession(opts: tls.ConnectionOptions & { path?: string }): tls.TLSSocket {
    // As ws's own tlsConnect: no path (it is the HTTP path), SNI only for a host name.
    const socket = tls.connect({ ...opts, path: undefined, servername: opts.servername ?? (isIP(opts.host ?? '') === 0 ? opts.host : '') });
    socket.on('session', (session: Buffer) => {
      this.#session = session;
    });
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) this.#stats.resumedHandshakes += 1;
    });
    return socket;
  }

  #connectSlowloris(): void {
    this.#raw = openSlowloris(this.#o.url, this.#tlsOptions(), {
      onSecured: (ms) => this.#stats.handshake.record(ms),
      onClosed: (reason, tlsFailure) => {
        this.#raw = null;
        if (this.#stopped) return this.#finishClose();
        this.#stats.countClose(reason);
        this.#scheduleReconnect(tlsFailure);
      },
    });
  }

  #scheduleReconnect(tlsFailure: boolean): void {
    if (this.#stopped || this.#retryTimer !== null) return;
    // STYLE: wider jitter after a TLS failure, when a whole fleet failed at once.
    const delay = this.#backoff.next(tlsFailure ? 2 : 1);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #onHello(lastSeq: number | null, limits: HelloLimits): void {
    const now = performance.now();
    this.#limits = limits;
    this.#pacer = new SendPacer(limits.msgsPerSec, limits.burst, now);
    if (this.#profile.obeyLimits && this.#profile.junk === 'none' && this.#o.rate > limits.msgsPerSec * SEND_SHARE && !this.#stats.rateAboveLimit) {
      // Readings would pile up in the outbox and be dropped: say so once, not per device.
      this.#stats.rateAboveLimit = true;
      this.#o.logger.log('warn', 'sim.rate_above_limit', { rate: this.#o.rate, msgsPerSec: limits.msgsPerSec, note: 'readings will queue and be dropped' });
    }
    this.#outbox.beginConnection(lastSeq);
    this.#ready = true;
    this.#junkSent = 0;
    this.#sentThisConnection = 0;
    this.#stats.connected += 1;
    this.#backoff.reset();
    if (!this.#everReady) {
      this.#everReady = true;
      this.#stats.everConnected += 1;
      this.#startGenerating(now);
    } else {
      this.#stats.reconnects += 1;
      if (this.#lostAt !== null) this.#stats.reconnect.record(now - this.#lostAt);
    }
    this.#lostAt = null;
    this.#pump();
  }

  #startGenerating(now: number): void {
    if (!this.#generating) return;
    const tickMs = this.#profile.obeyLimits ? Math.max(10, Math.min(1000, 1000 / this.#o.rate)) : FLOOD_TICK_MS;
    this.#genAt = now;
    this.#genTimer = setInterval(() => this.#generate(), tickMs);
  }

  /** One generation tick: readings due by the rate (or a flood batch), or junk frames. */
  #generate(): void {
    const now = performance.now();
    let due: number;
    if (this.#profile.obeyLimits) {
      this.#credit += ((now - this.#genAt) * this.#o.rate) / 1000;
      due = Math.min(MAX_READINGS_PER_TICK, Math.floor(this.#credit));
      this.#credit -= due;
    } else due = this.#ready ? FLOOD_BATCH : 0; // a flood only makes sense on an open connection
    this.#genAt = now;
    if (this.#profile.junk === 'garbage') {
      for (let i = 0; i < due; i++) this.#sendJunk();
      return;
    }
    const payloadBytes = this.#o.payloadBytes ?? 0;
    for (let i = 0; i < due; i++) {
      const reading = this.#sensors.read();
      const ts = Date.now();
      this.#stats.generated += 1;
      this.#outbox.push(reading, (seq) => buildTelemetryFrame(seq, ts, { ...reading }, payloadBytes));
    }
    if (due > 0) this.#pump();
  }

  /** `garbage` and `oversize`: a bad frame, outside the outbox; paced like telemetry so only the badness is tested. */
  #sendJunk(): void {
    const ws = this.#ws;
    if (!this.#ready || ws === null || this.#limits === null) return;
    if (this.#profile.obeyLimits && this.#pacer !== null && !this.#pacer.tryTake(performance.now())) return;
    const frame =
      this.#profile.junk === 'oversize' ? oversizeFrame(this.#outbox.nextSeq, this.#limits.maxPayloadBytes) : garbageFrame(this.#junkSent, this.#random);
    this.#junkSent += 1;
    this.#stats.junkSent += 1;
    ws.send(frame);
  }

  /** Sends what the outbox holds, as far as the pacer and the socket buffer allow. */
  #pump(): void {
    this.#clearTimer('pump');
    const ws = this.#ws;
    if (!this.#ready || ws === null || ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    for (let budget = PUMP_BUDGET; budget > 0 && this.#outbox.unsent > 0; budget--) {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return this.#schedulePump(20);
      if (this.#profile.obeyLimits && this.#pacer !== null && !this.#pacer.tryTake(now)) return this.#schedulePump(this.#pacer.waitMs(now));
      const entry = this.#outbox.takeNext(now);
      if (entry === undefined) break;
      this.#stats.countSend(now, entry.sends > 1);
      ws.send(entry.frame);
      // `oversize`: a few good readings on each connection, then the frame over the limit.
      if (this.#profile.junk === 'oversize' && this.#junkSent === 0 && ++this.#sentThisConnection >= OVERSIZE_AFTER_GOOD) {
        this.#sendJunk();
        return;
      }
    }
    if (this.#outbox.unsent > 0) this.#schedulePump(0);
  }

  #schedulePump(delayMs: number): void {
    if (this.#pumpTimer === null) this.#pumpTimer = setTimeout(() => this.#pump(), Math.max(0, Math.ceil(delayMs)));
  }

  #onAck(seq: number): void {
    const now = performance.now();
    this.#outbox.ack(seq, now, (_entry, latencyMs) => this.#stats.countAck(now, latencyMs));
  }

  #onNack(seq: number | null, error: string, retryAfterMs: number | null): void {
    const now = performance.now();
    this.#stats.countNack(error);
    const refused = error === 'rate_limited' || error === 'quota_exceeded';
    if (seq !== null) {
      const entry = this.#outbox.nack(seq);
      if (entry !== undefined) {
        if (refused && this.#profile.retryRefused) {
          // A new seq: the refused one was never stored, and reusing it would
          // make a later cumulative ack ambiguous (SPEC: ack N covers seq ≤ N
          // of this connection that was not nacked).
          this.#stats.requeued += 1;
          this.#outbox.push(entry.data, (next) => buildTelemetryFrame(next, Date.now(), { ...entry.data }, this.#o.payloadBytes ?? 0));
        } else this.#stats.rejected += 1;
      }
    }
    if (refused && this.#profile.obeyLimits && this.#pacer !== null) {
      // SPEC: honour retryAfterMs; without one, wait one token's time.
      this.#pacer.pause(retryAfterMs ?? 1000 / (this.#limits?.msgsPerSec ?? 1), now);
      this.#schedulePump(this.#pacer.waitMs(now));
    }
  }
}
