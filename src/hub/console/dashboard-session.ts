/**
 * One dashboard connection on `/v1/stream` (SPEC: Dashboard protocol): first
 * message authentication, subscriptions within the token's scope (and only
 * with its `read` scope), the subscribe snapshot, live fan-out through a
 * bounded outbox, and every per-connection limit.
 *
 * Every close names a reason of DASHBOARD_REASONS (src/errors.ts), which
 * holds its code, text and metric label. 1009 is sent by ws itself (its
 * `maxPayload`) and counted here. A dashboard that sent no pong for a whole
 * `pingIntervalMs` is dropped without a close frame: it no longer answers.
 */
import type { RawData, WebSocket } from 'ws';
import { DASHBOARD_REASONS, isFleethubError, type DashboardCloseReason } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ConsoleListenerConfig } from '../config.js';
import type { FeedEvent, LiveFeed } from '../live-feed.js';
import { TokenBucket } from '../token-bucket.js';
import { verifyToken, type TokenClaims } from './dashboard-token.js';
import type { DashboardMetrics } from './dashboard-metrics.js';
import { DashboardOutbox } from './dashboard-outbox.js';
import { encodeAuthed, encodeError, encodePresence, encodeReading, parseDashboardMessage, type DashboardErrorCode } from './dashboard-protocol.js';
import { globMatches, globWithin } from './device-glob.js';
import { handleControlRequest, type ConsoleControl, type ControlRequest, type TokenCommandLimiter } from './control-requests.js';
import type { TokenKeyFile } from './token-key-file.js';

/** Invalid or forbidden messages in a row before closing with 1008 (as on the device side). */
export const DEFAULT_DASHBOARD_MAX_INVALID_IN_ROW = 10;
/** Rate-limited messages in a row before closing with 4029. */
export const DEFAULT_DASHBOARD_MAX_REFUSED_IN_ROW = 10;
/** How often a backed-up connection checks for a stalled reader. */
const BACKPRESSURE_POLL_MS = 250;
/** Time a closing connection gets for the close handshake before the socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;
/** Longest setTimeout delay Node accepts (about 24.8 days); longer expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Cached match results per connection before the cache is cleared. */
const MAX_MATCH_CACHE = 50_000;
/** Closes that refuse an authentication: counted per IP towards the auth throttle and logged as a summary. */
const AUTH_REFUSALS: ReadonlySet<DashboardCloseReason> = new Set(['auth_timeout', 'auth_missing', 'token_invalid', 'token_expired', 'auth_throttled']);

/** The part of the socket under a WebSocket that batches writes. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/** What a session needs from its listener. */
export interface SessionHost {
  readonly config: ConsoleListenerConfig;
  readonly feed: LiveFeed;
  readonly keyFile: TokenKeyFile;
  readonly log: Logger;
  readonly metrics: DashboardMetrics;
  /** Commands and desired configuration; null on a console without a hub behind it. */
  readonly control: ConsoleControl | null;
  /** Commands per token (SPEC: per-token rate limits). */
  readonly commandLimiter: TokenCommandLimiter;
  /** True when `ip` is past its refused auths for now: its next auth is refused at once (auth-throttle.ts). */
  authBlocked(ip: string): boolean;
  /** An auth from `ip` was refused (`throttled`: by {@link authBlocked}). */
  authRefused(ip: string, throttled: boolean): void;
  /** Claims one connection slot for a token id; false when it has `maxConnectionsPerToken` already. */
  acquireToken(id: string): boolean;
  releaseToken(id: string): void;
  /** The session's socket closed; forget it. */
  ended(session: DashboardSession): void;
}

