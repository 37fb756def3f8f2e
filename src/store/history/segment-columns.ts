/**
 * The history index of the segment being written, in memory: one row per
 * committed reading, in log order (the row number is its ordinal in the
 * segment), with its `ts`, frame offset and length, and a number for its
 * device. Rows live in fixed chunks of typed arrays: a reading costs a
 * handful of array writes, never an allocation or a copy per device or per
 * reading. A device's rows are gathered when a query needs them, and every
 * device's rows are laid out into the index file in one pass, and its
 * frames are copied there from the segment (frame-copy.ts).
 *
 * Once a segment's index file is written its chunks go back to a
 * {@link RowPool}, and the next segments fill them again: a fresh chunk is
 * zeroed memory the process touches for the first time, and allocating a
 * segment's worth of them for every segment cost more CPU (page faults,
 * collections of large typed arrays) than noting the rows in them.
 */
import { DeviceEntries } from './device-entries.js';

/** Bytes of a segment in memory: `buf[i]` is the segment's byte `start + i`, for bytes before `end`. */
export interface SegmentBytes {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
}

const CHUNK_BITS = 14;
/** Rows per chunk (16,384: 384 KiB). */
const CHUNK_ROWS = 1 << CHUNK_BITS;
const ROW_MASK = CHUNK_ROWS - 1;

interface Chunk {
  readonly ts: Float64Array;
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly devices: Uint32Array;
}

function newChunk(): Chunk {
  return { ts: new Float64Array(CHUNK_ROWS), offsets: new Float64Array(CHUNK_ROWS), lengths: new Uint32Array(CHUNK_ROWS), devices: new Uint32Array(CHUNK_ROWS) };
}

/** Chunks given back by segments whose index files are written, for the next segments' rows. */
export class RowPool {
  readonly #free: Chunk[] = [];

  /** A chunk (one given back, or a new one); its rows hold whatever they held before. */
  take(): Chunk {
    return this.#free.pop() ?? newChunk();
  }

  /** Takes back `chunks` (the pool never holds more than were in use at once before: it bounds itself). */
  give(chunks: readonly Chunk[]): void {
    for (const chunk of chunks) this.#free.push(chunk);
  }

  /** Chunks waiting to be reused. */
  get size(): number {
    return this.#free.length;
  }
}

/** Rows of one segment's readings. */
export class SegmentColumns {
  count = 0;
  readonly #chunks: Chunk[] = [];
  readonly #pool: RowPool;

  constructor(pool: RowPool) {
    this.#pool = pool;
  }

  /** Gives the chunks back to the pool; the rows are gone. */
  release(): void {
    this.#pool.give(this.#chunks);
    this.#chunks.length = 0;
    this.count = 0;
  }

