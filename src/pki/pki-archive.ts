/**
 * A new CA starts a new PKI (`ca init --force`): every file tied to the old
 * CA (its key and certificate, the server certificate, the CRL, the
 * inventory and `devices/`) moves into `<pki>/replaced-<UTC timestamp>/`,
 * so `device list` never shows devices that can no longer connect, and no
 * private key is ever deleted. `token.key` is not tied to the CA and stays.
 *
 * Crash safety, by renames only (no copy, no delete):
 *
 *   1. `replaced-<ts>/` is made (0700), then a journal `.replacing` naming it
 *      is written atomically;
 *   2. the CA moves first (`ca.key`, then `ca.crt`): from the first rename on
 *      the folder has no usable CA, so every other command stops with
 *      FH_ERR_CA_MISSING and the hub does not start: nothing is issued from,
 *      or served with, a half-moved PKI;
 *   3. the server certificate, the CRL, the inventory and `devices/` follow;
 *      both folders are fsynced and the journal is removed.
 *
 * A crash before the first rename leaves the old PKI untouched and usable
 * (the journal is stale and ignored while the CA is complete). A crash after
 * it leaves the old PKI (partly) archived and no CA: the next `ca init`, with
 * or without `--force`, finishes moving the rest into the same
 * `replaced-<ts>/` before creating the new CA.
 */
import { chmod, mkdir, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDir } from '../atomic-file.js';
import { FleethubError } from '../errors.js';
import { pkiPaths, type PkiPaths } from './paths.js';
import { DIR_MODE, exists, makeDirs, pkiIoError, PUBLIC_MODE, writeOneAtomic } from './pki-files.js';

/** Name prefix of the folders an old PKI is moved into. */
export const REPLACED_DIR_PREFIX = 'replaced-';

/** The journal of a replacement in progress, in the PKI folder: it holds the archive folder's name. */
export const REPLACING_JOURNAL = '.replacing';

/** Archive folders made in the same second get `-2`, `-3` … at most this many times. */
const MAX_NAME_ATTEMPTS = 100;

/** What {@link archivePkiUnlocked} moved. */
export interface ArchivedPki {
  /** Absolute path of the `replaced-<ts>/` folder. */
  readonly dir: string;
  /** Names moved into it, in the order they moved (`devices` is the folder). */
  readonly moved: readonly string[];
}

/**
 * The files of a PKI that only make sense with its CA, in the order they
 * move: the CA first (see the module comment).
 */
export function caBoundPaths(paths: PkiPaths): string[] {
  return [
    paths.caKey, paths.caCert, paths.serverKey, paths.serverCert, paths.crl, paths.inventory, paths.devicesDir,
    paths.issuingKey, paths.issuingCert, paths.issuingCrl, paths.claimCaKey, paths.claimCaCert, paths.claimCrl, paths.claimsDir,
  ];
}

/** Pure: `replaced-20260115T103000Z` for `now` (UTC, ISO 8601 basic format, whole seconds). */
export function replacedDirName(now: Date): string {
  return `${REPLACED_DIR_PREFIX}${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** A journal's content is a folder name of ours, never a path. */
const JOURNAL_NAME = /^replaced-\d{8}T\d{6}Z(-\d+)?$/;

/** True when the folder holds both CA files. */
async function caComplete(paths: PkiPaths): Promise<boolean> {
  return (await exists(paths.caKey)) && (await exists(paths.caCert));
}

/** The archive folder named by the journal, or null when there is no (valid) journal. */
async function readJournal(paths: PkiPaths): Promise<string | null> {
  const text = await readFile(join(paths.dir, REPLACING_JOURNAL), 'utf8').catch(() => null);
  const name = text?.trim() ?? '';
  return JOURNAL_NAME.test(name) ? name : null;
}

/** True when an interrupted replacement left the folder without a CA (see the module comment). */
export async function replacementInterrupted(dir: string): Promise<boolean> {
  const paths = pkiPaths(dir);
  return (await readJournal(paths)) !== null && !(await caComplete(paths));
}

/** Makes a fresh `replaced-<ts>[-n]/` (0700) and returns its name. */
async function makeArchiveDir(root: string, now: Date): Promise<string> {
  const base = replacedDirName(now);
  for (let n = 1; n <= MAX_NAME_ATTEMPTS; n += 1) {
    const name = n === 1 ? base : `${base}-${n}`;
    try {
      await mkdir(join(root, name), { mode: DIR_MODE });
      await chmod(join(root, name), DIR_MODE); // the umask may have narrowed it
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw pkiIoError('create folder', join(root, name), err);
    }
  }
  throw new FleethubError('FH_ERR_PKI_IO', `cannot create ${join(root, base)}: ${MAX_NAME_ATTEMPTS} folders of that name exist`);
}

/** Moves whatever of the CA-bound files is still in the PKI folder into `archive`, then drops the journal. */
async function moveInto(paths: PkiPaths, archive: string): Promise<ArchivedPki> {
  const target = join(paths.dir, archive);
  try {
    await makeDirs(target); // a crash may have come between the journal and mkdir
    const moved: string[] = [];
    for (const path of caBoundPaths(paths)) {
      if (!(await exists(path))) continue;
      const name = basename(path);
      if (await exists(join(target, name))) {
        throw new FleethubError('FH_ERR_PKI_IO', `cannot move ${path}: ${join(target, name)} exists (move one of them away by hand)`);
      }
      await rename(path, join(target, name));
      moved.push(name);
    }
    await fsyncDir(target);
    await fsyncDir(paths.dir);
    await unlink(join(paths.dir, REPLACING_JOURNAL)).catch(() => {});
    await fsyncDir(paths.dir);
    return { dir: target, moved };
  } catch (err) {
    throw pkiIoError('move the old PKI into', target, err);
  }
}

/**
 * Before a new CA is made in `dir` (the caller holds the PKI lock): finishes
 * an interrupted replacement, or, when there are files of another PKI and
 * either no CA or `force`, moves them into a new `replaced-<ts>/`. Returns
 * what moved, or null when the folder held nothing of an old PKI.
 * FH_ERR_CA_EXISTS when a CA is there and `force` is not set.
 */
export async function archivePkiUnlocked(dir: string, force: boolean, now = new Date()): Promise<ArchivedPki | null> {
  const paths = pkiPaths(dir);
  const journaled = await readJournal(paths);
  if (journaled !== null) {
    // The CA moves first: an incomplete CA means the moves had begun, so finish them.
    if (!(await caComplete(paths))) return moveInto(paths, journaled);
    // Stale: the crash came before the first rename and the old PKI is intact.
    if (!force) throw caExists(paths);
    await rmdir(join(paths.dir, journaled)).catch(() => {}); // only if still empty
    await unlink(join(paths.dir, REPLACING_JOURNAL)).catch(() => {});
  }
  if (!force && ((await exists(paths.caCert)) || (await exists(paths.caKey)))) throw caExists(paths);
  const present: string[] = [];
  for (const path of caBoundPaths(paths)) if (await exists(path)) present.push(path);
  if (present.length === 0) return null;
  const archive = await makeArchiveDir(paths.dir, now);
  await writeOneAtomic(join(paths.dir, REPLACING_JOURNAL), `${archive}\n`, PUBLIC_MODE);
  return moveInto(paths, archive);
}

function caExists(paths: PkiPaths): FleethubError {
  return new FleethubError(
    'FH_ERR_CA_EXISTS',
    `a CA already exists in ${paths.dir} (--force starts a new PKI: the old one moves to ${REPLACED_DIR_PREFIX}<time>/ and every device needs a new certificate)`,
  );
}
