/**
 * What a {@link SimDevice} is made with: its identity, its options, and the
 * defaults that mimic ESP32 firmware.
 */
import type { BackoffOptions } from '../src/backoff.js';
import type { Logger } from '../src/log.js';
import type { BehaviorProfile } from './behaviors.js';
import type { FleetStats } from './fleet-stats.js';
import type { TlsVersion } from './sim-options.js';

/** A device's identity: SPEC: the id is the certificate's subject CN. */
export interface DeviceCredentials {
  readonly id: string;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** Options of {@link SimDevice}. */
export interface SimDeviceOptions {
  readonly url: string;
  /** CA the hub's server certificate must chain to. */
  readonly ca: string | Buffer;
  readonly credentials: DeviceCredentials;
  readonly profile: BehaviorProfile;
  /** @defaultValue `1.2` */
  readonly tls?: TlsVersion;
  /** Readings per second. */
  readonly rate: number;
  /** Pad frames to at least this many bytes. @defaultValue 0 */
  readonly payloadBytes?: number;
  /** Outbox capacity. @defaultValue {@link DEFAULT_OUTBOX_CAPACITY} */
  readonly outbox?: number;
  readonly seed: number;
  readonly stats: FleetStats;
  readonly logger: Logger;
  /** Source address of the device's sockets. @defaultValue the OS's choice */
  readonly localAddress?: string;
  /** Reconnect backoff. @defaultValue src/backoff.ts defaults (500 ms doubling to 30 s) */
  readonly backoff?: BackoffOptions;
  /** Time to wait for the hub's hello after the upgrade. @defaultValue {@link DEFAULT_HELLO_TIMEOUT_MS} */
  readonly helloTimeoutMs?: number;
  /** Time for TCP + TLS + upgrade. @defaultValue {@link DEFAULT_CONNECT_TIMEOUT_MS} */
  readonly connectTimeoutMs?: number;
  /** WebSocket subprotocol; null sends none. @defaultValue `arduino` (the Arduino WebSockets library's) */
  readonly subprotocol?: string | null;
  /** Offer protocol 2 (`fleethub.v2`) next to the subprotocol. @defaultValue true */
  readonly protocolV2?: boolean;
  /** Origin header; null sends none. @defaultValue `file://` (the Arduino WebSockets library's) */
  readonly origin?: string | null;
  /**
   * Resume the last TLS session on reconnect (ESP-IDF's esp-tls client
   * session tickets). Off by default: the Arduino and esp_websocket_client
   * defaults make a full handshake every time, the hub's worst case.
   * @defaultValue false
   */
  readonly tlsResume?: boolean;
  /** Renew the certificate once in the run even when the hub does not ask (`--renew`). @defaultValue false */
  readonly renew?: boolean;
  /** Called when the device is on a renewed certificate (its first hello with it). */
  readonly onRenewed?: (id: string, pair: { readonly cert: string | Buffer; readonly key: string | Buffer }) => void;
}

/** How long a device waits for the hub's hello after the upgrade before it gives up on the connection. */
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
/** How long a device's TCP connect, TLS handshake and upgrade may take together. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** SPEC: the suites ESP32 mbedTLS offers for TLS 1.2 (ECDSA P-256 or RSA server key). */
export const ESP32_TLS12_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256';
