/**
 * `token.key` in the PKI folder: the 32-byte HMAC key that signs dashboard
 * tokens (SPEC: certs/ layout). Whoever uses it first (the CLI's
 * `token create` or the hub) creates it, 0600, with an exclusive atomic write,
 * so two creators racing end up with one key: the loser reads the winner's.
 *
 * Rotation: replacing or deleting the file revokes every token signed with
 * the old key. {@link TokenKeyFile} notices by comparing the file's identity
 * (inode, size, mtime) on each use and on the listener's poll
 * (`console.tokenKeyCheckMs`), so a running hub needs no restart.
 */
import { join } from 'node:path';
import { FleethubError } from '../../errors.js';
import { createSecretFile, errnoOf, readSecretFile, secretFileInfo } from '../secret-file.js';
import { TOKEN_KEY_BYTES } from './dashboard-token.js';

/** File name of the token key inside the PKI folder. */
export const TOKEN_KEY_FILE = 'token.key';

function identity(path: string): string | null {
  return secretFileInfo(path)?.identity ?? null;
}

function readKey(path: string): Buffer {
  return readSecretFile(path, TOKEN_KEY_BYTES, false, 'delete it to make a new key (this revokes every token)');
}

/** Reads `token.key`, creating it (32 random bytes, 0600, atomic, exclusive) when missing. */
export function loadOrCreateTokenKey(pkiDir: string): Buffer {
  const path = join(pkiDir, TOKEN_KEY_FILE);
  if (identity(path) === null) {
    try {
      createSecretFile(path, TOKEN_KEY_BYTES, false);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') throw new FleethubError('FH_ERR_PKI_IO', `no PKI folder at ${pkiDir} (run \`fleethub ca init\` or \`fleethub serve\` first, or pass --pki)`, { cause: err });
      throw new FleethubError('FH_ERR_PKI_IO', `cannot create ${path}: ${code ?? 'error'}`, { cause: err });
    }
  }
  return readKey(path);
}

/** The token key of a running hub, reloaded when the file changes. */
export class TokenKeyFile {
  readonly #path: string;
  readonly #pkiDir: string;
  readonly #onRotate: () => void;
  #key: Buffer;
  #identity: string | null;

  /**
   * Loads (or creates) the key in `pkiDir`. `onRotate` runs whenever a
   * refresh finds a different key, whether the poll or a dashboard's auth
   * read it first: live tokens must be checked against it either way.
   */
  constructor(pkiDir: string, onRotate: () => void = () => {}) {
    this.#pkiDir = pkiDir;
    this.#onRotate = onRotate;
    this.#path = join(pkiDir, TOKEN_KEY_FILE);
    this.#key = loadOrCreateTokenKey(pkiDir);
    this.#identity = identity(this.#path);
  }

  /** The current key, after checking whether the file was replaced. */
  key(): Buffer {
    this.refresh();
    return this.#key;
  }

  /**
   * Reloads the key if the file changed (or makes a new one if it was
   * deleted). Returns true, after calling `onRotate`, when the key is now
   * different.
   */
  refresh(): boolean {
    const now = identity(this.#path);
    if (now !== null && now === this.#identity) return false;
    const key = loadOrCreateTokenKey(this.#pkiDir);
    this.#identity = identity(this.#path);
    const changed = !key.equals(this.#key);
    this.#key = key;
    if (changed) this.#onRotate();
    return changed;
  }
}
