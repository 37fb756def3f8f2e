/**
 * Where the passphrase of an encrypted `issuing.key` comes from (SPEC:
 * Certificate authority for online signing): a file (a secret mounted by
 * systemd's LoadCredential, Docker or Kubernetes) or an environment
 * variable. Never a command-line argument: `ps` shows those to every user.
 */
import { readFile } from 'node:fs/promises';
import { FleethubError } from '../errors.js';

/** The environment variable read when no file is named. @defaultValue 'FLEETHUB_ISSUING_PASSPHRASE' */
export const ISSUING_PASSPHRASE_ENV = 'FLEETHUB_ISSUING_PASSPHRASE';

/** Largest passphrase file read: a passphrase, not a document. */
export const MAX_PASSPHRASE_FILE_BYTES = 4096;

/** Where to look. */
export interface PassphraseSource {
  /** A file holding the passphrase (one trailing newline is dropped). @defaultValue null */
  readonly file?: string | null;
  /** The environment variable to read when there is no file. @defaultValue {@link ISSUING_PASSPHRASE_ENV} */
  readonly env?: string;
  /** The environment. @defaultValue process.env */
  readonly environment?: NodeJS.ProcessEnv;
}

/** The passphrase from the file, else the environment variable, else null (no passphrase given). */
export async function readPassphrase(source: PassphraseSource = {}): Promise<string | null> {
  if (source.file !== undefined && source.file !== null) {
    let text: string;
    try {
      const bytes = await readFile(source.file);
      if (bytes.length > MAX_PASSPHRASE_FILE_BYTES) throw new Error(`larger than ${MAX_PASSPHRASE_FILE_BYTES} bytes`);
      text = bytes.toString('utf8');
    } catch (err) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `cannot read the passphrase file ${source.file}: ${(err as Error).message}`, { cause: err });
    }
    const passphrase = text.replace(/\r?\n$/, '');
    if (passphrase.length === 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `the passphrase file ${source.file} is empty`);
    return passphrase;
  }
  const value = (source.environment ?? process.env)[source.env ?? ISSUING_PASSPHRASE_ENV];
  return value === undefined || value === '' ? null : value;
}