/** One authenticated-or-not dashboard WebSocket. */
export class DashboardSession {
  readonly #ws: WebSocket;
  readonly #socket: Corkable;
  readonly #host: SessionHost;
  readonly #remote: string;
  readonly #outbox: DashboardOutbox;
  readonly #bucket: TokenBucket;
  readonly #subscriptions = new Set<string>();
  readonly #matchCache = new Map<string, boolean>();
  #token = '';
  #claims: TokenClaims | null = null;
  #invalidInRow = 0;
  #refusedInRow = 0;
  #closing = false;
  #ended = false;
  #alive = true;
  #authTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #flushScheduled: NodeJS.Immediate | undefined;
  #lastProgressAt = 0;
  /** A frame reached the kernel: the peer is reading (or the socket has room), so send more. */
  readonly #onWritten = (err?: Error): void => {
    if (err) return;
    this.#lastProgressAt = Date.now();
    if (this.#pollTimer !== undefined) this.#flush();
  };

  /**
   * `socket` is the TLS socket under `ws` (from the upgrade): frames queued in
   * one tick are written corked, so a burst costs one TLS write, not one each.
   */
  constructor(ws: WebSocket, socket: Corkable, host: SessionHost, remote: string) {
    this.#ws = ws;
    this.#socket = socket;
    this.#host = host;
    this.#remote = remote;
    const { config, metrics } = host;
    this.#outbox = new DashboardOutbox({
      maxMessages: config.maxBufferedMessages,
      maxBytes: config.maxBufferedBytes,
      send: (text) => {
        ws.send(text, this.#onWritten);
        metrics.sent.inc();
      },
      bufferedAmount: () => ws.bufferedAmount,
      onDrop: (n) => metrics.dropped.inc({}, n),
    });
    this.#bucket = new TokenBucket({ ratePerSec: config.maxClientMessagesPerSec, burst: config.maxClientMessagesPerSec });
    metrics.connections.inc();
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('pong', () => {
      this.#alive = true;
    });
    // Always followed by 'close'. A frame over maxPayload is the one ws closes itself (1009): counted here.
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || this.#closing) return;
      this.#closing = true;
      this.#host.metrics.closed.inc({ reason: DASHBOARD_REASONS.too_big.metric });
    });
    ws.on('close', () => this.#end());
    // SPEC: the first message, within 5 s, is {"auth":..}; nothing about devices before it.
    this.#authTimer = setTimeout(() => this.close('auth_timeout'), config.authTimeoutMs);
    this.#pingTimer = setInterval(() => this.#ping(), config.pingIntervalMs);
  }

  /** True once `{"auth":..}` succeeded. */
  get authenticated(): boolean {
    return this.#claims !== null;
  }

  /** Number of active subscriptions. */
  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  /** Passes one live event on when it concerns a subscribed device. `encoded` is shared by all sessions. */
  deliver(event: FeedEvent, encoded: string): void {
    if (this.#claims === null || this.#closing) return;
    const device = event.type === 'reading' ? event.reading.device : event.device;
    if (this.#matches(device)) this.#enqueue(encoded);
  }

  /** Re-checks the token after `token.key` changed; closes with 4401 when it no longer verifies. */
  reverify(): void {
    if (this.#claims === null || this.#closing) return;
    try {
      verifyToken(this.#host.keyFile.key(), this.#token);
    } catch {
      this.close('token_revoked');
    }
  }

  /**
   * Starts the close handshake with the code and text of `reason`
   * (DASHBOARD_REASONS in src/errors.ts); the socket is destroyed if the
   * peer does not answer in time.
   */
  close(reason: DashboardCloseReason): void {
    if (this.#closing || this.#ended) return;
    this.#closing = true;
    const { code, text, metric } = DASHBOARD_REASONS[reason];
    this.#host.metrics.closed.inc({ reason: metric });
    // A refused auth is counted and summarised by the listener (one line per interval, not one per attempt).
    if (this.#claims === null && AUTH_REFUSALS.has(reason)) this.#host.authRefused(this.#remote, reason === 'auth_throttled');
    else this.#host.log.log('info', 'dashboard.close', { ip: this.#remote, code, reason, token: this.#claims?.id });
    // What is queued (the errors that led here, say) goes out first, as far as the socket has room.
    clearImmediate(this.#flushScheduled);
    this.#flushScheduled = undefined;
    this.#outbox.flush();
    this.#outbox.clear();
    this.#stopPolling();
    this.#ws.close(code, text);
    this.#killTimer = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closing) return;
    const text = isBinary ? null : data.toString();
    if (this.#claims === null) {
      this.#authenticate(text);
      return;
    }
    if (this.#bucket.take() > 0) {
      if (++this.#refusedInRow >= DEFAULT_DASHBOARD_MAX_REFUSED_IN_ROW) {
        this.close('rate_limited');
      } else {
        this.#error('rate_limited');
      }
      return;
    }
    this.#refusedInRow = 0;
    const message = text === null ? ({ type: 'invalid', error: 'invalid_message' } as const) : parseDashboardMessage(text);
    switch (message.type) {
      case 'invalid':
        this.#strike(message.error);
        return;
      case 'auth':
        this.#strike('invalid_message'); // already authenticated
        return;
      case 'subscribe':
        this.#subscribe(message.glob);
        return;
      case 'unsubscribe':
        this.#unsubscribe(message.glob);
        return;
      case 'command':
      case 'config':
      case 'configGlob':
        this.#control(message);
        return;
    }
  }

  #control(request: ControlRequest): void {
    const claims = this.#claims as TokenClaims;
    void handleControlRequest(request, {
      claims,
      control: this.#host.control,
      limiter: this.#host.commandLimiter,
      send: (text) => {
        if (!this.#closing) this.#enqueue(text);
      },
      strike: (code) => this.#strike(code),
      accepted: () => {
        this.#invalidInRow = 0;
      },
    }).catch((err: unknown) => this.#host.log.log('error', 'dashboard.control_failed', { token: claims.id, error: String(err) }));
  }

  #authenticate(text: string | null): void {
    const message = text === null ? null : parseDashboardMessage(text);
    if (message?.type !== 'auth') {
      this.close('auth_missing');
      return;
    }
    if (this.#host.authBlocked(this.#remote)) {
      // Refused without reading the token: this IP failed too often in the current window.
      this.close('auth_throttled');
      return;
    }
    let claims: TokenClaims;
    try {
      claims = verifyToken(this.#host.keyFile.key(), message.token);
    } catch (err) {
      const expired = isFleethubError(err, 'FH_ERR_TOKEN_EXPIRED');
      this.close(expired ? 'token_expired' : 'token_invalid');
      return;
    }
    clearTimeout(this.#authTimer);
    if (!this.#host.acquireToken(claims.id)) {
      this.close('token_connections');
      return;
    }
    this.#token = message.token;
    this.#claims = claims;
    this.#armExpiry();
    this.#host.log.log('info', 'dashboard.authed', { ip: this.#remote, token: claims.id, devices: claims.devices });
    const commands = claims.scopes.includes('command') ? this.#host.control?.commands.names ?? [] : undefined;
    this.#enqueue(encodeAuthed(claims.devices, claims.expiresAt, claims.scopes, commands));
  }

  #subscribe(glob: string): void {
    const claims = this.#claims as TokenClaims;
    // SPEC Token scopes: readings and presence need `read`; a command- or config-only token sees none.
    if (!claims.scopes.includes('read') || !globWithin(glob, claims.devices)) {
      this.#strike('forbidden');
      return;
    }
    if (!this.#subscriptions.has(glob)) {
      if (this.#subscriptions.size >= this.#host.config.maxSubscriptions) {
        this.#strike('too_many_subscriptions');
        return;
      }
      this.#subscriptions.add(glob);
      this.#matchCache.clear();
      this.#host.metrics.subscriptions.inc();
    }
    this.#invalidInRow = 0;
    this.#enqueue(JSON.stringify({ subscribed: glob }));
    this.#snapshot(glob);
  }

  /** SPEC: after `subscribed`, the current presence and the latest reading of each matching device. */
  #snapshot(glob: string): void {
    const { feed } = this.#host;
    const online = new Set(feed.onlineDevices());
    const devices = new Set<string>();
    for (const id of online) if (globMatches(glob, id)) devices.add(id);
    for (const id of feed.knownDevices()) if (globMatches(glob, id)) devices.add(id);
    // Forced past the message bound when there is room now, so a page starts complete.
    const force = this.#outbox.hasRoom;
    for (const id of [...devices].sort()) {
      this.#outbox.push(encodePresence(id, online.has(id)), force);
      const latest = feed.latest(id);
      if (latest) this.#outbox.push(encodeReading(latest), force);
    }
    this.#scheduleFlush();
  }

  #unsubscribe(glob: string): void {
    if (this.#subscriptions.delete(glob)) {
      this.#matchCache.clear();
      this.#host.metrics.subscriptions.dec();
    }
    this.#invalidInRow = 0;
    this.#enqueue(JSON.stringify({ unsubscribed: glob }));
  }

  #strike(error: DashboardErrorCode): void {
    if (++this.#invalidInRow >= DEFAULT_DASHBOARD_MAX_INVALID_IN_ROW) {
      this.close('invalid_messages');
      return;
    }
    this.#error(error);
  }

  #error(code: DashboardErrorCode): void {
    this.#enqueue(encodeError(code));
  }

  #matches(device: string): boolean {
    let hit = this.#matchCache.get(device);
    if (hit === undefined) {
      hit = false;
      for (const glob of this.#subscriptions) {
        if (globMatches(glob, device)) {
          hit = true;
          break;
        }
      }
      if (this.#matchCache.size >= MAX_MATCH_CACHE) this.#matchCache.clear();
      this.#matchCache.set(device, hit);
    }
    return hit;
  }

  #enqueue(text: string): void {
    this.#outbox.push(text);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    // Backed up: the write callbacks flush. Otherwise one corked flush per tick.
    if (this.#pollTimer === undefined && this.#flushScheduled === undefined) {
      this.#flushScheduled = setImmediate(() => {
        this.#flushScheduled = undefined;
        this.#socket.cork();
        this.#flush();
        this.#socket.uncork();
      });
    }
  }

  #flush(): void {
    if (this.#closing) return;
    if (this.#outbox.flush()) {
      this.#stopPolling();
      return;
    }
    if (this.#pollTimer === undefined) {
      // Backed up: write callbacks (#onWritten) send more as the socket drains; the
      // poll only watches for a peer that reads nothing at all.
      this.#lastProgressAt = Date.now();
      this.#pollTimer = setInterval(() => this.#poll(), Math.min(BACKPRESSURE_POLL_MS, this.#host.config.stalledCloseMs));
    }
  }

  #poll(): void {
    if (Date.now() - this.#lastProgressAt >= this.#host.config.stalledCloseMs) {
      this.close('stalled');
      return;
    }
    this.#flush();
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #armExpiry(): void {
    const claims = this.#claims;
    if (claims === null) return;
    const remaining = claims.expiresAt - Date.now();
    this.#expiryTimer = setTimeout(() => {
      if (Date.now() >= claims.expiresAt) this.close('token_expired');
      else this.#armExpiry();
    }, Math.min(Math.max(remaining, 0), MAX_TIMER_MS));
  }

  #ping(): void {
    if (this.#closing) return; // the close grace ends it
    if (!this.#alive) {
      // No pong for a whole interval: a close handshake would wait on the same dead peer.
      this.#closing = true;
      this.#host.metrics.closed.inc({ reason: DASHBOARD_REASONS.ping_timeout.metric });
      this.#host.log.log('info', 'dashboard.close', { ip: this.#remote, reason: 'ping_timeout', token: this.#claims?.id });
      this.#ws.terminate();
      return;
    }
    this.#alive = false;
    this.#ws.ping();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closing = true;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#killTimer);
    clearInterval(this.#pingTimer);
    clearImmediate(this.#flushScheduled);
    this.#stopPolling();
    this.#outbox.clear();
    const { metrics } = this.#host;
    metrics.connections.dec();
    metrics.subscriptions.dec({}, this.#subscriptions.size);
    this.#subscriptions.clear();
    if (this.#claims !== null) this.#host.releaseToken(this.#claims.id);
    this.#host.ended(this);
  }
}
