/**
 * Readers' saved positions (one per sink), kept in `cursors.json` and
 * rewritten atomically. Saves that arrive while a write is in flight share
 * the next write, so a sink saving after every batch costs one file write
 * per round, not one per call.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { FleethubError } from '../errors.js';

/** The cursors' file name inside the store folder. */
export const CURSOR_FILE = 'cursors.json';

/** Longest cursor name (a sink name, typically). */
export const MAX_CURSOR_NAME_LENGTH = 200;

/** Named positions, persisted. */
export class CursorFile {
  readonly #path: string;
  readonly #positions: Map<string, number>;
  #inflight: Promise<void> = Promise.resolve();
  #next: Promise<void> | null = null;

  private constructor(path: string, positions: Map<string, number>) {
    this.#path = path;
    this.#positions = positions;
  }

  /** Loads `cursors.json` from `dir` (none yet: no cursors). */
  static async load(dir: string): Promise<CursorFile> {
    const path = join(dir, CURSOR_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new CursorFile(path, new Map());
      throw new FleethubError('FH_ERR_STORE_IO', `store: cannot read ${path}`, { cause: err });
    }
    const positions = new Map<string, number>();
    try {
      const json = JSON.parse(text) as { cursors?: Record<string, unknown> };
      for (const [name, position] of Object.entries(json.cursors ?? {})) {
        if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) throw new Error(`bad position for ${name}`);
        positions.set(name, position);
      }
    } catch (err) {
      // Never silently forget a reader's place: retention would delete what it has not read.
      throw new FleethubError('FH_ERR_STORE_IO', `store: ${path} is not valid (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    return new CursorFile(path, positions);
  }

  /** The saved position, if any. */
  get(name: string): number | undefined {
    return this.#positions.get(name);
  }

  /** Every saved cursor. */
  entries(): IterableIterator<[string, number]> {
    return this.#positions.entries();
  }

  /** Saves a position; resolves once it is on disk. */
  set(name: string, position: number): Promise<void> {
    checkName(name);
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: cursor position must be a non-negative integer, got ${position}`);
    }
    this.#positions.set(name, position);
    return this.#flush();
  }

  /** Forgets a cursor (a sink removed from the config), so it no longer holds back retention. */
  delete(name: string): Promise<void> {
    if (!this.#positions.delete(name)) return Promise.resolve();
    return this.#flush();
  }

  /** Resolves once every save so far is on disk. */
  settled(): Promise<void> {
    return (this.#next ?? this.#inflight).catch(() => {});
  }

  #flush(): Promise<void> {
    if (this.#next !== null) return this.#next;
    const next = this.#inflight.catch(() => {}).then(async () => {
      this.#next = null; // saves from here on need a write of their own
      const text = JSON.stringify({ version: 1, cursors: Object.fromEntries(this.#positions) });
      await writeFileAtomic(this.#path, text, { mode: 0o600 });
    });
    this.#next = next;
    this.#inflight = next;
    return next;
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_CURSOR_NAME_LENGTH) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: cursor name must be 1 to ${MAX_CURSOR_NAME_LENGTH} characters`);
  }
}
