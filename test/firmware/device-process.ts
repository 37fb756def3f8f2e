/**
 * The C client's Linux example (`firmware/build/fleethub-device`) as a child
 * process: built once with `make -C firmware` (the system's gcc and
 * mbedTLS), its credentials written to a temp dir, its stdout read line by
 * line (one line per event).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceCredentials } from '../helpers/pki.js';
import { REPO_ROOT } from '../helpers/paths.js';

export const FIRMWARE_DIR = join(REPO_ROOT, 'firmware');

/**
 * Another mbedTLS to build against (a source tree with `include/` and a built
 * `library/`, such as a 3.x release): `FLEETHUB_MBEDTLS_DIR=/path npm test -- test/firmware`
 * builds with `make MBEDTLS_DIR=/path` and runs the same tests on it. Unset or
 * empty: the system's (Debian's 2.28, what CI runs).
 */
const OTHER_MBEDTLS = process.env.FLEETHUB_MBEDTLS_DIR ?? '';
const MAKE_ARGS = OTHER_MBEDTLS === '' ? [] : [`MBEDTLS_DIR=${OTHER_MBEDTLS}`];

/** gcc's include flags for that mbedTLS (none for the system's), for tests that compile without the Makefile. */
export const MBEDTLS_INCLUDE: readonly string[] = OTHER_MBEDTLS === '' ? [] : [`-I${join(OTHER_MBEDTLS, 'include')}`];
/** gcc's link arguments for that mbedTLS: its static libraries, or the system's by name. */
export const MBEDTLS_LINK: readonly string[] =
  OTHER_MBEDTLS === ''
    ? ['-lmbedtls', '-lmbedx509', '-lmbedcrypto']
    : ['tls', 'x509', 'crypto'].map((lib) => join(OTHER_MBEDTLS, 'library', `libmbed${lib}.a`));

/** Runs `make -C firmware [args]`; throws with make's output when it fails. */
function make(args: readonly string[]): string {
  const run = spawnSync('make', ['-C', FIRMWARE_DIR, ...MAKE_ARGS, ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`make -C firmware ${[...MAKE_ARGS, ...args].join(' ')} failed:\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

/** The build folder under firmware/, as the Makefile names it (another mbedTLS gets its own, so the two never mix objects). */
const BUILD = OTHER_MBEDTLS === '' ? 'build' : make(['-s', 'print-build-dir']).trim();
export const BUILD_DIR = join(FIRMWARE_DIR, BUILD);
export const DEVICE_BINARY = join(BUILD_DIR, 'fleethub-device');

/** Runs `make -C firmware [target]` (with MBEDTLS_DIR when FLEETHUB_MBEDTLS_DIR is set). */
export function makeFirmware(target?: string): void {
  make(target === undefined ? [] : [target]);
}

/** A folder with the device's PEM files and its --state folder. */
export interface DeviceFiles {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  state: string;
  cleanup(): Promise<void>;
}

export async function deviceFiles(caPem: string, device: DeviceCredentials): Promise<DeviceFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-fw-'));
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'device.crt'), key: join(dir, 'device.key'), state: join(dir, 'state') };
  await writeFile(files.ca, caPem);
  await writeFile(files.cert, device.cert);
  await writeFile(files.key, device.key, { mode: 0o600 });
  return { dir, ...files, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A running fleethub-device. */
export interface DeviceProcess {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines(): string[];
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Resolves once a line matches (or rejects when the process ends first or after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The highest `ack N` line so far (0 when none). */
export function highestAck(lines: readonly string[]): number {
  let highest = 0;
  for (const line of lines) {
    const match = /^ack (\d+)$/.exec(line);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  return highest;
}

export function startDevice(url: string, files: DeviceFiles, extra: readonly string[] = [], binary = DEVICE_BINARY): DeviceProcess {
  return spawnDevice(['--url', url, '--ca', files.ca, '--cert', files.cert, '--key', files.key, '--state', files.state, ...extra], binary);
}

/**
 * Runs fleethub-device with exactly `args` (a device with a claim certificate has no --cert/--key);
 * `env` adds to the environment (the example's test hooks, such as FLEETHUB_DEVICE_POWER_CUT).
 */
export function spawnDevice(args: readonly string[], binary = DEVICE_BINARY, env: Readonly<Record<string, string>> = {}): DeviceProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  let partial = '';
  let all = '';
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    all += s;
    partial += s;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of [...waiters]) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (all += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      for (const wake of [...waiters]) wake();
      resolve({ code, signal });
    });
  });
  return {
    child,
    lines: () => lines,
    output: () => all,
    exited,
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${all}`));
        }, timeoutMs);
        const check = (): void => {
          const found = lines.find((l) => pattern.test(l));
          if (found !== undefined || child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            if (found !== undefined) resolve(found);
            else reject(new Error(`the device exited before a line matched ${pattern}; output:\n${all}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Ends a device child for good, whatever state it is in. */
export async function reapDevice(device: DeviceProcess): Promise<void> {
  if (device.child.exitCode === null && device.child.signalCode === null) device.child.kill('SIGKILL');
  await device.exited;
}
