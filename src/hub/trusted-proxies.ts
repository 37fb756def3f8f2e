/**
 * `device.proxyProtocol.trusted`: the addresses (or CIDR ranges, IPv4 and
 * IPv6) of the load balancers allowed to send a PROXY protocol header.
 * Parsing is pure (the config resolver uses it to refuse a bad entry at
 * start); matching uses Node's `net.BlockList`, which also matches an
 * IPv4-mapped IPv6 socket address (`::ffff:10.0.0.2`) against IPv4 ranges.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** One entry of the trusted list, normalized. */
export interface TrustedRange {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.2`, `10.0.0.0/24`, `fd00::1` or `fd00::/8`; null when it is none of these. */
export function parseTrustedRange(entry: string): TrustedRange | null {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (family === null) return null;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const prefixText = entry.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  return prefix > max ? null : { address, prefix, family };
}

/** Whether a connection's address is one of the trusted load balancers. */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly size: number;

  /** `ranges` as parsed by {@link parseTrustedRange} (the config resolver already refused bad ones). */
  constructor(ranges: readonly TrustedRange[]) {
    for (const range of ranges) this.#list.addSubnet(range.address, range.prefix, range.family);
    this.size = ranges.length;
  }

  /** True when `address` (a socket's `remoteAddress`) is in a trusted range. */
  has(address: string | undefined): boolean {
    if (address === undefined || this.size === 0) return false;
    if (isIPv4(address)) return this.#list.check(address, 'ipv4');
    return isIPv6(address) && this.#list.check(address, 'ipv6');
  }
}
