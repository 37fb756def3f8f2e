/**
 * The hub's configuration: input types, the `DEFAULT_*` constants, and one
 * resolver that runs once at start and returns a complete, frozen object.
 * Nothing downstream writes `?? default`.
 *
 * The configuration reference (docs/operations.md, docs/devices.md) says what each limit protects against.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { FleethubError } from '../errors.js';
import { isValidPlanName } from '../pki/index.js';
import { parseTrustedRange } from './trusted-proxies.js';
import { resolveClusterConfig, type ClusterConfig } from '../store/cluster-config.js';
import { resolveProvisioningConfig, type ProvisioningConfig } from './provisioning/provisioning-config.js';
import { MAX_HISTORY_READINGS } from '../store/history-query.js';
import { resolveCommandAllowList, type CommandAllowList } from './commands/command-config.js';
import {
  DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_RETENTION_BYTES, DEFAULT_RETENTION_HOURS, DEFAULT_SEGMENT_BYTES, MAX_COMMIT_INTERVAL_MS,
  type StoreConfig,
} from '../store/store-config.js';
export type { StoreConfig } from '../store/store-config.js';

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
  /**
   * Largest message the hub sends a protocol-2 device (`hello.limits.maxDownlinkBytes`):
   * a command, a desired configuration or a certificate over it is refused, never sent.
   */
  readonly maxDownlinkBytes: number;
}

