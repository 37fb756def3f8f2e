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
}

/**
 * Starts `fleethub serve --config <configPath>` (log level warn) and waits
 * until every one of `ports` accepts connections. `nodeArgs` go to Node
 * before the CLI (e.g. `--cpu-prof`).
 */
export async function startHub(name: string, configPath: string, ports: readonly number[], nodeArgs: readonly string[] = []): Promise<HubProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, FLEETHUB_LOG_LEVEL: 'warn' };
  delete env.FLEETHUB_PKI; // the config names the PKI folder
  const child = spawn(process.execPath, [...nodeArgs, COMPILED_CLI, 'serve', '--config', configPath], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
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
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${err instanceof Error ? err.message : String(err)}\n${log}`);
  }
  return { name, child, pid: child.pid as number, exited, log: () => log };
}

/** Stops a hub: `signal` (SIGTERM: a graceful stop), SIGKILL if it has not exited in time. Resolves on exit. */
export async function stopHub(hub: HubProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (hub.child.exitCode !== null || hub.child.signalCode !== null) return;
  const timer = setTimeout(() => hub.child.kill('SIGKILL'), HUB_STOP_TIMEOUT_MS);
  hub.child.kill(signal);
  await hub.exited;
  clearTimeout(timer);
}
