/**
 * The simulator's options: the input type (what `fleethub sim` flags or a
 * library caller give), the `DEFAULT_*` constants, and the one resolver
 * that checks them once and returns a complete, frozen object.
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConfigReader, type ConfigSource } from '../src/config/config-reader.js';
import { DEFAULT_PKI_DIR, defaultPkiDir, isValidDeviceId } from '../src/pki/index.js';
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
  /** Renew every device's certificate once during the run, even when the hub does not ask yet (it needs `renewal.allowEarly`). @defaultValue false */
  renew?: boolean;
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
  /** Renew every device's certificate once during the run (protocol 2). */
  readonly renew: boolean;
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
/** `./certs` (src/pki's {@link DEFAULT_PKI_DIR}), or the folder `FLEETHUB_PKI` names. */
export const DEFAULT_SIM_PKI_DIR = DEFAULT_PKI_DIR;
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
/** Shortest `--storm-every`: a storm needs time to reconnect before the next one. */
export const MIN_SIM_STORM_EVERY_MS = 100;
/** Largest padding: the hub's default maxPayloadBytes is 16 KiB; beyond 64 KiB is not telemetry. */
export const MAX_SIM_PAYLOAD_BYTES = 64 * 1024;

/** Flags whose name is not the key's in kebab case. */
const FLAG_NAMES: Readonly<Record<string, string>> = Object.freeze({ pkiDir: 'pki', caFile: 'ca', reportFile: 'report', reportHtmlFile: 'report-html' });

/** The simulator's options are its flags: an error names the flag and is a usage error (exit 2). */
const SIM_FLAGS: ConfigSource = Object.freeze({
  code: 'FH_ERR_INVALID_ARGUMENT',
  prefix: 'sim',
  textNumbers: true,
  name: (key: string) => `--${Object.hasOwn(FLAG_NAMES, key) ? FLAG_NAMES[key] : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
});

/** Checks the input once and returns the complete options. */
export function resolveSimOptions(input: SimOptionsInput = {}, env: NodeJS.ProcessEnv = process.env): SimOptions {
  const r = new ConfigReader(input, '', SIM_FLAGS);
  const url = r.string('url', DEFAULT_SIM_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw r.fail('url', 'a wss:// URL', url);
  }
  if (parsed.protocol !== 'wss:') throw r.fail('url', 'a wss:// URL (devices always use TLS)', url);
  const prefix = r.string('prefix', DEFAULT_SIM_PREFIX);
  // Every id the prefix makes must be a device id (SPEC): with the longest index, 8 digits, too.
  if (!isValidDeviceId(`${prefix}${'0'.repeat(MAX_INDEX_DIGITS)}`)) throw r.fail('prefix', 'a device id prefix (letters, digits, . _ -, first a letter or digit, at most 56)', prefix);
  const pkiDir = r.string('pkiDir', defaultPkiDir(env));
  const options: Omit<SimOptions, 'claim'> = {
    url,
    pkiDir,
    caFile: r.string('caFile', join(pkiDir, 'ca.crt')),
    devices: r.int('devices', 1, MAX_SIM_DEVICES, DEFAULT_SIM_DEVICES),
    prefix,
    rate: r.number('rate', 0.001, MAX_SIM_RATE, DEFAULT_SIM_RATE),
    durationMs: r.duration('duration', 's', 0, Number.POSITIVE_INFINITY, DEFAULT_SIM_DURATION_MS),
    payloadBytes: r.int('payloadBytes', 0, MAX_SIM_PAYLOAD_BYTES, 0),
    behavior: r.oneOf('behavior', BEHAVIORS, 'normal'),
    provision: r.bool('provision', false),
    renew: r.bool('renew', false),
    reportFile: r.string('reportFile', null),
    reportHtmlFile: r.string('reportHtmlFile', null),
    tls: r.oneOf('tls', ['1.2', '1.3'] as const, '1.2'),
    tlsResume: r.bool('tlsResume', false),
    drainTimeoutMs: r.duration('drainTimeout', 's', 0, Number.POSITIVE_INFINITY, DEFAULT_SIM_DRAIN_TIMEOUT_MS),
    connectRate: r.number('connectRate', 1, 100_000, DEFAULT_SIM_CONNECT_RATE),
    connectTimeoutMs: r.duration('connectTimeout', 's', 0, Number.POSITIVE_INFINITY, DEFAULT_SIM_CONNECT_TIMEOUT_MS),
    maxPending: r.int('maxPending', 1, 100_000, DEFAULT_SIM_MAX_PENDING),
    outbox: r.int('outbox', 1, 4096, DEFAULT_OUTBOX_CAPACITY),
    stormEveryMs: r.duration('stormEvery', 's', MIN_SIM_STORM_EVERY_MS, Number.POSITIVE_INFINITY, DEFAULT_SIM_STORM_EVERY_MS),
    seed: r.int('seed', 0, 2 ** 32 - 1, 1),
    progress: r.bool('progress', true),
    localAddresses: Object.freeze(resolveLocalAddresses(r, parsed.hostname)),
  };
  const claim = resolveClaim(r, options.provision, options.behavior);
  r.done();
  return Object.freeze({ ...options, claim });
}

/**
 * `--local-addresses`: IP literals only (Node would throw on anything else
 * in the middle of a connect), at least one when the flag is given, and of
 * the hub's address family when the URL names the hub by address (a socket
 * bound to an IPv6 address cannot reach an IPv4 one). Whether each address
 * belongs to this machine is checked when the run starts (local-addresses.ts).
 */
function resolveLocalAddresses(r: ConfigReader, urlHost: string): string[] {
  const input = r.raw('localAddresses');
  if (input === undefined || (Array.isArray(input) && input.length === 0)) return [];
  const what = 'a comma-separated list of IP addresses, e.g. 127.0.0.2,127.0.0.3';
  if (typeof input !== 'string' && !(Array.isArray(input) && input.every((a) => typeof a === 'string'))) throw r.fail('localAddresses', what, input);
  const list = (typeof input === 'string' ? input.split(',') : (input as string[])).map((a) => a.trim()).filter((a) => a.length > 0);
  if (list.length === 0) throw r.fail('localAddresses', what, typeof input === 'string' ? input : input.join(','));
  const hubFamily = isIP(urlHost.replace(/^\[|\]$/g, ''));
  for (const address of list) {
    const family = isIP(address);
    if (family === 0) throw r.fail('localAddresses', what, address);
    if (hubFamily !== 0 && family !== hubFamily) throw r.fail('localAddresses', `IPv${hubFamily} addresses, as the hub's address in --url is`, address);
  }
  return list;
}

/** `--claim`: a batch name, not with `--provision` (the devices get their certificates one way), not for `badcert`. */
function resolveClaim(r: ConfigReader, provision: boolean, behavior: string): string | null {
  const claim = r.string('claim', null);
  if (claim === null) return null;
  if (!isValidDeviceId(claim)) throw r.fail('claim', 'a batch name (letters, digits, . _ -, first a letter or digit)', claim);
  if (provision) throw r.fail('claim', 'either --claim or --provision, not both', claim);
  if (behavior === 'badcert') throw r.fail('claim', 'not with --behavior badcert (its certificates are made to be refused)', claim);
  return claim;
}

/** The id of the device at `index` (0-based): `<prefix>0001`, as `device add --count N --prefix P` names it. */
export function deviceId(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index + 1).padStart(Math.max(4, String(count).length), '0')}`;
}
