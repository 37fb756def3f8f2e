/**
 * Readings → InfluxDB 1.x points (pure). The `influx` package writes
 * schema-less numbers with `String(value)`, which InfluxDB stores as floats;
 * a reading's integer must stay an integer (issue 4). So each field value is
 * handed over as a {@link LineValue}, already encoded as a line-protocol
 * token (`5i`, `21.5`, `true`, `"text"`), which the package passes through.
 */
import { escape, type IPoint } from 'influx';
import type { StoredReading, TelemetryValue } from '../store/types.js';

/** A field value already encoded for the line protocol; `String()` of it is the token. */
export class LineValue {
  constructor(readonly token: string) {}
  toString(): string {
    return this.token;
  }
}

/**
 * The line-protocol token of one value (InfluxDB 1.x line protocol, "Data
 * types"): a safe integer → `123i` unless its field is listed as float; other
 * numbers → float; booleans → `true`/`false`; strings → double-quoted with
 * `\` and `"` escaped.
 */
export function fieldToken(value: TelemetryValue, asFloat: boolean): string {
  if (typeof value === 'number') return Number.isSafeInteger(value) && !asFloat ? `${value}i` : String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** What a point needs besides the reading. */
export interface PointShape {
  /** The measurement, already escaped ({@link escapeMeasurement}). */
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Fields written as floats even when a value is whole. */
  readonly floatFields: ReadonlySet<string>;
}

/** Escapes a measurement name for the line protocol: the `influx` package does not (it escapes tags and field keys only). */
export function escapeMeasurement(name: string): string {
  return escape.measurement(name);
}

/**
 * The point's time in microseconds: the reading's ms `ts` plus `seq mod 1000`
 * µs. InfluxDB keeps one point per series and timestamp, so two readings of a
 * device stamped in the same millisecond (a batch sent without `ts`) would
 * otherwise overwrite each other. Queried at ms precision the time is the
 * reading's own; a repeat of the same reading still lands on the same point.
 */
export function pointTime(reading: Pick<StoredReading, 'ts' | 'seq'>): number {
  return reading.ts * 1000 + (reading.seq % 1000);
}

/** Precision of {@link pointTime} for the write. */
export const POINT_PRECISION = 'u';

/** One reading as a point, and its approximate size on the wire. */
export function toPoint(reading: StoredReading, shape: PointShape): { point: IPoint; bytes: number } {
  // Null-prototype objects: a field named `__proto__` must stay a field, not replace the object's prototype.
  const fields = Object.create(null) as Record<string, LineValue>;
  const tags = Object.create(null) as Record<string, string>;
  // measurement + ",device=" + id + " " + timestamp + newline, then each field.
  let bytes = shape.measurement.length + reading.device.length + 32;
  for (const [name, value] of Object.entries(shape.tags)) {
    tags[name] = value;
    bytes += name.length + value.length + 2;
  }
  tags.device = reading.device;
  for (const [name, value] of Object.entries(reading.data)) {
    const token = fieldToken(value, shape.floatFields.has(name));
    fields[name] = new LineValue(token);
    bytes += name.length + token.length + 2;
  }
  return { point: { measurement: shape.measurement, tags, fields, timestamp: pointTime(reading) }, bytes };
}

/** Splits points into writes of at most `maxPoints` points and about `maxBytes` bytes (a single larger point goes alone). */
export function chunkPoints<T extends { bytes: number }>(items: readonly T[], maxPoints: number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length >= maxPoints || size + item.bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** What InfluxDB said about a partial write (HTTP 400 `partial write: ... dropped=N`). */
export interface PartialWrite {
  readonly dropped: number;
  /** A field the server holds as float that we sent as integer: resend it as float. */
  readonly floatField: string | null;
  readonly reason: string;
}

/**
 * Parses a 400 answer to a write. InfluxDB 1.x writes the valid points of a
 * batch and drops the rest (`partial write`), so such a write is not retried
 * as a whole: retrying would never succeed and would block the sink.
 */
export function parsePartialWrite(message: string): PartialWrite | null {
  const match = /partial write: (.*?) dropped=(\d+)/s.exec(message);
  if (match === null) return null;
  const reason = match[1] ?? '';
  const conflict = /input field \\?"(.+?)\\?" on measurement .* is type integer, already exists as type float/.exec(reason);
  return { dropped: Number(match[2]), floatField: conflict?.[1] ?? null, reason };
}
