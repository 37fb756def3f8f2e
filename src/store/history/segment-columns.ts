/**
 * The history index of the segment being written, in memory: one row per
 * committed reading, in log order (the row number is its ordinal in the
 * segment), with its `ts`, frame offset and length, and a number for its
 * device. Rows live in fixed chunks of typed arrays: a reading costs a
 * handful of array writes, never an allocation or a copy per device or per
 * reading. A device's rows are gathered when a query needs them, and every
 * device's rows are laid out into the index file in one pass, and its
 * frames are copied there from the segment (frame-copy.ts).
 */
import { DeviceEntries } from './device-entries.js';

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

/** Rows of one segment's readings. */
export class SegmentColumns {
  count = 0;
  readonly #chunks: Chunk[] = [];

  /** Adds the next reading's row: device number `device`, frame at `offset` of `length` bytes. */
  add(device: number, ts: number, offset: number, length: number): void {
    const at = this.count;
    const c = at >>> CHUNK_BITS;
    if (c === this.#chunks.length) this.#chunks.push(newChunk());
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
   * block starts at `starts[d]`, which is a multiple of 8 from the start of
   * `file`'s own ArrayBuffer. A row's offset in the block is where its frame
   * will be in the index file: device `d`'s frames, in log order, from
   * `frameStarts[d]`.
   */
  layOut(file: Buffer, starts: readonly number[], counts: readonly number[], frameStarts: readonly number[]): void {
    const views = starts.map((start, d) => {
      const n = counts[d] as number;
      const at = file.byteOffset + start;
      return {
        ts: new Float64Array(file.buffer, at, n),
        offsets: new Float64Array(file.buffer, at + n * 8, n),
        ordinals: new Uint32Array(file.buffer, at + n * 16, n),
        lengths: new Uint32Array(file.buffer, at + n * 20, n),
        next: 0,
        frameAt: frameStarts[d] as number,
      };
    });
    for (let i = 0; i < this.count; i += 1) {
      const chunk = this.#chunks[i >>> CHUNK_BITS] as Chunk;
      const r = i & ROW_MASK;
      const view = views[chunk.devices[r] as number] as (typeof views)[number];
      const k = view.next;
      const length = chunk.lengths[r] as number;
      view.ts[k] = chunk.ts[r] as number;
      view.offsets[k] = view.frameAt;
      view.ordinals[k] = i;
      view.lengths[k] = length;
      view.next = k + 1;
      view.frameAt += length;
    }
  }
}
