/**
 * Which cumulative ack a connection may send (pure). SPEC: `{"ack":N}` says
 * every message of this connection with seq ≤ N that was not nacked is
 * durably stored. Appends can settle out of seq order (a device resending an
 * old seq after a newer one), so N must stay below the lowest seq still on
 * its way to the store.
 */

/** Tracks accepted seqs from hand-off to the store until an ack covers them. */
export class AckTracker {
  /**
   * Accepted seqs whose append has not settled, in the order they were
   * handed over (a repeated seq appears once per hand-off). An array, not a
   * map: appends settle in the order they were made, so the one settling is
   * nearly always the first, and a busy connection's churn then allocates
   * nothing (a map reallocates its table every few insertions and deletions,
   * and those tables lived long enough to reach the old generation).
   */
  readonly #pending: number[] = [];
  /** Durable seqs that no ack has covered yet. */
  readonly #durable: number[] = [];
  /** Lowest seq whose append failed: no ack of this connection may cover it (it was not nacked, and is not stored). */
  #lowestFailed = Infinity;

  /** Appends handed to the store and not settled yet. */
  get pending(): number {
    return this.#pending.length;
  }

  /** `seq` was handed to the store. */
  accepted(seq: number): void {
    this.#pending.push(seq);
  }

  /** The append of `seq` settled; `durable` when the store committed it (or it was a repeat of a stored one). */
  settled(seq: number, durable: boolean): void {
    this.#unpend(seq);
    if (durable) this.#durable.push(seq);
    else if (seq < this.#lowestFailed) this.#lowestFailed = seq;
  }

  /** The store refused `seq` and the session nacks it: later acks may pass it (SPEC: an ack covers seqs not nacked). */
  nacked(seq: number): void {
    this.#unpend(seq);
  }

  #unpend(seq: number): void {
    const pending = this.#pending;
    if (pending[0] === seq) pending.shift();
    else {
      const at = pending.indexOf(seq);
      if (at > 0) pending.splice(at, 1);
    }
  }

  /**
   * The ack to send now, or null: the highest durable seq below every pending
   * one and every failed one. The seqs it covers are forgotten, so each is acked once (several at
   * once: acks are coalesced).
   */
  take(): number | null {
    if (this.#durable.length === 0) return null;
    let minPending = this.#lowestFailed;
    for (const seq of this.#pending) if (seq < minPending) minPending = seq;
    let ack = 0;
    let kept = 0;
    // In place: the durable seqs not covered move to the front (no array per ack).
    for (const seq of this.#durable) {
      if (seq < minPending) {
        if (seq > ack) ack = seq;
      } else this.#durable[kept++] = seq;
    }
    this.#durable.length = kept;
    return ack > 0 ? ack : null;
  }
}
