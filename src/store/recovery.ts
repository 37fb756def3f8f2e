/**
 * Opening the log after a clean stop or a crash: list the segments, load the
 * checkpoint, replay what came after it, and cut a torn tail.
 *
 * A crash (kill -9, power loss) can leave the newest segment ending in a
 * partial frame, or in bytes the file system extended but never wrote. Those
 * were never acked (an ack waits for the fsync that covers the whole frame),
 * so they are truncated, logged, and never decoded. Damage anywhere else
 * cannot come from a crash; the store then refuses to open rather than guess.
 */
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../atomic-file.js';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import { readCheckpoint } from './checkpoint-file.js';
import { DeviceState } from './device-state.js';
import { decodeKey, decodeRecord, FRAME_HEADER_BYTES } from './record-codec.js';
import type { SeqResets } from './seq-resets.js';
import { INDEX_STRIDE, parseSegmentFileName, scanSegmentFile, Segment, segmentFileName, type FrameVisitor } from './segment.js';

/** The state of the log after recovery. */
export interface RecoveredLog {
  /** Oldest first; the last one is the active segment. */
  readonly segments: Segment[];
  readonly devices: Map<string, DeviceState>;
  /** Position the loaded checkpoint covered (the first position when none). */
  readonly checkpointPosition: number;
  readonly usedCheckpoint: boolean;
  /** Readings replayed from the log after the checkpoint. */
  readonly replayed: number;
  /** Bytes cut from a torn tail. */
  readonly truncatedBytes: number;
}

/** Called once per segment that recovery scans; the visitor it returns sees each of the segment's valid frames. */
export type SegmentScanObserver = (base: number) => FrameVisitor;

/**
 * Recovers the log in `dir` (which exists), with its seq `resets`; `now` (ms
 * since epoch) dates a first segment. `observe` sees every frame of the
 * segments scanned (the history index rebuilds theirs from it).
 */
