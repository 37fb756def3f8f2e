/**
 * The history index of one segment: for each device with readings in it,
 * their count and time span, their entries (device-entries.ts) and, once
 * the index file is written, a copy of their frames, grouped by device.
 *
 * While a segment is written, and until its index file is, its rows are
 * in memory (segment-columns.ts) and their entries point into the segment.
 * Then they live in `<base>.idx` beside the segment, with each device's
 * frames copied after the entries as one run (frame-copy.ts), and memory
 * keeps only each device's summary and where its block is (for a file
 * loaded at open: its directory's bytes, read by the first query and
 * scanned for the device asked for): a query reads the block of each device
 * and segment it needs, then that device's run of frames in the index file,
 * and never the segment itself.
 *
 * File layout (the machine's byte order, recorded in the header; a file of
 * another order, version or reading count is rebuilt from the segment):
 *
 * ```
 * "FHHX" | u8 version | u8 byteOrder | u16 0 | u32 devices | u32 readings | u32 dirBytes | u32 dirCrc
 * dir:    per device: u8 idBytes | id | u32 count | f64 minTs | f64 maxTs | f64 blockOffset | u32 blockCrc
 * blocks: per device: its entries (DeviceEntries.decode's layout; offsets are of its frames in this file)
 * frames: per device: its frames as the segment holds them, in log order
 * ```
 *
 * The dir and each block have a CRC; each frame keeps its own (checked as
 * it is read). Version 1 files (entries pointing into the segment) are
 * rebuilt like damaged ones.
 *
 * The file is written to a temp file and renamed, without fsync: the
 * segment is the truth, and an index file costs as much to write as its
 * segment, so making it durable too (an fsync of as many bytes, and of the
 * folder) was a large part of the index's write cost. A crash may then
 * leave no file, an empty or cut-short one, or one whose bytes read as
 * zeros, wholly or in part; each is found and the file rebuilt from the
 * segment: a header without the magic, version, byte order or reading
 * count, or shorter than its directory, at open ({@link SegmentHistory.load});
 * a directory, block or frame that fails its CRC (or a frame of another
 * device, or cut short) at the first query that reads it. A temp file left
 * by a crash is deleted at open (recovery.ts).
 */
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeAtomically } from '../../atomic-file.js';
import { FleethubError } from '../../errors.js';
import { crc32Large } from '../crc32.js';
import { DeviceEntries, ENTRY_BYTES } from './device-entries.js';
import { copyFrames, writeAll, type CopyBuffers } from './frame-copy.js';
import { RowPool, SegmentColumns } from './segment-columns.js';

const MAGIC = 'FHHX';
const VERSION = 2;
const BYTE_ORDER = endianness() === 'LE' ? 1 : 2;
const HEADER_BYTES = 24;

