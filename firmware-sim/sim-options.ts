/**
 * The simulator's options: the input type (what `fleethub sim` flags or a
 * library caller give), the `DEFAULT_*` constants, and the one resolver
 * that checks them once and returns a complete, frozen object.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseDurationMs } from '../src/duration.js';
import { FleethubError } from '../src/errors.js';
import { isValidDeviceId } from '../src/pki/index.js';
import { DEFAULT_OUTBOX_CAPACITY } from './outbox.js';

/** The behaviours of SPEC "Simulator" `--behavior`. */
export const BEHAVIORS = ['normal', 'flood', 'oversize', 'garbage', 'slowloris', 'badcert', 'reconnect-storm'] as const;
/** One of {@link BEHAVIORS}. */
export type BehaviorName = (typeof BEHAVIORS)[number];

/** TLS version a simulated device speaks. */
export type TlsVersion = '1.2' | '1.3';

/** Options as given; numbers may come as strings from the command line. */
export interface SimOptionsInput {
  /** @defaultValue {@link DEFAULT_SIM_URL} */
  url?: string;
  /** PKI folder holding `ca.crt` and `devices/<id>.crt|key`. @defaultValue env FLEETHUB_PKI, else `./certs` */
  pkiDir?: string;
  /** CA certificate the hub's server certificate must chain to. @defaultValue `<pkiDir>/ca.crt` */
  caFile?: string;
  /** @defaultValue {@link DEFAULT_SIM_DEVICES} */
  devices?: number | string;
  /** Device ids are `<prefix>0001` … (as `fleethub device add --count N --prefix P` names them). @defaultValue {@link DEFAULT_SIM_PREFIX} */
  prefix?: string;
  /** Readings per second per device. @defaultValue {@link DEFAULT_SIM_RATE} */
  rate?: number | string;
  /** Sending phase, once the fleet is up, in seconds (`30`, `30s`, `2m`, `500ms`). @defaultValue {@link DEFAULT_SIM_DURATION_MS} */
  duration?: number | string;
  /** Pad each telemetry frame to at least this many bytes; 0 sends the bare reading. @defaultValue 0 */
  payloadBytes?: number | string;
  /** @defaultValue `normal` */
  behavior?: string;
  /** Issue missing device certificates first. @defaultValue false */
  provision?: boolean;
  /** Provision every device through `/v1/provision` with this batch's claim certificate first (instead of `provision`). @defaultValue none */
  claim?: string;
  /** Write the JSON report here. */
  reportFile?: string;
  /** Write the HTML report here. */
  reportHtmlFile?: string;
  /** @defaultValue `1.2` (what ESP32 mbedTLS builds negotiate by default) */
  tls?: string;
  /** Resume the TLS session on reconnect, as ESP-IDF's esp-tls can; off is the hub's worst case. @defaultValue false */
  tlsResume?: boolean;
  /** After the sending phase, how long to wait for outstanding acks (seconds, or `10s`). @defaultValue {@link DEFAULT_SIM_DRAIN_TIMEOUT_MS} */
  drainTimeout?: number | string;
  /** New connections started per second while the fleet comes up. @defaultValue {@link DEFAULT_SIM_CONNECT_RATE} */
  connectRate?: number | string;
  /** While the fleet starts, connection attempts under way at once at most. @defaultValue {@link DEFAULT_SIM_MAX_PENDING} */
  maxPending?: number | string;
  /** After the staggered start, how long to wait for every device's first hello before sending anyway (seconds, or `60s`). @defaultValue {@link DEFAULT_SIM_CONNECT_TIMEOUT_MS} */
  connectTimeout?: number | string;
  /** Unacked readings one device keeps. @defaultValue {@link DEFAULT_OUTBOX_CAPACITY} */
  outbox?: number | string;
  /** `reconnect-storm`: how often every device drops at once (seconds, or `5s`). @defaultValue {@link DEFAULT_SIM_STORM_EVERY_MS} */
  stormEvery?: number | string;
  /** Seed of the sensor models and jitter-free parts, for reproducible readings. @defaultValue 1 */
  seed?: number | string;
  /** Show the live progress line on stderr. @defaultValue true */
  progress?: boolean;
  /** Source addresses to spread connections over (e.g. `127.0.0.1,127.0.0.2`), past one IP's limits. @defaultValue none (the OS picks) */
  localAddresses?: string | readonly string[];
}

