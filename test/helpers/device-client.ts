/**
 * A real device client for tests: a `ws` WebSocket over TLS with a given
 * client certificate (TLS 1.2 or 1.3, optional ciphers, subprotocol, origin,
 * TLS session to resume). It collects every message from the hub and the
 * close code, and offers waits that fail after a generous timeout instead of
 * hanging the runner.
 */
import { connect as tlsConnect, type ConnectionOptions, type SecureVersion, type TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket, type ClientOptions } from 'ws';

/** How to connect. */
export interface DeviceClientOptions {
  /** `wss://127.0.0.1:<port>/v1/device` */
  readonly url: string;
  /** CA certificate that signed the hub's server certificate. */
  readonly ca: string;
  /** Client certificate and key (PEM); leave out to connect without one. */
  readonly cert?: string;
  readonly key?: string;
  readonly minVersion?: SecureVersion;
  readonly maxVersion?: SecureVersion;
  /** OpenSSL cipher list (TLS 1.2 suites). */
  readonly ciphers?: string;
  /** WebSocket subprotocol(s) offered, e.g. `arduino` or `['arduino', 'fleethub.v2']`. */
  readonly protocol?: string | readonly string[];
  /** `Origin` header, e.g. `file://`. */
  readonly origin?: string;
  /** A TLS session from an earlier connection, to resume. */
  readonly session?: Buffer;
  /** Source address (any of 127.0.0.0/8 on Linux), to appear as another IP. */
  readonly localAddress?: string;
  /**
   * Bytes written on the raw TCP socket before TLS starts (a PROXY protocol
   * header, as a load balancer sends it); the TLS client then runs over that
   * socket (`tls.connect({ socket })`).
   */
  readonly beforeTls?: Buffer;
  /** Give up the connection attempt after this long. @defaultValue 10000 */
  readonly timeoutMs?: number;
}

/** A message from the hub: hello, ack or nack. */
export type HubMessage = {
  hello?: { device: string; lastSeq: number | null; limits: Record<string, number>; protocol?: number; features?: string[]; cert?: unknown };
  cmd?: { id: string; name: string; args: Record<string, unknown>; timeoutMs: number };
  config?: { version: number; desired: Record<string, unknown> };
  ack?: number;
  nack?: number | null;
  error?: string;
  retryAfterMs?: number;
};

/** How a connection attempt ended when it did not open. */
export interface ConnectFailure {
  readonly ok: false;
  /** HTTP status when the hub answered the upgrade with one (404, 403). */
  readonly status?: number;
  readonly error?: string;
}

const WAIT_MS = 10_000;

/** An open device connection. */
export class DeviceClient {
  readonly ws: WebSocket;
  readonly messages: HubMessage[] = [];
  /** Resolves with the close code once the connection closed. */
  readonly closed: Promise<number>;
  /** The newest TLS session the hub gave (for resumption). */
  session: Buffer | undefined;
  readonly socket: TLSSocket;
  readonly #waiters = new Set<() => void>();
  #closeCode: number | null = null;

