/**
 * The embedded log's history index: for every segment, which devices have
 * readings in it, over which time span, and where each of their frames is
 * (segment-history.ts). A query for one device and range reads the index
 * blocks of the segments whose span overlaps it, then only the frames it
 * returns: never the whole log.
 *
 * It follows the log: each committed reading is noted in the active
 * segment's index (in memory); when a segment is sealed, maintenance writes
 * its index file beside it, with each device's frames copied there as one
 * run, and keeps only the summaries; retention deletes
 * the index file with its segment. At open, recovery's scan of the segments
 * after the checkpoint rebuilds their index (so a crash loses nothing of
 * it), older segments check their index file's header, and a sealed segment
 * whose file is missing or unusable is rebuilt from the segment by the next
 * maintenance pass. An index file's directory (each device's summary) is
 * read by the first query that needs it, not at open: with a fleet's devices
 * in each of many segments, reading them all was most of a hub's start-up.
 * A directory, block or frame that fails its CRC is found by a query, and
 * the file is rebuilt from the segment then.
 */
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { nextCursor, type CheckedHistoryQuery } from '../history-query.js';
import { decodeKey, FRAME_HEADER_BYTES } from '../record-codec.js';
import { scanSegmentFile, type FrameVisitor, type Segment } from '../segment.js';
import type { HistoryPage, StoredReading } from '../types.js';
import { CopyBuffers } from './frame-copy.js';
import { readPicked } from './history-frames.js';
import { RowPool } from './segment-columns.js';
import { IndexDamaged, parseIndexFileName, SegmentHistory, type SlotCache } from './segment-history.js';
import { elapsed, mark, type HistoryWriteTiming } from './write-timing.js';

/**
 * Builds the index of the newest segment from the frames recovery scans (a
 * `FrameVisitor` per segment). Only the last segment scanned is kept: an
 * older one recovery had to scan (after the checkpoint, or all of them when
 * there is none) loads its index file or is re-indexed by maintenance one
 * segment at a time, so opening a large log never holds the rows of many
 * segments in memory at once.
 */
export class HistoryScan {
  readonly #dir: string;
  readonly built = new Map<number, SegmentHistory>();
  /** Where the rows of the segments scanned come from (the history index keeps it for the segments after them). */
  readonly pool: RowPool;

  constructor(dir: string, pool: RowPool = new RowPool()) {
    this.#dir = dir;
    this.pool = pool;
  }

  /** The visitor for the segment at `base`; a segment scanned again (recovery starting over) starts afresh. */
  visitor(base: number): FrameVisitor {
    const history = new SegmentHistory(this.#dir, base, this.pool);
    this.built.clear();
    this.built.set(base, history);
    return (buf, start, end, _ordinal, offset) => {
      const { device, dataStart } = decodeKey(buf, start);
      history.note(device, buf.readDoubleLE(dataStart - 16), offset, end - start + FRAME_HEADER_BYTES);
    };
  }
}

/** Scans a sealed segment to rebuild its index. */
async function buildFromSegment(dir: string, segment: Segment, pool: RowPool): Promise<SegmentHistory> {
  const scan = new HistoryScan(dir, pool);
  const visit = scan.visitor(segment.base);
  const result = await scanSegmentFile(segment.path, Number.POSITIVE_INFINITY, visit);
  const history = scan.built.get(segment.base) as SegmentHistory;
  if (result.records < segment.count || history.readings < segment.count) {
    throw new FleethubError('FH_ERR_STORE_IO', `store: ${segment.path} holds ${result.records} readings, expected ${segment.count}`);
  }
  return history;
}

/** How a {@link HistoryIndex} works (the store's options `historyIndex` and `historyWriteWindowBytes`). */
export interface HistoryIndexOptions {
  /** False: no index is kept and `query` refuses (a store that never answers history, or a benchmark's baseline). */
  readonly enabled: boolean;
  /** Most bytes of an index file held in memory while it is written. */
  readonly writeWindowBytes: number;
  /** Where the index's write work is added up (write-timing.ts); null: nothing is timed. */
  readonly timing?: HistoryWriteTiming | null;
}

/** The history index of one embedded log. */
export class HistoryIndex {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #options: HistoryIndexOptions;
  /** The memory index files are written through, while no write has it (a query's rebuild may write beside maintenance). */
  #buffers: CopyBuffers | null = new CopyBuffers();
  /** The store's own list (oldest first, the active one last); retention splices it. */
  readonly #segments: readonly Segment[];
  readonly #bySegment: Map<number, SegmentHistory>;
  readonly #building = new Map<number, Promise<SegmentHistory>>();
  /** The rows of segments whose index files are written, for the next segments to fill. */
  readonly #pool: RowPool;
  #active: SegmentHistory;
  /** Where the write work is added up, when the index is on and the store was given one. */
  readonly #timing: HistoryWriteTiming | null;

