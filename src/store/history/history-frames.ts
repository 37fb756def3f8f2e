/**
 * Reads the frames a history query picked from one segment: only those,
 * by their offsets, never the readings of other devices in between. Frames
 * close together are read in one go; reads run a few at a time, so a query
 * never floods the thread pool that the writer's durable writes go through.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import { decodeRecord, FRAME_HEADER_BYTES, frameEnd, frameProblem } from '../record-codec.js';
import type { StoredReading } from '../types.js';
import type { DeviceEntries } from './device-entries.js';

/** Frames less than this far apart are read in one read. */
export const SPAN_GAP_BYTES = 16 * 1024;
/** Largest single read. */
export const MAX_SPAN_BYTES = 1024 * 1024;
/** Reads in flight at once for one query. */
export const READ_CONCURRENCY = 4;

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

async function readSpan(handle: FileHandle, span: Span): Promise<Buffer> {
  const length = span.end - span.start;
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  // Bounded: each pass reads at least one byte or stops.
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, span.start + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  if (done !== length) throw new FleethubError('FH_ERR_STORE_IO', `store: a segment is shorter than its history index says`);
  return buf;
}

/**
 * The readings of `picks` (indexes into `entries`, in log order) from the
 * segment file at `path` whose first position is `base`. Each frame's CRC
 * is checked, and each must be a reading of `device`. Rejects with the
 * file's ENOENT when retention deleted the segment meanwhile.
 */
export async function readPicked(path: string, base: number, device: string, entries: DeviceEntries, picks: readonly number[]): Promise<StoredReading[]> {
  const spans = spansOf(entries, picks);
  const bySpan: StoredReading[][] = new Array<StoredReading[]>(spans.length);
  const handle = await open(path, 'r');
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      // Bounded by the spans: each worker takes the next one until none is left.
      while (next < spans.length) {
        const k = next;
        next += 1;
        const span = spans[k] as Span;
        const buf = await readSpan(handle, span);
        const readings: StoredReading[] = [];
        for (const i of span.picks) {
          const at = (entries.offsets[i] as number) - span.start;
          const end = frameEnd(buf, at, at + (entries.lengths[i] as number), true);
          if (end < 0) throw new FleethubError('FH_ERR_STORE_IO', `store: ${frameProblem(end)} in ${path} at byte ${span.start + at}`);
          const { reading } = decodeRecord(buf, at + FRAME_HEADER_BYTES, end, base + (entries.ordinals[i] as number));
          if (reading.device !== device) throw new FleethubError('FH_ERR_STORE_IO', `store: the history index of ${path} does not match the segment`);
          readings.push(reading);
        }
        bySpan[k] = readings;
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, spans.length) }, worker));
  } finally {
    await handle.close();
  }
  return bySpan.flat();
}
