/**
 * Reads the frames a history query picked from one segment: only those,
 * by their offsets, never the readings of other devices in between (frames
 * within a page of each other are read in one go). A sealed segment's are
 * in its index file, the device's frames one after the other, so they come
 * in one read or a few; the active segment's are read from the segment.
 *
 * The reads are synchronous `pread`s in slices of {@link READS_PER_SLICE},
 * with a turn of the event loop between slices: a day of one device is
 * thousands of small reads, and one trip through libuv's thread pool each
 * would cost more CPU than the reads themselves and crowd out the writer's
 * durable writes, which go through the same pool. A slice of reads from the
 * page cache takes well under a millisecond.
 */
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import { decodeRecord, FRAME_HEADER_BYTES, frameEnd, frameProblem } from '../record-codec.js';
import type { StoredReading } from '../types.js';
import type { DeviceEntries } from './device-entries.js';
import { IndexDamaged, type DeviceFrames } from './segment-history.js';

/** Frames less than this far apart are read in one read. */
export const SPAN_GAP_BYTES = 4096;
/** Largest single read. */
export const MAX_SPAN_BYTES = 256 * 1024;
/** Reads between two turns of the event loop. */
export const READS_PER_SLICE = 64;

/** A run of picked frames read in one read. */
interface Span {
  readonly start: number;
  end: number;
  /** Indexes into the entries. */
  readonly picks: number[];
}

function spansOf(entries: DeviceEntries, picks: readonly number[]): Span[] {
  const spans: Span[] = [];
  let current: Span | null = null;
  for (const i of picks) {
    const offset = entries.offsets[i] as number;
    const end = offset + (entries.lengths[i] as number);
    if (current !== null && offset - current.end <= SPAN_GAP_BYTES && end - current.start <= MAX_SPAN_BYTES) {
      current.end = end;
      current.picks.push(i);
    } else {
      current = { start: offset, end, picks: [i] };
      spans.push(current);
    }
  }
  return spans;
}

function readSpan(fd: number, span: Span, damaged: () => Error): Buffer {
  const length = span.end - span.start;
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  // Bounded: each pass reads at least one byte or stops.
  while (done < length) {
    const bytesRead = readSync(fd, buf, done, length - done, span.start + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  if (done !== length) throw damaged();
  return buf;
}

/**
 * The readings of `picks` (indexes into `found.entries`, in log order) of
 * the segment whose first position is `base`, from `found.file`. Each
 * frame's CRC is checked, and each must be a reading of `device`: a frame
 * that fails either, or is cut short, rejects with IndexDamaged when read
 * from an index file (it is rebuilt) and FH_ERR_STORE_IO from a segment.
 * Rejects with the file's ENOENT when retention deleted the segment meanwhile.
 */
export async function readPicked(found: DeviceFrames, base: number, device: string, picks: readonly number[]): Promise<StoredReading[]> {
  const { entries, file: path } = found;
  const damaged = (detail: string): Error => (found.inIndex ? new IndexDamaged(path) : new FleethubError('FH_ERR_STORE_IO', `store: ${detail}`));
  const spans = spansOf(entries, picks);
  const out: StoredReading[] = [];
  const handle = await open(path, 'r');
  try {
    for (let k = 0; k < spans.length; k += 1) {
      if (k > 0 && k % READS_PER_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const span = spans[k] as Span;
      const buf = readSpan(handle.fd, span, () => damaged(`${path} is shorter than its history index says`));
      for (const i of span.picks) {
        const at = (entries.offsets[i] as number) - span.start;
        const end = frameEnd(buf, at, at + (entries.lengths[i] as number), true);
        if (end < 0) throw damaged(`${frameProblem(end)} in ${path} at byte ${span.start + at}`);
        const { reading } = decodeRecord(buf, at + FRAME_HEADER_BYTES, end, base + (entries.ordinals[i] as number));
        if (reading.device !== device) throw damaged(`the history index of ${path} does not match the segment`);
        out.push(reading);
      }
    }
  } finally {
    await handle.close();
  }
  return out;
}
