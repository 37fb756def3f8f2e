/**
 * Crash-safe file writes: write a temp file in the same folder, fsync it,
 * rename it over the target, fsync the folder. A crash at any point leaves
 * either the old file or the new one, never a half-written one.
 *
 * With `durable: false` the fsyncs are skipped (for files that can be
 * rebuilt from elsewhere and check themselves): the rename still makes
 * the name appear only once the file is written, but after a crash the
 * name may be missing, or the file may read as zeros or be cut short.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink, link, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode, e.g. 0o600 for private keys. @defaultValue 0o644 */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file. @defaultValue false */
  exclusive?: boolean;
  /**
   * Fsync the file before the rename and the folder after it. False only for
   * a file whose reader detects a torn, zero-filled or missing file and
   * rebuilds it (see the module's comment). @defaultValue true
   */
  durable?: boolean;
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Fsyncs a folder, so that a created, renamed or deleted entry in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Atomically replaces (or, with `exclusive`, creates) `path` with `data`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await writeAtomically(path, options, (handle) => handle.writeFile(data));
}

/**
 * Like {@link writeFileAtomic}, for a file too large to build in memory at
 * once: `write` fills the temp file through its handle (positioned writes).
 */
export async function writeAtomically(path: string, options: AtomicWriteOptions, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const tmp = tempPath(path);
  const handle = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await write(handle);
    await handle.chmod(options.mode ?? 0o644); // the umask may have narrowed or widened it
    if (options.durable !== false) await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await handle.close();
  try {
    if (options.exclusive) {
      await link(tmp, path); // fails with EEXIST, never replaces
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (options.durable !== false) await fsyncDir(dirname(path));
}

/** Synchronous {@link writeFileAtomic}, for small state files written on a hot path's edge. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const tmp = tempPath(path);
  const fd = openSync(tmp, 'wx', options.mode ?? 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fchmodSync(fd, options.mode ?? 0o644);
    if (options.durable !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (options.exclusive) {
      linkSync(tmp, path);
      unlinkSync(tmp);
    } else {
      renameSync(tmp, path);
    }
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  if (options.durable === false) return;
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
