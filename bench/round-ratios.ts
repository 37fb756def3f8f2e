/**
 * The hub benchmark's arithmetic over rounds: each build's cost is compared
 * with the bare server's measured in the same round (the same minute of a
 * drifting machine), and the per-round ratios are summed up by their median
 * and spread.
 */

/** The mean of `values` (0 when empty). */
export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

/** The `q`-quantile (0..1) of `values`, interpolated between neighbours; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const below = Math.floor(at);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (at - below);
}

/** The median of `values`; NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Per-round ratios of one build to another, summed up: the median, the middle half (p25–p75), the extremes. */
export interface RoundRatios { median: number; p25: number; p75: number; min: number; max: number; rounds: number }

/**
 * `cost[i] / reference[i]` for every round both measured (the same round,
 * so the same state of the machine), summed up. Rounds where the reference
 * measured 0 are left out.
 */
export function roundRatios(cost: readonly number[], reference: readonly number[]): RoundRatios {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(cost.length, reference.length); i += 1) {
    if (reference[i]! > 0) ratios.push(cost[i]! / reference[i]!);
  }
  return {
    median: median(ratios),
    p25: quantile(ratios, 0.25),
    p75: quantile(ratios, 0.75),
    min: ratios.length === 0 ? NaN : Math.min(...ratios),
    max: ratios.length === 0 ? NaN : Math.max(...ratios),
    rounds: ratios.length,
  };
}

/** `1.03 (1.02, 0.98–1.07)`: the ratio of the sums, then the median of the rounds and their middle half. */
export function formatRatio(ofSums: number, rounds: RoundRatios | undefined): string {
  const fixed = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : '-');
  if (rounds === undefined || rounds.rounds === 0) return fixed(ofSums);
  return `${fixed(ofSums)} (${fixed(rounds.median)}, ${fixed(rounds.p25)}–${fixed(rounds.p75)})`;
}