  private constructor(dir: string, log: Logger, options: HistoryIndexOptions, segments: readonly Segment[], bySegment: Map<number, SegmentHistory>, pool: RowPool) {
    this.#dir = dir;
    this.#pool = pool;
    this.#log = log;
    this.#options = options;
    this.#segments = segments;
    this.#bySegment = bySegment;
    this.#timing = options.enabled ? (options.timing ?? null) : null;
    const active = segments[segments.length - 1] as Segment;
    let history = bySegment.get(active.base);
    if (history === undefined) {
      history = new SegmentHistory(dir, active.base, pool);
      bySegment.set(active.base, history);
    }
    this.#active = history;
  }

  /**
   * The index of the log in `dir` after recovery: what `scan` rebuilt, the
   * index files of the other segments, and no file of a deleted segment.
   */
  static async open(dir: string, log: Logger, options: HistoryIndexOptions, segments: readonly Segment[], scan: HistoryScan): Promise<HistoryIndex> {
    const bySegment = new Map<number, SegmentHistory>();
    const bases = new Set(segments.map((s) => s.base));
    for (const name of await readdir(dir)) {
      const base = parseIndexFileName(name);
      // Left by retention interrupted between the segment and its index: nothing to index any more.
      if (base !== null && !bases.has(base)) await unlink(join(dir, name)).catch(() => {});
    }
    for (const segment of options.enabled ? segments : []) {
      const scanned = scan.built.get(segment.base);
      if (scanned !== undefined && scanned.readings === segment.count) bySegment.set(segment.base, scanned);
      else if (segment !== segments[segments.length - 1]) {
        const loaded = await SegmentHistory.load(dir, segment.base, segment.count);
        if (loaded !== null) bySegment.set(segment.base, loaded);
      }
    }
    return new HistoryIndex(dir, log, options, segments, bySegment, scan.pool);
  }

