/**
 * One store per folder: two hubs appending to the same segments would
 * interleave frames and break every guarantee. The lock file names its
 * owner (pid and, on Linux, the process start time, so a recycled pid after a
 * container restart is not mistaken for the owner); a lock left by a process
 * that no longer exists (kill -9) is taken over, and so is one left by a
 * process that died but was not reaped yet (a zombie: it holds no file, and
 * `kill(pid, 0)` still finds it until its parent waits for it).
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FleethubError } from '../errors.js';

/** The lock's file name inside the store folder. */
export const LOCK_FILE = 'LOCK';

/** Folders this process holds open (a second open in one process is refused too). */
const held = new Set<string>();

/** A process as /proc/<pid>/stat shows it. */
interface ProcStat {
  /** State letter (field 3): `Z` zombie, `X` dead, else running or sleeping. */
  readonly state: string;
  /** Start time (field 22), in clock ticks since boot. */
  readonly started: string;
}

/** /proc/<pid>/stat's state and start time, or null where /proc is not available (or the process is gone). */
async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count from its closing parenthesis (field 3 is next).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', started: fields[19] ?? '' };
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
  const stat = await procStat(pid);
  if (stat === null) return true; // no /proc: kill(pid, 0) is all there is to go by
  // A zombie has released every file it held: its lock is left over, like one of a process that is gone.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return started === undefined || started === '' || stat.started === started;
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
  await writeFile(path, `${process.pid} ${(await procStat(process.pid))?.started ?? ''}\n`, { mode: 0o600 });
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(key);
    await unlink(path).catch(() => {});
  };
}