export async function recoverLog(
  dir: string, log: Logger, now: number, resets: SeqResets, observe?: SegmentScanObserver, ignoreCheckpoint = false,
): Promise<RecoveredLog> {
  const names = await readdir(dir);
  for (const name of names) {
    // Leftovers of an atomic write interrupted by a crash.
    if (name.startsWith('.') && name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => {});
  }
  const bases = names.map(parseSegmentFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
  const checkpoint = ignoreCheckpoint ? null : await readCheckpoint(dir, log);
  const devices = checkpoint?.devices ?? new Map<string, DeviceState>();
  const from = checkpoint?.position ?? 0;
  // A reset the checkpoint may not reflect (made at or after its position): the device's seqs start again from there.
  for (const [device, at] of resets) if (at >= from) devices.get(device)?.resetSeq();

  if (bases.length === 0) {
    const segment = await createSegmentFile(dir, from, now);
    return { segments: [segment], devices, checkpointPosition: from, usedCheckpoint: checkpoint !== null, replayed: 0, truncatedBytes: 0 };
  }

  const segments: Segment[] = [];
  const newest = new Map<string, FrameMark>();
  let replayed = 0;
  let truncatedBytes = 0;
  for (let i = 0; i < bases.length; i += 1) {
    const base = bases[i] as number;
    const next = bases[i + 1];
    const path = join(dir, segmentFileName(base));
    const info = await stat(path);
    if (next !== undefined && checkpoint !== null && next <= from) {
      // Entirely before the checkpoint: nothing to replay, index it on first read.
      segments.push(new Segment(dir, base, next - base, info.size, info.mtimeMs, null));
      continue;
    }
    const index: number[] = [];
    let position = base;
    // Frames before the checkpoint were durable before it was written: a
    // crash cannot have torn them, so only their lengths are walked (for the index).
    const verifyFrom = checkpoint !== null && checkpoint.segmentBase === base ? checkpoint.offset : 0;
    const observer = observe?.(base);
    const result = await scanSegmentFile(path, verifyFrom, (buf, start, end, ordinal, offset) => {
      if (ordinal % INDEX_STRIDE === 0) index.push(offset);
      observer?.(buf, start, end, ordinal, offset);
      if (position >= from) {
        const { device, seq, hubTime } = decodeKey(buf, start);
        let state = devices.get(device);
        if (state === undefined) {
          state = new DeviceState();
          devices.set(device, state);
        }
        if ((resets.get(device) ?? -1) > position) state.applyDay(hubTime); // before its seq reset
        else state.applySeq(seq, hubTime);
        // Remember where each device's newest frame is; only those are read and decoded, once, at the end.
        const mark = newest.get(device);
        if (mark === undefined) newest.set(device, { path, offset, length: end - start + FRAME_HEADER_BYTES, position });
        else {
          mark.path = path;
          mark.offset = offset;
          mark.length = end - start + FRAME_HEADER_BYTES;
          mark.position = position;
        }
        replayed += 1;
      }
      position += 1;
    });
    if (result.stop !== 'end') {
      if (next !== undefined) {
        throw new FleethubError(
          'FH_ERR_STORE_IO',
          `store: ${path} is damaged at byte ${result.validBytes} (${result.reason}) and is not the newest segment; move it aside to start`,
        );
      }
      await truncate(path, result.validBytes);
      truncatedBytes = info.size - result.validBytes;
      log.log('warn', 'store.torn_tail', { file: path, offset: result.validBytes, bytes: truncatedBytes, reason: result.reason });
    }
    if (next !== undefined && base + result.records !== next) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: ${path} holds ${result.records} readings but the next segment starts at position ${next}`);
    }
    segments.push(new Segment(dir, base, result.records, result.validBytes, info.mtimeMs, index));
  }

  await loadLatest(newest, devices);
  const end = (segments[segments.length - 1] as Segment).end;
  if (checkpoint !== null && from > end) {
    // The checkpoint describes readings the log does not hold: trust the log.
    log.log('warn', 'store.checkpoint_ahead', { checkpoint: from, log: end });
    return recoverLog(dir, log, now, resets, observe, true);
  }
  return { segments, devices, checkpointPosition: checkpoint === null ? (segments[0] as Segment).base : from, usedCheckpoint: checkpoint !== null, replayed, truncatedBytes };
}

/** Where a frame is: recovery notes each device's newest one while scanning. */
interface FrameMark {
  path: string;
  offset: number;
  length: number;
  position: number;
}

/** Reads and decodes the newest frame of each replayed device (one file open per segment). */
async function loadLatest(newest: ReadonlyMap<string, FrameMark>, devices: ReadonlyMap<string, DeviceState>): Promise<void> {
  const byPath = new Map<string, Array<[string, FrameMark]>>();
  for (const entry of newest) {
    const list = byPath.get(entry[1].path);
    if (list === undefined) byPath.set(entry[1].path, [entry]);
    else list.push(entry);
  }
  for (const [path, entries] of byPath) {
    const handle = await open(path, 'r');
    try {
      for (const [device, mark] of entries) {
        const frame = Buffer.allocUnsafe(mark.length);
        const { bytesRead } = await handle.read(frame, 0, mark.length, mark.offset);
        if (bytesRead !== mark.length) throw new FleethubError('FH_ERR_STORE_IO', `store: ${path} changed while opening`);
        const { reading } = decodeRecord(frame, FRAME_HEADER_BYTES, frame.length, mark.position);
        (devices.get(device) as DeviceState).setLatest(reading.position, reading.seq, reading.ts, JSON.stringify(reading.data));
      }
    } finally {
      await handle.close();
    }
  }
}

/** Creates an empty segment file (0600) and makes its directory entry durable before anything is acked from it. */
export async function createSegmentFile(dir: string, base: number, now: number): Promise<Segment> {
  const path = join(dir, segmentFileName(base));
  // 'w', not 'wx': a roll that failed half-way (disk full) may have left this file, empty or torn, never committed.
  const handle = await open(path, 'w', 0o600);
  await handle.close();
  await fsyncDir(dir);
  return new Segment(dir, base, 0, 0, now, []);
}

async function truncate(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
