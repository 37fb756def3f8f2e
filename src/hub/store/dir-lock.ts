/**
 * One store per folder: two hubs appending to the same segments would
 * interleave frames and break every guarantee. The lock file holds the
 * owner's pid; a lock left by a process that no longer exists (kill -9) is
 * taken over.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FleethubError } from '../../errors.js';

/** The lock's file name inside the store folder. */
export const LOCK_FILE = 'LOCK';

/** Folders this process holds open (a second open in one process is refused too). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the folder's lock; returns its release. Throws FH_ERR_STORE_IO when another live store holds it. */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const key = resolve(dir);
  const path = join(dir, LOCK_FILE);
  if (held.has(key)) throw new FleethubError('FH_ERR_STORE_IO', `store: ${dir} is already open in this process`);
  const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
  if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
    throw new FleethubError('FH_ERR_STORE_IO', `store: ${dir} is in use by process ${owner}`);
  }
  held.add(key);
  await writeFile(path, `${process.pid}\n`, { mode: 0o600 });
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(key);
    await unlink(path).catch(() => {});
  };
}
