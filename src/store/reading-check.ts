/**
 * What the embedded log checks of a batch before it takes any of it: each
 * reading must fit the file format (record-codec.ts). The hub validates per
 * SPEC first; this guards the format against any other caller. Pure, no I/O.
 */
import { FleethubError } from '../errors.js';
import { recordBytes } from './record-codec.js';
import type { Reading } from './types.js';

/** A batch's readings as the log writes them: data JSON and the UTF-8 lengths of device id and JSON, by index. */
export interface EncodedBatch {
  readonly jsons: string[];
  readonly deviceBytes: number[];
  readonly jsonBytes: number[];
}

/** Why a reading cannot be stored, or null. */
export function readingProblem(reading: Reading): string | null {
  // Up to 85 UTF-16 units fit 255 UTF-8 bytes whatever they are: count bytes only for longer ids.
  if (typeof reading.device !== 'string' || reading.device.length === 0 || (reading.device.length > 85 && Buffer.byteLength(reading.device) > 255)) {
    return 'device must be a string of 1 to 255 bytes';
  }
  if (!Number.isSafeInteger(reading.seq) || reading.seq < 1) return `seq must be a safe integer >= 1, got ${reading.seq}`;
  if (typeof reading.ts !== 'number' || !Number.isFinite(reading.ts)) return `ts must be a finite number, got ${reading.ts}`;
  if (typeof reading.data !== 'object' || reading.data === null) return 'data must be an object';
  return null;
}

/**
 * Checks and encodes every reading of a batch. Throws FH_ERR_INVALID_ARGUMENT
 * for the first one that cannot be stored: the batch is then taken whole or
 * not at all.
 */
export function encodeBatch(readings: readonly Reading[]): EncodedBatch {
  const count = readings.length;
  const jsons: string[] = new Array<string>(count);
  const deviceBytes: number[] = new Array<number>(count);
  const jsonBytes: number[] = new Array<number>(count);
  for (let i = 0; i < count; i += 1) {
    const reading = readings[i] as Reading;
    const problem = readingProblem(reading);
    if (problem !== null) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: ${problem}`);
    try {
      const json = reading.dataJson ?? JSON.stringify(reading.data);
      jsons[i] = json;
      deviceBytes[i] = Buffer.byteLength(reading.device);
      jsonBytes[i] = Buffer.byteLength(json);
      recordBytes(deviceBytes[i] as number, jsonBytes[i] as number); // throws on what a frame cannot hold
    } catch (err) {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: cannot encode a reading of ${reading.device}`, { cause: err });
    }
  }
  return { jsons, deviceBytes, jsonBytes };
}
