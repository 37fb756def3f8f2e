/**
 * A `fleethub serve` child process for the benchmarks that run the hub as
 * users do (fleet, commands, cluster): started on a config file, waited
 * for until its ports accept connections, stopped with a signal and, when
 * it does not exit in time, killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { COMPILED_CLI, REPO_ROOT } from '../test/helpers/paths.js';
import { portAccepts } from '../test/helpers/service-process.js';
import { waitUntil } from '../test/helpers/wait.js';

/** How long a hub child may take to accept connections. */
const HUB_START_TIMEOUT_MS = 120_000;
/** How long a signalled hub may take to exit before it is killed. */
const HUB_STOP_TIMEOUT_MS = 60_000;
/** How much of the end of a hub's stderr is kept for failure messages. */
const LOG_TAIL_CHARS = 4_096;

/** A `fleethub serve` child on known ports. */
export interface HubProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  /** The last few KB of its log (for failure messages). */
  readonly log: () => string;
  /**
   * ms from the spawn until the last of its `ports` accepted, as a probe
   * process of its own saw it (see {@link startProbe}); null when the probe
   * saw nothing.
   */
  readonly startMs: number | null;
}

/** How often the start probe tries its port. */
const PROBE_EVERY_MS = 20;

/**
 * The start probe: a small node process that tries `port` every
 * {@link PROBE_EVERY_MS} and prints the wall-clock time (ms since epoch) it
 * first accepted. It runs apart from the bench because a bench that also runs
 * the simulator (the restart storm: 10,000 devices' TLS handshakes on its
 * event loop) sees a port open seconds after it did.
 */
function startProbe(port: number, timeoutMs: number): { readonly readyAt: Promise<number | null>; readonly stop: () => void } {
  const script = [
    "const net = require('node:net');",
    'const [port, timeoutMs, everyMs] = process.argv.slice(1).map(Number);',
    'const deadline = Date.now() + timeoutMs;',
    'const tryOnce = () => { const s = net.connect(port, "127.0.0.1");',
    '  s.once("connect", () => { process.stdout.write(String(Date.now())); s.destroy(); });',
    '  s.once("error", () => { if (Date.now() < deadline) setTimeout(tryOnce, everyMs); }); };',
    'tryOnce();',
  ].join('\n');
  const probe = spawn(process.execPath, ['-e', script, String(port), String(timeoutMs), String(PROBE_EVERY_MS)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  probe.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const readyAt = new Promise<number | null>((done) => probe.once('exit', () => done(/^\d+$/.test(out) ? Number(out) : null)));
  return { readyAt, stop: () => probe.kill('SIGKILL') };
}

/**
 * Starts `fleethub serve --config <configPath>` (log level warn) and waits
 * until every one of `ports` accepts connections. `nodeArgs` go to Node
 * before the CLI (e.g. `--cpu-prof`); `cli` is another build's
 * `dist/src/cli.js` (default this one's). The start is also timed by a probe
 * process on the last of `ports` ({@link HubProcess.startMs}): give the
 * console port last, which the hub opens after the device port, so that
 * devices flooding the device port's accept queue do not delay the probe.
 */
export async function startHub(
  name: string, configPath: string, ports: readonly number[], nodeArgs: readonly string[] = [], cli: string = COMPILED_CLI,
): Promise<HubProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, FLEETHUB_LOG_LEVEL: 'warn' };
  delete env.FLEETHUB_PKI; // the config names the PKI folder
  const spawnedAt = Date.now();
  const probePort = ports[ports.length - 1];
  const probe = probePort === undefined ? null : startProbe(probePort, HUB_START_TIMEOUT_MS);
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--config', configPath], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (log = (log + s).slice(-LOG_TAIL_CHARS)));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitUntil(async () => {
      if (gone) throw new Error('exited');
      for (const port of ports) if (!(await portAccepts(port))) return false;
      return true;
    }, `${name} accepts connections`, HUB_START_TIMEOUT_MS);
  } catch (err) {
    probe?.stop();
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${err instanceof Error ? err.message : String(err)}\n${log}`);
  }
  const readyAt = probe === null ? null : await probe.readyAt;
  return { name, child, pid: child.pid as number, exited, log: () => log, startMs: readyAt === null ? null : readyAt - spawnedAt };
}

/** Stops a hub: `signal` (SIGTERM: a graceful stop), SIGKILL if it has not exited in time. Resolves on exit. */
export async function stopHub(hub: HubProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (hub.child.exitCode !== null || hub.child.signalCode !== null) return;
  const timer = setTimeout(() => hub.child.kill('SIGKILL'), HUB_STOP_TIMEOUT_MS);
  hub.child.kill(signal);
  await hub.exited;
  clearTimeout(timer);
}
