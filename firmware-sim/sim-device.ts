/**
 * One simulated ESP32: its own key and certificate, TLS 1.2 (or 1.3), the
 * Arduino WebSockets library's subprotocol and Origin, a hello-paced sender,
 * a bounded outbox resent after every reconnect, and reconnects with capped
 * exponential backoff and full jitter. Talks to the hub only over the wire.
 *
 * This file holds the device's life: start, reconnects, close. One
 * connection is {@link openHubConnection}'s (hub-connection.ts), the TLS
 * identity {@link DeviceTls}'s (device-tls.ts) and the readings and the
 * misbehaving profiles' frames {@link TelemetrySender}'s (telemetry-sender.ts).
 *
 * Everything it observes goes into the shared {@link FleetStats}.
 */
import type tls from 'node:tls';
import WebSocket from 'ws';
import { Backoff } from '../src/backoff.js';
import type { BehaviorProfile } from './behaviors.js';
import { classifyConnectError } from './connect-errors.js';
import { DeviceTls } from './device-tls.js';
import type { FleetStats } from './fleet-stats.js';
import { openHubConnection, type ConnectionEnd } from './hub-connection.js';
import type { HubMessage } from './hub-messages.js';
import { CertRenewal } from './cert-renewal.js';
import { answerCommand, applyDesired } from './device-commands.js';
import type { SimDeviceOptions } from './sim-device-options.js';
import { openSlowloris } from './slowloris-connection.js';
import { TelemetrySender } from './telemetry-sender.js';

export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  ESP32_TLS12_CIPHERS,
  type DeviceCredentials,
  type SimDeviceOptions,
} from './sim-device-options.js';

/** Time the hub gets to answer our close frame before the socket is cut. */
const CLOSE_WAIT_MS = 2_000;

/** One simulated device. Call {@link start}, later {@link stopSending}, then {@link close}. */
export class SimDevice {
  readonly id: string;
  readonly #o: SimDeviceOptions;
  readonly #stats: FleetStats;
  readonly #profile: BehaviorProfile;
  readonly #tls: DeviceTls;
  readonly #sender: TelemetrySender;
  readonly #backoff: Backoff;
  readonly #renewal: CertRenewal;
  #ws: WebSocket | null = null;
  #raw: tls.TLSSocket | null = null;
  #ready = false;
  #everReady = false;
  #lostAt: number | null = null;
  #started = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;
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
    this.#tls = new DeviceTls(options);
    this.#sender = new TelemetrySender(options);
    this.#backoff = new Backoff(options.backoff);
    this.#renewal = new CertRenewal({
      id: this.id, initial: options.credentials, force: options.renew === true, stats: options.stats, logger: options.logger,
      ...(options.onRenewed === undefined ? {} : { onRenewed: options.onRenewed }),
    });
  }

  /** True while the WebSocket is open and the hello received. */
  get connected(): boolean {
    return this.#ready;
  }

  /**
   * True when nothing is left to deliver: the outbox is empty, no
   * certificate renewal is under way, and the device has connected at least
   * once (one still on its first handshake is not done; one never started,
   * after Ctrl-C in the ramp, is).
   */
  get drained(): boolean {
    return this.#sender.pending === 0 && (this.#everReady || !this.#started) && !this.#renewal.inProgress;
  }

  /** Readings dropped by the full outbox so far (cheap: the progress line reads it every second). */
  get dropped(): number {
    return this.#sender.dropped;
  }

  /** Starts connecting (and, after the first hello, generating readings). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#connect();
  }

  /** Ends the sending phase: no new readings; the outbox still drains. */
  stopSending(): void {
    this.#sender.stopSending();
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
    return { ...this.#sender.endState(), connected: this.#ready };
  }

  /** Stops for good: closes the connection (1000) and clears every timer. Idempotent. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#stopped = true;
    this.#sender.stop();
    this.#renewal.stop();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
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

  #connect(): void {
    this.#retryTimer = null;
    if (this.#stopped) return;
    this.#stats.connectAttempts += 1;
    if (this.#profile.transport === 'slowloris') {
      this.#connectSlowloris();
      return;
    }
    this.#tls.useCredentials(this.#renewal.credentials);
    this.#ws = openHubConnection(this.#o, this.#tls, {
      onHello: (hello) => this.#onHello(hello),
      onAck: (seq) => this.#sender.onAck(seq),
      onNack: (seq, error, retryAfterMs) => this.#sender.onNack(seq, error, retryAfterMs),
      onControl: (message) => this.#onControl(message),
      onClose: (end) => this.#onClose(end),
    });
  }

  /** SPEC: simulated devices answer commands, apply desired configuration and renew their certificate (protocol 2). */
  #onControl(message: Extract<HubMessage, { type: 'cmd' | 'config' | 'cert' | 'certError' }>): void {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    if (message.type === 'certError') return this.#renewal.onCertError(message, (text) => this.#sendControl(ws, text));
    if (message.type === 'cert') {
      // A reconnect with the new certificate, as firmware reboots into it; unacked readings are resent after it.
      if (this.#renewal.onCert(message)) {
        this.#dropping = true;
        ws.close(1000);
      }
      return;
    }
    if (message.type === 'config') {
      const { ack, rate } = applyDesired(message.desired);
      if (rate !== undefined) this.#sender.setRate(rate);
      ws.send(JSON.stringify({ configAck: { version: message.version, ...ack } }));
      return;
    }
    const outcome = answerCommand(message.name, message.args);
    ws.send(JSON.stringify({ cmdResult: { id: message.id, ...outcome.reply } }));
    if (outcome.rate !== undefined) this.#sender.setRate(outcome.rate);
    if (outcome.reboot === true) {
      // The answer leaves first; then a close of our own, and the usual reconnect.
      this.#o.logger.log('debug', 'sim.device.reboot', { device: this.id });
      this.#dropping = true;
      ws.close(1000);
    }
  }

  #sendControl(ws: WebSocket, text: string): void {
    if (ws === this.#ws && ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  #onClose({ code, opened, selfClosed, lastError }: ConnectionEnd): void {
    this.#ws = null;
    this.#sender.endConnection();
    if (this.#ready) {
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
    // A renewed certificate the TLS handshake refused: back to the previous one, which still works.
    if (this.#renewal.connectionEnded(opened, tlsFailure)) this.#backoff.reset();
    if (this.#stopped) this.#finishClose();
    else this.#scheduleReconnect(tlsFailure);
  }

  #connectSlowloris(): void {
    this.#raw = openSlowloris(this.#o.url, this.#tls.options(), {
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

  #onHello(hello: Extract<HubMessage, { type: 'hello' }>): void {
    const now = performance.now();
    const ws = this.#ws;
    if (ws === null) return;
    this.#sender.beginConnection(ws, hello.lastSeq, hello.limits, now);
    this.#ready = true;
    this.#stats.connected += 1;
    this.#backoff.reset();
    if (!this.#everReady) {
      this.#everReady = true;
      this.#stats.everConnected += 1;
      this.#sender.startGenerating(now);
    } else {
      this.#stats.reconnects += 1;
      if (this.#lostAt !== null) this.#stats.reconnect.record(now - this.#lostAt);
    }
    this.#lostAt = null;
    this.#sender.pump();
    this.#renewal.onHello(hello, (text) => this.#sendControl(ws, text));
  }
}
