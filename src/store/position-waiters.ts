/**
 * Readers waiting for the log to reach a position ({@link StoreReader.waitFor}):
 * woken after the commit that gets there, on abort, or when the store closes.
 */

interface Waiter {
  readonly position: number;
  readonly done: () => void;
}

/** The set of waiting readers. */
export class PositionWaiters {
  readonly #waiters = new Set<Waiter>();

  /** Resolves once {@link wake} reports a committed end past `position`, on abort, or on {@link releaseAll}. */
  wait(position: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = {
        position,
        done: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes every reader waiting for a position below `committedEnd`. */
  wake(committedEnd: number): void {
    for (const waiter of this.#waiters) {
      if (waiter.position < committedEnd) {
        this.#waiters.delete(waiter);
        waiter.done();
      }
    }
  }

  /** Wakes everyone (the store is closing). */
  releaseAll(): void {
    for (const waiter of this.#waiters) waiter.done();
    this.#waiters.clear();
  }
}
