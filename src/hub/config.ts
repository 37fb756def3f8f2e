/**
 * The hub's configuration: input types, the `DEFAULT_*` constants, and one
 * resolver that runs once at start and returns a complete, frozen object.
 * Nothing downstream writes `?? default`.
 *
 * The README's configuration reference says what each limit protects against.
 */

/** Per-device limits, as sent in `hello.limits` (SPEC: Device protocol). */
export interface DeviceLimits {
  /** Largest WebSocket frame a device may send, in bytes; bigger closes with 1009. */
  readonly maxPayloadBytes: number;
  /** Token-bucket refill rate: sustained messages per second. */
  readonly msgsPerSec: number;
  /** Token-bucket size: messages a device may send at once after a quiet spell. */
  readonly burst: number;
  /** Readings stored per UTC day; more are nacked `quota_exceeded`. */
  readonly msgsPerDay: number;
  /** Fields per reading. */
  readonly maxFields: number;
}

/** @defaultValue used for every device without a plan. */
export const DEFAULT_LIMITS: DeviceLimits = Object.freeze({
  maxPayloadBytes: 16 * 1024,
  msgsPerSec: 10,
  burst: 50,
  msgsPerDay: 200_000,
  maxFields: 32,
});

/** The device listener (SPEC: Two listeners). */
export interface DeviceListenerConfig {
  readonly host: string;
  readonly port: number;
  /** Open device sockets in all, counted from TCP accept. */
  readonly maxConnections: number;
  /** Open sockets from one IP (devices behind a carrier NAT share one). */
  readonly maxConnectionsPerIp: number;
  /** New TCP connections per second from one IP, checked before any TLS work. */
  readonly newConnectionsPerIpPerSec: number;
  /** Time from TCP accept to a finished WebSocket upgrade (TLS handshake included). */
  readonly handshakeTimeoutMs: number;
  /** How often an idle connection is pinged; one that misses a whole interval without a pong is dropped. */
  readonly pingIntervalMs: number;
  /** Invalid messages in a row before closing with 1008 (SPEC: ten). */
  readonly maxInvalidInRow: number;
  /** Refused (rate_limited / quota_exceeded) messages in a row before closing with 4029. */
  readonly maxRefusedInRow: number;
  /** How often `crl.pem` and the inventory are checked for changes (SPEC: revocation within 5 s). */
  readonly crlCheckMs: number;
}

export const DEFAULT_DEVICE_HOST = '0.0.0.0';
export const DEFAULT_DEVICE_PORT = 8443;
export const DEFAULT_MAX_CONNECTIONS = 20_000;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 5_000;
export const DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SEC = 200;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_PING_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_INVALID_IN_ROW = 10;
export const DEFAULT_MAX_REFUSED_IN_ROW = 20;
export const DEFAULT_CRL_CHECK_MS = 1_000;

/** The console listener: dashboards, `/healthz`, `/metrics`. */
export interface ConsoleListenerConfig {
  readonly host: string;
  readonly port: number;
  /** Allowed `Origin` values for `/v1/stream`; null means the console's own origin (`https://` + Host). */
  readonly origins: readonly string[] | null;
  /** Time a dashboard has to send `{"auth":..}` (SPEC: 5 s). */
  readonly authTimeoutMs: number;
  /** Messages queued for one slow dashboard before dropping. */
  readonly maxBufferedMessages: number;
  /** Bytes queued in one dashboard socket before dropping. */
  readonly maxBufferedBytes: number;
  /** A dashboard that reads nothing for this long is closed. */
  readonly stalledCloseMs: number;
  /** Open dashboard connections per token. */
  readonly maxConnectionsPerToken: number;
  /** Open dashboard connections in all. */
  readonly maxConnections: number;
  /** Messages per second a dashboard may send. */
  readonly maxClientMessagesPerSec: number;
  /** Largest frame a dashboard may send, in bytes. */
  readonly maxClientPayloadBytes: number;
  /** Subscriptions per dashboard connection. */
  readonly maxSubscriptions: number;
}

export const DEFAULT_CONSOLE_HOST = '0.0.0.0';
export const DEFAULT_CONSOLE_PORT = 8444;
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BUFFERED_MESSAGES = 1_000;
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_STALLED_CLOSE_MS = 60_000;
export const DEFAULT_MAX_CONNECTIONS_PER_TOKEN = 20;
export const DEFAULT_MAX_DASHBOARD_CONNECTIONS = 500;
export const DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC = 20;
export const DEFAULT_MAX_CLIENT_PAYLOAD_BYTES = 4 * 1024;
export const DEFAULT_MAX_SUBSCRIPTIONS = 32;

/** The durable store. */
export interface StoreConfig {
  /** A segment file is closed and a new one started past this size. */
  readonly segmentBytes: number;
  /** Oldest segments are deleted while the store is larger than this (0: no size bound). */
  readonly retentionBytes: number;
  /** Segments whose newest reading is older than this are deleted (0: no age bound). */
  readonly retentionHours: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RETENTION_BYTES = 10 * 1024 * 1024 * 1024;
export const DEFAULT_RETENTION_HOURS = 7 * 24;

/** Everything `fleethub serve` runs with, fully resolved. */
export interface HubConfig {
  readonly device: DeviceListenerConfig;
  readonly console: ConsoleListenerConfig;
  readonly pkiDir: string;
  readonly dataDir: string;
  readonly limits: DeviceLimits;
  /** Named overrides of `limits`; a device gets its plan at `device add --plan`. */
  readonly plans: Readonly<Record<string, DeviceLimits>>;
  readonly store: StoreConfig;
}

export const DEFAULT_PKI_DIR = './certs';
export const DEFAULT_DATA_DIR = './data';