  /** Adds the next reading's row: device number `device`, frame at `offset` of `length` bytes. */
  add(device: number, ts: number, offset: number, length: number): void {
    const at = this.count;
    const c = at >>> CHUNK_BITS;
    if (c === this.#chunks.length) this.#chunks.push(this.#pool.take());
    const chunk = this.#chunks[c] as Chunk;
    const r = at & ROW_MASK;
    chunk.ts[r] = ts;
    chunk.offsets[r] = offset;
    chunk.lengths[r] = length;
    chunk.devices[r] = device;
    this.count = at + 1;
  }

  /** The rows of device number `device` (of which there are `count`). */
  gather(device: number, count: number): DeviceEntries {
    const entries = new DeviceEntries(Math.max(count, 1));
    for (let i = 0; i < this.count; i += 1) {
      const chunk = this.#chunks[i >>> CHUNK_BITS] as Chunk;
      const r = i & ROW_MASK;
      if (chunk.devices[r] === device) entries.add(chunk.ts[r] as number, chunk.offsets[r] as number, i, chunk.lengths[r] as number);
    }
    return entries;
  }

  /** Device number of row `i`. */
  device(i: number): number {
    return (this.#chunks[i >>> CHUNK_BITS] as Chunk).devices[i & ROW_MASK] as number;
  }

  /** Segment byte offset of row `i`'s frame. */
  offset(i: number): number {
    return (this.#chunks[i >>> CHUNK_BITS] as Chunk).offsets[i & ROW_MASK] as number;
  }

  /** Bytes of row `i`'s frame. */
  length(i: number): number {
    return (this.#chunks[i >>> CHUNK_BITS] as Chunk).lengths[i & ROW_MASK] as number;
  }

  /**
   * Lays every device's rows out as index-file blocks (DeviceEntries'
   * layout) in `file`, in one pass: device `d` has `counts[d]` rows and its
   * block starts at `starts[d]`, a multiple of 8 (as `file` starts on one
   * of its ArrayBuffer). A row's offset in the block is where its frame
   * will be in the index file: device `d`'s frames, in log order, from
   * `frameStarts[d]`.
   */
  layOut(file: Buffer, starts: readonly number[], counts: readonly number[], frameStarts: readonly number[]): void {
    // One view of each element type over the whole file, and per device where its next entry goes: no view object per device.
    const f64 = new Float64Array(file.buffer, file.byteOffset, file.length >>> 3);
    const u32 = new Uint32Array(file.buffer, file.byteOffset, file.length >>> 2);
    const devices = starts.length;
    const nextTs = new Float64Array(devices); // f64 index of the next ts; its offset is `count` further
    const nextOrdinal = new Float64Array(devices); // u32 index of the next ordinal; its length is `count` further
    const span = new Float64Array(devices);
    const frameAt = Float64Array.from(frameStarts);
    for (let d = 0; d < devices; d += 1) {
      const n = counts[d] as number;
      const at = starts[d] as number;
      span[d] = n;
      nextTs[d] = at / 8;
      nextOrdinal[d] = (at + n * 16) / 4;
    }
    for (let i = 0; i < this.count; i += 1) {
      const chunk = this.#chunks[i >>> CHUNK_BITS] as Chunk;
      const r = i & ROW_MASK;
      const d = chunk.devices[r] as number;
      const n = span[d] as number;
      const t = nextTs[d] as number;
      const o = nextOrdinal[d] as number;
      const length = chunk.lengths[r] as number;
      const frame = frameAt[d] as number;
      f64[t] = chunk.ts[r] as number;
      f64[t + n] = frame;
      u32[o] = i;
      u32[o + n] = length;
      nextTs[d] = t + 1;
      nextOrdinal[d] = o + 1;
      frameAt[d] = frame + length;
    }
  }

  /**
   * Copies the frames of the rows from `row` on that `source` holds whole
   * into `window`, which is bytes `[winStart, winStart + window.length)` of
   * the index file: device `d`'s next frame goes to `cursor[d]` (advanced
   * past every row visited, whether its frame falls in the window or not;
   * a frame across the window's edge copies its part). Returns the first
   * row whose frame `source` does not hold whole (`count` once all are done).
   */
  copyRows(row: number, source: SegmentBytes, window: Buffer, winStart: number, cursor: Float64Array): number {
    // Plain Uint8Array views: their subarray is cheaper than a Buffer's, and Buffer.copy makes a view per call anyway.
    const src = new Uint8Array(source.buf.buffer, source.buf.byteOffset, source.buf.length);
    const into = new Uint8Array(window.buffer, window.byteOffset, window.length);
    const winEnd = winStart + window.length;
    for (; row < this.count; row += 1) {
      const chunk = this.#chunks[row >>> CHUNK_BITS] as Chunk;
      const r = row & ROW_MASK;
      const offset = chunk.offsets[r] as number;
      const length = chunk.lengths[r] as number;
      const d = chunk.devices[r] as number;
      const dest = cursor[d] as number;
      const from = dest > winStart ? dest : winStart;
      const to = dest + length < winEnd ? dest + length : winEnd;
      if (from < to && (offset < source.start || offset + length > source.end)) return row;
      cursor[d] = dest + length;
      if (from >= to) continue;
      const s = offset - source.start + (from - dest);
      into.set(src.subarray(s, s + (to - from)), from - winStart);
    }
    return row;
  }
}
