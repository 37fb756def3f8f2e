/**
 * The PROXY protocol header a TCP load balancer (HAProxy `send-proxy` /
 * `send-proxy-v2`) puts in front of a connection's bytes to tell the
 * original client's address: version 1 (text) and version 2 (binary), as
 * specified in HAProxy's `doc/proxy-protocol.txt`.
 *
 * Pure functions on the bytes received so far, with no I/O: the socket
 * step (proxy-accept.ts) calls {@link decodeProxyHeader} on every chunk
 * until it answers something other than `incomplete`. The header only
 * gives an address for per-IP limits and logs; who a device is still comes
 * from its TLS certificate alone.
 *
 * Why not an npm package: the ones there are (proxy-protocol-js,
 * @balena/proxy-protocol-parser) parse a header already cut out of the
 * stream; a server reading from a socket must also know, from the first
 * bytes, whether a header is still coming, how long it will be, and stop at
 * a size limit before buffering more. That is most of this file.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The 12 bytes every v2 header starts with (`\r\n\r\n\0\r\nQUIT\n`). */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** What every v1 header starts with. */
export const PROXY_V1_PREFIX: Buffer = Buffer.from('PROXY ', 'latin1');

/** Longest v1 header, CRLF included (`doc/proxy-protocol.txt` §2.1). */
export const PROXY_V1_MAX_BYTES = 107;

/** Fixed part of a v2 header: signature, version/command, family/transport, length. */
const V2_FIXED_BYTES = 16;

/** What {@link decodeProxyHeader} found. */
export type ProxyHeaderResult =
  /** Not enough bytes yet to decide. */
  | { readonly kind: 'incomplete' }
  /** The bytes do not start with a PROXY header (e.g. a TLS ClientHello). */
  | { readonly kind: 'none' }
  /** A header longer than the size limit. */
  | { readonly kind: 'too_large' }
  /** A header that breaks the protocol; `reason` is for logs. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /**
   * A complete header of `length` bytes. `source` is the client's address,
   * or null when the header carries none to use (v2 LOCAL, e.g. the load
   * balancer's own health check; v1 UNKNOWN; v2 UNSPEC): the connection's
   * own address then counts.
   */
  | { readonly kind: 'header'; readonly version: 1 | 2; readonly length: number; readonly source: ProxySource | null };

/** The original client of a proxied connection. */
export interface ProxySource {
  /** Dotted IPv4, or compressed IPv6 (RFC 5952); an IPv4-mapped IPv6 address is given as IPv4. */
  readonly address: string;
  readonly port: number;
}

const INCOMPLETE: ProxyHeaderResult = Object.freeze({ kind: 'incomplete' });
const NONE: ProxyHeaderResult = Object.freeze({ kind: 'none' });
const TOO_LARGE: ProxyHeaderResult = Object.freeze({ kind: 'too_large' });

function invalid(reason: string): ProxyHeaderResult {
  return { kind: 'invalid', reason };
}

/** True when `data` starts with (a prefix of) `signature`: a header may still be coming. */
function startsLike(data: Buffer, signature: Buffer): boolean {
  const n = Math.min(data.length, signature.length);
  return data.subarray(0, n).equals(signature.subarray(0, n));
}

/**
 * Whether `data`, the first bytes of a connection, is (or may still become)
 * a PROXY header: `yes`, `no`, or `maybe` when too few bytes arrived to
 * tell. Used on connections from untrusted addresses, which must not send one.
 */
export function looksLikeProxyHeader(data: Buffer): 'yes' | 'no' | 'maybe' {
  for (const signature of [PROXY_V2_SIGNATURE, PROXY_V1_PREFIX]) {
    if (startsLike(data, signature)) return data.length >= signature.length ? 'yes' : 'maybe';
  }
  return 'no';
}

/**
 * Decodes the PROXY header at the start of `data` (the bytes received so
 * far). `maxBytes` bounds a v2 header (whose length field allows 64 KiB);
 * a v1 header is never longer than {@link PROXY_V1_MAX_BYTES}.
 */
