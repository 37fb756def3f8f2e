/**
 * Runs the real `fleethub` CLI (compiled, as `npm test` builds it) as a child
 * process, from any working directory, as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { COMPILED_CLI } from './paths.js';

/** Node arguments that run the CLI. */
export const CLI_ARGS: readonly string[] = ['--enable-source-maps', COMPILED_CLI];

/** What a finished command left behind. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCli} and {@link spawnCli}. */
export interface CliOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Kill the command after this long. @defaultValue 120000 */
  readonly timeoutMs?: number;
}

/** The child's environment: ours with the overrides; an override of `undefined` removes the variable. */
function childEnv(overrides: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Starts the CLI; the caller owns the child process. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [...CLI_ARGS, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to completion. Never rejects on a non-zero exit: tests assert the code. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A `fleethub serve` child process. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far (its log). */
  readonly log: () => string;
  /** Resolves with the URLs from its `hub.ready` line; rejects if it exits first. */
  readonly ready: Promise<{ deviceUrl: string; consoleUrl: string; devicePort: number; consolePort: number }>;
  /** Resolves with the exit code (or signal) once it ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `fleethub serve` with the given args and waits for nothing: see `ready`. */
export function startServe(args: readonly string[], options: CliOptions = {}): ServeProcess {
  const child = spawnCli(['serve', ...args], options);
  let log = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise<{ deviceUrl: string; consoleUrl: string; devicePort: number; consolePort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve not ready after 60 s; log:\n${log}`)), 60_000);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const match = /hub\.ready device=(wss:\/\/[^ ]+:(\d+)\/v1\/device) console=(https:\/\/[^ ]+:(\d+)\/)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve({ deviceUrl: match[1]!, devicePort: Number(match[2]), consoleUrl: match[3]!, consolePort: Number(match[4]) });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before it was ready; log:\n${log}`));
    });
  });
  ready.catch(() => {}); // observed by the caller; avoid an unhandled rejection when it is not
  child.stdout?.resume();
  return { child, log: () => log, ready, exited };
}
