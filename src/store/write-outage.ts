/**
 * The embedded log's failure and recovery: whether writes work, and how the
 * store finds out that they work again (SPEC: 1011, `/healthz` 503).
 *
 * After a failed write or fsync the page cache cannot be trusted (fsync
 * semantics on Linux), so the store rejects everything accepted and not yet
 * committed and is down until a write works again: an append that arrives
 * meanwhile tries the disk (after a repair), and while idle the store probes
 * the disk by itself every `recoveryCheckMs`.
 */
import { open as openFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Segment } from './segment.js';
import { SegmentWriter } from './segment-writer.js';
import type { StoreHealth } from './types.js';

/** Bytes the store writes (and removes) to find out whether the disk takes writes again. */
export const PROBE_BYTES = 64 * 1024;

/** What the outage needs of the store it watches. */
export interface OutageHost {
  readonly dir: string;
  readonly log: Logger;
  readonly recoveryCheckMs: number;
  /** The wall clock, ms since epoch. */
  now(): number;
  /** Whether a probe must not run now: the flush loop is writing, or the store closed. */
  busy(): boolean;
  /** Repairs the active segment's writer ({@link repairWriter}). */
  repair(): Promise<void>;
  /** Writes work again (maintenance may resume). */
  recovered(): void;
}

/**
 * Reopens the active segment and cuts it back to its committed end (a
 * failed write may have left a torn frame). Returns the new writer; the old
 * one is closed.
 */
export async function repairWriter(writer: SegmentWriter, segment: Segment): Promise<SegmentWriter> {
  await writer.close().catch(() => {});
  const repaired = await SegmentWriter.open(segment.path);
  try {
    await repaired.truncate(segment.bytes);
  } catch (err) {
    await repaired.close().catch(() => {});
    throw err;
  }
  return repaired;
}

/** Whether the store's writes fail, since when, and the probe that finds out when they work again. */
export class WriteOutage {
  readonly #host: OutageHost;
  /** Why writes fail, while they do; null while the store is up. */
  #down: string | null = null;
  /** The wall clock when {@link #down} last changed. */
  #since: number;
  /** Tries the disk while down. */
  #timer: NodeJS.Timeout | null = null;
  #probing: Promise<void> | null = null;

  constructor(host: OutageHost) {
    this.#host = host;
    this.#since = host.now();
  }

  /** Why writes fail, or null while they work. */
  get down(): string | null {
    return this.#down;
  }

  /** The recovery probe running now, if any: the flush loop waits for it rather than repair the writer twice. */
  get probing(): Promise<void> | null {
    return this.#probing;
  }

  health(): StoreHealth {
    return this.#down === null ? { ok: true, since: this.#since } : { ok: false, error: this.#down, since: this.#since };
  }

  /** A write failed with `reason` (the caller has rejected what waited for it). */
  fail(reason: string): void {
    if (this.#down !== null) {
      this.#down = reason;
      return;
    }
    this.#down = reason;
    this.#since = this.#host.now();
    this.#host.log.log('error', 'store.failed', { reason, effect: 'devices are refused (1011) and /healthz answers 503 until writes work again' });
    this.#timer = setInterval(() => this.#probe(), this.#host.recoveryCheckMs);
    this.#timer.unref();
  }

  /** A write worked. */
  setUp(): void {
    if (this.#down === null) return;
    const downMs = this.#host.now() - this.#since;
    this.#down = null;
    this.#since = this.#host.now();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#host.log.log('info', 'store.recovered', { downMs });
    this.#host.recovered();
  }

  /** Stops probing (the store closes); resolves once a probe under way ended. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#probing;
  }

  /** While down and idle: repair, then find out whether the disk takes a write of {@link PROBE_BYTES}. */
  #probe(): void {
    if (this.#probing !== null || this.#host.busy() || this.#down === null) return;
    this.#probing = (async () => {
      try {
        await this.#host.repair();
        // A dot name ending in .tmp: recovery removes it if a crash leaves it behind.
        const path = join(this.#host.dir, '.write-probe.tmp');
        const handle = await openFile(path, 'w', 0o600);
        try {
          await handle.write(Buffer.alloc(PROBE_BYTES), 0, PROBE_BYTES, 0);
          await handle.datasync();
        } finally {
          await handle.close();
          await unlink(path).catch(() => {});
        }
        this.setUp();
      } catch (err) {
        this.#down = err instanceof Error ? err.message : String(err);
      } finally {
        this.#probing = null;
      }
    })();
  }
}