  /** The active segment's next reading was committed at byte `offset`, `length` bytes; `cache` is the device's (see SlotCache). */
  note(device: string, ts: number, offset: number, length: number, cache: SlotCache): void {
    if (this.#options.enabled) this.#active.note(device, ts, offset, length, cache);
  }

  /**
   * Whether the store notes each group commit's readings through
   * {@link noteTimed}, after the rest of the commit's work, rather than
   * through {@link note} as it goes (the store was given a timing).
   */
  get timed(): boolean {
    return this.#timing !== null;
  }

  /**
   * Notes a group commit's readings in one timed loop: `readings[i]`'s
   * frame is `lengths[i]` bytes, the first at byte `offset` of the active
   * segment and each after the one before; `caches[i]` is its device's.
   */
  noteTimed(readings: readonly { readonly device: string; readonly ts: number }[], lengths: readonly number[], offset: number, caches: readonly SlotCache[]): void {
    const timing = this.#timing as HistoryWriteTiming;
    const from = mark();
    let at = offset;
    for (let i = 0; i < readings.length; i += 1) {
      const reading = readings[i] as { readonly device: string; readonly ts: number };
      const length = lengths[i] as number;
      this.#active.note(reading.device, reading.ts, at, length, caches[i] as SlotCache);
      at += length;
    }
    const spent = elapsed(from);
    timing.noteCpuUs += spent.cpuUs;
    timing.noteWallMs += spent.wallMs;
    timing.readings += readings.length;
  }

  /** The log rolled over to `segment` (now the active one). */
  rolled(segment: Segment): void {
    const from = this.#timing === null ? null : mark();
    this.#active = new SegmentHistory(this.#dir, segment.base, this.#pool);
    this.#bySegment.set(segment.base, this.#active);
    if (from !== null && this.#timing !== null) {
      const spent = elapsed(from);
      this.#timing.noteCpuUs += spent.cpuUs;
      this.#timing.noteWallMs += spent.wallMs;
    }
  }

  /**
   * Writes the index file of every sealed segment that has none yet
   * (rebuilding it from the segment if needed); resolves to how many it
   * wrote, so that maintenance can count them against `retentionBytes`.
   */
  async persist(): Promise<number> {
    const timing = this.#timing;
    if (timing === null) return this.#persist();
    const from = mark();
    const written = await this.#persist();
    const spent = elapsed(from);
    timing.persistCpuUs += spent.cpuUs;
    timing.persistWallMs += spent.wallMs;
    timing.files += written;
    return written;
  }

  async #persist(): Promise<number> {
    if (!this.#options.enabled) return 0;
    const sealed = this.#segments.slice(0, -1);
    let written = 0;
    for (const segment of sealed) {
      const known = this.#bySegment.get(segment.base);
      const history = known ?? (await this.#build(segment));
      if (known === undefined && this.#bySegment.has(segment.base)) written += 1; // #build wrote it
      if (history.persisted || !this.#bySegment.has(segment.base)) continue;
      await this.#write(history, segment);
      written += 1;
    }
    return written;
  }

  /**
   * Bytes of the index file of the segment at `base` that this index wrote
   * or loaded; 0 while it has none (not written yet, being rebuilt, or the
   * history index is off).
   */
  fileBytes(base: number): number {
    return this.#bySegment.get(base)?.fileBytes ?? 0;
  }

  /** Retention deleted these segments: their index files go too. */
  async forget(bases: readonly number[]): Promise<void> {
    for (const base of bases) {
      const history = this.#bySegment.get(base);
      this.#bySegment.delete(base);
      if (history !== undefined) await unlink(history.path).catch(() => {});
      else await unlink(join(this.#dir, `${String(base).padStart(20, '0')}.idx`)).catch(() => {});
    }
  }

  /** Answers a checked query (see StoreReader.history): committed readings only, up to `committedEnd`. */
  async query(q: CheckedHistoryQuery, committedEnd: number): Promise<HistoryPage> {
    if (!this.#options.enabled) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'store: history is off (the store was opened with historyIndex false)');
    const want = q.limit + 1; // one more than the page: whether a next page exists
    const out: StoredReading[] = [];
    for (const segment of this.#segments.slice()) {
      if (segment.count === 0 || segment.end - 1 <= q.after || segment.base >= committedEnd) continue;
      let readings: StoredReading[];
      try {
        readings = await this.#segmentReadings(segment, q, committedEnd, want - out.length);
      } catch (err) {
        // Retention deleted the segment (and its index) while this query read it: its readings are gone.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !this.#segments.includes(segment)) continue;
        throw err;
      }
      for (const reading of readings) out.push(reading);
      if (out.length >= want) break;
    }
    const more = out.length > q.limit;
    if (more) out.length = q.limit;
    return { readings: out, next: nextCursor(q, out[out.length - 1]?.position, more) };
  }

  /**
   * Up to `max` of the query's readings in `segment`. A damaged index file
   * (a block or a frame that fails its CRC) is logged and rebuilt from the
   * segment, and the segment read again from the new one (once).
   */
  async #segmentReadings(segment: Segment, q: CheckedHistoryQuery, committedEnd: number, max: number): Promise<StoredReading[]> {
    // Bounded: a second damaged index (rebuilt from the segment just now) is not rebuilt again.
    for (let attempt = 0; ; attempt += 1) {
      const history = this.#bySegment.get(segment.base) ?? (await this.#build(segment));
      try {
        await history.ready();
        if (!history.overlaps(q.device, q.from, q.to)) return [];
        const found = await history.entries(q.device, segment.path);
        if (found === null) return [];
        const { entries } = found;
        const picks: number[] = [];
        const count = entries.count; // the active segment's grows meanwhile: this query sees what was committed when it came
        for (let i = 0; i < count && picks.length < max; i += 1) {
          const position = segment.base + (entries.ordinals[i] as number);
          const ts = entries.ts[i] as number;
          if (position > q.after && position < committedEnd && ts >= q.from && ts < q.to) picks.push(i);
        }
        return picks.length === 0 ? [] : await readPicked(found, segment.base, q.device, picks);
      } catch (err) {
        if (!(err instanceof IndexDamaged) || attempt > 0) throw err;
        this.#log.log('warn', 'store.history_index_damaged', { segment: segment.base, file: history.path });
        if (this.#bySegment.get(segment.base) === history) this.#bySegment.delete(segment.base);
      }
    }
  }

  /** Writes the index file of `segment`, through the kept buffers unless another write has them. */
  async #write(history: SegmentHistory, segment: Segment): Promise<void> {
    const buffers = this.#buffers ?? new CopyBuffers();
    this.#buffers = null;
    try {
      await history.write(segment.path, this.#options.writeWindowBytes, buffers);
    } finally {
      this.#buffers ??= buffers; // the kept ones, unless a write beside this one gave its own back first
    }
  }

  /** Rebuilds (once, however many ask) the index of a sealed segment that has none. */
  #build(segment: Segment): Promise<SegmentHistory> {
    let building = this.#building.get(segment.base);
    if (building === undefined) {
      building = (async () => {
        const history = await buildFromSegment(this.#dir, segment, this.#pool);
        if (this.#segments.includes(segment)) {
          this.#bySegment.set(segment.base, history);
          await this.#write(history, segment);
          this.#log.log('info', 'store.history_index_rebuilt', { segment: segment.base, readings: history.readings });
        }
        return history;
      })().finally(() => this.#building.delete(segment.base));
      this.#building.set(segment.base, building);
    }
    return building;
  }
}