/** The resolved options. */
export interface SimOptions {
  readonly url: string;
  readonly pkiDir: string;
  readonly caFile: string;
  readonly devices: number;
  readonly prefix: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  readonly behavior: BehaviorName;
  readonly provision: boolean;
  /** The batch whose claim certificate provisions the fleet first, or null. */
  readonly claim: string | null;
  readonly reportFile: string | null;
  readonly reportHtmlFile: string | null;
  readonly tls: TlsVersion;
  readonly tlsResume: boolean;
  readonly drainTimeoutMs: number;
  readonly connectRate: number;
  readonly connectTimeoutMs: number;
  readonly maxPending: number;
  readonly outbox: number;
  readonly stormEveryMs: number;
  readonly seed: number;
  readonly progress: boolean;
  readonly localAddresses: readonly string[];
}

/** The hub a simulation connects to: `fleethub serve`'s default device port on this machine. */
export const DEFAULT_SIM_URL = 'wss://localhost:8443/v1/device';
export const DEFAULT_SIM_PKI_DIR = './certs';
/** Devices in a simulated fleet. */
export const DEFAULT_SIM_DEVICES = 10;
/** Prefix of the simulated device ids (`sim0001` …). */
export const DEFAULT_SIM_PREFIX = 'sim';
/** Readings per second per device. */
export const DEFAULT_SIM_RATE = 1;
/** How long the fleet sends. */
export const DEFAULT_SIM_DURATION_MS = 30_000;
/** How long the fleet waits, after sending, for the acks of what it sent. */
export const DEFAULT_SIM_DRAIN_TIMEOUT_MS = 10_000;
/** Half the hub's default 200 new connections per second per IP, so a fleet comes up without being refused. */
export const DEFAULT_SIM_CONNECT_RATE = 100;
/** How often `reconnect-storm` drops every device's connection at once. */
export const DEFAULT_SIM_STORM_EVERY_MS = 5_000;
/** Enough for any healthy hub at the default connect rate; it only bites when handshakes back up. */
export const DEFAULT_SIM_MAX_PENDING = 100;
/** A fleet slower than this to come up has a problem worth seeing in the report, not a longer wait. */
export const DEFAULT_SIM_CONNECT_TIMEOUT_MS = 60_000;
/** Largest fleet one process runs (each device holds a socket: see docs/simulator.md on `ulimit -n`). */
export const MAX_SIM_DEVICES = 50_000;
/** Characters a simulated id keeps for its index (`0001` …): a prefix may have 64 − 8 = 56, whatever the fleet size. */
const MAX_INDEX_DIGITS = 8;
/** Largest per-device rate; beyond it use `flood`. */
export const MAX_SIM_RATE = 1_000;
/** Largest padding: the hub's default maxPayloadBytes is 16 KiB; beyond 64 KiB is not telemetry. */
export const MAX_SIM_PAYLOAD_BYTES = 64 * 1024;

function bad(flag: string, what: string, got: unknown): FleethubError {
  return new FleethubError('FH_ERR_INVALID_ARGUMENT', `sim: --${flag} must be ${what}, got ${JSON.stringify(got)}`);
}

function number(flag: string, value: number | string | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value);
  const what = `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`;
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw bad(flag, what, value);
  return n;
}

/** A duration flag in ms: `30` (seconds, also as a number), `30s`, `2m`, `500ms` or `1h` (src/duration.ts). */
function durationOption(flag: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? (Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null) : parseDurationMs(value, 's');
  if (ms === null) throw bad(flag, 'a duration such as 30, 30s, 2m or 500ms', value);
  return ms;
}

