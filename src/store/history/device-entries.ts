/**
 * One device's readings in one segment, as the history index keeps them:
 * for each, its `ts`, the byte offset and length of its frame, and its
 * ordinal in the segment (position − base). Parallel typed arrays of a
 * size known when they are made: 24 bytes a reading, no object per reading
 * for the garbage collector to trace. In an index file a device's block is
 * the same four arrays one after the other: all ts, offsets, ordinals,
 * lengths.
 */

/** Bytes one entry takes, in memory and in an index file. */
export const ENTRY_BYTES = 24;

/** A device's entries in one segment, in log order. */
export class DeviceEntries {
  count = 0;
  minTs = Number.POSITIVE_INFINITY;
  maxTs = Number.NEGATIVE_INFINITY;
  ts: Float64Array;
  offsets: Float64Array;
  ordinals: Uint32Array;
  lengths: Uint32Array;

  constructor(capacity: number) {
    this.ts = new Float64Array(capacity);
    this.offsets = new Float64Array(capacity);
    this.ordinals = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
  }

  /** Adds the reading stored at byte `offset` (`length` bytes), the `ordinal`-th of its segment. */
  add(ts: number, offset: number, ordinal: number, length: number): void {
    const at = this.count;
    if (at === this.ts.length) throw new RangeError(`history entries are full (${at})`);
    this.ts[at] = ts;
    this.offsets[at] = offset;
    this.ordinals[at] = ordinal;
    this.lengths[at] = length;
    this.count = at + 1;
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
  }

  /** The entries of an index-file block (segment-columns.ts lays them out), `count` of them. */
  static decode(block: Buffer, count: number): DeviceEntries {
    const entries = new DeviceEntries(Math.max(count, 1));
    // Copied out (the block's byte offset need not be aligned for a typed array view).
    const copy = (into: Float64Array | Uint32Array, start: number, bytes: number): void => {
      block.copy(Buffer.from(into.buffer, into.byteOffset, bytes), 0, start, start + bytes);
    };
    copy(entries.ts, 0, count * 8);
    copy(entries.offsets, count * 8, count * 8);
    copy(entries.ordinals, count * 16, count * 4);
    copy(entries.lengths, count * 20, count * 4);
    entries.count = count;
    for (let i = 0; i < count; i += 1) {
      const ts = entries.ts[i] as number;
      if (ts < entries.minTs) entries.minTs = ts;
      if (ts > entries.maxTs) entries.maxTs = ts;
    }
    return entries;
  }
}
