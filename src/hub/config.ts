/**
 * The hub's configuration: input types, the `DEFAULT_*` constants, and one
 * resolver that runs once at start and returns a complete, frozen object.
 * Nothing downstream writes `?? default`. Each section is read by the one
 * config reader (src/config/config-reader.ts); the store's and the cluster's
 * sections are declared by the store, the sinks' by the bridge.
 *
 * The configuration reference (docs/operations.md, docs/devices.md) says what each limit protects against.
 */
import { CONFIG_FILE, ConfigReader, configError, MAX_CONFIG_INTEGER, type ConfigSource } from '../config/config-reader.js';
import { DEFAULT_PKI_DIR, isValidPlanName } from '../pki/index.js';
import { parseTrustedRange } from './trusted-proxies.js';
import { readClusterSection, type ClusterConfig, type ClusterConfigInput } from '../store/cluster-config.js';
import { MAX_HISTORY_READINGS } from '../store/history-query.js';
import { readProvisioningSection, type ProvisioningConfig } from './provisioning/provisioning-config.js';
import { readRenewalSection, type RenewalConfig } from './renewal/renewal-config.js';
import { readCommandAllowList, type CommandAllowList } from './commands/command-config.js';
import { readStoreSection, type StoreConfig } from '../store/store-config.js';
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
  /**
   * The listen socket's accept queue: connections the kernel has finished the
   * TCP handshake of and holds until the hub accepts them (`backlog` of
   * `server.listen`). A restart storm of thousands of devices overflows a
   * small one while the hub is busy with TLS handshakes; an overflowing SYN
   * is dropped and the device waits for its TCP retry. Linux caps it at
   * `net.core.somaxconn`.
   */
  readonly backlog: number;
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
/**
 * Eight times Node's default (511): room for a restart storm's connections
 * while the hub is busy with full handshakes; the default
 * `net.core.somaxconn` of Linux 5.4 and later, which caps it.
 */
export const DEFAULT_DEVICE_BACKLOG = 4_096;
/** The largest backlog accepted (the historical `net.core.somaxconn` ceiling). */
export const MAX_DEVICE_BACKLOG = 65_535;
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
  /** Desired-configuration documents for globs of devices the hub holds; one more is refused `too_many_globs`. */
  readonly maxConfigGlobs: number;
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
/** Desired-configuration documents for globs of devices: each one is matched against every connecting device, so they stay few. */
export const DEFAULT_MAX_CONFIG_GLOBS = 100;

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
  /** Certificate renewal over protocol 2 (`{"csr"}`, `{"renew"}`). */
  readonly renewal: RenewalConfig;
  /** The commands allow-list (SPEC: `commands`); empty: no command reaches any device. */
  readonly commands: CommandAllowList;
}

/**
 * The config file's object, as a library user writes it: every key optional,
 * each absent one taking its `DEFAULT_*` (docs/operations.md, Configuration).
 */
export interface HubConfigInput {
  readonly device?: Partial<Omit<DeviceListenerConfig, 'proxyProtocol'>> & { readonly proxyProtocol?: Partial<ProxyProtocolConfig> };
  readonly console?: Partial<ConsoleListenerConfig>;
  /** Relative to the working directory (to the config file's folder in `fleethub serve --config`). @defaultValue {@link DEFAULT_PKI_DIR} */
  readonly pkiDir?: string;
  /** @defaultValue {@link DEFAULT_DATA_DIR} */
  readonly dataDir?: string;
  readonly limits?: Partial<DeviceLimits>;
  readonly plans?: Readonly<Record<string, Partial<DeviceLimits>>>;
  readonly store?: Partial<StoreConfig>;
  readonly cluster?: ClusterConfigInput;
  readonly provisioning?: Partial<ProvisioningConfig>;
  readonly renewal?: Readonly<Record<string, unknown>>;
  readonly commands?: Readonly<Record<string, { readonly plans?: readonly string[]; readonly timeoutMs?: number }>>;
  /** The bridge's (`resolveSinkConfigs`); `createHub` refuses them. */
  readonly sinks?: readonly unknown[];
}

/** The PKI folder when neither the config nor `FLEETHUB_PKI` names one (defined once, in src/pki/paths.ts). */
export { DEFAULT_PKI_DIR };
export const DEFAULT_DATA_DIR = './data';

// ---------------------------------------------------------------------------
// The resolver.

/** Where relative paths and defaults come from when resolving. */
export interface ResolveContext {
  /** Relative `pkiDir`/`dataDir` written in a config file are taken from the file's folder. */
  readonly baseDir: string;
  /** The `FLEETHUB_PKI` environment value, if any (`envPkiDir()` of src/pki): the default pkiDir (relative to the working directory). */
  readonly envPki?: string | undefined;
}

