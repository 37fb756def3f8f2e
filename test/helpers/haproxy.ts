/**
 * Starts Debian's HAProxy (`/usr/sbin/haproxy`) in the foreground (`-db`)
 * on deploy/haproxy/haproxy.cfg as it is, the config users deploy: only the
 * addresses and ports come from the environment (a free loopback port for
 * the devices, the test hubs' device and console ports). The file names
 * three hubs; one the test does not give points at a closed port, so
 * HAProxy's health checks mark it down (and `redispatch` retries a
 * connection it refused on another hub).
 */
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { freePort, portAccepts, requireBinary, ServiceProcess } from './service-process.js';

const HAPROXY = '/usr/sbin/haproxy';

/** The config the tests use: the deployed one. */
export const HAPROXY_CONFIG = join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg');

/** A hub behind HAProxy: its device and console ports on 127.0.0.1. */
export interface HaproxyBackend {
  readonly devicePort: number;
  readonly consolePort: number;
}

/** A running HAProxy. */
export interface Haproxy {
  /** Where devices connect: 127.0.0.1:port. */
  readonly port: number;
  /** `wss://127.0.0.1:<port>/v1/device` */
  readonly deviceUrl: string;
  /** HAProxy's log so far (for failure messages). */
  readonly output: () => string;
  /** Stops it. Idempotent. */
  stop(): Promise<void>;
}

const SERVERS = ['A', 'B', 'C'] as const;

/** Starts HAProxy in front of up to three hubs; throws a clear error when it is not installed. */
export async function startHaproxy(hubs: readonly HaproxyBackend[]): Promise<Haproxy> {
  requireBinary(HAPROXY, 'haproxy');
  if (hubs.length === 0 || hubs.length > SERVERS.length) throw new Error(`deploy/haproxy/haproxy.cfg names ${SERVERS.length} hubs; got ${hubs.length}`);
  const port = await freePort();
  const env: Record<string, string> = { FLEETHUB_HAPROXY_BIND: `127.0.0.1:${port}` };
  for (const [i, name] of SERVERS.entries()) {
    // A hub the test does not run: ports nothing listens on.
    const hub = hubs[i] ?? { devicePort: await freePort(), consolePort: await freePort() };
    env[`FLEETHUB_HUB_${name}`] = `127.0.0.1:${hub.devicePort}`;
    env[`FLEETHUB_HUB_${name}_CONSOLE_PORT`] = String(hub.consolePort);
  }
  const process = new ServiceProcess('haproxy', HAPROXY, ['-db', '-f', HAPROXY_CONFIG], env);
  await process.start(() => portAccepts(port));
  return {
    port,
    deviceUrl: `wss://127.0.0.1:${port}/v1/device`,
    output: () => process.output,
    stop: () => process.stop(),
  };
}
