/**
 * Copies a sealed segment's frames into its index file, grouped by device:
 * each device's frames one after the other, in log order. A history query
 * then reads a device's readings in a segment with one read of its run of
 * frames, instead of one read per reading scattered over the segment (in a
 * busy fleet no two readings of a device are neighbours in the log, and a
 * read per reading was most of a query's time).
 *
 * The segment is read sequentially in chunks of {@link READ_CHUNK_BYTES},
 * and the index file is filled through a window of at most `windowBytes`
 * in memory: a segment larger than the window takes one pass over the
 * segment per window (by default a window holds a whole default segment, so
 * one pass). The window and the chunk are kept from one index file to the
 * next ({@link CopyBuffers}): touching tens of MiB of fresh memory for every
 * sealed segment cost more CPU (page faults) than the copy itself.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import type { SegmentBytes, SegmentColumns } from './segment-columns.js';

/** Bytes of the segment read at a time while copying (more for a single larger frame). */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** Where the frames go: device `d`'s run starts at `frameStarts[d]`; the runs fill `[start, end)` of the index file. */
export interface FrameLayout {
  readonly frameStarts: readonly number[];
  readonly start: number;
  readonly end: number;
}

/** The memory an index file is written through, kept by the history index from one sealed segment to the next. */
export class CopyBuffers {
  #window: Buffer | null = null;
  #head: Buffer | null = null;
  chunk: Buffer | null = null;

  /** A window of `bytes` (the one kept, when large enough). */
  window(bytes: number): Buffer {
    if (this.#window === null || this.#window.length < bytes) this.#window = Buffer.allocUnsafeSlow(bytes);
    return this.#window.subarray(0, bytes);
  }

  /** The header, directory and blocks of an index file, `bytes` of them, at offset 0 of their own ArrayBuffer (the one kept, when large enough). */
  head(bytes: number): Buffer {
    if (this.#head === null || this.#head.length < bytes) this.#head = Buffer.allocUnsafeSlow(bytes);
    return this.#head.subarray(0, bytes);
  }
}

/** Reads a segment sequentially, keeping the last chunk read. */
class ChunkReader implements SegmentBytes {
  buf: Buffer;
  /** Segment offset of `buf[0]`; `buf` holds bytes up to `end`. */
  start = 0;
  end = 0;
  readonly #handle: FileHandle;
  readonly #path: string;

  constructor(handle: FileHandle, path: string, buffers: CopyBuffers) {
    this.#handle = handle;
    this.#path = path;
    buffers.chunk ??= Buffer.allocUnsafeSlow(READ_CHUNK_BYTES);
    this.buf = buffers.chunk;
  }

  /** Reads the chunk starting at `from`, at least `length` bytes. */
  async load(from: number, length: number): Promise<void> {
    const want = Math.max(READ_CHUNK_BYTES, length);
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await this.#handle.read(this.buf, 0, want, from);
    if (bytesRead < length) throw new FleethubError('FH_ERR_STORE_IO', `store: ${this.#path} is shorter than its history index says`);
    this.start = from;
    this.end = from + bytesRead;
  }
}

/**
 * Writes every frame of the segment at `segmentPath` (its rows in `columns`)
 * into `out` as `layout` says, through windows of at most `windowBytes`
 * (memory from `buffers`).
 */
export async function copyFrames(
  out: FileHandle, segmentPath: string, columns: SegmentColumns, layout: FrameLayout, windowBytes: number, buffers: CopyBuffers,
): Promise<void> {
  const handle = await open(segmentPath, 'r');
  try {
    const reader = new ChunkReader(handle, segmentPath, buffers);
    // Bounded: each pass moves the window on by windowBytes (at least 1).
    for (let winStart = layout.start; winStart < layout.end; winStart += windowBytes) {
      const winEnd = Math.min(layout.end, winStart + windowBytes);
      const window = buffers.window(winEnd - winStart);
      const cursor = Float64Array.from(layout.frameStarts);
      // Bounded: each turn copies at least the frame it read, whole.
      for (let row = 0; row < columns.count; ) {
        row = columns.copyRows(row, reader, window, winStart, cursor);
        if (row < columns.count) await reader.load(columns.offset(row), columns.length(row));
      }
      await writeAll(out, window, winStart);
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `buf` at `position` of `out`. */
export async function writeAll(out: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  // Bounded: each pass writes at least one byte or throws.
  while (done < buf.length) {
    const { bytesWritten } = await out.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new FleethubError('FH_ERR_STORE_IO', 'store: a history index write made no progress');
    done += bytesWritten;
  }
}
