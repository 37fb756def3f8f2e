/**
 * The hub benchmark's servers as seen from its client: each one a child
 * process running some build's bench/hub.bench.ts in its `server` mode,
 * asked over IPC for its port, its CPU and memory ('usage'), a GC ('gc'),
 * a CPU profile ('profile-start', 'profile-stop <file>') and to stop
 * ('stop'); and the device connections the client opens to them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type SecureVersion } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import type { Creds } from './mosquitto-ingest.js';

/** What a server reports when asked for its 'usage'. */
export interface Usage { cpuMs: number; systemMs: number; rss: number; fsyncs: number; fsyncMs: number }

/** How long a server child may take to report its port. */
const SERVER_START_TIMEOUT_MS = 120_000;

/** Which server to start: `kind` names it in the report; `script` is a compiled hub.bench.js run as `server <mode>`. */
export interface ServerSpec { kind: string; script: string; mode: 'hub' | 'bare'; cwd: string; nodeFlags: readonly string[] }

/** One server child process. */
export class ServerProcess {
  /** Every child still running, so that a failed run leaves none behind. */
  static readonly #running = new Set<ChildProcess>();
  readonly #child: ChildProcess;
  readonly port: number;
  readonly kind: string;
  private constructor(child: ChildProcess, port: number, kind: string) {
    this.#child = child;
    this.port = port;
    this.kind = kind;
  }
  static async start(spec: ServerSpec, pkiDir: string, dataDir: string): Promise<ServerProcess> {
    const child = fork(spec.script, ['server', spec.mode, pkiDir, dataDir], { cwd: spec.cwd, execArgv: ['--expose-gc', ...spec.nodeFlags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    ServerProcess.#running.add(child);
    child.once('exit', () => ServerProcess.#running.delete(child));
    const started = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${spec.kind}: server did not report its port within ${SERVER_START_TIMEOUT_MS} ms`)), SERVER_START_TIMEOUT_MS);
    });
    try {
      const [message] = (await Promise.race([
        once(child, 'message', { signal: started.signal }),
        once(child, 'exit', { signal: started.signal }).then(([code]) => {
          throw new Error(`${spec.kind}: server exited with ${String(code)} before it reported its port`);
        }),
        timeout,
      ])) as [{ port?: unknown } | undefined];
      if (typeof message?.port !== 'number') throw new Error(`${spec.kind}: server's first message is not {port}: ${JSON.stringify(message)}`);
      return new ServerProcess(child, message.port, spec.kind);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
      started.abort();
    }
  }
  /** Kills every server child still running (after a failure). */
  static killAll(): void {
    for (const child of ServerProcess.#running) child.kill('SIGKILL');
  }
  /**
   * FLEETHUB_BENCH_PROFILE=dir: a V8 CPU profile of this server over each
   * measured window, written to `dir/<kind>-<scenario>.cpuprofile`.
   */
  async profile<T>(scenario: string, work: () => Promise<T>): Promise<T> {
    const dir = process.env.FLEETHUB_BENCH_PROFILE;
    if (dir === undefined) return work();
    await mkdir(dir, { recursive: true });
    await this.#ask('profile-start');
    const result = await work();
    await this.#ask(`profile-stop ${join(dir, `${this.kind.replace(/[^\w@.-]/g, '_')}-${scenario}.cpuprofile`)}`);
    return result;
  }
  /**
   * FLEETHUB_BENCH_PERF=dir: `perf record -g` (CPU samples; start the
   * servers with FLEETHUB_BENCH_NODE_FLAGS=--perf-basic-prof-only-functions
   * to name JS frames) and `perf stat` of the write and read syscalls of this
   * server over each measured ingest window, written to
   * `dir/<kind>-<scenario>.perf.data` and `.syscalls.csv`. Needs perf and the
   * right to trace the process (root, or perf_event_paranoid <= 1).
   */
  async perf<T>(scenario: string, work: () => Promise<T>): Promise<T> {
    const dir = process.env.FLEETHUB_BENCH_PERF;
    // An earlier revision's server (hub@<rev>) may not know the perf messages.
    if (dir === undefined || this.kind.includes('@')) return work();
    await mkdir(dir, { recursive: true });
    await this.#ask(`perf-start ${join(dir, `${this.kind.replace(/[^\w@.-]/g, '_')}-${scenario}`)}`);
    try {
      return await work();
    } finally {
      await this.#ask('perf-stop');
    }
  }
  async usage(): Promise<Usage> {
    return (await this.#ask('usage')) as Usage;
  }
  async gc(): Promise<void> {
    await this.#ask('gc');
  }
  /** One request, one answer; fails (instead of hanging the run) when the server died. */
  async #ask(request: string): Promise<unknown> {
    if (this.#child.exitCode !== null) throw new Error(`${this.kind}: server exited with ${this.#child.exitCode}`);
    // The 'exit' listener goes away with the answer (no listener piles up over hundreds of requests).
    const done = new AbortController();
    this.#child.send(request);
    const exited = once(this.#child, 'exit', { signal: done.signal }).then(([code]) => {
      throw new Error(`${this.kind}: server exited with ${String(code)}`);
    }, () => new Promise<never>(() => {}));
    try {
      const [message] = (await Promise.race([once(this.#child, 'message', { signal: done.signal }), exited])) as [unknown];
      return message;
    } finally {
      done.abort();
    }
  }
  async stop(): Promise<void> {
    this.#child.send('stop');
    await once(this.#child, 'exit');
  }
}

/** A device's WebSocket, and the TLS session it was last given (for resumption). */
export interface Connection { ws: WebSocket; session: () => Buffer | undefined }

/** Opens a device's mTLS WebSocket to a server on 127.0.0.1. */
export function connect(port: number, ca: string, creds: Creds, tls: { maxVersion?: SecureVersion; minVersion?: SecureVersion; session?: Buffer } = {}): Promise<Connection> {
  let session: Buffer | undefined;
  const options = {
    ca, cert: creds.cert, key: creds.key, servername: 'localhost', perMessageDeflate: false, ...tls,
    createConnection: (opts: ConnectionOptions) => {
      const socket = tlsConnect(opts);
      socket.on('session', (s: Buffer) => (session = s));
      return socket;
    },
  };
  const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/device`, options as ClientOptions);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, session: () => session }));
    ws.once('error', reject);
  });
}

/** Closes `connections` and waits until each one is closed. */
export async function closeAll(connections: readonly Connection[]): Promise<void> {
  await Promise.all(connections.map(async ({ ws }) => {
    if (ws.readyState === ws.CLOSED) return;
    const closed = once(ws, 'close');
    ws.close();
    await closed;
  }));
}

/** Opens a connection for each of `devices`, `concurrency` at a time. */
export async function connectMany(server: ServerProcess, ca: string, devices: readonly Creds[], concurrency = 50): Promise<Connection[]> {
  const out: Connection[] = [];
  for (let i = 0; i < devices.length; i += concurrency) {
    out.push(...(await Promise.all(devices.slice(i, i + concurrency).map((d) => connect(server.port, ca, d)))));
  }
  return out;
}
