/**
 * Where a sink's refused readings are kept for the operator (the
 * poison-reading rule, SPEC: Sinks): one JSON line per reading in
 * `<dataDir>/sinks/<sink>.rejected.jsonl`. The file is bounded: past
 * `maxBytes` it is renamed to `.rejected.jsonl.1` (replacing the previous
 * one) and a new one is started, so a flood of refusals can never fill the
 * disk; the newest ones are always there.
 */
import { mkdir, rename, stat, appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StoredReading } from '../store/types.js';

/** The folder under `dataDir` that holds the sinks' files. */
export const SINKS_DIR = 'sinks';

/** The file a sink's refused readings go to. */
export function rejectedReadingsPath(dataDir: string, sinkName: string): string {
  return join(dataDir, SINKS_DIR, `${sinkName}.rejected.jsonl`);
}

/** One line of the file. */
export interface RejectedReadingLine {
  /** When it was set aside (ISO 8601). */
  readonly at: string;
  readonly sink: string;
  readonly position: number;
  readonly device: string;
  readonly seq: number;
  readonly ts: number;
  readonly data: StoredReading['data'];
  /** What the destination answered, shortened. */
  readonly error: string;
}

/** Appends refused readings to a bounded JSON-lines file. Writes are serialised. */
export class RejectedReadingsFile {
  readonly path: string;
  readonly #maxBytes: number;
  #size: number | null = null;
  #tail: Promise<void> = Promise.resolve();

  constructor(path: string, maxBytes: number) {
    this.path = path;
    this.#maxBytes = maxBytes;
  }

  /** Appends one line (after the ones before it); rejects when the file cannot be written. */
  append(sink: string, reading: StoredReading, error: string): Promise<void> {
    const line: RejectedReadingLine = {
      at: new Date().toISOString(),
      sink,
      position: reading.position,
      device: reading.device,
      seq: reading.seq,
      ts: reading.ts,
      data: reading.data,
      error: error.slice(0, 500),
    };
    const text = `${JSON.stringify(line)}\n`;
    const write = this.#tail.then(() => this.#write(text));
    this.#tail = write.catch(() => undefined);
    return write;
  }

  async #write(text: string): Promise<void> {
    const bytes = Buffer.byteLength(text);
    if (this.#size === null) {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      this.#size = await stat(this.path).then((s) => s.size, () => 0);
    }
    if (this.#size > 0 && this.#size + bytes > this.#maxBytes) {
      await rename(this.path, `${this.path}.1`);
      this.#size = 0;
    }
    await appendFile(this.path, text, { mode: 0o600 });
    this.#size += bytes;
  }
}
