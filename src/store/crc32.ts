/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib and PNG) over a range of a
 * buffer. Same result as `zlib.crc32`, but without creating a Buffer view per
 * call: recovery checks one CRC per stored reading, and for readings of ~100
 * bytes the view and the native call cost more than the arithmetic.
 */
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 of `buf[start..end)`, as an unsigned 32-bit integer. */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i += 1) c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** zlib's native CRC-32 where this Node has it (20.15+, 22.2+). */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Past this many bytes the native CRC (one call) beats the loop above. */
const NATIVE_FROM_BYTES = 4096;

/** CRC-32 of `buf[start..end)` for large ranges (index files): native where available. Same result as {@link crc32Range}. */
export function crc32Large(buf: Uint8Array, start: number, end: number): number {
  if (nativeCrc32 === undefined || end - start < NATIVE_FROM_BYTES) return crc32Range(buf, start, end);
  return nativeCrc32(buf.subarray(start, end)) >>> 0;
}
