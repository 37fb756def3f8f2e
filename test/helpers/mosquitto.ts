/**
 * Starts Debian's Mosquitto (`/usr/sbin/mosquitto`) on free loopback ports
 * with a temp config: optional TLS (with `require_certificate` for mutual
 * TLS) and an optional WebSocket listener. Persistence is on, in the temp
 * dir, so that a test subscriber with a persistent session gets what was
 * published while it was reconnecting after {@link Mosquitto.restart}.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portAccepts, requireBinary, ServiceProcess, startService } from './service-process.js';

const MOSQUITTO = '/usr/sbin/mosquitto';

/** Options of {@link startMosquitto}: PEM file paths. */
export interface MosquittoOptions {
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string; readonly requireCertificate: boolean };
  /** Adds a WebSocket listener (with the same TLS settings as the main one). */
  readonly websockets?: boolean;
  /**
   * Mosquitto's `set_tcp_nodelay` (its own default: false). With Nagle on,
   * the broker holds each PUBACK until the client's delayed ACK, ~40 ms per
   * round of publishes. @defaultValue true
   */
  readonly tcpNoDelay?: boolean;
  /** Username/password required when set (a password file is made). */
  readonly users?: Readonly<Record<string, string>>;
}

/** A running Mosquitto. */
export interface Mosquitto {
  readonly port: number;
  readonly wsPort?: number;
  /** mqtt(s)://127.0.0.1:port */
  readonly url: string;
  /** Stops it and deletes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the broker process only (an outage); {@link start} brings it back on the same ports. */
  pause(): Promise<void>;
  /** Starts it again after {@link pause}. */
  start(): Promise<void>;
  /** pause() then start(). */
  restart(): Promise<void>;
}

/** Starts Mosquitto; throws a clear error when it is not installed. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  requireBinary(MOSQUITTO, 'mosquitto');
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-mosquitto-'));
  const port = await freePort();
  const wsPort = options.websockets === true ? await freePort() : undefined;
  const tlsLines = (): string[] => {
    const tls = options.tls;
    if (tls === undefined) return [];
    return [`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`, `require_certificate ${tls.requireCertificate}`];
  };
  const lines = [
    // Running as root, Mosquitto would drop to user `mosquitto`, which cannot read the temp key files.
    'user root',
    'per_listener_settings false',
    `allow_anonymous ${options.users === undefined}`,
    'persistence true',
    `persistence_location ${dir}/`,
    'max_queued_messages 1000000',
    `set_tcp_nodelay ${options.tcpNoDelay ?? true}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    `listener ${port} 127.0.0.1`,
    ...tlsLines(),
  ];
  if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets', ...tlsLines());
  if (options.users !== undefined) {
    const passwords = join(dir, 'passwd');
    await writeFile(passwords, '');
    await makePasswordFile(passwords, options.users);
    lines.push(`password_file ${passwords}`);
  }
  const confPath = join(dir, 'mosquitto.conf');
  await writeFile(confPath, `${lines.join('\n')}\n`);
  const process = new ServiceProcess('mosquitto', MOSQUITTO, ['-c', confPath]);
  const ready = async (): Promise<boolean> => (await portAccepts(port)) && (wsPort === undefined || (await portAccepts(wsPort)));
  const controls = await startService(process, dir, ready);
  return {
    ...controls,
    port,
    wsPort,
    url: `${options.tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
  };
}

async function makePasswordFile(path: string, users: Readonly<Record<string, string>>): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  for (const [user, password] of Object.entries(users)) {
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', path, user, password], { stdio: 'ignore' });
  }
}
