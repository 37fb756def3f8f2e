/**
 * Runs retention for the store: gathers the facts (each segment's bytes
 * with its index file's), asks the pure policy (retention-policy.ts),
 * deletes whole segments (their index files go next, history-index.ts
 * `forget`), and says so loudly when a reader that is behind holds segments
 * back.
 */
import { unlink } from 'node:fs/promises';
import { fsyncDir } from '../atomic-file.js';
import type { Logger } from '../log.js';
import type { StoreConfig } from './store-config.js';
import { decideRetention, type SegmentFacts } from './retention-policy.js';
import type { Segment } from './segment.js';

/** While retention stays blocked by a cursor, the warning is repeated this often. */
export const BLOCKED_WARN_EVERY_MS = 10 * 60_000;

/** What one retention pass needs from the store. */
export interface RetentionContext {
  readonly dir: string;
  readonly config: StoreConfig;
  /** Oldest first; the last one is the active segment. Deleted segments are spliced out of it. */
  readonly segments: Segment[];
  /** Bytes of the index file of the segment at `base` (0 while it has none): counted with the segment. */
  readonly indexBytes: (base: number) => number;
  readonly cursors: Iterable<readonly [string, number]>;
  readonly checkpointPosition: number;
  readonly now: number;
}

/** What one pass did. */
export interface RetentionOutcome {
  readonly deleted: number;
  readonly blockedBytes: number;
}

/** Deletes segments per the retention policy; remembers whether it warned about a blocking reader. */
export class RetentionRunner {
  readonly #log: Logger;
  #blocked = false;
  #warnedAt = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** One pass. */
  async run(ctx: RetentionContext): Promise<RetentionOutcome> {
    let totalBytes = 0;
    const sealed: SegmentFacts[] = [];
    for (const segment of ctx.segments) {
      const bytes = segment.bytes + ctx.indexBytes(segment.base);
      totalBytes += bytes;
      if (segment !== ctx.segments[ctx.segments.length - 1]) {
        sealed.push({ base: segment.base, end: segment.end, bytes, sealedAt: segment.sealedAt });
      }
    }
    const decision = decideRetention({
      sealed,
      totalBytes,
      retentionBytes: ctx.config.retentionBytes,
      retentionHours: ctx.config.retentionHours,
      now: ctx.now,
      cursors: ctx.cursors,
      checkpointPosition: ctx.checkpointPosition,
    });
    if (decision.blockedBytes > 0) {
      if (!this.#blocked || ctx.now - this.#warnedAt >= BLOCKED_WARN_EVERY_MS) {
        this.#warnedAt = ctx.now;
        this.#log.log('warn', 'store.retention_blocked', {
          cursor: decision.blockedBy,
          position: decision.blockedAt,
          bytes: decision.blockedBytes,
          hint: 'a reader is behind; its readings are kept (delete its cursor to let them go)',
        });
      }
      this.#blocked = true;
    } else if (this.#blocked) {
      this.#blocked = false;
      this.#log.log('info', 'store.retention_unblocked', {});
    }
    if (decision.deleteCount === 0) return { deleted: 0, blockedBytes: decision.blockedBytes };
    // Spliced out before the unlinks: readers stop finding them at once (a read already under way keeps its open file).
    const doomed = ctx.segments.splice(0, decision.deleteCount);
    for (const segment of doomed) {
      await unlink(segment.path).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
      // One folder fsync per deletion, oldest first: a crash can only leave a
      // contiguous run of segments behind, never a hole in the positions.
      await fsyncDir(ctx.dir);
    }
    this.#log.log('info', 'store.retention', { deleted: doomed.length, first: (ctx.segments[0] as Segment).base, bytes: totalBytes });
    return { deleted: doomed.length, blockedBytes: decision.blockedBytes };
  }
}
