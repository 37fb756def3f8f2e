/**
 * One device's readings in one segment, as the history index keeps them:
 * for each, its `ts`, the byte offset and length of its frame, and its
 * ordinal in the segment (position − base). Parallel typed arrays that
 * double as they fill: 24 bytes a reading, no object per reading for the
 * garbage collector to trace.
 */

/** Bytes one entry takes, in memory and in an index file. */
export const ENTRY_BYTES = 24;

const INITIAL_CAPACITY = 16;

/** A device's entries in one segment, in log order. */
export class DeviceEntries {
  count = 0;
  minTs = Number.POSITIVE_INFINITY;
  maxTs = Number.NEGATIVE_INFINITY;
  ts: Float64Array;
  offsets: Float64Array;
  ordinals: Uint32Array;
  lengths: Uint32Array;

  constructor(capacity = INITIAL_CAPACITY) {
    this.ts = new Float64Array(capacity);
    this.offsets = new Float64Array(capacity);
    this.ordinals = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
  }

  /** Adds the reading stored at byte `offset` (`length` bytes), the `ordinal`-th of its segment. */
  add(ts: number, offset: number, ordinal: number, length: number): void {
    const at = this.count;
    if (at === this.ts.length) this.#grow();
    this.ts[at] = ts;
    this.offsets[at] = offset;
    this.ordinals[at] = ordinal;
    this.lengths[at] = length;
    this.count = at + 1;
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
  }

  /** The entries as one block of an index file: all ts, then offsets, ordinals, lengths. */
  encode(): Buffer {
    const n = this.count;
    const buf = Buffer.allocUnsafe(n * ENTRY_BYTES);
    Buffer.from(this.ts.buffer, this.ts.byteOffset, n * 8).copy(buf, 0);
    Buffer.from(this.offsets.buffer, this.offsets.byteOffset, n * 8).copy(buf, n * 8);
    Buffer.from(this.ordinals.buffer, this.ordinals.byteOffset, n * 4).copy(buf, n * 16);
    Buffer.from(this.lengths.buffer, this.lengths.byteOffset, n * 4).copy(buf, n * 20);
    return buf;
  }

  /** The entries of a block {@link encode} made, `count` of them. */
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

  #grow(): void {
    const capacity = this.ts.length * 2;
    const ts = new Float64Array(capacity);
    ts.set(this.ts);
    const offsets = new Float64Array(capacity);
    offsets.set(this.offsets);
    const ordinals = new Uint32Array(capacity);
    ordinals.set(this.ordinals);
    const lengths = new Uint32Array(capacity);
    lengths.set(this.lengths);
    this.ts = ts;
    this.offsets = offsets;
    this.ordinals = ordinals;
    this.lengths = lengths;
  }
}
