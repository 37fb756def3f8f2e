/**
 * Where the hub reads a text it follows while running (the CRL, the
 * inventory): a {@link TextSource}. Today a file in the PKI folder
 * ({@link PolledFile}); in cluster mode a key the cluster publishes, so the
 * CRL watcher and the device plans never know which.
 *
 * {@link PolledFile} notices rewrites by polling: `fs.watch` misses atomic
 * renames on some platforms and file systems, and a stat per second per file
 * costs nothing. A change of mtime, size or inode triggers a read; the
 * listener runs only when the content's SHA-256 differs from the last one.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

/** A text that can change while the hub runs, and tells when it does. */
export interface TextSource {
  /** What to call it in log lines and errors (a file's path). */
  readonly name: string;
  /** The text now (null: there is none). Read once at start; later changes come to the listener of {@link watch}. */
  read(): Promise<string | null>;
  /** From now until close(), calls `listener` with each new text (null: it is gone). Called once. */
  watch(listener: (text: string | null) => void): void;
  /** Looks for a change now instead of at the next poll; resolves after the listener ran for it. */
  check(): Promise<void>;
  /** Stops watching; resolves after a check in progress ended. Idempotent. */
  close(): Promise<void>;
}

function statKeyOf(s: { mtimeMs: number; size: number; ino: number } | null): string {
  return s === null ? 'missing' : `${s.mtimeMs}:${s.size}:${s.ino}`;
}

function hashOf(text: string | null): string {
  return text === null ? 'missing' : createHash('sha256').update(text).digest('hex');
}

/** A file, polled every `intervalMs` once watched, one check at a time (a slow disk never piles up reads). */
export class PolledFile implements TextSource {
  readonly name: string;
  readonly #intervalMs: number;
  #listener: ((text: string | null) => void) | null = null;
  #statKey = '';
  #hash = '';
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #round: Promise<void> = Promise.resolve();

  constructor(path: string, intervalMs: number) {
    this.name = path;
    this.#intervalMs = intervalMs;
  }

  /** Reads the file (null when it does not exist; other errors throw). */
  async read(): Promise<string | null> {
    // Stat before reading: a rewrite in between then shows as a change at the next check, never as none.
    this.#statKey = statKeyOf(await stat(this.name).catch(() => null));
    const text = await readFile(this.name, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    this.#hash = hashOf(text);
    return text;
  }

  watch(listener: (text: string | null) => void): void {
    this.#listener = listener;
    if (!this.#closed && this.#timer === null) this.#schedule();
  }

  check(): Promise<void> {
    this.#round = this.#round.then(() => this.#check());
    return this.#round;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#round;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.check().finally(() => {
        if (!this.#closed) this.#schedule();
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    const key = statKeyOf(await stat(this.name).catch(() => null));
    if (key === this.#statKey) return;
    this.#statKey = key;
    // Unreadable counts as gone: the listener keeps what it had (a CRL is never dropped for that).
    const text = key === 'missing' ? null : await readFile(this.name, 'utf8').catch(() => null);
    const hash = hashOf(text);
    if (hash === this.#hash) return;
    this.#hash = hash;
    if (!this.#closed) this.#listener?.(text);
  }
}

/**
 * One text from two sources: the preferred one's once it has any, else the
 * fallback's (cluster mode: the inventory the CLI published to the cluster,
 * else the PKI folder's file). Both are followed; the listener hears the
 * text that wins whenever either changes.
 */
export class PreferredSource implements TextSource {
  readonly name: string;
  readonly #preferred: TextSource;
  readonly #fallback: TextSource;
  #texts: [string | null, string | null] = [null, null];
  #current: string | null = null;

  constructor(preferred: TextSource, fallback: TextSource) {
    this.#preferred = preferred;
    this.#fallback = fallback;
    this.name = `${preferred.name} (else ${fallback.name})`;
  }

  async read(): Promise<string | null> {
    this.#texts = await Promise.all([this.#preferred.read().catch(() => null), this.#fallback.read()]);
    this.#current = this.#texts[0] ?? this.#texts[1];
    return this.#current;
  }

  watch(listener: (text: string | null) => void): void {
    const offer = (index: 0 | 1, text: string | null): void => {
      this.#texts[index] = text;
      const next = this.#texts[0] ?? this.#texts[1];
      if (next === this.#current) return;
      this.#current = next;
      listener(next);
    };
    this.#preferred.watch((text) => offer(0, text));
    this.#fallback.watch((text) => offer(1, text));
  }

  async check(): Promise<void> {
    await Promise.all([this.#preferred.check(), this.#fallback.check()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#preferred.close(), this.#fallback.close()]);
  }
}
