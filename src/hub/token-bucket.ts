/**
 * A token bucket (pure, injectable clock): a device may send `burst` messages
 * at once after a quiet spell, and `msgsPerSec` sustained. Enforced per
 * message where the frame arrives (device-session.ts); a refused message is
 * nacked `rate_limited` with {@link TokenBucket.take}'s `retryAfterMs`.
 */

/** Options of {@link TokenBucket}; both come from the device's limits. */
export interface TokenBucketOptions {
  /** Refill rate, tokens per second. */
  readonly ratePerSec: number;
  /** Capacity; the bucket starts full. */
  readonly burst: number;
  /** ms clock, replaceable in tests. @defaultValue `performance.now` */
  readonly now?: () => number;
}

/** The default clock, one function for every bucket. */
function performanceNow(): number {
  return performance.now();
}

/** A token bucket holding at most `burst` tokens, refilled at `ratePerSec`. */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(options: TokenBucketOptions) {
    this.#ratePerMs = options.ratePerSec / 1000;
    this.#burst = options.burst;
    this.#now = options.now ?? performanceNow;
    this.#tokens = options.burst;
    this.#at = this.#now();
  }

  /** Tokens available now (fractional). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /**
   * Takes one token. Returns 0 when it was taken, otherwise the ms until one
   * is available (at least 1), and takes nothing. A caller that has just read
   * the clock passes the time as `now` (one clock read per message, not two);
   * a clock that stepped back only refills nothing for that step.
   */
  take(now: number = this.#now()): number {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#ratePerMs));
  }

  #refill(now: number = this.#now()): void {
    const elapsed = now - this.#at;
    this.#at = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
  }
}