/** Smallest maxDownlinkBytes: a P-256 device certificate in a `{"cert":..}` message must fit. */
export const MIN_DOWNLINK_BYTES = 1024;

/** Upper bound of maxPayloadBytes: a device frame never needs more, and ws's own default (100 MiB) is a memory hazard. */
export const MAX_PAYLOAD_BYTES_CEILING = 1024 * 1024;

const MAX = MAX_CONFIG_INTEGER;

/** Reads a `limits` section (or a plan), each key absent taking its value from `base`. */
function readLimits(r: ConfigReader, base: DeviceLimits): DeviceLimits {
  return Object.freeze({
    maxPayloadBytes: r.int('maxPayloadBytes', 256, MAX_PAYLOAD_BYTES_CEILING, base.maxPayloadBytes),
    msgsPerSec: r.int('msgsPerSec', 1, 100_000, base.msgsPerSec),
    burst: r.int('burst', 1, 1_000_000, base.burst),
    msgsPerDay: r.int('msgsPerDay', 1, MAX, base.msgsPerDay),
    maxFields: r.int('maxFields', 1, 1_000, base.maxFields),
    maxDownlinkBytes: r.int('maxDownlinkBytes', MIN_DOWNLINK_BYTES, MAX_PAYLOAD_BYTES_CEILING, base.maxDownlinkBytes),
  });
}

/** `console.origins`: null (the console's own origin) or normalized origins. */
function readOrigins(r: ConfigReader): readonly string[] | null {
  const value = r.raw('origins');
  if (value === undefined || value === null) return null;
  const list = r.array('origins', 'an array of origins like "https://dash.example.com"');
  return Object.freeze(list.map((entry, i) => {
    const key = `origins[${i}]`;
    if (typeof entry !== 'string') throw r.fail(key, 'a string', entry);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw r.fail(key, 'an origin like "https://dash.example.com"', entry);
    }
    if (url.origin === 'null' || url.origin !== entry.replace(/\/$/, '')) {
      throw r.fail(key, 'an origin (scheme://host[:port], no path)', entry);
    }
    return url.origin;
  }));
}

/** `device.proxyProtocol.trusted`: addresses or CIDRs, each normalized to `addr/prefix`. */
function readTrustedProxies(r: ConfigReader): readonly string[] {
  const list = r.array('trusted', 'an array of addresses or CIDRs like "10.0.0.2/32"', []);
  return Object.freeze(list.map((entry, i) => {
    const range = typeof entry === 'string' ? parseTrustedRange(entry.trim()) : null;
    if (range === null) throw r.fail(`trusted[${i}]`, 'an IPv4 or IPv6 address or CIDR like "10.0.0.2/32" or "fd00::/8"', entry);
    return `${range.address}/${range.prefix}`;
  }));
}

