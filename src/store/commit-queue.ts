/**
 * What waits for the next group commit: the readings with their encoding,
 * and the appends to resolve once it is durable. Both are kept in parallel
 * arrays rather than an object per reading: a busy hub holds thousands of
 * readings across each commit, and every object that lives that long is work
 * for the garbage collector.
 */
import { recordBytes } from './record-codec.js';
import type { AppendOutcome, StoredReading } from './types.js';

/** Readings accepted since the last commit started, in log order. */
export class PendingGroup {
  readonly readings: StoredReading[] = [];
  /** The hub's clock when each was accepted. */
  readonly hubTimes: number[] = [];
  /** Each reading's data as JSON text, and the UTF-8 lengths of its device id and of that text. */
  readonly jsons: string[] = [];
  readonly deviceBytes: number[] = [];
  readonly jsonBytes: number[] = [];
  /** Bytes of each one's frame, and of all of them. */
  readonly frameBytes: number[] = [];
  bytes = 0;

  get size(): number {
    return this.readings.length;
  }

  /** Queues `reading`; its sizes were checked with {@link recordBytes} when it was appended. */
  add(reading: StoredReading, hubTime: number, json: string, deviceBytes: number, jsonBytes: number): void {
    const frameBytes = recordBytes(deviceBytes, jsonBytes);
    this.readings.push(reading);
    this.hubTimes.push(hubTime);
    this.jsons.push(json);
    this.deviceBytes.push(deviceBytes);
    this.jsonBytes.push(jsonBytes);
    this.frameBytes.push(frameBytes);
    this.bytes += frameBytes;
  }
}

/**
 * One device's readings appended and not committed yet, oldest first, so
 * that a repeat of one resolves with the original's commit. Arrays, not a
 * map: readings commit in log order, so the one committing is always the
 * oldest, and a busy device's churn then allocates nothing (a map
 * reallocates its table every few insertions and deletions, and those tables
 * lived long enough to reach the old generation).
 */
export class InFlight {
  readonly #seqs: number[] = [];
  readonly #positions: number[] = [];
  /** At least the highest seq in flight (0 when none): a seq above it, the usual case, needs no search. */
  #maxSeq = 0;

  /** The log position of `seq` if it is in flight. */
  positionOf(seq: number): number | undefined {
    if (seq > this.#maxSeq) return undefined;
    const at = this.#seqs.indexOf(seq);
    return at < 0 ? undefined : this.#positions[at];
  }

  /** `seq` was appended at `position`, after every reading of this device in flight. */
  add(seq: number, position: number): void {
    this.#seqs.push(seq);
    this.#positions.push(position);
    if (seq > this.#maxSeq) this.#maxSeq = seq;
  }

  /** The oldest reading in flight was committed. */
  committedOldest(): void {
    this.#seqs.shift();
    this.#positions.shift();
    if (this.#seqs.length === 0) this.#maxSeq = 0;
  }
}

/** Appends waiting for the commit that reaches their target position. */
export class AckWaiters {
  #targets: number[] = [];
  #outcomes: AppendOutcome[][] = [];
  #resolves: ((outcomes: AppendOutcome[]) => void)[] = [];
  #rejects: ((err: Error) => void)[] = [];

  /** A promise of `outcomes`, resolved once the log is committed up to (not including) `target`. */
  wait(target: number, outcomes: AppendOutcome[]): Promise<AppendOutcome[]> {
    return new Promise((resolve, reject) => {
      this.#targets.push(target);
      this.#outcomes.push(outcomes);
      this.#resolves.push(resolve);
      this.#rejects.push(reject);
    });
  }

  /** Resolves every wait whose target is at or below `committedEnd`. */
  release(committedEnd: number): void {
    let kept = 0;
    const targets = this.#targets;
    for (let i = 0; i < targets.length; i += 1) {
      const target = targets[i] as number;
      if (target <= committedEnd) {
        (this.#resolves[i] as (outcomes: AppendOutcome[]) => void)(this.#outcomes[i] as AppendOutcome[]);
      } else {
        targets[kept] = target;
        this.#outcomes[kept] = this.#outcomes[i] as AppendOutcome[];
        this.#resolves[kept] = this.#resolves[i] as (outcomes: AppendOutcome[]) => void;
        this.#rejects[kept] = this.#rejects[i] as (err: Error) => void;
        kept += 1;
      }
    }
    targets.length = kept;
    this.#outcomes.length = kept;
    this.#resolves.length = kept;
    this.#rejects.length = kept;
  }

  /** Rejects every wait with `err`. */
  rejectAll(err: Error): void {
    const rejects = this.#rejects;
    this.#targets = [];
    this.#outcomes = [];
    this.#resolves = [];
    this.#rejects = [];
    for (const reject of rejects) reject(err);
  }
}
