/**
 * Durable records by key for commands and desired configuration: the
 * {@link KeyedStore} interface, and its single-node backend, an append-only
 * journal in the data folder (one JSON line per change, fsynced before the
 * write resolves; compacted into a fresh file, atomically, when it opens and
 * when it has grown well past its live records). A cluster backend (a
 * JetStream KV bucket) can stand behind the same interface.
 */
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../atomic-file.js';
import { FleethubError } from '../../errors.js';

/** Records by key, each change durable once its promise resolves. */
export interface KeyedStore<T> {
  /** Every live record, as of the open. */
  readonly initial: ReadonlyMap<string, T>;
  /** Stores `value` under `key` (replacing any), durably. */
  put(key: string, value: T): Promise<void>;
  /** Forgets `key`, durably. */
  delete(key: string): Promise<void>;
  /** Waits for pending writes and closes. Idempotent. */
  close(): Promise<void>;
}

/** A journal is rewritten once it holds this many lines more than twice its live records. */
const COMPACT_SLACK_LINES = 1_000;

type Line<T> = { readonly k: string; readonly v: T } | { readonly k: string; readonly d: 1 };

/** Parses a journal's text; a torn last line (a crash mid-append) is dropped, as it was never acknowledged. */
function replay<T>(text: string, accept: (value: unknown) => value is T): Map<string, T> {
  const records = new Map<string, T>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let line: unknown;
    try {
      line = JSON.parse(raw);
    } catch {
      continue;
    }
    if (typeof line !== 'object' || line === null) continue;
    const { k, v, d } = line as { k?: unknown; v?: unknown; d?: unknown };
    if (typeof k !== 'string') continue;
    if (d === 1) records.delete(k);
    else if (accept(v)) records.set(k, v);
  }
  return records;
}

function render<T>(records: ReadonlyMap<string, T>): string {
  let text = '';
  for (const [k, v] of records) text += `${JSON.stringify({ k, v } satisfies Line<T>)}\n`;
  return text;
}

/** The single-node {@link KeyedStore}: `<dataDir>/<name>.jsonl`. */
export class JournalStore<T> implements KeyedStore<T> {
  readonly initial: ReadonlyMap<string, T>;
  readonly #path: string;
  readonly #live: Map<string, T>;
  #file: FileHandle;
  #lines: number;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, file: FileHandle, records: Map<string, T>) {
    this.#path = path;
    this.#file = file;
    this.#live = records;
    this.#lines = records.size;
    this.initial = new Map(records);
  }

  /** Opens (and compacts) `<dir>/<name>.jsonl`; `accept` checks each stored value's shape. */
  static async open<T>(dir: string, name: string, accept: (value: unknown) => value is T): Promise<JournalStore<T>> {
    const path = join(dir, `${name}.jsonl`);
    try {
      // In cluster mode nothing else makes the data folder.
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : Promise.reject(err)));
      const records = replay(text, accept);
      await writeFileAtomic(path, render(records), { mode: 0o600 });
      return new JournalStore(path, await open(path, 'a'), records);
    } catch (err) {
      throw new FleethubError('FH_ERR_STORE_IO', `cannot open ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  put(key: string, value: T): Promise<void> {
    this.#live.set(key, value);
    return this.#append(JSON.stringify({ k: key, v: value } satisfies Line<T>));
  }

  delete(key: string): Promise<void> {
    if (!this.#live.delete(key)) return this.#queue;
    return this.#append(JSON.stringify({ k: key, d: 1 } satisfies Line<T>));
  }

  /** One write at a time, in order: each resolves once its line is on disk. */
  #append(line: string): Promise<void> {
    if (this.#closed) return Promise.reject(new FleethubError('FH_ERR_STORE_IO', `${this.#path} is closed`));
    const write = this.#queue.then(async () => {
      await this.#file.appendFile(`${line}\n`, 'utf8');
      await this.#file.datasync();
      this.#lines += 1;
      if (this.#lines > 2 * this.#live.size + COMPACT_SLACK_LINES) await this.#compact();
    });
    // A failed write fails its caller; the queue goes on for the next one.
    this.#queue = write.catch(() => undefined);
    return write;
  }

  async #compact(): Promise<void> {
    await writeFileAtomic(this.#path, render(this.#live), { mode: 0o600 });
    await this.#file.close();
    this.#file = await open(this.#path, 'a');
    this.#lines = this.#live.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await this.#file.close();
  }
}
