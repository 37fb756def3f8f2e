/**
 * File I/O of the PKI folder: private folders, atomic writes of many files
 * at once with a shared durability cost, readable errors, and a lock so two
 * commands never interleave their changes to the inventory and the CRL.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsyncDir } from '../atomic-file.js';
import { FleethubError } from '../errors.js';

/** Mode of private keys. */
export const KEY_MODE = 0o600;
/** Mode of certificates, the CRL and the inventory (not secret). */
export const PUBLIC_MODE = 0o644;
/** Mode of the PKI folder and `devices/`: only the owner may list or enter them. */
export const DIR_MODE = 0o700;
/** Files written at once by {@link writeFilesAtomic}: enough to let the filesystem batch journal commits, few enough for any fd limit. */
export const WRITE_CONCURRENCY = 64;
/** How long a command waits for another one holding the PKI lock. */
export const LOCK_WAIT_MS = 30_000;

/** Node's errno-carrying error. */
function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Maps a filesystem error to FH_ERR_PKI_IO with a one-line reason. */
export function pkiIoError(action: string, path: string, err: unknown): FleethubError {
  if (err instanceof FleethubError) return err;
  const code = errnoOf(err);
  const why: Record<string, string> = {
    EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'read-only filesystem',
    ENOTDIR: 'a path component is not a folder', ENOENT: 'no such file or folder', ENOSPC: 'disk full',
    EEXIST: 'file exists', EISDIR: 'is a folder',
  };
  return new FleethubError('FH_ERR_PKI_IO', `cannot ${action} ${path}: ${why[code ?? ''] ?? code ?? String(err)}`, { cause: err });
}

/** True when `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `mkdir -p` with mode 0700, one level at a time. Node 20's own
 * `mkdir(..., { recursive: true })` spins forever on some pseudo filesystems
 * (`/proc/x` never stops returning ENOENT), so this walks the path itself,
 * bounded by its depth. Returns true when `dir` was created.
 */
export async function makeDirs(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { mode: DIR_MODE });
    return true;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') {
      if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
      return false;
    }
    const parent = dirname(dir);
    if (errnoOf(err) !== 'ENOENT' || parent === dir) throw err;
    await makeDirs(parent);
    await mkdir(dir, { mode: DIR_MODE });
    return true;
  }
}

/** Creates `dir` (and parents) with mode 0700 if missing, and checks it is writable. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    if (await makeDirs(dir)) await chmod(dir, DIR_MODE); // the umask may have narrowed it
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw pkiIoError('write to folder', dir, err);
  }
}

/** Reads a text file, mapping errors to FH_ERR_PKI_IO. */
export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw pkiIoError('read', path, err);
  }
}

/** One file for {@link writeFilesAtomic}. */
export interface FileWrite {
  readonly path: string;
  readonly data: string | Uint8Array;
  readonly mode: number;
}

async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Writes many files atomically: each goes to a temp file in its folder, is
 * fsynced, then renamed over its target (or linked, with `exclusive`, which
 * fails with FH_ERR_FILE_EXISTS instead of replacing); each folder is fsynced
 * once at the end. Temp files are written and fsynced {@link WRITE_CONCURRENCY}
 * at a time so the filesystem commits them in shared journal transactions:
 * the durability of 20,000 files costs a few hundred commits, not 20,000.
 * A crash leaves each target either old or new, never half-written.
 */
export async function writeFilesAtomic(files: readonly FileWrite[], opts: { exclusive?: boolean } = {}): Promise<void> {
  if (opts.exclusive) {
    // Checked up front too, so a refusal leaves none of the files behind (the link below still guards races).
    for (const f of files) {
      if (await exists(f.path)) throw new FleethubError('FH_ERR_FILE_EXISTS', `${f.path} exists (use --force to replace it)`);
    }
  }
  const temps = files.map((f) => join(dirname(f.path), `.${basename(f.path)}.${randomBytes(6).toString('hex')}.tmp`));
  const written: string[] = [];
  try {
    await runBounded(files.map((f, i) => ({ f, tmp: temps[i] as string })), WRITE_CONCURRENCY, async ({ f, tmp }) => {
      const handle = await open(tmp, 'wx', f.mode);
      written.push(tmp);
      try {
        await handle.writeFile(f.data);
        await handle.chmod(f.mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    for (let i = 0; i < files.length; i += 1) {
      const target = (files[i] as FileWrite).path;
      const tmp = temps[i] as string;
      if (opts.exclusive) {
        try {
          await link(tmp, target);
        } catch (err) {
          if (errnoOf(err) === 'EEXIST') throw new FleethubError('FH_ERR_FILE_EXISTS', `${target} exists (use --force to replace it)`);
          throw err;
        }
        await unlink(tmp);
      } else {
        await rename(tmp, target);
      }
    }
  } catch (err) {
    await Promise.all(written.map((t) => unlink(t).catch(() => {})));
    throw pkiIoError('write', files[0] ? dirname(files[0].path) : '?', err);
  }
  try {
    for (const dir of new Set(files.map((f) => dirname(f.path)))) await fsyncDir(dir);
  } catch (err) {
    throw pkiIoError('sync folder', dirname(files[0]?.path ?? '.'), err);
  }
}

/** Atomically writes one file (see {@link writeFilesAtomic}). */
export async function writeOneAtomic(path: string, data: string | Uint8Array, mode: number, exclusive = false): Promise<void> {
  await writeFilesAtomic([{ path, data, mode }], { exclusive });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

/**
 * Runs `fn` holding `<dir>/.lock` (created exclusively, holding our pid). A
 * lock left by a dead process is taken over; a live holder is waited for up
 * to {@link LOCK_WAIT_MS}, then FH_ERR_PKI_BUSY, or until `signal` aborts
 * (a hub closing), then FH_ERR_PKI_BUSY at once.
 */
export async function withPkiLock<T>(dir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lockPath = join(dir, '.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw pkiIoError('lock', dir, err);
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
        await unlink(lockPath).catch(() => {});
        continue;
      }
      const busy = (): FleethubError => new FleethubError('FH_ERR_PKI_BUSY', `${dir} is locked by process ${holder || '?'} (remove ${lockPath} if it is gone)`);
      if (Date.now() > deadline || attempt > 10_000 || signal?.aborted === true) throw busy();
      await sleep(50, undefined, signal === undefined ? undefined : { signal }).catch(() => {
        throw busy();
      });
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}
