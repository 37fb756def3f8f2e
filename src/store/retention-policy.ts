/**
 * Which old segments retention deletes. Pure: the store gathers the facts,
 * this decides.
 *
 * Policy (documented in docs/store.md):
 * - whole segments only, oldest first, never the one being written;
 * - a segment goes when the store is over `retentionBytes`, or when it was
 *   sealed more than `retentionHours` ago;
 * - `retentionBytes` bounds what the store keeps on disk: a segment's bytes
 *   are its file's plus its history index file's (`<base>.idx`, about as
 *   large as the segment). An index file counts once it is written (or
 *   loaded at open): a segment sealed since the last pass counts its file
 *   only until maintenance writes its index, and maintenance runs retention
 *   again right after writing one, so the store is back under the bound by
 *   the end of each pass. Index files the store does not know (history
 *   turned off, a damaged file awaiting its rebuild) are not counted;
 * - by default a segment holding readings that a saved cursor (a sink) has not
 *   passed yet is kept: the store grows instead of losing undelivered data,
 *   and the bytes held back are reported (`retentionBlockedBytes`) and logged;
 * - only segments the last checkpoint covers are deleted, so the per-device
 *   state (lastSeq, dedupe window) never depends on a deleted segment.
 */

/** What retention needs to know of one sealed segment. */
export interface SegmentFacts {
  readonly base: number;
  /** One past its last position. */
  readonly end: number;
  /** Its file's bytes plus its index file's (0 while it has none). */
  readonly bytes: number;
  /** When it stopped growing, ms since epoch. */
  readonly sealedAt: number;
}

/** Inputs of {@link decideRetention}. */
export interface RetentionInput {
  /** Sealed segments, oldest first (the active segment is never here). */
  readonly sealed: readonly SegmentFacts[];
  /** Bytes of every segment and index file, the active segment included. */
  readonly totalBytes: number;
  /** 0: no size bound. */
  readonly retentionBytes: number;
  /** 0: no age bound. */
  readonly retentionHours: number;
  readonly now: number;
  /** Saved reader positions. */
  readonly cursors: Iterable<readonly [string, number]>;
  /** Position covered by the last checkpoint. */
  readonly checkpointPosition: number;
}

/** What to do. */
export interface RetentionDecision {
  /** Delete this many of the oldest sealed segments. */
  readonly deleteCount: number;
  /** Bytes (segments and their index files) retention would delete but keeps for a cursor that has not passed them. */
  readonly blockedBytes: number;
  /** The cursor furthest behind when blocked, else null. */
  readonly blockedBy: string | null;
  readonly blockedAt: number | null;
}

/** Decides which segments retention deletes now. */
export function decideRetention(input: RetentionInput): RetentionDecision {
  let slowest: { name: string; position: number } | null = null;
  for (const [name, position] of input.cursors) {
    if (slowest === null || position < slowest.position) slowest = { name, position };
  }
  const maxAgeMs = input.retentionHours * 3_600_000;
  let total = input.totalBytes;
  let deleteCount = 0;
  let blockedBytes = 0;
  for (const segment of input.sealed) {
    const overSize = input.retentionBytes > 0 && total > input.retentionBytes;
    const tooOld = input.retentionHours > 0 && input.now - segment.sealedAt > maxAgeMs;
    if (!overSize && !tooOld) break;
    const blocked = blockedBytes > 0 || (slowest !== null && segment.end > slowest.position);
    if (blocked) {
      // Deleting is all-or-nothing from the oldest on, so everything after the first blocked segment waits too.
      blockedBytes += segment.bytes;
    } else if (segment.end > input.checkpointPosition) {
      break;
    } else {
      deleteCount += 1;
    }
    total -= segment.bytes;
  }
  return blockedBytes > 0 && slowest !== null
    ? { deleteCount, blockedBytes, blockedBy: slowest.name, blockedAt: slowest.position }
    : { deleteCount, blockedBytes: 0, blockedBy: null, blockedAt: null };
}
