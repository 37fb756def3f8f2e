/**
 * The device side of the hub's rate limit: a token bucket set from
 * `hello.limits` (msgsPerSec, burst), so a well-behaved device never earns
 * a `rate_limited` nack, plus the pause a `retryAfterMs` asks for. Pure:
 * callers pass the time.
 */

/** Share of hello.limits.msgsPerSec a device uses, leaving a margin for clock skew between the two buckets. */
export const SEND_SHARE = 0.9;

/** Paces one device's sends. */
export class SendPacer {
  #ratePerMs: number;
  #burst: number;
  #tokens: number;
  #updatedAt: number;
  #pausedUntil = 0;

  /**
   * `msgsPerSec` and `burst` as in hello.limits. The device keeps a little
   * margin (90 % of the rate, burst minus one) so clock skew between the
   * two buckets never tips it over.
   */
  constructor(msgsPerSec: number, burst: number, now: number) {
    this.#ratePerMs = Math.max(0.001, msgsPerSec * SEND_SHARE) / 1000;
    this.#burst = Math.max(1, burst - 1);
    this.#tokens = this.#burst;
    this.#updatedAt = now;
  }

  /** Takes one token if one is there and no pause is running. */
  tryTake(now: number): boolean {
    if (now < this.#pausedUntil) return false;
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Ms until {@link tryTake} can succeed (0 if now). */
  waitMs(now: number): number {
    if (now < this.#pausedUntil) return this.#pausedUntil - now;
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }

  /** SPEC: a nack's `retryAfterMs`: send nothing before then; the bucket starts empty afterwards. */
  pause(ms: number, now: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, now + Math.max(0, ms));
    this.#tokens = 0;
    this.#updatedAt = this.#pausedUntil;
  }

  #refill(now: number): void {
    if (now > this.#updatedAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#updatedAt) * this.#ratePerMs);
      this.#updatedAt = now;
    }
  }
}
