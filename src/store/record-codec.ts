/**
 * The on-disk record: one frame per stored reading. Pure functions, no I/O.
 *
 * Frame layout (little-endian):
 *
 * ```
 * u32 payloadLength | u32 crc32(payload) | payload
 * payload = u8 version(1) | u8 deviceLength | device (UTF-8)
 *         | f64 seq | f64 ts | f64 hubTime | data (JSON, UTF-8)
 * ```
 *
 * The length and the CRC together let recovery tell a complete record from a
 * torn one (a crash mid-write) or from garbage: a frame whose length runs past
 * the end of the file is partial, and a frame whose CRC does not match is
 * corrupt; either way nothing past it is ever decoded.
 */
import { crc32Range } from './crc32.js';
import type { StoredReading, TelemetryData } from './types.js';

/** Bytes before a frame's payload: length and CRC. */
export const FRAME_HEADER_BYTES = 8;

/**
 * Largest payload a frame may claim. A reading is bounded by the device
 * limits (maxPayloadBytes, maxFields, 256-character strings) far below this;
 * a bigger length can only be garbage, so it is treated as corruption.
 */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

const VERSION = 1;
/** version, device length, then three f64 after the device id. */
const FIXED_PAYLOAD_BYTES = 2 + 24;

/** A decoded record: the reading and the hub's clock when it was stored. */
export interface DecodedRecord {
  readonly reading: StoredReading;
  /** ms since epoch on the hub when the reading was accepted (counts msgsPerDay by UTC day). */
  readonly hubTime: number;
}

/** {@link frameEnd}: the buffer ends before the frame does (a torn tail, or simply more to read). */
export const FRAME_PARTIAL = -1;
/** {@link frameEnd}: the length field is impossible (garbage, or zeros the file system extended). */
export const FRAME_BAD_LENGTH = -2;
/** {@link frameEnd}: the payload does not match its CRC. */
export const FRAME_BAD_CRC = -3;

/** Words for a negative {@link frameEnd} result, for logs. */
export function frameProblem(code: number): string {
  if (code === FRAME_PARTIAL) return 'incomplete record';
  if (code === FRAME_BAD_LENGTH) return 'bad record length';
  return 'CRC mismatch';
}

/**
 * Bytes of the frame of a reading whose device id and data JSON take
 * `deviceBytes` and `jsonBytes` in UTF-8. Throws RangeError on a device id
 * that is empty or over 255 bytes, or a frame over {@link MAX_RECORD_BYTES}.
 */
export function recordBytes(deviceBytes: number, jsonBytes: number): number {
  if (deviceBytes === 0 || deviceBytes > 255) throw new RangeError(`device id must be 1 to 255 bytes, got ${deviceBytes}`);
  const payloadLength = FIXED_PAYLOAD_BYTES + deviceBytes + jsonBytes;
  if (payloadLength > MAX_RECORD_BYTES) throw new RangeError(`reading of ${payloadLength} bytes is over ${MAX_RECORD_BYTES}`);
  return FRAME_HEADER_BYTES + payloadLength;
}

/**
 * Writes one reading's frame into `buf` at `offset`, where {@link recordBytes}
 * bytes must be free; `json` is `JSON.stringify(data)`, and `deviceBytes` and
 * `jsonBytes` are the UTF-8 lengths of `device` and `json` (the caller has
 * them from {@link recordBytes}). Returns the offset just past the frame.
 * (The store writes a whole group commit into one buffer this way: no buffer
 * per reading.)
 */
export function writeRecord(
  buf: Buffer, offset: number, device: string, deviceBytes: number, seq: number, ts: number, hubTime: number, json: string, jsonBytes: number,
): number {
  const payloadStart = offset + FRAME_HEADER_BYTES;
  const end = payloadStart + FIXED_PAYLOAD_BYTES + deviceBytes + jsonBytes;
  buf[payloadStart] = VERSION;
  buf[payloadStart + 1] = deviceBytes;
  let at = payloadStart + 2;
  writeText(buf, at, device, deviceBytes);
  at += deviceBytes;
  buf.writeDoubleLE(seq, at);
  buf.writeDoubleLE(ts, at + 8);
  buf.writeDoubleLE(hubTime, at + 16);
  writeText(buf, at + 24, json, jsonBytes);
  buf.writeUInt32LE(end - payloadStart, offset);
  buf.writeUInt32LE(crc32Range(buf, payloadStart, end), offset + 4);
  return end;
}

