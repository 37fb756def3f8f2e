/**
 * Bounded statistics for a long run with many samples: a log-bucket latency
 * histogram (fixed memory however many samples, percentiles within half a
 * bucket, about 4.5 %) and a throughput time series that halves its
 * resolution instead of growing. Pure.
 */

/** Smallest value told apart, in ms; anything lower falls in the first bucket. */
const MIN_MS = 0.01;
/** Largest value told apart, in ms (ten minutes); anything higher falls in the last bucket. */
const MAX_MS = 600_000;
/** Buckets per doubling: each bucket is 2^(1/8), about 9 %, wider than the last. */
const PER_DOUBLING = 8;
const BUCKETS = Math.ceil(Math.log2(MAX_MS / MIN_MS) * PER_DOUBLING) + 1;

/** Upper bound of bucket `i` in ms. */
function upperBound(i: number): number {
  return MIN_MS * 2 ** ((i + 1) / PER_DOUBLING);
}

/** One histogram bucket for charts: values in (`fromMs`, `toMs`]. */
export interface HistogramBucket {
  readonly fromMs: number;
  readonly toMs: number;
  readonly count: number;
}

/** Summary figures of a histogram, in ms (0 when empty). */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** What a histogram held at one moment ({@link LatencyHistogram.snapshot}). */
export interface LatencySnapshot {
  readonly counts: Float64Array;
  readonly count: number;
  readonly sum: number;
}

/** Fixed-size log-bucket histogram of durations in ms. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #max = 0;
  #min = Number.POSITIVE_INFINITY;

  /** Adds one sample (negative values count as 0). */
  record(ms: number): void {
    const value = Math.max(0, ms);
    const index = value <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(value / MIN_MS) * PER_DOUBLING));
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.#count += 1;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
    if (value < this.#min) this.#min = value;
  }

  get count(): number {
    return this.#count;
  }

  /** What the histogram holds now, for {@link since}. */
  snapshot(): LatencySnapshot {
    return { counts: this.#counts.slice(), count: this.#count, sum: this.#sum };
  }

  /**
   * The samples recorded after `before` (a snapshot of this histogram), as a
   * histogram of their own: a steady phase's latencies without the ramp's.
   * Its min and max are the bounds of its outermost buckets, within this
   * histogram's own.
   */
  since(before: LatencySnapshot): LatencyHistogram {
    const out = new LatencyHistogram();
    let first = -1;
    let last = -1;
    for (let i = 0; i < BUCKETS; i++) {
      const n = (this.#counts[i] ?? 0) - (before.counts[i] ?? 0);
      if (n <= 0) continue;
      out.#counts[i] = n;
      if (first < 0) first = i;
      last = i;
    }
    out.#count = this.#count - before.count;
    out.#sum = this.#sum - before.sum;
    if (first >= 0) {
      out.#min = Math.max(this.#min, first === 0 ? 0 : upperBound(first - 1));
      out.#max = last === BUCKETS - 1 ? this.#max : Math.min(this.#max, upperBound(last));
    }
    return out;
  }

  /**
   * The value at quantile `q` (0..1): the upper bound of the bucket that
   * holds it, clamped to the observed range, so p100 is the true max.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      // The last bucket is open-ended: its only honest bound is the max.
      if (seen >= rank) return i === BUCKETS - 1 ? this.#max : Math.min(this.#max, Math.max(this.#min, upperBound(i)));
    }
    return this.#max;
  }

  /** p50, p99, max and mean. */
  summary(): LatencySummary {
    return {
      count: this.#count,
      p50: round3(this.quantile(0.5)),
      p99: round3(this.quantile(0.99)),
      max: round3(this.#max),
      mean: this.#count === 0 ? 0 : round3(this.#sum / this.#count),
    };
  }

  /** The non-empty span of buckets, for charts. */
  buckets(): HistogramBucket[] {
    let first = -1;
    let last = -1;
    for (let i = 0; i < BUCKETS; i++) {
      if ((this.#counts[i] ?? 0) > 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    const out: HistogramBucket[] = [];
    for (let i = Math.max(0, first); first >= 0 && i <= last; i++) {
      out.push({ fromMs: round3(i === 0 ? 0 : upperBound(i - 1)), toMs: round3(upperBound(i)), count: this.#counts[i] ?? 0 });
    }
    return out;
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** One point of a {@link ThroughputSeries}: counts in [`atMs`, `atMs + widthMs`) since the start. */
export interface ThroughputPoint {
  readonly atMs: number;
  readonly widthMs: number;
  readonly sent: number;
  readonly acked: number;
}

/** Default number of points kept; past it, neighbouring points merge. */
export const DEFAULT_SERIES_POINTS = 600;

/** Messages sent and acked per time slot since the start, at most `maxPoints` slots. */
export class ThroughputSeries {
  readonly #maxPoints: number;
  #widthMs: number;
  #sent: number[] = [];
  #acked: number[] = [];

  constructor(widthMs = 1000, maxPoints = DEFAULT_SERIES_POINTS) {
    this.#widthMs = widthMs;
    this.#maxPoints = Math.max(2, maxPoints);
  }

  /** Counts `sent` and `acked` at `elapsedMs` since the start. */
  add(elapsedMs: number, sent: number, acked: number): void {
    let slot = Math.floor(Math.max(0, elapsedMs) / this.#widthMs);
    // Bounded: each halving doubles the span covered, so this loop runs a
    // handful of times at most (log2 of the run length over the slot width).
    while (slot >= this.#maxPoints) {
      this.#halve();
      slot = Math.floor(Math.max(0, elapsedMs) / this.#widthMs);
    }
    while (this.#sent.length <= slot) {
      this.#sent.push(0);
      this.#acked.push(0);
    }
    this.#sent[slot] = (this.#sent[slot] ?? 0) + sent;
    this.#acked[slot] = (this.#acked[slot] ?? 0) + acked;
  }

  /** The points, oldest first. */
  points(): ThroughputPoint[] {
    return this.#sent.map((sent, i) => ({ atMs: i * this.#widthMs, widthMs: this.#widthMs, sent, acked: this.#acked[i] ?? 0 }));
  }

  #halve(): void {
    const merge = (values: number[]): number[] => {
      const out: number[] = [];
      for (let i = 0; i < values.length; i += 2) out.push((values[i] ?? 0) + (values[i + 1] ?? 0));
      return out;
    };
    this.#sent = merge(this.#sent);
    this.#acked = merge(this.#acked);
    this.#widthMs *= 2;
  }
}
