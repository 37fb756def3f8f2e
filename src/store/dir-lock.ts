/**
 * One store per folder: two hubs appending to the same segments would
 * interleave frames and break every guarantee. The lock file names its
 * owner (pid and, on Linux, the process start time, so a recycled pid after a
 * container restart is not mistaken for the owner); a lock left by a process
 * that no longer exists (kill -9) is taken over.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FleethubError } from '../errors.js';

/** The lock's file name inside the store folder. */
export const LOCK_FILE = 'LOCK';

/** Folders this process holds open (a second open in one process is refused too). */
const held = new Set<string>();

/** The kernel's start time of a process (clock ticks since boot), or null where /proc is not available. */
async function startTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces, so count from its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

async function alive(pid: number, started: string | undefined): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (started === undefined || started === '') return true;
  const now = await startTime(pid);
  return now === null || now === started;
}

/** Takes the folder's lock; returns its release. Throws FH_ERR_STORE_IO when another live store holds it. */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const key = resolve(dir);
  const path = join(dir, LOCK_FILE);
  if (held.has(key)) throw new FleethubError('FH_ERR_STORE_IO', `store: ${dir} is already open in this process`);
  const [pidText, started] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ');
  const owner = Number.parseInt(pidText ?? '', 10);
  if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && (await alive(owner, started))) {
    throw new FleethubError('FH_ERR_STORE_IO', `store: ${dir} is in use by process ${owner} (or remove ${path} if it is not a hub)`);
  }
  held.add(key);
  await writeFile(path, `${process.pid} ${(await startTime(process.pid)) ?? ''}\n`, { mode: 0o600 });
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(key);
    await unlink(path).catch(() => {});
  };
}