export function decodeProxyHeader(data: Buffer, maxBytes: number): ProxyHeaderResult {
  if (startsLike(data, PROXY_V2_SIGNATURE)) {
    return data.length < PROXY_V2_SIGNATURE.length ? INCOMPLETE : decodeV2(data, maxBytes);
  }
  if (startsLike(data, PROXY_V1_PREFIX)) {
    return data.length < PROXY_V1_PREFIX.length ? INCOMPLETE : decodeV1(data);
  }
  return NONE;
}

function decodeV2(data: Buffer, maxBytes: number): ProxyHeaderResult {
  if (data.length < V2_FIXED_BYTES) return INCOMPLETE;
  const versionCommand = data[12]!;
  const familyTransport = data[13]!;
  const length = V2_FIXED_BYTES + data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return invalid('v2: version is not 2');
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid('v2: unknown command');
  if (length > maxBytes) return TOO_LARGE;
  if (data.length < length) return INCOMPLETE;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  // LOCAL: the proxy's own connection (a health check); the addresses, if any, are to be ignored.
  if (command === 0) return { kind: 'header', version: 2, length, source: null };
  const body = data.subarray(V2_FIXED_BYTES, length);
  switch (family) {
    case 0x0: // AF_UNSPEC: "the receiver should use the real connection endpoints"
      return { kind: 'header', version: 2, length, source: null };
    case 0x1: // AF_INET: 4 + 4 + 2 + 2 bytes, then TLVs
      if (transport !== 0x1) return invalid('v2: not a stream (TCP) connection');
      if (body.length < 12) return invalid('v2: address block too short for IPv4');
      return { kind: 'header', version: 2, length, source: { address: ipv4Text(body, 0), port: body.readUInt16BE(8) } };
    case 0x2: // AF_INET6: 16 + 16 + 2 + 2 bytes, then TLVs
      if (transport !== 0x1) return invalid('v2: not a stream (TCP) connection');
      if (body.length < 36) return invalid('v2: address block too short for IPv6');
      return { kind: 'header', version: 2, length, source: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) } };
    default:
      return invalid('v2: unsupported address family');
  }
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function decodeV1(data: Buffer): ProxyHeaderResult {
  const scan = data.subarray(0, PROXY_V1_MAX_BYTES);
  const end = scan.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return data.length >= PROXY_V1_MAX_BYTES ? invalid('v1: no CRLF within 107 bytes') : INCOMPLETE;
  const length = end + 2;
  const line = scan.toString('latin1', PROXY_V1_PREFIX.length, end);
  const parts = line.split(' ');
  const protocol = parts[0];
  // UNKNOWN: the proxy could not tell; the rest of the line is to be ignored.
  if (protocol === 'UNKNOWN') return { kind: 'header', version: 1, length, source: null };
  if (parts.length !== 5 || (protocol !== 'TCP4' && protocol !== 'TCP6')) return invalid('v1: expected "PROXY TCP4|TCP6 src dst sport dport"');
  const [, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const isFamily = protocol === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(src) || !isFamily(dst)) return invalid(`v1: addresses are not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65_535 || Number(dport) > 65_535) return invalid('v1: bad port');
  const address = protocol === 'TCP4' ? src : ipv6Text(ipv6Bytes(src));
  return { kind: 'header', version: 1, length, source: { address, port: Number(sport) } };
}

function ipv4Text(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * 16 bytes as RFC 5952 text: lowercase, no leading zeros, the first longest
 * run of two or more zero groups as `::`. An IPv4-mapped address
 * (::ffff:a.b.c.d) is given as plain IPv4, so one client counts as one
 * source however the proxy wrote it.
 */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Text IPv6 (already checked with `isIPv6`) as 16 bytes; handles `::` and a dotted IPv4 tail. */
export function ipv6Bytes(text: string): Uint8Array {
  let hex = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A dotted IPv4 tail stands for the last two groups.
    const q = text.slice(lastColon + 1).split('.').map(Number) as [number, number, number, number];
    hex = `${text.slice(0, lastColon + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const halves = hex.split('::');
  const parse = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(halves[0]);
  const right = parse(halves[1]);
  const zeros = halves.length > 1 ? 8 - left.length - right.length : 0;
  const groups = [...left, ...new Array<number>(zeros).fill(0), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}
