/**
 * The embedded log's background work, one pass at a time: the checkpoint
 * (so that opening replays little), retention (whole old segments), and the
 * index files of sealed segments (history/). A pass runs when a segment
 * rolls over, when `checkpointBytes` were written since the last checkpoint,
 * every `retentionCheckMs`, and when writes work again after a failure.
 */
import type { Logger } from '../log.js';
import { writeCheckpoint } from './checkpoint-file.js';
import type { CursorFile } from './cursor-file.js';
import type { DeviceState } from './device-state.js';
import type { HistoryIndex } from './history/history-index.js';
import { RetentionRunner } from './retention-runner.js';
import type { Segment } from './segment.js';
import type { StoreConfig } from './store-config.js';

/** What a maintenance pass reads of the log. */
export interface MaintenanceHost {
  readonly dir: string;
  readonly config: StoreConfig;
  readonly log: Logger;
  readonly checkpointBytes: number;
  now(): number;
  /** The log's own list (oldest first, the active one last); retention splices it. */
  readonly segments: Segment[];
  readonly cursors: CursorFile;
  readonly devices: ReadonlyMap<string, DeviceState>;
  readonly history: HistoryIndex;
  /** One past the newest committed reading. */
  committedEnd(): number;
  /** Whether writes fail now: no pass runs then. */
  down(): boolean;
}

/** Schedules and runs maintenance passes; counts what they did. */
export class LogMaintenance {
  readonly #host: MaintenanceHost;
  readonly #retention: RetentionRunner;
  #chain: Promise<void> = Promise.resolve();
  #queued = false;
  #checkpointPosition: number;
  #bytesSinceCheckpoint = 0;
  /** Checkpoints written and segments deleted since open; bytes (segments and index files) retention keeps for a cursor now. */
  readonly counts = { checkpoints: 0, deletedSegments: 0, retentionBlockedBytes: 0 };

  constructor(host: MaintenanceHost, checkpointPosition: number) {
    this.#host = host;
    this.#retention = new RetentionRunner(host.log);
    this.#checkpointPosition = checkpointPosition;
  }

  /** `bytes` more were committed: a pass is due once `checkpointBytes` gathered. */
  committed(bytes: number): void {
    this.#bytesSinceCheckpoint += bytes;
    if (this.#bytesSinceCheckpoint >= this.#host.checkpointBytes) this.schedule();
  }

  /** Queues a pass (at most one waits behind the one running). */
  schedule(): void {
    if (this.#queued) return;
    this.#queued = true;
    this.#chain = this.#chain.then(async () => {
      this.#queued = false;
      if (this.#host.down()) return;
      try {
        await this.checkpoint();
        await this.#retain();
      } catch (err) {
        this.#logFailure('store.maintenance_failed', err);
      }
      // After retention: no index file is written for a segment about to go. A failure here leaves the
      // segment's index in memory (or to be rebuilt), and is tried again at the next pass.
      const written = await this.#host.history.persist().catch((err: unknown) => {
        this.#logFailure('store.history_index_failed', err);
        return 0;
      });
      // The new index files count against retentionBytes (retention-policy.ts): the pass ends under the bound.
      if (written > 0 && this.#host.config.retentionBytes > 0) {
        await this.#retain().catch((err: unknown) => this.#logFailure('store.maintenance_failed', err));
      }
    });
  }

  /** Resolves once the passes queued so far ended. */
  settled(): Promise<void> {
    return this.#chain;
  }

  /** Writes a checkpoint of the state after every committed reading, unless the last one covers them. */
  async checkpoint(): Promise<void> {
    const position = this.#host.committedEnd();
    if (position === this.#checkpointPosition) return;
    // writeCheckpoint serialises synchronously before its first await, so the
    // snapshot is exactly the state after `position`, between two commits.
    const bytes = this.#bytesSinceCheckpoint;
    const active = this.#host.segments[this.#host.segments.length - 1] as Segment;
    await writeCheckpoint(this.#host.dir, { position, segmentBase: active.base, offset: active.bytes }, this.#host.devices);
    this.#checkpointPosition = position;
    this.#bytesSinceCheckpoint = Math.max(0, this.#bytesSinceCheckpoint - bytes);
    this.counts.checkpoints += 1;
  }

  async #retain(): Promise<void> {
    const bases = this.#host.segments.map((segment) => segment.base);
    const outcome = await this.#retention.run({
      dir: this.#host.dir,
      config: this.#host.config,
      segments: this.#host.segments,
      indexBytes: (base) => this.#host.history.fileBytes(base),
      cursors: this.#host.cursors.entries(),
      checkpointPosition: this.#checkpointPosition,
      now: this.#host.now(),
    });
    this.counts.retentionBlockedBytes = outcome.blockedBytes;
    this.counts.deletedSegments += outcome.deleted;
    if (outcome.deleted > 0) await this.#host.history.forget(bases.slice(0, outcome.deleted));
  }

  #logFailure(event: string, err: unknown): void {
    this.#host.log.log('error', event, { reason: err instanceof Error ? err.message : String(err) });
  }
}