/** @defaultValue used for every device without a plan. */
export const DEFAULT_LIMITS: DeviceLimits = Object.freeze({
  maxPayloadBytes: 16 * 1024,
  msgsPerSec: 10,
  burst: 50,
  msgsPerDay: 200_000,
  maxFields: 32,
  maxDownlinkBytes: 4096,
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
  /**
   * Refusals of any kind (invalid, rate limited, over quota) in one minute,
   * whatever valid messages lie between them, before closing: 1008 when any
   * was invalid, else 4029.
   */
  readonly maxRefusalsPerMinute: number;
  /** Bytes of replies (acks, nacks, pongs) a device has not read past which the hub stops reading from it until it does. */
  readonly maxUnreadReplyBytes: number;
  /** How often `crl.pem` and the inventory are checked for changes (SPEC: revocation within 5 s). */
  readonly crlCheckMs: number;
  /** PROXY protocol from trusted load balancers (SPEC: Cluster mode). */
  readonly proxyProtocol: ProxyProtocolConfig;
  /**
   * Hours after which a hub replaces `ticket.keys` (the TLS session-ticket
   * key shared by every hub on the PKI folder) with a new one; 0: never (an
   * operator replaces the file). Also the lifetime of a ticket.
   */
  readonly ticketKeyRotationHours: number;
}

/** `device.proxyProtocol`. */
export interface ProxyProtocolConfig {
  /** Load balancers that must send a PROXY header: addresses or CIDRs, normalized to `addr/prefix`. Empty: the step is off. */
  readonly trusted: readonly string[];
  /** Time from the TCP accept to a complete header (trusted) or to the first bytes (untrusted). */
  readonly headerTimeoutMs: number;
  /** Largest PROXY header accepted, in bytes (a v2 header may announce up to 64 KiB of TLVs). */
  readonly maxHeaderBytes: number;
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
/** Two a second on average: more than an honest device meets (a sensor gone bad, a burst past the rate limit), and a cap on what a hostile one makes the hub answer. */
export const DEFAULT_MAX_REFUSALS_PER_MINUTE = 120;
/** About 1,300 nacks: far more than a device that reads its socket ever leaves unread. */
export const DEFAULT_MAX_UNREAD_REPLY_BYTES = 64 * 1024;
export const DEFAULT_CRL_CHECK_MS = 1_000;
/** A load balancer writes its header at once; a few seconds cover a loaded network without holding sockets for long. */
export const DEFAULT_PROXY_HEADER_TIMEOUT_MS = 3_000;
/** A v2 header with addresses and the usual TLVs is well under this; a v1 header is at most 107 bytes. */
export const DEFAULT_PROXY_MAX_HEADER_BYTES = 1_024;
/** Smallest maxHeaderBytes: a v1 header (107) and a v2 header with Unix addresses (232) must fit. */
export const MIN_PROXY_MAX_HEADER_BYTES = 232;
/** A day: what a stolen ticket key could decrypt of recorded TLS 1.2 traffic, and how long a ticket resumes. */
export const DEFAULT_TICKET_KEY_ROTATION_HOURS = 24;
/** RFC 8446 §4.6.1: a ticket lives at most seven days. */
export const MAX_TICKET_LIFETIME_HOURS = 168;

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
  /** How often `token.key` is checked for rotation; a rotation closes every dashboard whose token no longer verifies (4401). */
  readonly tokenKeyCheckMs: number;
  /** How often a dashboard is pinged; one that sent no pong for a whole interval is dropped. */
  readonly pingIntervalMs: number;
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
  /**
   * Open console TCP sockets in all (page, `/metrics`, `/healthz` and
   * dashboards, from accept on, before TLS): the console's budget of file
   * descriptors, so it can never take the ones the device listener needs.
   */
  readonly maxSockets: number;
  /** Open console sockets from one IP. */
  readonly maxSocketsPerIp: number;
  /** New console TCP connections per second from one IP, checked before any TLS work. */
  readonly newSocketsPerIpPerSec: number;
  /** Time from TCP accept to a finished TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /** Time from the TLS handshake to the first HTTP request (or upgrade); a socket that sends none is closed. */
  readonly idleTimeoutMs: number;
  /** Refused dashboard auths (no auth in time, not auth first, bad or expired token) from one IP before its auths are refused at once. */
  readonly authFailuresPerIp: number;
  /** The window `authFailuresPerIp` counts in; a throttled IP may try again when it ends. */
  readonly authFailureWindowMs: number;
  /** Refused auths are logged as one summary line per interval, not one line each. */
  readonly authFailureLogIntervalMs: number;
  /** A device's refused messages reach dashboards as at most one `rejected` event (with a count) per this interval. */
  readonly rejectedSummaryMs: number;
  /** Largest `limit` a history request may ask (SPEC: History, at most 10000); more is refused with 400. */
  readonly historyMaxLimit: number;
  /** History requests answered at once; more are refused with 503 and `Retry-After` (each may hold `historyMaxLimit` readings). */
  readonly historyMaxInFlight: number;
  /** Commands one token may send per minute, over all its connections; more are refused `rate_limited`. */
  readonly commandsPerTokenPerMin: number;
  /** Commands waiting (queued or in flight) for one device; more are refused `queue_full`. */
  readonly maxQueuedCommandsPerDevice: number;
  /** Longest `ttlMs` a command may ask for. */
  readonly maxCommandTtlMs: number;
}

export const DEFAULT_CONSOLE_HOST = '0.0.0.0';
export const DEFAULT_CONSOLE_PORT = 8444;
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BUFFERED_MESSAGES = 1_000;
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_STALLED_CLOSE_MS = 60_000;
/** Rotating `token.key` is the way to revoke tokens, so a rotation takes effect within seconds. */
export const DEFAULT_TOKEN_KEY_CHECK_MS = 2_000;
/** Finds dead dashboards (a laptop that went to sleep) within a minute, at one small frame each way per interval. */
export const DEFAULT_DASHBOARD_PING_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_CONNECTIONS_PER_TOKEN = 20;
export const DEFAULT_MAX_DASHBOARD_CONNECTIONS = 500;
export const DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC = 20;
export const DEFAULT_MAX_CLIENT_PAYLOAD_BYTES = 4 * 1024;
export const DEFAULT_MAX_SUBSCRIPTIONS = 32;
/** Twice `maxConnections`: room for every dashboard plus page loads and scrapes. Budget `ulimit -n` for it on top of `device.maxConnections`. */
export const DEFAULT_MAX_CONSOLE_SOCKETS = 1_000;
/** A browser opens up to six connections per host; an office behind one NAT has a few operators. */
export const DEFAULT_MAX_CONSOLE_SOCKETS_PER_IP = 64;
export const DEFAULT_NEW_CONSOLE_SOCKETS_PER_IP_PER_SEC = 50;
export const DEFAULT_CONSOLE_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_CONSOLE_IDLE_TIMEOUT_MS = 10_000;
export const DEFAULT_AUTH_FAILURES_PER_IP = 20;
export const DEFAULT_AUTH_FAILURE_WINDOW_MS = 60_000;
export const DEFAULT_AUTH_FAILURE_LOG_INTERVAL_MS = 60_000;
/** SPEC-sized: a misbehaving device costs a dashboard one `rejected` event per second, whatever it sends. */
export const DEFAULT_REJECTED_SUMMARY_MS = 1_000;
/** SPEC: a history page holds at most 10000 readings (about 1 MB of JSON). */
export const DEFAULT_HISTORY_MAX_LIMIT = 10_000;
/** A few charts loading at once; bounds the readings a flood of history requests holds in memory. */
export const DEFAULT_HISTORY_MAX_IN_FLIGHT = 8;
/** One a second on average, in bursts of up to a minute's worth: an operator or a script, not a flood. */
export const DEFAULT_COMMANDS_PER_TOKEN_PER_MIN = 60;
/** A device answers one command at a time; more than this waiting means something is wrong. */
export const DEFAULT_MAX_QUEUED_COMMANDS_PER_DEVICE = 16;
/** A week: a command older than that is stale, whatever it was for. */
export const DEFAULT_MAX_COMMAND_TTL_MS = 7 * 24 * 3_600_000;

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
  /** Cluster mode on NATS JetStream; null runs the embedded store. */
  readonly cluster: ClusterConfig | null;
  /** Provisioning by claim (`/v1/provision`). */
  readonly provisioning: ProvisioningConfig;
  /** The commands allow-list (SPEC: `commands`); empty: no command reaches any device. */
  readonly commands: CommandAllowList;
}