  constructor(ws: WebSocket, socket: TLSSocket, session: () => Buffer | undefined) {
    this.ws = ws;
    this.socket = socket;
    Object.defineProperty(this, 'session', { get: session });
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as HubMessage);
      this.#wake();
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code) => {
        this.#closeCode = code;
        this.#wake();
        resolve(code);
      });
    });
    ws.on('error', () => {
      // 'close' follows and carries the code the tests look at.
    });
  }

  /** The close code, or null while open. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The hello message (the first one the hub sends). */
  async hello(): Promise<NonNullable<HubMessage['hello']>> {
    const message = await this.waitFor((m) => m.hello !== undefined);
    return message.hello!;
  }

  /** Sends an object as JSON, or a string as-is. */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends `{seq, data}` messages for each seq. */
  sendSeqs(seqs: readonly number[], data: Record<string, unknown> = { v: 1 }): void {
    for (const seq of seqs) this.send({ seq, data });
  }

  /** Waits for a message matching `match` (already received ones count). */
  async waitFor(match: (m: HubMessage) => boolean, timeoutMs = WAIT_MS): Promise<HubMessage> {
    return this.#until(() => this.messages.find(match), timeoutMs, 'message');
  }

  /** Waits until an ack covers `seq`. */
  async waitForAck(seq: number, timeoutMs = WAIT_MS): Promise<void> {
    await this.waitFor((m) => m.ack !== undefined && m.ack >= seq, timeoutMs);
  }

  /** Waits until `count` messages matching `match` arrived; returns them. */
  async waitForCount(match: (m: HubMessage) => boolean, count: number, timeoutMs = WAIT_MS): Promise<HubMessage[]> {
    return this.#until(() => {
      const found = this.messages.filter(match);
      return found.length >= count ? found : undefined;
    }, timeoutMs, `${count} messages`);
  }

  /** Waits for the close; returns its code. */
  async waitForClose(timeoutMs = WAIT_MS): Promise<number> {
    const code = await this.#until(() => this.#closeCode ?? undefined, timeoutMs, 'close');
    return code;
  }

  /** Closes (if open) and waits for the close. */
  async close(): Promise<void> {
    if (this.#closeCode !== null) return;
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await this.closed;
    clearTimeout(timer);
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const first = probe();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const value = probe();
        if (value === undefined) {
          if (this.#closeCode !== null && what !== 'close') finish(() => reject(new Error(`closed with ${this.#closeCode} while waiting for ${what}; got ${JSON.stringify(this.messages)}`)));
          return;
        }
        finish(() => resolve(value));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)}`))), timeoutMs);
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        then();
      };
      this.#waiters.add(check);
    });
  }
}

/** Tries to connect; resolves with the open client, or how it failed (never rejects). */
export function tryConnectDevice(options: DeviceClientOptions): Promise<DeviceClient | ConnectFailure> {
  return new Promise((resolve) => {
    let session: Buffer | undefined = options.session;
    let tlsSocket: TLSSocket | undefined;
    // ws hands these on to tls.connect (session, minVersion, ciphers ... included).
    const tlsOptions = {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      ciphers: options.ciphers,
      session: options.session,
      localAddress: options.localAddress,
      origin: options.origin,
      servername: 'localhost',
      handshakeTimeout: options.timeoutMs ?? WAIT_MS,
      perMessageDeflate: false,
      // Our own tls.connect, to catch the TLS 1.2 session, which arrives during the handshake.
      createConnection: (opts: ConnectionOptions) => {
        let raw: Socket | undefined;
        if (options.beforeTls !== undefined) {
          // Queued on the connecting socket, so it leaves before the ClientHello.
          raw = netConnect({ host: opts.host ?? '127.0.0.1', port: Number(opts.port), ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
          raw.write(options.beforeTls);
        }
        const socket = tlsConnect(raw === undefined ? opts : { ...opts, socket: raw });
        socket.on('session', (s: Buffer) => {
          session = s;
        });
        return socket;
      },
    };
    const protocols = options.protocol === undefined ? [] : typeof options.protocol === 'string' ? [options.protocol] : [...options.protocol];
    const ws = new WebSocket(options.url, protocols, tlsOptions as ClientOptions);
    let settled = false;
    const fail = (failure: ConnectFailure): void => {
      if (settled) return;
      settled = true;
      ws.terminate();
      resolve(failure);
    };
    ws.on('upgrade', (res: IncomingMessage) => {
      tlsSocket = res.socket as TLSSocket;
      tlsSocket.on('session', (s: Buffer) => {
        session = s;
      });
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume();
      fail({ ok: false, status: res.statusCode });
    });
    ws.once('error', (err) => fail({ ok: false, error: err.message }));
    ws.once('close', () => fail({ ok: false, error: 'closed before open' }));
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      const socket = tlsSocket ?? ((ws as unknown as { _socket: TLSSocket })._socket);
      socket.on('session', (s: Buffer) => {
        session = s;
      });
      resolve(new DeviceClient(ws, socket, () => session));
    });
  });
}

/** Connects; rejects with how it failed. */
export async function connectDevice(options: DeviceClientOptions): Promise<DeviceClient> {
  const result = await tryConnectDevice(options);
  if (result instanceof DeviceClient) return result;
  throw new Error(`device connection failed: ${result.status ?? ''} ${result.error ?? ''}`);
}
