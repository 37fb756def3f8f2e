/**
 * PROXY protocol headers as a load balancer writes them (HAProxy's
 * `doc/proxy-protocol.txt`), built by hand here so the hub's decoder is
 * checked against the format, not against itself.
 */
import { isIPv6 } from 'node:net';
import { ipv6Bytes } from '../../src/hub/proxy-header.js';

/** The v2 signature, written out. */
export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** `PROXY TCP4|TCP6 src dst sport dport\r\n` */
export function proxyV1(source: string, sourcePort = 40_000, destination = '127.0.0.1', destinationPort = 8443): Buffer {
  const family = isIPv6(source) ? 'TCP6' : 'TCP4';
  const dst = family === 'TCP6' && !isIPv6(destination) ? '::1' : destination;
  return Buffer.from(`PROXY ${family} ${source} ${dst} ${sourcePort} ${destinationPort}\r\n`, 'latin1');
}

/** Options of {@link proxyV2}. */
export interface V2Options {
  readonly command?: 'PROXY' | 'LOCAL';
  readonly sourcePort?: number;
  /** Bytes of a PP2_TYPE_NOOP TLV appended after the addresses (0: none). */
  readonly tlvBytes?: number;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** A binary v2 header, TCP over IPv4 or IPv6 by the source address. */
export function proxyV2(source: string, options: V2Options = {}): Buffer {
  const v6 = isIPv6(source);
  const addresses = v6
    ? Buffer.concat([Buffer.from(ipv6Bytes(source)), Buffer.from(ipv6Bytes('::1'))])
    : Buffer.from([...ipv4Bytes(source), 127, 0, 0, 1]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(options.sourcePort ?? 40_000, 0);
  ports.writeUInt16BE(8443, 2);
  const tlvBytes = options.tlvBytes ?? 0;
  const tlv = tlvBytes === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x04, tlvBytes >> 8, tlvBytes & 0xff]), Buffer.alloc(tlvBytes)]);
  const body = Buffer.concat([addresses, ports, tlv]);
  const fixed = Buffer.alloc(4);
  fixed[0] = options.command === 'LOCAL' ? 0x20 : 0x21;
  fixed[1] = v6 ? 0x21 : 0x11;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}
