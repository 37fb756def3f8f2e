/**
 * Making the store's folder. Node 20's `mkdir(dir, { recursive: true })`
 * never returns on some pseudo file systems (`/proc/x/y` spins at 100 % CPU
 * on ENOENT, and SIGTERM cannot stop it), so the folder is made one level at
 * a time, bounded by the path's depth, and any folder the store cannot use
 * is one clear error at start-up.
 */
import { constants } from 'node:fs';
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FleethubError } from '../errors.js';

const DIR_MODE = 0o700;

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** `mkdir -p` one level at a time; true when `dir` itself was created. */
async function makeDirs(dir: string): Promise<boolean> {
  // Bounded: each call goes one level up, and the root is its own parent.
  try {
    await mkdir(dir, { mode: DIR_MODE });
    return true;
  } catch (err) {
    if (codeOf(err) === 'EEXIST') {
      if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
      return false;
    }
    const parent = dirname(dir);
    if (codeOf(err) !== 'ENOENT' || parent === dir) throw err;
    await makeDirs(parent);
    await mkdir(dir, { mode: DIR_MODE });
    return true;
  }
}

/**
 * Creates the store folder `dir` (0700, with its parents) if missing and
 * checks the store can write in it. Throws FH_ERR_STORE_IO naming the folder
 * and the reason (exit 6 from `fleethub serve`).
 */
export async function prepareDataDir(dir: string): Promise<void> {
  const path = resolve(dir);
  try {
    if (await makeDirs(path)) await chmod(path, DIR_MODE); // the umask may have narrowed it
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const reason = codeOf(err) ?? (err instanceof Error ? err.message : String(err));
    throw new FleethubError('FH_ERR_STORE_IO', `store: cannot use ${dir} as the data folder (${reason})`, { cause: err });
  }
}
