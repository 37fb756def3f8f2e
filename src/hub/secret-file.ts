/**
 * The small random keys a hub keeps in its PKI folder (`token.key`,
 * `ticket.keys`): created 0600 with an exclusive atomic write (two creators
 * racing end up with one key), read whole, and watched by the file's
 * identity (inode, size, mtime) so a replaced file is noticed with one stat.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { writeFileAtomicSync } from '../atomic-file.js';
import { FleethubError } from '../errors.js';

/** What one stat says of a key file. */
export interface SecretFileInfo {
  /** Inode, size and mtime: changes whenever the file is replaced. */
  readonly identity: string;
  readonly mtimeMs: number;
}

/** The error code of a failed fs call, if any. */
export function errnoOf(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err ? String((err as NodeJS.ErrnoException).code) : undefined;
}

/** The file's identity, or null when it does not exist. Throws FH_ERR_PKI_IO on any other error. */
export function secretFileInfo(path: string): SecretFileInfo | null {
  try {
    const st = statSync(path);
    return { identity: `${st.ino}:${st.size}:${st.mtimeMs}`, mtimeMs: st.mtimeMs };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw new FleethubError('FH_ERR_PKI_IO', `cannot read ${path}: ${errnoOf(err) ?? 'error'}`, { cause: err });
  }
}

/**
 * Reads a key of `bytes` random bytes (`exact`: no more either). `whenBad`
 * ends the error for a file of the wrong size (what the operator should do).
 * Throws FH_ERR_PKI_IO.
 */
export function readSecretFile(path: string, bytes: number, exact: boolean, whenBad: string): Buffer {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot read ${path}: ${errnoOf(err) ?? 'error'}`, { cause: err });
  }
  if (key.length < bytes || (exact && key.length !== bytes)) {
    throw new FleethubError('FH_ERR_PKI_IO', `${path} must hold ${bytes} random bytes, found ${key.length}; ${whenBad}`);
  }
  return key;
}

/**
 * Writes `bytes` new random bytes, 0600, atomically. Unless `replace`, an
 * existing file wins (another process created it first) and is kept. Other
 * errors are thrown as they are, for the caller to word.
 */
export function createSecretFile(path: string, bytes: number, replace: boolean): void {
  try {
    writeFileAtomicSync(path, randomBytes(bytes), { mode: 0o600, exclusive: !replace });
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
  }
}
