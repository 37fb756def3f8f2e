/**
 * Writes group commits to the active segment file so that each is durable
 * when its promise resolves (SPEC: an ack means durable).
 *
 * Where the platform has `O_DSYNC` (Linux, macOS) the file is opened with it:
 * a write then returns only once its data, and the file size that makes it
 * readable, are on disk, as a write followed by `fdatasync` would, but in one
 * trip to libuv's thread pool instead of two, which costs less CPU per commit
 * (`npm run bench -- store`; figures in docs/benchmarks.md). Elsewhere the
 * writer calls `fdatasync` itself.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** `O_DSYNC`, or undefined where the platform has none (Windows). */
const O_DSYNC = (constants as { O_DSYNC?: number }).O_DSYNC;

/** Options of {@link SegmentWriter.open}. */
export interface SegmentWriterOptions {
  /** Open with `O_DSYNC` instead of calling `fdatasync` after each write. @defaultValue whether the platform has `O_DSYNC` */
  readonly dsync?: boolean;
}

/** The one open handle on the active segment, for appending. */
export class SegmentWriter {
  readonly #handle: FileHandle;
  /** Writes are durable on return: no `fdatasync` needed. */
  readonly dsync: boolean;

  private constructor(handle: FileHandle, dsync: boolean) {
    this.#handle = handle;
    this.dsync = dsync;
  }

  /** Opens the existing segment file at `path` for writing. */
  static async open(path: string, options: SegmentWriterOptions = {}): Promise<SegmentWriter> {
    const dsync = (options.dsync ?? true) && O_DSYNC !== undefined;
    const handle = await open(path, dsync ? constants.O_RDWR | (O_DSYNC as number) : 'r+');
    return new SegmentWriter(handle, dsync);
  }

  /** Writes `data` at byte `position` of the file; resolves once it is durable. */
  async writeDurably(data: Buffer, position: number): Promise<void> {
    let written = 0;
    // Bounded: each pass writes at least one byte or throws.
    while (written < data.length) {
      const { bytesWritten } = await this.#handle.write(data, written, data.length - written, position + written);
      written += bytesWritten;
    }
    if (!this.dsync) await this.#handle.datasync();
  }

  /** Cuts the file to `size` bytes (what a failed write may have left past the committed end) and syncs it. */
  async truncate(size: number): Promise<void> {
    await this.#handle.truncate(size);
    await this.#handle.sync();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
