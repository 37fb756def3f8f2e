/**
 * Notices when files are rewritten, by polling: `fs.watch` misses atomic
 * renames on some platforms and file systems, and a stat per second per file
 * costs nothing. A change of mtime, size or inode triggers a read; the
 * callback runs only when the content's SHA-256 differs from the last one.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

/** One file to poll and what to do when its content changes (null: the file is gone). */
export interface PolledFile {
  readonly path: string;
  readonly onChange: (content: string | null) => void;
}

interface FileState {
  readonly file: PolledFile;
  statKey: string;
  hash: string;
}

function statKeyOf(s: { mtimeMs: number; size: number; ino: number } | null): string {
  return s === null ? 'missing' : `${s.mtimeMs}:${s.size}:${s.ino}`;
}

/** Polls files every `intervalMs`, one round at a time (a slow disk never piles up reads). */
export class FilePoller {
  readonly #states: FileState[];
  readonly #intervalMs: number;
  readonly #onTick: () => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #round: Promise<void> = Promise.resolve();

  /** `onTick` runs after every round, changed or not (time-based checks such as CRL expiry). */
  constructor(files: readonly PolledFile[], intervalMs: number, onTick: () => void = () => {}) {
    this.#states = files.map((file) => ({ file, statKey: '', hash: '' }));
    this.#intervalMs = intervalMs;
    this.#onTick = onTick;
  }

  /** Records the current content of every file without calling back (the caller loaded them itself). */
  async prime(contents: ReadonlyMap<string, string | null>): Promise<void> {
    for (const state of this.#states) {
      state.statKey = statKeyOf(await stat(state.file.path).catch(() => null));
      const content = contents.get(state.file.path) ?? null;
      state.hash = content === null ? 'missing' : createHash('sha256').update(content).digest('hex');
    }
  }

  /** Starts polling. */
  start(): void {
    if (this.#closed || this.#timer !== null) return;
    this.#schedule();
  }

  /** Checks every file now; resolves after the callbacks ran. */
  poll(): Promise<void> {
    this.#round = this.#round.then(() => this.#check());
    return this.#round;
  }

  /** Stops polling; resolves after a round in progress ends. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#round;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.poll().finally(() => {
        if (!this.#closed) this.#schedule();
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    for (const state of this.#states) {
      if (this.#closed) return;
      const key = statKeyOf(await stat(state.file.path).catch(() => null));
      if (key === state.statKey) continue;
      state.statKey = key;
      const content = key === 'missing' ? null : await readFile(state.file.path, 'utf8').catch(() => null);
      const hash = content === null ? 'missing' : createHash('sha256').update(content).digest('hex');
      if (hash === state.hash) continue;
      state.hash = hash;
      if (!this.#closed) state.file.onChange(content);
    }
    if (!this.#closed) this.#onTick();
  }
}
