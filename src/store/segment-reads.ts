/**
 * Reading committed readings from the log's segments by position: what
 * `read()` does for the sinks. Retention may delete a segment while it is
 * read (it splices it out of the list first), so a read that finds its file
 * gone starts again from the new first position.
 */
import { FleethubError } from '../errors.js';
import type { Segment } from './segment.js';
import { MAX_READ_READINGS } from './store-options.js';
import type { ReadResult } from './types.js';

/** The segment holding `position` (the last one whose base is at or before it); `segments` is oldest first and never empty. */
export function segmentOf(segments: readonly Segment[], position: number): Segment {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((segments[mid] as Segment).base <= position) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo] as Segment;
}

/**
 * Up to `max` (at most {@link MAX_READ_READINGS}) committed readings from
 * position `from`, clamped to the first retained one, reading about
 * `readMaxBytes`. `committedEnd` is asked again after each retry.
 */
export async function readSegments(
  segments: readonly Segment[], committedEnd: () => number, from: number, max: number, readMaxBytes: number,
): Promise<ReadResult> {
  if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(max) || max < 0) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: read(from, max) needs non-negative integers, got ${from}, ${max}`);
  }
  const limit = Math.min(max, MAX_READ_READINGS);
  // Bounded: a retry happens only when retention deleted the segment being read, which moves the first position on.
  for (let attempt = 0; ; attempt += 1) {
    const start = Math.max(from, (segments[0] as Segment).base);
    const skipped = start - from;
    if (start >= committedEnd() || limit === 0) return { readings: [], next: start, skipped };
    const segment = segmentOf(segments, start);
    try {
      const readings = await segment.read(start, limit, readMaxBytes);
      return { readings, next: start + readings.length, skipped };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}
