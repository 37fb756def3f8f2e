/**
 * Capped exponential backoff with full jitter, shared by the simulator's
 * devices and the bridge's sink runners so that a thousand clients never
 * retry in lockstep ("Exponential Backoff And Jitter", AWS Architecture Blog).
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First ceiling in ms. @defaultValue {@link DEFAULT_BACKOFF_INITIAL_MS} */
  initialMs?: number;
  /** Largest ceiling in ms. @defaultValue {@link DEFAULT_BACKOFF_MAX_MS} */
  maxMs?: number;
  /** Growth factor per failure. @defaultValue 2 */
  factor?: number;
  /** Source of randomness in [0, 1), replaceable for deterministic tests. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

/** Tracks consecutive failures and yields the next delay. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
  }

  /** Failures since the last {@link reset}. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The delay before the next try: uniform in [0, ceiling), where the ceiling
   * grows by `factor` per failure up to `maxMs`. `scale` widens it (the
   * simulator uses 2 after a TLS failure, when a whole fleet failed at once).
   */
  next(scale = 1): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt) * scale;
    this.#attempt += 1;
    return Math.floor(this.#random() * ceiling);
  }

  /** Call after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
