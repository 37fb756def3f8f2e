/**
 * A simulated device's TLS settings: its key, certificate and CA parsed once
 * into a SecureContext, and the last session the hub gave it, offered again
 * on the next connect when {@link SimDeviceOptions.tlsResume} is on.
 */
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { FleetStats } from './fleet-stats.js';
import { ESP32_TLS12_CIPHERS, type SimDeviceOptions } from './sim-device-options.js';

/** What every connection of a device passes to `tls.connect` (through ws, or directly for slowloris). */
export interface DeviceTlsOptions {
  readonly secureContext: tls.SecureContext;
  readonly session?: Buffer;
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  readonly localAddress?: string;
}

/** One device's TLS identity and session, shared by all its connections. */
export class DeviceTls {
  readonly #o: SimDeviceOptions;
  readonly #stats: FleetStats;
  /** The key and certificate connections use now (a renewed pair replaces the first). */
  #credentials: { readonly cert: string | Buffer; readonly key: string | Buffer };
  #secureContext: tls.SecureContext | undefined;
  /** The last TLS session the hub gave us, for {@link SimDeviceOptions.tlsResume}. */
  #session: Buffer | undefined;

  constructor(options: SimDeviceOptions) {
    this.#o = options;
    this.#stats = options.stats;
    this.#credentials = options.credentials;
  }

  /** Connects with another key and certificate from now on (a renewal, or the fall-back to the previous pair). */
  useCredentials(credentials: { readonly cert: string | Buffer; readonly key: string | Buffer }): void {
    if (credentials === this.#credentials) return;
    this.#credentials = credentials;
    this.#secureContext = undefined;
    // A session belongs to the certificate it was made with.
    this.#session = undefined;
  }

  /**
   * The device's TLS settings. The key, certificate and CA are parsed once
   * into a SecureContext and reused for every reconnect: a storm of 1,000
   * reconnects then costs handshakes, not PEM parsing.
   */
  options(): DeviceTlsOptions {
    const version = this.#o.tls ?? '1.2';
    this.#secureContext ??= tls.createSecureContext({
      ca: this.#o.ca,
      cert: this.#credentials.cert,
      key: this.#credentials.key,
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

  /** ws's own TLS connect, plus keeping the session (it arrives during or after the handshake) for the next connect. */
  connectKeepingSession(opts: tls.ConnectionOptions & { path?: string }): tls.TLSSocket {
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
}