export const DEFAULT_PKI_DIR = './certs';
export const DEFAULT_DATA_DIR = './data';

// ---------------------------------------------------------------------------
// The resolver.


/** Where relative paths and defaults come from when resolving. */
export interface ResolveContext {
  /** Relative `pkiDir`/`dataDir` written in a config file are taken from the file's folder. */
  readonly baseDir: string;
  /** The `FLEETHUB_PKI` environment value, if any: the default pkiDir (relative to the working directory). */
  readonly envPki?: string | undefined;
}

const TOP_KEYS = ['device', 'console', 'pkiDir', 'dataDir', 'limits', 'plans', 'store', 'sinks', 'cluster', 'provisioning', 'commands'] as const;

/** Smallest maxDownlinkBytes: a P-256 device certificate in a `{"cert":..}` message must fit. */
export const MIN_DOWNLINK_BYTES = 1024;

/** Upper bound of maxPayloadBytes: a device frame never needs more, and ws's own default (100 MiB) is a memory hazard. */
export const MAX_PAYLOAD_BYTES_CEILING = 1024 * 1024;

function fail(key: string, rule: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got) : Array.isArray(got) ? 'an array' : got === null ? 'null' : typeof got === 'object' ? 'an object' : String(got);
  throw new FleethubError('FH_ERR_CONFIG', `config: ${key} ${rule}, got ${shown}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an optional object section and refuses keys it does not know. */
function section(raw: Record<string, unknown>, key: string, path: string, known: readonly string[]): Record<string, unknown> {
  const value = raw[key];
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail(path, 'must be an object', value);
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) throw new FleethubError('FH_ERR_CONFIG', `config: unknown key ${path}.${k} (known: ${known.join(', ')})`);
  }
  return value;
}

function integer(obj: Record<string, unknown>, key: string, path: string, fallback: number, min: number, max: number): number {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const rule = min === 1 && max === Number.MAX_SAFE_INTEGER ? 'must be a positive integer'
      : min === 0 && max === Number.MAX_SAFE_INTEGER ? 'must be an integer ≥ 0'
      : `must be an integer from ${min} to ${max}`;
    fail(path === '' ? key : `${path}.${key}`, rule, value);
  }
  return value;
}

function text(obj: Record<string, unknown>, key: string, path: string, fallback: string): string {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') fail(path === '' ? key : `${path}.${key}`, 'must be a non-empty string', value);
  return value;
}

const LIMIT_KEYS = ['maxPayloadBytes', 'msgsPerSec', 'burst', 'msgsPerDay', 'maxFields', 'maxDownlinkBytes'] as const;
const MAX = Number.MAX_SAFE_INTEGER;

function limitsFrom(obj: Record<string, unknown>, path: string, base: DeviceLimits): DeviceLimits {
  const limits: DeviceLimits = {
    maxPayloadBytes: integer(obj, 'maxPayloadBytes', path, base.maxPayloadBytes, 256, MAX_PAYLOAD_BYTES_CEILING),
    msgsPerSec: integer(obj, 'msgsPerSec', path, base.msgsPerSec, 1, 100_000),
    burst: integer(obj, 'burst', path, base.burst, 1, 1_000_000),
    msgsPerDay: integer(obj, 'msgsPerDay', path, base.msgsPerDay, 1, MAX),
    maxFields: integer(obj, 'maxFields', path, base.maxFields, 1, 1_000),
    maxDownlinkBytes: integer(obj, 'maxDownlinkBytes', path, base.maxDownlinkBytes, MIN_DOWNLINK_BYTES, MAX_PAYLOAD_BYTES_CEILING),
  };
  return Object.freeze(limits);
}

function origins(value: unknown): readonly string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) fail('console.origins', 'must be an array of origins like "https://dash.example.com"', value);
  return Object.freeze(value.map((entry, i) => {
    if (typeof entry !== 'string') fail(`console.origins[${i}]`, 'must be a string', entry);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      fail(`console.origins[${i}]`, 'must be an origin like "https://dash.example.com"', entry);
    }
    if (url.origin === 'null' || url.origin !== entry.replace(/\/$/, '')) {
      fail(`console.origins[${i}]`, 'must be an origin (scheme://host[:port], no path)', entry);
    }
    return url.origin;
  }));
}

/** `device.proxyProtocol.trusted`: addresses or CIDRs, each normalized to `addr/prefix`. */
function trustedProxies(value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value)) fail('device.proxyProtocol.trusted', 'must be an array of addresses or CIDRs like "10.0.0.2/32"', value);
  return Object.freeze(value.map((entry, i) => {
    const range = typeof entry === 'string' ? parseTrustedRange(entry.trim()) : null;
    if (range === null) fail(`device.proxyProtocol.trusted[${i}]`, 'must be an IPv4 or IPv6 address or CIDR like "10.0.0.2/32" or "fd00::/8"', entry);
    return `${range.address}/${range.prefix}`;
  }));
}

/** A path from the config file is relative to the file's folder; a default is relative to the working directory. */
function dir(obj: Record<string, unknown>, key: string, fallback: string, ctx: ResolveContext): string {
  if (obj[key] === undefined) return resolvePath(fallback);
  const value = text(obj, key, '', fallback).trim();
  return isAbsolute(value) ? value : resolvePath(ctx.baseDir, value);
}

/**
 * Resolves a parsed config file (or `{}` for the embedded defaults) into a
 * complete, frozen {@link HubConfig}. The `sinks` key is returned untouched
 * for the bridge's own resolver. Throws FH_ERR_CONFIG naming the key.
 */
export function resolveHubConfig(raw: unknown, ctx: ResolveContext): { hub: HubConfig; sinks: unknown } {
  if (!isPlainObject(raw)) fail('(top level)', 'must be a JSON object', raw);
  for (const key of Object.keys(raw)) {
    if (!(TOP_KEYS as readonly string[]).includes(key)) {
      throw new FleethubError('FH_ERR_CONFIG', `config: unknown key ${key} (known: ${TOP_KEYS.join(', ')})`);
    }
  }

  const d = section(raw, 'device', 'device', ['host', 'port', 'maxConnections', 'maxConnectionsPerIp', 'newConnectionsPerIpPerSec', 'handshakeTimeoutMs', 'pingIntervalMs', 'maxInvalidInRow', 'maxRefusedInRow', 'maxRefusalsPerMinute', 'maxUnreadReplyBytes', 'crlCheckMs', 'proxyProtocol', 'ticketKeyRotationHours']);
  const pp = section(d, 'proxyProtocol', 'device.proxyProtocol', ['trusted', 'headerTimeoutMs', 'maxHeaderBytes']);
  const device: DeviceListenerConfig = Object.freeze({
    host: text(d, 'host', 'device', DEFAULT_DEVICE_HOST),
    port: integer(d, 'port', 'device', DEFAULT_DEVICE_PORT, 0, 65_535),
    maxConnections: integer(d, 'maxConnections', 'device', DEFAULT_MAX_CONNECTIONS, 1, MAX),
    maxConnectionsPerIp: integer(d, 'maxConnectionsPerIp', 'device', DEFAULT_MAX_CONNECTIONS_PER_IP, 1, MAX),
    newConnectionsPerIpPerSec: integer(d, 'newConnectionsPerIpPerSec', 'device', DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SEC, 1, MAX),
    handshakeTimeoutMs: integer(d, 'handshakeTimeoutMs', 'device', DEFAULT_HANDSHAKE_TIMEOUT_MS, 100, 600_000),
    pingIntervalMs: integer(d, 'pingIntervalMs', 'device', DEFAULT_PING_INTERVAL_MS, 100, 3_600_000),
    maxInvalidInRow: integer(d, 'maxInvalidInRow', 'device', DEFAULT_MAX_INVALID_IN_ROW, 1, 10_000),
    maxRefusedInRow: integer(d, 'maxRefusedInRow', 'device', DEFAULT_MAX_REFUSED_IN_ROW, 1, 1_000_000),
    maxRefusalsPerMinute: integer(d, 'maxRefusalsPerMinute', 'device', DEFAULT_MAX_REFUSALS_PER_MINUTE, 1, 1_000_000),
    maxUnreadReplyBytes: integer(d, 'maxUnreadReplyBytes', 'device', DEFAULT_MAX_UNREAD_REPLY_BYTES, 1024, 64 * 1024 * 1024),
    crlCheckMs: integer(d, 'crlCheckMs', 'device', DEFAULT_CRL_CHECK_MS, 50, 5_000),
    proxyProtocol: Object.freeze({
      trusted: trustedProxies(pp.trusted),
      headerTimeoutMs: integer(pp, 'headerTimeoutMs', 'device.proxyProtocol', DEFAULT_PROXY_HEADER_TIMEOUT_MS, 50, 60_000),
      maxHeaderBytes: integer(pp, 'maxHeaderBytes', 'device.proxyProtocol', DEFAULT_PROXY_MAX_HEADER_BYTES, MIN_PROXY_MAX_HEADER_BYTES, 65_551),
    }),
    ticketKeyRotationHours: integer(d, 'ticketKeyRotationHours', 'device', DEFAULT_TICKET_KEY_ROTATION_HOURS, 0, MAX_TICKET_LIFETIME_HOURS),
  });

  const c = section(raw, 'console', 'console', ['host', 'port', 'origins', 'authTimeoutMs', 'maxBufferedMessages', 'maxBufferedBytes', 'stalledCloseMs', 'maxConnectionsPerToken', 'maxConnections', 'maxClientMessagesPerSec', 'maxClientPayloadBytes', 'maxSubscriptions', 'tokenKeyCheckMs', 'pingIntervalMs',
    'maxSockets', 'maxSocketsPerIp', 'newSocketsPerIpPerSec', 'handshakeTimeoutMs', 'idleTimeoutMs', 'authFailuresPerIp', 'authFailureWindowMs',
    'authFailureLogIntervalMs', 'rejectedSummaryMs', 'historyMaxLimit', 'historyMaxInFlight', 'commandsPerTokenPerMin', 'maxQueuedCommandsPerDevice', 'maxCommandTtlMs']);
  const consoleConfig: ConsoleListenerConfig = Object.freeze({
    host: text(c, 'host', 'console', DEFAULT_CONSOLE_HOST),
    port: integer(c, 'port', 'console', DEFAULT_CONSOLE_PORT, 0, 65_535),
    origins: origins(c.origins),
    authTimeoutMs: integer(c, 'authTimeoutMs', 'console', DEFAULT_AUTH_TIMEOUT_MS, 100, 60_000),
    maxBufferedMessages: integer(c, 'maxBufferedMessages', 'console', DEFAULT_MAX_BUFFERED_MESSAGES, 1, 1_000_000),
    maxBufferedBytes: integer(c, 'maxBufferedBytes', 'console', DEFAULT_MAX_BUFFERED_BYTES, 1024, 1024 * 1024 * 1024),
    stalledCloseMs: integer(c, 'stalledCloseMs', 'console', DEFAULT_STALLED_CLOSE_MS, 100, 3_600_000),
    maxConnectionsPerToken: integer(c, 'maxConnectionsPerToken', 'console', DEFAULT_MAX_CONNECTIONS_PER_TOKEN, 1, 100_000),
    maxConnections: integer(c, 'maxConnections', 'console', DEFAULT_MAX_DASHBOARD_CONNECTIONS, 1, 100_000),
    maxClientMessagesPerSec: integer(c, 'maxClientMessagesPerSec', 'console', DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC, 1, 10_000),
    maxClientPayloadBytes: integer(c, 'maxClientPayloadBytes', 'console', DEFAULT_MAX_CLIENT_PAYLOAD_BYTES, 256, MAX_PAYLOAD_BYTES_CEILING),
    maxSubscriptions: integer(c, 'maxSubscriptions', 'console', DEFAULT_MAX_SUBSCRIPTIONS, 1, 10_000),
    // A check is one stat(); past a minute, rotating the key no longer revokes promptly.
    tokenKeyCheckMs: integer(c, 'tokenKeyCheckMs', 'console', DEFAULT_TOKEN_KEY_CHECK_MS, 50, 60_000),
    pingIntervalMs: integer(c, 'pingIntervalMs', 'console', DEFAULT_DASHBOARD_PING_INTERVAL_MS, 100, 3_600_000),
    maxSockets: integer(c, 'maxSockets', 'console', DEFAULT_MAX_CONSOLE_SOCKETS, 1, 1_000_000),
    maxSocketsPerIp: integer(c, 'maxSocketsPerIp', 'console', DEFAULT_MAX_CONSOLE_SOCKETS_PER_IP, 1, 1_000_000),
    newSocketsPerIpPerSec: integer(c, 'newSocketsPerIpPerSec', 'console', DEFAULT_NEW_CONSOLE_SOCKETS_PER_IP_PER_SEC, 1, 1_000_000),
    handshakeTimeoutMs: integer(c, 'handshakeTimeoutMs', 'console', DEFAULT_CONSOLE_HANDSHAKE_TIMEOUT_MS, 100, 600_000),
    idleTimeoutMs: integer(c, 'idleTimeoutMs', 'console', DEFAULT_CONSOLE_IDLE_TIMEOUT_MS, 100, 600_000),
    authFailuresPerIp: integer(c, 'authFailuresPerIp', 'console', DEFAULT_AUTH_FAILURES_PER_IP, 1, 1_000_000),
    authFailureWindowMs: integer(c, 'authFailureWindowMs', 'console', DEFAULT_AUTH_FAILURE_WINDOW_MS, 100, 86_400_000),
    authFailureLogIntervalMs: integer(c, 'authFailureLogIntervalMs', 'console', DEFAULT_AUTH_FAILURE_LOG_INTERVAL_MS, 100, 86_400_000),
    rejectedSummaryMs: integer(c, 'rejectedSummaryMs', 'console', DEFAULT_REJECTED_SUMMARY_MS, 10, 60_000),
    historyMaxLimit: integer(c, 'historyMaxLimit', 'console', DEFAULT_HISTORY_MAX_LIMIT, 1, MAX_HISTORY_READINGS),
    historyMaxInFlight: integer(c, 'historyMaxInFlight', 'console', DEFAULT_HISTORY_MAX_IN_FLIGHT, 1, 1_000),
    commandsPerTokenPerMin: integer(c, 'commandsPerTokenPerMin', 'console', DEFAULT_COMMANDS_PER_TOKEN_PER_MIN, 1, 1_000_000),
    maxQueuedCommandsPerDevice: integer(c, 'maxQueuedCommandsPerDevice', 'console', DEFAULT_MAX_QUEUED_COMMANDS_PER_DEVICE, 1, 10_000),
    maxCommandTtlMs: integer(c, 'maxCommandTtlMs', 'console', DEFAULT_MAX_COMMAND_TTL_MS, 1_000, 30 * 24 * 3_600_000),
  });

  const limits = limitsFrom(section(raw, 'limits', 'limits', LIMIT_KEYS), 'limits', DEFAULT_LIMITS);

  // Null prototype: a plan named `constructor` or `toString` is data, not a property of Object.prototype.
  const plans = Object.create(null) as Record<string, DeviceLimits>;
  if (raw.plans !== undefined) {
    if (!isPlainObject(raw.plans)) fail('plans', 'must be an object of plan name → limits', raw.plans);
    for (const name of Object.keys(raw.plans)) {
      if (!isValidPlanName(name)) fail(`plans.${name}`, 'must be named with 1–64 of A-Z a-z 0-9 . _ -', name);
      plans[name] = limitsFrom(section(raw.plans, name, `plans.${name}`, LIMIT_KEYS), `plans.${name}`, limits);
    }
  }

  const s = section(raw, 'store', 'store', ['segmentBytes', 'retentionBytes', 'retentionHours', 'commitIntervalMs']);
  const store: StoreConfig = Object.freeze({
    segmentBytes: integer(s, 'segmentBytes', 'store', DEFAULT_SEGMENT_BYTES, 4096, 4 * 1024 * 1024 * 1024),
    retentionBytes: integer(s, 'retentionBytes', 'store', DEFAULT_RETENTION_BYTES, 0, MAX),
    retentionHours: integer(s, 'retentionHours', 'store', DEFAULT_RETENTION_HOURS, 0, 100 * 365 * 24),
    commitIntervalMs: integer(s, 'commitIntervalMs', 'store', DEFAULT_COMMIT_INTERVAL_MS, 0, MAX_COMMIT_INTERVAL_MS),
  });

  if (raw.sinks !== undefined && !Array.isArray(raw.sinks)) fail('sinks', 'must be an array', raw.sinks);

  const hub: HubConfig = Object.freeze({
    device,
    console: consoleConfig,
    pkiDir: dir(raw, 'pkiDir', ctx.envPki ?? DEFAULT_PKI_DIR, ctx),
    dataDir: dir(raw, 'dataDir', DEFAULT_DATA_DIR, ctx),
    limits,
    plans: Object.freeze(plans),
    store,
    cluster: resolveClusterConfig(raw.cluster, ctx.baseDir),
    provisioning: resolveProvisioningConfig(raw.provisioning, ctx.baseDir),
    commands: resolveCommandAllowList(raw.commands),
  });
  return { hub, sinks: raw.sinks ?? [] };
}
