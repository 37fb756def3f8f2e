/**
 * Runs a real server binary (Mosquitto, influxd, nats-server) for a test: free loopback
 * ports, start, wait until it answers, stop, restart on the same ports.
 * A missing binary is an error, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import { waitUntil } from './wait.js';

/**
 * How long a service may take to answer after it is spawned. A deadline, not a
 * measurement: three JetStream nodes electing a meta leader while other test
 * files load both cores have taken over 20 s here.
 */
const START_TIMEOUT_MS = 60_000;

/** A free TCP port on 127.0.0.1 (the OS picks it; it is released for the service to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Throws a clear error when the binary is missing. */
export function requireBinary(path: string, packageName: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} not found: install Debian's ${packageName} package (the bridge tests need the real server)`);
  }
}

/** True when a TCP connection to the port opens. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A child process that can be stopped and started again with the same arguments. */
export class ServiceProcess {
  readonly #command: string;
  readonly #args: readonly string[];
  readonly #label: string;
  readonly #env: NodeJS.ProcessEnv | undefined;
  #child: ChildProcess | null = null;
  #output = '';

  /** `env`: variables added to this process's environment for the child. */
  constructor(label: string, command: string, args: readonly string[], env?: Readonly<Record<string, string>>) {
    this.#label = label;
    this.#command = command;
    this.#args = args;
    this.#env = env === undefined ? undefined : { ...process.env, ...env };
  }

  /** The last few KB of the process's output (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** True while the process runs. */
  get running(): boolean {
    const child = this.#child;
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  /** Starts it (a no-op while it runs) and waits for `ready`; on failure, stops it and throws with its output. */
  async start(ready: () => Promise<boolean>): Promise<void> {
    if (this.running) return;
    const child = spawn(this.#command, this.#args, { stdio: ['ignore', 'pipe', 'pipe'], ...(this.#env === undefined ? {} : { env: this.#env }) });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    try {
      // A process that dies while starting (a port taken, a bad config) ends the wait at once (waitUntil retries a check that throws).
      await waitUntil(async () => exited || ready(), `${this.#label} answers`, START_TIMEOUT_MS);
      if (exited) throw new Error('exited');
    } catch (err: unknown) {
      await this.stop();
      throw new Error(`${this.#label} failed to start: ${err instanceof Error ? err.message : String(err)}\n${this.#output}`);
    }
  }

  /** Sends `signal` (SIGKILL: a crash) and waits for the exit; a no-op when it is not running. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /**
   * Freezes it (SIGSTOP) or lets it go on (SIGCONT): a machine that stops
   * answering without closing a socket, as a hung host or a network cut
   * looks to its peers.
   */
  freeze(frozen: boolean): void {
    if (this.running) this.#child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits for the exit. Idempotent. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    // A frozen process acts on SIGTERM only once it runs again.
    child.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}

/** How a test drives a started service: stop for good, pause and start again (an outage), restart. */
export interface ServiceControls {
  /** Stops it and deletes its temp folder. Idempotent. */
  stop(): Promise<void>;
  /** Stops it, keeping its data: an outage. */
  pause(): Promise<void>;
  /** Starts it again after {@link pause}. */
  start(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * Starts `process` in its temp folder `dir` and returns its controls; if it
 * does not come up, the folder is deleted and the error thrown.
 */
export async function startService(process: ServiceProcess, dir: string, ready: () => Promise<boolean>): Promise<ServiceControls> {
  try {
    await process.start(ready);
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await process.stop();
      await rm(dir, { recursive: true, force: true });
    },
    pause: () => process.stop(),
    start: () => process.start(ready),
    async restart() {
      await process.stop();
      await process.start(ready);
    },
  };
}
