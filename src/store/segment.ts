/**
 * One segment file of the log: `<base>.log`, where `base` (20 digits) is the
 * position of its first reading. Frames are scanned in bounded chunks, and a
 * sparse in-memory index (one byte offset every {@link INDEX_STRIDE}
 * readings) turns a position into a file offset without keeping an entry
 * per reading: 10 GiB of log costs a few MB of index.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FleethubError } from '../errors.js';
import { decodeRecord, FRAME_BAD_CRC, FRAME_BAD_LENGTH, FRAME_HEADER_BYTES, FRAME_PARTIAL, frameEnd, frameProblem } from './record-codec.js';
import type { StoredReading } from './types.js';

/** Readings between two index entries. */
export const INDEX_STRIDE = 64;

/** Bytes read per step when scanning a segment. */
export const SCAN_CHUNK_BYTES = 1024 * 1024;

const NAME = /^(\d{20})\.log$/;

/** `00000000000000001234.log` for base 1234. */
export function segmentFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.log`;
}

/** The base position of a segment file name, or null for any other file. */
export function parseSegmentFileName(name: string): number | null {
  const match = NAME.exec(name);
  if (match?.[1] === undefined) return null;
  const base = Number(match[1]);
  return Number.isSafeInteger(base) ? base : null;
}

/** How a scan ended. */
export interface ScanResult {
  /** Bytes of complete, valid frames from the start of the file. */
  readonly validBytes: number;
  readonly records: number;
  /** `end`: the file ends exactly after a frame; otherwise a torn or corrupt tail starts at validBytes. */
  readonly stop: 'end' | 'partial' | 'corrupt';
  readonly reason: string;
}

/** Called for each frame: the payload is `buf[start..end)`, valid only during the call. */
export type FrameVisitor = (buf: Buffer, start: number, end: number, ordinal: number, offset: number) => void;

/**
 * Walks every frame of a file in bounded chunks, calling `onRecord` for each.
 * CRCs are checked from byte `verifyFrom` on (0: all; Infinity: none, when
 * only indexing a segment that was verified before); before it only lengths.
 */
export async function scanSegmentFile(path: string, verifyFrom: number, onRecord: FrameVisitor): Promise<ScanResult> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(size, FRAME_HEADER_BYTES)));
    let fileOffset = 0; // file offset of buf[0]
    let filled = 0;
    let records = 0;
    // Bounded: every pass either consumes a frame, grows the buffer to fit one, or reaches the end.
    for (;;) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, fileOffset + filled);
      filled += bytesRead;
      const atEof = fileOffset + filled >= size || bytesRead === 0;
      let at = 0;
      for (;;) {
        const end = frameEnd(buf, at, filled, fileOffset + at >= verifyFrom);
        if (end === FRAME_PARTIAL) break;
        if (end === FRAME_BAD_LENGTH || end === FRAME_BAD_CRC) {
          return { validBytes: fileOffset + at, records, stop: 'corrupt', reason: frameProblem(end) };
        }
        onRecord(buf, at + FRAME_HEADER_BYTES, end, records, fileOffset + at);
        records += 1;
        at = end;
      }
      const rest = filled - at;
      if (atEof) {
        return rest === 0
          ? { validBytes: fileOffset + at, records, stop: 'end', reason: '' }
          : { validBytes: fileOffset + at, records, stop: 'partial', reason: `${rest} bytes of an incomplete record` };
      }
      const need = rest >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buf.readUInt32LE(at) : FRAME_HEADER_BYTES;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(need);
        buf.copy(bigger, 0, at, filled);
        buf = bigger;
      } else {
        buf.copy(buf, 0, at, filled);
      }
      fileOffset += at;
      filled = rest;
    }
  } finally {
    await handle.close();
  }
}

/** A segment file and what the store knows of it. */
export class Segment {
  readonly base: number;
  readonly path: string;
  /** Committed readings in the file. */
  count: number;
  /** Committed bytes: readers never look past this, writers append here. */
  bytes: number;
  /** When the segment stopped growing (ms since epoch); the age retention clock. */
  sealedAt: number;
  #index: number[] | null;
  #indexing: Promise<void> | null = null;

  /** `index` null: build it on first read (segments recovery did not need to scan). */
  constructor(dir: string, base: number, count: number, bytes: number, sealedAt: number, index: number[] | null) {
    this.base = base;
    this.path = join(dir, segmentFileName(base));
    this.count = count;
    this.bytes = bytes;
    this.sealedAt = sealedAt;
    this.#index = index;
  }

  /** One past the last committed position. */
  get end(): number {
    return this.base + this.count;
  }

  /** Records a frame committed at `offset` with `length` bytes (the active segment, after its fsync). */
  noteCommitted(offset: number, length: number): void {
    if (this.#index !== null && this.count % INDEX_STRIDE === 0) this.#index.push(offset);
    this.count += 1;
    this.bytes = offset + length;
  }

  /**
   * Up to `max` readings from position `from` (inside this segment), reading
   * about `maxBytes` (more only when a single reading is bigger).
   */
  async read(from: number, max: number, maxBytes: number): Promise<StoredReading[]> {
    const index = await this.#ensureIndex();
    const slot = Math.floor((from - this.base) / INDEX_STRIDE);
    let offset = index[slot];
    if (offset === undefined) throw new FleethubError('FH_ERR_STORE_IO', `store: no index entry for position ${from} in ${this.path}`);
    let position = this.base + slot * INDEX_STRIDE;
    const limit = this.bytes;
    const out: StoredReading[] = [];
    let chunk = maxBytes;
    const handle = await open(this.path, 'r');
    try {
      // Bounded: each pass advances `offset` or doubles `chunk` up to one frame's size.
      while (out.length < max && offset < limit) {
        const length = Math.min(chunk, limit - offset);
        const buf = await readExactly(handle, length, offset);
        if (buf.length < length) throw new FleethubError('FH_ERR_STORE_IO', `store: ${this.path} is shorter than its committed ${limit} bytes`);
        let at = 0;
        while (out.length < max) {
          // Only readings at or after `from` are checked against their CRC: those are the ones returned.
          const end = frameEnd(buf, at, length, position >= from);
          if (end === FRAME_PARTIAL) break;
          if (end < 0) throw new FleethubError('FH_ERR_STORE_IO', `store: ${frameProblem(end)} in ${this.path} at byte ${offset + at}`);
          if (position >= from) out.push(decodeRecord(buf, at + FRAME_HEADER_BYTES, end, position).reading);
          position += 1;
          at = end;
        }
        if (at === 0) {
          if (length === limit - offset) throw new FleethubError('FH_ERR_STORE_IO', `store: incomplete record in ${this.path} at byte ${offset}`);
          chunk = Math.max(chunk * 2, FRAME_HEADER_BYTES + (length >= FRAME_HEADER_BYTES ? buf.readUInt32LE(0) : 0));
          continue;
        }
        offset += at;
        if (out.length > 0) break; // one chunk's worth per call keeps the read bounded
      }
    } finally {
      await handle.close();
    }
    return out;
  }

  #ensureIndex(): Promise<number[]> {
    if (this.#index !== null) return Promise.resolve(this.#index);
    this.#indexing ??= (async () => {
      const index: number[] = [];
      const result = await scanSegmentFile(this.path, Number.POSITIVE_INFINITY, (_buf, _start, _end, ordinal, offset) => {
        if (ordinal % INDEX_STRIDE === 0) index.push(offset);
      });
      if (result.records < this.count) {
        throw new FleethubError('FH_ERR_STORE_IO', `store: ${this.path} holds ${result.records} readings, expected ${this.count}`);
      }
      this.#index = index;
    })().finally(() => {
      this.#indexing = null;
    });
    return this.#indexing.then(() => this.#index ?? []);
  }
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}