/** Reads the `device` section. */
export function readDeviceSection(d: ConfigReader): DeviceListenerConfig {
  return Object.freeze({
    host: d.string('host', DEFAULT_DEVICE_HOST),
    port: d.int('port', 0, 65_535, DEFAULT_DEVICE_PORT),
    backlog: d.int('backlog', 1, MAX_DEVICE_BACKLOG, DEFAULT_DEVICE_BACKLOG),
    maxConnections: d.int('maxConnections', 1, MAX, DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerIp: d.int('maxConnectionsPerIp', 1, MAX, DEFAULT_MAX_CONNECTIONS_PER_IP),
    newConnectionsPerIpPerSec: d.int('newConnectionsPerIpPerSec', 1, MAX, DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SEC),
    handshakeTimeoutMs: d.int('handshakeTimeoutMs', 100, 600_000, DEFAULT_HANDSHAKE_TIMEOUT_MS),
    pingIntervalMs: d.int('pingIntervalMs', 100, 3_600_000, DEFAULT_PING_INTERVAL_MS),
    maxInvalidInRow: d.int('maxInvalidInRow', 1, 10_000, DEFAULT_MAX_INVALID_IN_ROW),
    maxRefusedInRow: d.int('maxRefusedInRow', 1, 1_000_000, DEFAULT_MAX_REFUSED_IN_ROW),
    maxRefusalsPerMinute: d.int('maxRefusalsPerMinute', 1, 1_000_000, DEFAULT_MAX_REFUSALS_PER_MINUTE),
    maxUnreadReplyBytes: d.int('maxUnreadReplyBytes', 1024, 64 * 1024 * 1024, DEFAULT_MAX_UNREAD_REPLY_BYTES),
    crlCheckMs: d.int('crlCheckMs', 50, 5_000, DEFAULT_CRL_CHECK_MS),
    proxyProtocol: d.section('proxyProtocol', (pp): ProxyProtocolConfig => Object.freeze({
      trusted: readTrustedProxies(pp),
      headerTimeoutMs: pp.int('headerTimeoutMs', 50, 60_000, DEFAULT_PROXY_HEADER_TIMEOUT_MS),
      maxHeaderBytes: pp.int('maxHeaderBytes', MIN_PROXY_MAX_HEADER_BYTES, 65_551, DEFAULT_PROXY_MAX_HEADER_BYTES),
    })),
    ticketKeyRotationHours: d.int('ticketKeyRotationHours', 0, MAX_TICKET_LIFETIME_HOURS, DEFAULT_TICKET_KEY_ROTATION_HOURS),
  });
}

/** Reads the `console` section. */
export function readConsoleSection(c: ConfigReader): ConsoleListenerConfig {
  return Object.freeze({
    host: c.string('host', DEFAULT_CONSOLE_HOST),
    port: c.int('port', 0, 65_535, DEFAULT_CONSOLE_PORT),
    origins: readOrigins(c),
    authTimeoutMs: c.int('authTimeoutMs', 100, 60_000, DEFAULT_AUTH_TIMEOUT_MS),
    maxBufferedMessages: c.int('maxBufferedMessages', 1, 1_000_000, DEFAULT_MAX_BUFFERED_MESSAGES),
    maxBufferedBytes: c.int('maxBufferedBytes', 1024, 1024 * 1024 * 1024, DEFAULT_MAX_BUFFERED_BYTES),
    stalledCloseMs: c.int('stalledCloseMs', 100, 3_600_000, DEFAULT_STALLED_CLOSE_MS),
    maxConnectionsPerToken: c.int('maxConnectionsPerToken', 1, 100_000, DEFAULT_MAX_CONNECTIONS_PER_TOKEN),
    maxConnections: c.int('maxConnections', 1, 100_000, DEFAULT_MAX_DASHBOARD_CONNECTIONS),
    maxClientMessagesPerSec: c.int('maxClientMessagesPerSec', 1, 10_000, DEFAULT_MAX_CLIENT_MESSAGES_PER_SEC),
    maxClientPayloadBytes: c.int('maxClientPayloadBytes', 256, MAX_PAYLOAD_BYTES_CEILING, DEFAULT_MAX_CLIENT_PAYLOAD_BYTES),
    maxSubscriptions: c.int('maxSubscriptions', 1, 10_000, DEFAULT_MAX_SUBSCRIPTIONS),
    // A check is one stat(); past a minute, rotating the key no longer revokes promptly.
    tokenKeyCheckMs: c.int('tokenKeyCheckMs', 50, 60_000, DEFAULT_TOKEN_KEY_CHECK_MS),
    pingIntervalMs: c.int('pingIntervalMs', 100, 3_600_000, DEFAULT_DASHBOARD_PING_INTERVAL_MS),
    maxSockets: c.int('maxSockets', 1, 1_000_000, DEFAULT_MAX_CONSOLE_SOCKETS),
    maxSocketsPerIp: c.int('maxSocketsPerIp', 1, 1_000_000, DEFAULT_MAX_CONSOLE_SOCKETS_PER_IP),
    newSocketsPerIpPerSec: c.int('newSocketsPerIpPerSec', 1, 1_000_000, DEFAULT_NEW_CONSOLE_SOCKETS_PER_IP_PER_SEC),
    handshakeTimeoutMs: c.int('handshakeTimeoutMs', 100, 600_000, DEFAULT_CONSOLE_HANDSHAKE_TIMEOUT_MS),
    idleTimeoutMs: c.int('idleTimeoutMs', 100, 600_000, DEFAULT_CONSOLE_IDLE_TIMEOUT_MS),
    authFailuresPerIp: c.int('authFailuresPerIp', 1, 1_000_000, DEFAULT_AUTH_FAILURES_PER_IP),
    authFailureWindowMs: c.int('authFailureWindowMs', 100, 86_400_000, DEFAULT_AUTH_FAILURE_WINDOW_MS),
    authFailureLogIntervalMs: c.int('authFailureLogIntervalMs', 100, 86_400_000, DEFAULT_AUTH_FAILURE_LOG_INTERVAL_MS),
    rejectedSummaryMs: c.int('rejectedSummaryMs', 10, 60_000, DEFAULT_REJECTED_SUMMARY_MS),
    historyMaxLimit: c.int('historyMaxLimit', 1, MAX_HISTORY_READINGS, DEFAULT_HISTORY_MAX_LIMIT),
    historyMaxInFlight: c.int('historyMaxInFlight', 1, 1_000, DEFAULT_HISTORY_MAX_IN_FLIGHT),
    commandsPerTokenPerMin: c.int('commandsPerTokenPerMin', 1, 1_000_000, DEFAULT_COMMANDS_PER_TOKEN_PER_MIN),
    maxQueuedCommandsPerDevice: c.int('maxQueuedCommandsPerDevice', 1, 10_000, DEFAULT_MAX_QUEUED_COMMANDS_PER_DEVICE),
    maxCommandTtlMs: c.int('maxCommandTtlMs', 1_000, 30 * 24 * 3_600_000, DEFAULT_MAX_COMMAND_TTL_MS),
    maxConfigGlobs: c.int('maxConfigGlobs', 1, 10_000, DEFAULT_MAX_CONFIG_GLOBS),
  });
}

/** `plans`: plan name → limits, each key absent taking its value from `limits`. */
function readPlans(r: ConfigReader, limits: DeviceLimits): Readonly<Record<string, DeviceLimits>> {
  // Null prototype: a plan named `constructor` or `toString` is data, not a property of Object.prototype.
  const plans = Object.create(null) as Record<string, DeviceLimits>;
  for (const name of r.keys()) {
    if (!isValidPlanName(name)) throw r.fail(name, 'named with 1–64 of A-Z a-z 0-9 . _ -', name);
    plans[name] = r.section(name, (p) => readLimits(p, limits));
  }
  return Object.freeze(plans);
}

/**
 * Resolves a parsed config file (or `{}` for the embedded defaults) into a
 * complete, frozen {@link HubConfig}. The `sinks` key is returned untouched
 * for the bridge's own resolver. Throws FH_ERR_CONFIG naming the key.
 */
export function resolveHubConfig(raw: unknown, ctx: ResolveContext): { hub: HubConfig; sinks: unknown } {
  const source: ConfigSource = { ...CONFIG_FILE, baseDir: ctx.baseDir };
  const r = ConfigReader.root(raw, source);
  const device = r.section('device', readDeviceSection);
  const consoleConfig = r.section('console', readConsoleSection);
  const pkiDir = r.filePath('pkiDir', ctx.envPki ?? DEFAULT_PKI_DIR);
  const dataDir = r.filePath('dataDir', DEFAULT_DATA_DIR);
  const limits = r.section('limits', (l) => readLimits(l, DEFAULT_LIMITS));
  const plans = r.section('plans', (p) => readPlans(p, limits));
  // Absent: the embedded store.
  const clustered = r.raw('cluster') !== undefined;
  const store = r.section('store', (s) => readStoreSection(s, clustered));
  const cluster = clustered ? r.section('cluster', readClusterSection) : null;
  const provisioning = r.section('provisioning', readProvisioningSection);
  const renewal = r.section('renewal', readRenewalSection);
  const commands = r.section('commands', readCommandAllowList);
  const sinks = r.array('sinks', 'an array', []);
  r.done();
  const hub: HubConfig = Object.freeze({ device, console: consoleConfig, pkiDir, dataDir, limits, plans, store, cluster, provisioning, renewal, commands });
  RESOLVED.add(hub);
  return { hub, sinks };
}

/** Every HubConfig {@link resolveHubConfig} made. */
const RESOLVED = new WeakSet<object>();
const HUB_CONFIG_KEYS = ['device', 'console', 'pkiDir', 'dataDir', 'limits', 'plans', 'store', 'cluster', 'provisioning', 'renewal', 'commands'] as const;

/**
 * True for a {@link HubConfig}: one {@link resolveHubConfig} made, or a copy
 * of one with some values replaced (every section there, `cluster` null or
 * resolved). A config file's object is never one: it has no `cluster: null`
 * and no complete `device` section.
 */
export function isHubConfig(input: unknown): input is HubConfig {
  if (typeof input !== 'object' || input === null) return false;
  if (RESOLVED.has(input)) return true;
  const config = input as Readonly<Record<string, unknown>>;
  const device = config.device as Partial<DeviceListenerConfig> | undefined;
  return HUB_CONFIG_KEYS.every((key) => Object.hasOwn(config, key) && config[key] !== undefined)
    && typeof device?.proxyProtocol?.maxHeaderBytes === 'number' && typeof device.ticketKeyRotationHours === 'number';
}

/**
 * What `createHub` takes: a {@link HubConfig}, or the config file's object
 * (as `fleethub serve --config` reads it), which is then resolved here, its
 * relative paths taken from the working directory. A hub runs no sinks: a
 * raw config with `sinks` is refused (give them to `createBridge`).
 */
export function hubConfigOf(input: HubConfig | HubConfigInput): HubConfig {
  if (isHubConfig(input)) return input;
  const { hub, sinks } = resolveHubConfig(input, { baseDir: process.cwd() });
  if ((sinks as readonly unknown[]).length > 0) throw configError('sinks', 'given to createBridge (resolveSinkConfigs), not to createHub', sinks);
  return hub;
}
