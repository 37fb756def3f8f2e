/**
 * `--local-addresses` names source IPs the simulator binds its sockets to.
 * An address this machine does not have would fail every connect
 * (EADDRNOTAVAIL) and the run would end, after its connect timeout, with
 * devices that never connected; so each address is bound once before the
 * fleet starts, and a missing one is one clear line instead. Linux routes
 * all of 127.0.0.0/8 to loopback, so 127.0.0.2 … need no setup there.
 */
import { createServer } from 'node:net';
import { FleethubError } from '../src/errors.js';

/** Binds a listener to `address` on a free port and closes it; rejects with the bind error. */
function tryBind(address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: address, port: 0 }, () => server.close(() => resolve()));
  });
}

/** FH_ERR_INVALID_ARGUMENT (exit 2) naming the first address no socket can be bound to on this machine. */
export async function checkLocalAddresses(addresses: readonly string[]): Promise<void> {
  for (const address of new Set(addresses)) {
    try {
      await tryBind(address);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const why = code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : `cannot be bound (${code})`;
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `sim: --local-addresses ${address} ${why}`, { cause: err });
    }
  }
}