/** Checks the input once and returns the complete options. */
export function resolveSimOptions(input: SimOptionsInput = {}, env: NodeJS.ProcessEnv = process.env): SimOptions {
  const url = input.url ?? DEFAULT_SIM_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('url', 'a wss:// URL', url);
  }
  if (parsed.protocol !== 'wss:') throw bad('url', 'a wss:// URL (devices always use TLS)', url);
  const behavior = input.behavior ?? 'normal';
  if (!(BEHAVIORS as readonly string[]).includes(behavior)) throw bad('behavior', `one of ${BEHAVIORS.join(', ')}`, behavior);
  const tls = input.tls ?? '1.2';
  if (tls !== '1.2' && tls !== '1.3') throw bad('tls', '1.2 or 1.3', tls);
  const prefix = input.prefix ?? DEFAULT_SIM_PREFIX;
  // Every id the prefix makes must be a device id (SPEC): with the longest index, 8 digits, too.
  if (!isValidDeviceId(`${prefix}${'0'.repeat(MAX_INDEX_DIGITS)}`)) throw bad('prefix', 'a device id prefix (letters, digits, . _ -, first a letter or digit, at most 56)', prefix);
  const pkiDir = input.pkiDir ?? env.FLEETHUB_PKI ?? DEFAULT_SIM_PKI_DIR;
  const localAddresses = resolveLocalAddresses(input.localAddresses, parsed.hostname);
  const stormEveryMs = durationOption('storm-every', input.stormEvery, DEFAULT_SIM_STORM_EVERY_MS);
  if (stormEveryMs < 100) throw bad('storm-every', 'at least 100ms', input.stormEvery);
  return Object.freeze({
    url,
    pkiDir,
    caFile: input.caFile ?? join(pkiDir, 'ca.crt'),
    devices: number('devices', input.devices, DEFAULT_SIM_DEVICES, 1, MAX_SIM_DEVICES, true),
    prefix,
    rate: number('rate', input.rate, DEFAULT_SIM_RATE, 0.001, MAX_SIM_RATE, false),
    durationMs: durationOption('duration', input.duration, DEFAULT_SIM_DURATION_MS),
    payloadBytes: number('payload-bytes', input.payloadBytes, 0, 0, MAX_SIM_PAYLOAD_BYTES, true),
    behavior: behavior as BehaviorName,
    provision: input.provision ?? false,
    claim: resolveClaim(input, behavior),
    reportFile: input.reportFile ?? null,
    reportHtmlFile: input.reportHtmlFile ?? null,
    tls,
    tlsResume: input.tlsResume ?? false,
    drainTimeoutMs: durationOption('drain-timeout', input.drainTimeout, DEFAULT_SIM_DRAIN_TIMEOUT_MS),
    connectRate: number('connect-rate', input.connectRate, DEFAULT_SIM_CONNECT_RATE, 1, 100_000, false),
    connectTimeoutMs: durationOption('connect-timeout', input.connectTimeout, DEFAULT_SIM_CONNECT_TIMEOUT_MS),
    maxPending: number('max-pending', input.maxPending, DEFAULT_SIM_MAX_PENDING, 1, 100_000, true),
    outbox: number('outbox', input.outbox, DEFAULT_OUTBOX_CAPACITY, 1, 4096, true),
    stormEveryMs,
    seed: number('seed', input.seed, 1, 0, 2 ** 32 - 1, true),
    progress: input.progress ?? true,
    localAddresses: Object.freeze(localAddresses),
  });
}

/**
 * `--local-addresses`: IP literals only (Node would throw on anything else
 * in the middle of a connect), at least one when the flag is given, and of
 * the hub's address family when the URL names the hub by address (a socket
 * bound to an IPv6 address cannot reach an IPv4 one). Whether each address
 * belongs to this machine is checked when the run starts (local-addresses.ts).
 */
function resolveLocalAddresses(input: string | readonly string[] | undefined, urlHost: string): string[] {
  if (input === undefined || (typeof input !== 'string' && input.length === 0)) return [];
  const list = (typeof input === 'string' ? input.split(',') : input).map((a) => a.trim()).filter((a) => a.length > 0);
  const what = 'a comma-separated list of IP addresses, e.g. 127.0.0.2,127.0.0.3';
  if (list.length === 0) throw bad('local-addresses', what, typeof input === 'string' ? input : input.join(','));
  const hubFamily = isIP(urlHost.replace(/^\[|\]$/g, ''));
  for (const address of list) {
    const family = isIP(address);
    if (family === 0) throw bad('local-addresses', what, address);
    if (hubFamily !== 0 && family !== hubFamily) throw bad('local-addresses', `IPv${hubFamily} addresses, as the hub's address in --url is`, address);
  }
  return list;
}

/** `--claim`: a batch name, not with `--provision` (the devices get their certificates one way), not for `badcert`. */
function resolveClaim(input: SimOptionsInput, behavior: string): string | null {
  if (input.claim === undefined) return null;
  if (!isValidDeviceId(input.claim)) throw bad('claim', 'a batch name (letters, digits, . _ -, first a letter or digit)', input.claim);
  if (input.provision === true) throw bad('claim', 'either --claim or --provision, not both', input.claim);
  if (behavior === 'badcert') throw bad('claim', 'not with --behavior badcert (its certificates are made to be refused)', input.claim);
  return input.claim;
}

/** The id of the device at `index` (0-based): `<prefix>0001`, as `device add --count N --prefix P` names it. */
export function deviceId(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index + 1).padStart(Math.max(4, String(count).length), '0')}`;
}