/** `00000000000000001234.idx`: the index file of the segment at base 1234. */
export function indexFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.idx`;
}

/** The base of an index file name, or null for any other file. */
export function parseIndexFileName(name: string): number | null {
  const match = /^(\d{20})\.idx$/.exec(name);
  if (match?.[1] === undefined) return null;
  const base = Number(match[1]);
  return Number.isSafeInteger(base) ? base : null;
}

/** A block of an index file does not match its CRC: the file is rebuilt from the segment. */
export class IndexDamaged extends FleethubError {
  constructor(path: string) {
    super('FH_ERR_STORE_IO', `store: history index ${path} is damaged`);
  }
}

/** A device's entries in one segment, and the file holding the frames they point at. */
export interface DeviceFrames {
  readonly entries: DeviceEntries;
  readonly file: string;
  /** Whether `file` is the index file (a bad frame there means a damaged index, rebuilt from the segment). */
  readonly inIndex: boolean;
}

/**
 * Where the log keeps a device's slot in the active segment's index between
 * its readings (the store's per-device state, found by name already): the
 * index then looks a device up by name once per segment, not per reading.
 */
export interface SlotCache {
  historySlot: object | null;
}

/** One device in one segment. */
interface DeviceSlot {
  /**
   * The id of the segment index this slot belongs to (a cached slot of another one is looked up again). A
   * number, not the object: a device gone quiet must not keep a whole old segment's index alive through its cache.
   */
  readonly owner: number;
  /** Its number in the segment's rows (segment-columns.ts). */
  readonly number: number;
  count: number;
  minTs: number;
  maxTs: number;
  /** Bytes of its frames in the segment (its run in the index file). */
  frameBytes: number;
  /** Where its entries are in the index file, once written. */
  blockOffset: number;
  blockCrc: number;
}

/** Ids of {@link SegmentHistory} objects, unique in the process. */
let nextHistoryId = 0;

/**
 * How many index file directories were read and parsed in this process: a
 * figure for tests (opening a store must not read them: with a fleet's
 * devices in each of many segments that was most of a hub's start-up).
 */
export const directoryReads = { count: 0 };

/** Where a loaded index file's directory is, until a query needs it. */
interface UnreadDirectory {
  readonly dirBytes: number;
  readonly dirCrc: number;
  readonly devices: number;
}

/** The history index of one segment. */
export class SegmentHistory {
  readonly base: number;
  readonly #id = nextHistoryId++;
  readonly path: string;
  readonly #devices = new Map<string, DeviceSlot>();
  /** The rows, in memory until the index file is written; then null and read from the file. */
  #columns: SegmentColumns | null;
  /** Readings indexed. */
  readings = 0;
  /** Whether the index file holds it (entries then are not kept in memory). */
  persisted = false;
  /** Size of the index file once written or loaded; 0 before (what retention counts, see retention-policy.ts). */
  fileBytes = 0;
  /** The index file's write, while one runs. */
  #writing: Promise<void> | null = null;
  /** A loaded index file's directory not read yet (see {@link ready}); null once read, and for an index built here. */
  #unread: UnreadDirectory | null = null;
  #reading: Promise<void> | null = null;
  /**
   * A loaded index file's directory as read (checked against its CRC), in
   * place of the summaries in {@link #devices}: a device's summary is found by
   * a scan of its bytes when a query asks, so a segment costs no object or
   * string per device (a fleet's devices in each of many segments).
   */
  #directory: { readonly bytes: Buffer; readonly devices: number } | null = null;
  /** The last summary found in {@link #directory} (a query asks for one device twice per segment). */
  #found: { readonly device: string; readonly slot: DeviceSlot | undefined } | null = null;

  /** Rows come from `pool` and go back to it once the index file is written. */
  constructor(dir: string, base: number, pool: RowPool = new RowPool()) {
    this.base = base;
    this.path = join(dir, indexFileName(base));
    this.#columns = new SegmentColumns(pool);
  }

  /**
   * Indexes the next reading of the segment (its `readings`-th), at byte
   * `offset`, `length` bytes; `cache` (the device's, when the caller has
   * one) keeps the device's slot for its next reading.
   */
  note(device: string, ts: number, offset: number, length: number, cache?: SlotCache): void {
    let slot = cache?.historySlot as DeviceSlot | null | undefined;
    if (slot?.owner !== this.#id) {
      slot = this.#devices.get(device);
      if (slot === undefined) {
        slot = { owner: this.#id, number: this.#devices.size, count: 0, minTs: ts, maxTs: ts, frameBytes: 0, blockOffset: 0, blockCrc: 0 };
        this.#devices.set(device, slot);
      }
      if (cache !== undefined) cache.historySlot = slot;
    }
    (this.#columns as SegmentColumns).add(slot.number, ts, offset, length);
    slot.count += 1;
    slot.frameBytes += length;
    if (ts < slot.minTs) slot.minTs = ts;
    if (ts > slot.maxTs) slot.maxTs = ts;
    this.readings += 1;
  }

  /**
   * Reads the directory of a loaded index file (once): {@link overlaps} and
   * {@link entries} need it. Rejects with {@link IndexDamaged} when it does
   * not match its CRC (the file is then rebuilt from the segment).
   */
  ready(): Promise<void> {
    if (this.#unread === null) return Promise.resolve();
    this.#reading ??= this.#readDirectory(this.#unread);
    return this.#reading;
  }

  /** Whether the device may have a reading with `ts` in `[from, to)` here (after {@link ready}). */
  overlaps(device: string, from: number, to: number): boolean {
    if (this.#unread !== null) throw new Error('SegmentHistory: overlaps() before ready()');
    const slot = this.#slot(device);
    return slot !== undefined && slot.maxTs >= from && slot.minTs < to;
  }

  /**
   * The device's entries and the file their offsets point into: from memory
   * (the segment at `segmentPath`), or its block of the index file (CRC
   * checked; the frames are in the index file).
   */
  async entries(device: string, segmentPath: string): Promise<DeviceFrames | null> {
    await this.ready();
    const slot = this.#slot(device);
    if (slot === undefined) return null;
    if (this.#columns !== null) return { entries: this.#columns.gather(slot.number, slot.count), file: segmentPath, inIndex: false };
    const bytes = slot.count * ENTRY_BYTES;
    const handle = await open(this.path, 'r');
    let block: Buffer;
    try {
      block = Buffer.allocUnsafe(bytes);
      const { bytesRead } = await handle.read(block, 0, bytes, slot.blockOffset);
      if (bytesRead !== bytes || crc32Large(block, 0, bytes) !== slot.blockCrc) {
        throw new IndexDamaged(this.path);
      }
    } finally {
      await handle.close();
    }
    return { entries: DeviceEntries.decode(block, slot.count), file: this.path, inIndex: true };
  }

  /**
   * Writes the index file (0600, renamed into place whole, not fsynced:
   * see the module's comment), copying the frames from the sealed segment
   * at `segmentPath` through a window of at most
   * `windowBytes` (of `buffers`); from then on only the summaries stay in
   * memory.
   */
  write(segmentPath: string, windowBytes: number, buffers: CopyBuffers): Promise<void> {
    if (this.persisted) return Promise.resolve();
    // One write at a time (maintenance and a query's rebuild may both ask): the rows go back to the pool after it.
    this.#writing ??= this.#writeFile(segmentPath, windowBytes, buffers).finally(() => {
      this.#writing = null;
    });
    return this.#writing;
  }

  async #writeFile(segmentPath: string, windowBytes: number, buffers: CopyBuffers): Promise<void> {
    const names: Buffer[] = [];
    const counts: number[] = [];
    let dirBytes = 0;
    for (const [device, slot] of this.#devices) {
      const name = Buffer.from(device, 'utf8');
      names[slot.number] = name;
      counts[slot.number] = slot.count;
      dirBytes += 1 + name.length + 32;
    }
    // Blocks start on multiples of 8, so that typed arrays can be laid over them.
    dirBytes += (8 - ((HEADER_BYTES + dirBytes) % 8)) % 8;
    const starts: number[] = [];
    let blockAt = HEADER_BYTES + dirBytes;
    for (const count of counts) {
      starts.push(blockAt);
      blockAt += count * ENTRY_BYTES;
    }
    // Each device's run of frames, after every block.
    const frameStarts: number[] = [];
    for (const slot of this.#devices.values()) frameStarts[slot.number] = slot.frameBytes;
    let frameAt = blockAt;
    for (let d = 0; d < frameStarts.length; d += 1) {
      const bytes = frameStarts[d] as number;
      frameStarts[d] = frameAt;
      frameAt += bytes;
    }
    const columns = this.#columns as SegmentColumns;
    const file = buffers.head(blockAt); // at offset 0 of its own ArrayBuffer
    file.fill(0, 0, HEADER_BYTES + dirBytes);
    columns.layOut(file, starts, counts, frameStarts);
    let at = HEADER_BYTES;
    const crcs: number[] = [];
    for (const slot of this.#devices.values()) {
      const name = names[slot.number] as Buffer;
      const start = starts[slot.number] as number;
      const crc = crc32Large(file, start, start + slot.count * ENTRY_BYTES);
      crcs[slot.number] = crc;
      file[at] = name.length;
      name.copy(file, at + 1);
      at += 1 + name.length;
      file.writeUInt32LE(slot.count, at);
      file.writeDoubleLE(slot.minTs, at + 4);
      file.writeDoubleLE(slot.maxTs, at + 12);
      file.writeDoubleLE(start, at + 20);
      file.writeUInt32LE(crc, at + 28);
      at += 32;
    }
    file.write(MAGIC, 0, 'latin1');
    file[4] = VERSION;
    file[5] = BYTE_ORDER;
    file.writeUInt16LE(0, 6);
    file.writeUInt32LE(this.#devices.size, 8);
    file.writeUInt32LE(this.readings, 12);
    file.writeUInt32LE(dirBytes, 16);
    file.writeUInt32LE(crc32Large(file, HEADER_BYTES, HEADER_BYTES + dirBytes), 20);
    await writeAtomically(this.path, { mode: 0o600, durable: false }, async (handle) => {
      await writeAll(handle, file, 0);
      await copyFrames(handle, segmentPath, columns, { frameStarts, start: blockAt, end: frameAt }, windowBytes, buffers);
    });
    for (const slot of this.#devices.values()) {
      slot.blockOffset = starts[slot.number] as number;
      slot.blockCrc = crcs[slot.number] as number;
    }
    columns.release();
    this.#columns = null;
    this.fileBytes = frameAt;
    this.persisted = true;
  }

  /**
   * Opens the index file of the segment at `base`, which holds `readings`
   * readings: its header only (the directory is read by the first query
   * that needs it, see {@link ready}, so that opening a store costs a read
   * per segment, not a parse of every device of every segment). Null when
   * there is no usable file (none, another byte order or version, another
   * count, shorter than its header says): the caller rebuilds it from the
   * segment.
   */
  static async load(dir: string, base: number, readings: number): Promise<SegmentHistory | null> {
    const history = new SegmentHistory(dir, base);
    let unread: UnreadDirectory;
    let fileBytes: number;
    try {
      const handle = await open(history.path, 'r');
      try {
        const header = Buffer.alloc(HEADER_BYTES);
        const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
        if (bytesRead !== HEADER_BYTES) return null;
        if (header.toString('latin1', 0, 4) !== MAGIC || header[4] !== VERSION || header[5] !== BYTE_ORDER) return null;
        if (header.readUInt32LE(12) !== readings) return null;
        const dirBytes = header.readUInt32LE(16);
        fileBytes = (await handle.stat()).size;
        if (HEADER_BYTES + dirBytes > fileBytes) return null;
        unread = { dirBytes, dirCrc: header.readUInt32LE(20), devices: header.readUInt32LE(8) };
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    history.#unread = unread;
    history.readings = readings;
    history.fileBytes = fileBytes;
    history.persisted = true;
    history.#columns?.release();
    history.#columns = null;
    return history;
  }

  /** The device's summary: from memory, or found in the directory read from the index file. */
  #slot(device: string): DeviceSlot | undefined {
    const directory = this.#directory;
    if (directory === null) return this.#devices.get(device);
    if (this.#found?.device === device) return this.#found.slot;
    const name = Buffer.from(device, 'utf8');
    const last = name[name.length - 1];
    const { bytes } = directory;
    let slot: DeviceSlot | undefined;
    let at = HEADER_BYTES;
    for (let d = 0; d < directory.devices; d += 1) {
      const idBytes = bytes[at] as number;
      // The last byte first: ids of one fleet share their length and most of their prefix.
      if (idBytes === name.length && bytes[at + idBytes] === last && bytes.compare(name, 0, idBytes, at + 1, at + 1 + idBytes) === 0) {
        const fields = at + 1 + idBytes;
        slot = {
          owner: this.#id,
          number: d,
          count: bytes.readUInt32LE(fields),
          minTs: bytes.readDoubleLE(fields + 4),
          maxTs: bytes.readDoubleLE(fields + 12),
          frameBytes: 0,
          blockOffset: bytes.readDoubleLE(fields + 20),
          blockCrc: bytes.readUInt32LE(fields + 28),
        };
        break;
      }
      at += 1 + idBytes + 32;
    }
    this.#found = { device, slot };
    return slot;
  }

  /** Reads and checks the directory of a loaded index file (each device's summary and where its block is). */
  async #readDirectory(unread: UnreadDirectory): Promise<void> {
    directoryReads.count += 1;
    const file = Buffer.alloc(HEADER_BYTES + unread.dirBytes);
    const handle = await open(this.path, 'r');
    try {
      const { bytesRead } = await handle.read(file, HEADER_BYTES, unread.dirBytes, HEADER_BYTES);
      if (bytesRead !== unread.dirBytes || crc32Large(file, HEADER_BYTES, file.length) !== unread.dirCrc) throw new IndexDamaged(this.path);
    } finally {
      await handle.close();
    }
    // Every entry must lie within the directory: checked once here, so a scan never reads past it.
    let at = HEADER_BYTES;
    for (let d = 0; d < unread.devices; d += 1) {
      at += 1 + (file[at] ?? 0) + 32;
      if (at > file.length) throw new IndexDamaged(this.path);
    }
    this.#directory = { bytes: file, devices: unread.devices };
    this.#unread = null;
  }
}
