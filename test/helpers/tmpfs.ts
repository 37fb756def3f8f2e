/**
 * A small tmpfs for tests that need a full disk (ENOSPC) for real, and a
 * filler file that fills it. Mounting needs root (the test set-up and CI run
 * as root); where it fails, the tests that need it are skipped, and say why.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A mounted tmpfs. */
export interface Tmpfs {
  readonly dir: string;
  /** Unmounts it and removes the mount point. Idempotent. */
  remove(): Promise<void>;
}

/** Mounts a tmpfs of `bytes` on a new temp folder, or returns why it cannot. */
export async function mountTmpfs(bytes: number): Promise<Tmpfs | string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs (needs root): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  let removed = false;
  return {
    dir,
    async remove() {
      if (removed) return;
      removed = true;
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system of `dir` with a file, page by page, until ENOSPC; `free()` deletes it. */
export function fillDisk(dir: string): { free(): Promise<void> } {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const page = Buffer.alloc(4096, 1);
  try {
    // Bounded: a test tmpfs is a few MiB.
    for (let i = 0; i < 1_000_000; i += 1) writeSync(fd, page);
    throw new Error(`${dir} did not fill up`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return { free: () => unlink(path) };
}
