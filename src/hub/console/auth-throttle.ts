/**
 * Refused dashboard authentications, per source IP: after
 * `authFailuresPerIp` refusals (no auth in time, a first message that is not
 * auth, a bad or expired token) within `authFailureWindowMs`, that IP's
 * further auth attempts are refused at once, without reading the token,
 * until the window ends. Also the counts behind the periodic log summary, so
 * a token-guessing or socket-holding client costs one log line per interval,
 * not one per attempt. Pure bookkeeping with an injectable clock.
 */

/** The throttle's limits (from `HubConfig.console`). */
export interface AuthThrottleOptions {
  readonly authFailuresPerIp: number;
  readonly authFailureWindowMs: number;
  /** ms clock. @defaultValue `performance.now` */
  readonly now?: () => number;
}

/** What happened since the last {@link AuthThrottle.takeSummary}. */
export interface AuthRefusalSummary {
  /** Auth attempts refused after being checked (timeout, not auth, bad or expired token). */
  readonly refused: number;
  /** Auth attempts refused at once because their IP was throttled. */
  readonly throttled: number;
  /** Distinct IPs behind them (counted up to 10,000). */
  readonly ips: number;
  /** The IPs with the most refusals, `ip ×count`, at most {@link SUMMARY_TOP_IPS}. */
  readonly top: readonly string[];
}

/** IPs named in one summary line at most. */
export const SUMMARY_TOP_IPS = 5;
/** IPs counted per summary interval at most (past it only the totals grow): the map stays bounded under a many-address flood. */
const MAX_IPS_PER_SUMMARY = 10_000;

interface IpFailures {
  windowStart: number;
  failures: number;
}

/** Per-IP failure windows and the counts of the current summary interval. */
export class AuthThrottle {
  readonly #options: AuthThrottleOptions;
  readonly #now: () => number;
  readonly #ips = new Map<string, IpFailures>();
  /** Refusals per IP since the last summary (attempts checked and refused, plus throttled ones). */
  readonly #interval = new Map<string, number>();
  #refused = 0;
  #throttled = 0;

  constructor(options: AuthThrottleOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when `ip` has used up its failures for the current window: refuse its auth at once. */
  blocked(ip: string): boolean {
    const state = this.#ips.get(ip);
    if (state === undefined) return false;
    if (this.#now() - state.windowStart >= this.#options.authFailureWindowMs) {
      this.#ips.delete(ip);
      return false;
    }
    return state.failures >= this.#options.authFailuresPerIp;
  }

  /** Records a refused auth from `ip`; `throttled` when it was refused by {@link blocked}. */
  refused(ip: string, throttled: boolean): void {
    const count = this.#interval.get(ip);
    if (count !== undefined || this.#interval.size < MAX_IPS_PER_SUMMARY) this.#interval.set(ip, (count ?? 0) + 1);
    if (throttled) {
      this.#throttled += 1;
      return;
    }
    this.#refused += 1;
    const now = this.#now();
    let state = this.#ips.get(ip);
    if (state === undefined || now - state.windowStart >= this.#options.authFailureWindowMs) {
      state = { windowStart: now, failures: 0 };
      this.#ips.set(ip, state);
    }
    state.failures += 1;
  }

  /** The counts since the last call (null when there were none), then starts a new interval and forgets expired windows. */
  takeSummary(): AuthRefusalSummary | null {
    const now = this.#now();
    for (const [ip, state] of this.#ips) {
      if (now - state.windowStart >= this.#options.authFailureWindowMs) this.#ips.delete(ip);
    }
    if (this.#interval.size === 0) return null;
    const top = [...this.#interval].sort((a, b) => b[1] - a[1]).slice(0, SUMMARY_TOP_IPS).map(([ip, n]) => `${ip} ×${n}`);
    const summary: AuthRefusalSummary = { refused: this.#refused, throttled: this.#throttled, ips: this.#interval.size, top };
    this.#interval.clear();
    this.#refused = 0;
    this.#throttled = 0;
    return summary;
  }
}
