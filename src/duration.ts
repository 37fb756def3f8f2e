/**
 * Durations on command lines (`token create --ttl 30m`, `sim --duration 2m`):
 * one grammar, a non-negative number and a unit, for every flag that takes
 * one. Each caller words its own error (naming its flag) and checks its own
 * bounds; this module only reads the text.
 */

/** Units a duration may carry, in ms. */
export const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A unit of {@link DURATION_UNITS_MS}. */
export type DurationUnit = keyof typeof DURATION_UNITS_MS;

const DURATION = /^(\d{1,9}(?:\.\d{1,9})?)(ms|s|m|h|d)?$/;

/**
 * Pure: `500ms`, `30s`, `1.5m`, `2h` or `7d` in whole ms (rounded), or null
 * when `text` is not a duration. A bare number (`30`) takes `bareUnit`, and
 * is not a duration when there is none.
 */
export function parseDurationMs(text: string, bareUnit?: DurationUnit): number | null {
  const match = DURATION.exec(text.trim());
  if (match === null) return null;
  const unit = (match[2] as DurationUnit | undefined) ?? bareUnit;
  if (unit === undefined) return null;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[unit]);
}