/** ASCII text up to this many characters is copied by a plain loop, which beats a call into native code for short strings. */
const SHORT_ASCII = 512;

/** Writes `text`, whose UTF-8 length is `bytes`, at `at`. */
function writeText(buf: Buffer, at: number, text: string, bytes: number): void {
  // Equal lengths mean every character is ASCII (any other takes two or more UTF-8 bytes).
  if (bytes === text.length && bytes <= SHORT_ASCII) {
    for (let i = 0; i < bytes; i += 1) buf[at + i] = text.charCodeAt(i);
  } else {
    buf.write(text, at, bytes, 'utf8');
  }
}

/** Encodes one reading as a complete frame of its own. Throws RangeError like {@link recordBytes}. */
export function encodeRecord(device: string, seq: number, ts: number, hubTime: number, data: TelemetryData): Buffer {
  const json = JSON.stringify(data);
  const deviceBytes = Buffer.byteLength(device);
  const jsonBytes = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(recordBytes(deviceBytes, jsonBytes));
  writeRecord(frame, 0, device, deviceBytes, seq, ts, hubTime, json, jsonBytes);
  return frame;
}

/**
 * Checks the frame starting at `offset` in `buf` (bytes up to `limit`) and
 * returns the offset just past it, or FRAME_PARTIAL / FRAME_BAD_LENGTH /
 * FRAME_BAD_CRC. The payload runs from `offset + FRAME_HEADER_BYTES` to the
 * returned end. With `verify` false only the length is checked: for records
 * made durable before a checkpoint, which a crash cannot have torn.
 * (A number, not an object: recovery calls this once per stored reading.)
 */
export function frameEnd(buf: Buffer, offset: number, limit: number, verify: boolean): number {
  if (limit - offset < FRAME_HEADER_BYTES) return FRAME_PARTIAL;
  const length = buf.readUInt32LE(offset);
  if (length < FIXED_PAYLOAD_BYTES + 1 || length > MAX_RECORD_BYTES) return FRAME_BAD_LENGTH;
  const payloadStart = offset + FRAME_HEADER_BYTES;
  const end = payloadStart + length;
  if (end > limit) return FRAME_PARTIAL;
  if (verify && crc32Range(buf, payloadStart, end) !== buf.readUInt32LE(offset + 4)) return FRAME_BAD_CRC;
  return end;
}

/** Decodes the payload at `buf[start..end)` of a frame {@link frameEnd} accepted. Throws on a malformed payload. */
export function decodeRecord(buf: Buffer, start: number, end: number, position: number): DecodedRecord {
  const { device, seq, hubTime, dataStart } = decodeKey(buf, start);
  const ts = buf.readDoubleLE(dataStart - 16);
  const data = JSON.parse(buf.toString('utf8', dataStart, end)) as TelemetryData;
  return { reading: { device, seq, ts, data, position }, hubTime };
}

/** Decodes only what the per-device state needs (no JSON parse): recovery's fast path. */
export function decodeKey(buf: Buffer, start: number): { device: string; seq: number; hubTime: number; dataStart: number } {
  if (buf.readUInt8(start) !== VERSION) throw new Error(`unknown record version ${buf.readUInt8(start)}`);
  const deviceEnd = start + 2 + buf.readUInt8(start + 1);
  return {
    device: buf.toString('utf8', start + 2, deviceEnd),
    seq: buf.readDoubleLE(deviceEnd),
    hubTime: buf.readDoubleLE(deviceEnd + 16),
    dataStart: deviceEnd + 24,
  };
}
