/**
 * An in-memory StoreReader for bridge tests: append readings, read them from
 * any position, wait for commits, keep cursors, answer history queries (by
 * looking at every reading: it is small). `retain`
 * simulate a store error and retention deleting old readings.
 */
import { checkHistoryQuery, nextCursor } from '../../src/store/history-query.js';
import type { HistoryPage, HistoryQuery, Reading, ReadResult, StoreReader, StoredReading } from '../../src/store/types.js';

export class MemoryStoreReader implements StoreReader {
  readonly #readings: StoredReading[] = [];
  readonly #cursors = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  #first = 0;
  /** Positions saved, in order, per cursor (tests inspect them). */
  readonly saves: Array<{ name: string; position: number }> = [];

  append(readings: readonly Reading[]): StoredReading[] {
    const stored = readings.map((r, i) => ({ ...r, position: this.nextPosition() + i }));
    this.#readings.push(...stored);
    for (const wake of [...this.#waiters]) wake();
    return stored;
  }

  /** Deletes every reading before `position` (retention). */
  retain(position: number): void {
    const drop = Math.max(0, Math.min(position, this.nextPosition()) - this.#first);
    this.#readings.splice(0, drop);
    this.#first += drop;
  }

  firstPosition(): number {
    return this.#first;
  }

  nextPosition(): number {
    return this.#first + this.#readings.length;
  }

  async read(from: number, max: number): Promise<ReadResult> {
    const start = Math.max(from, this.#first);
    const skipped = start - from;
    const readings = this.#readings.slice(start - this.#first, start - this.#first + max);
    return { readings, next: start + readings.length, skipped };
  }

  waitFor(position: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = (): void => {
        if (this.nextPosition() > position) done();
      };
      if (signal?.aborted || this.nextPosition() > position) {
        resolve();
        return;
      }
      this.#waiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async cursor(name: string): Promise<number> {
    return this.#cursors.get(name) ?? 0;
  }

  async saveCursor(name: string, position: number): Promise<void> {
    this.#cursors.set(name, position);
    this.saves.push({ name, position });
  }

  async deleteCursor(name: string): Promise<void> {
    this.#cursors.delete(name);
  }

  async history(query: HistoryQuery): Promise<HistoryPage> {
    const q = checkHistoryQuery(query);
    const found: StoredReading[] = [];
    for (const r of this.#readings) {
      if (r.device === q.device && r.position > q.after && r.ts >= q.from && r.ts < q.to) found.push(r);
      if (found.length > q.limit) break;
    }
    const more = found.length > q.limit;
    if (more) found.length = q.limit;
    return { readings: found, next: nextCursor(q, found[found.length - 1]?.position, more) };
  }
}
