/**
 * Committed readings as core NATS messages on the cluster's live subjects,
 * and back (cluster-feed.ts).
 *
 * A hub publishes what JetStream acked in batches: one message on
 * `<prefix>.live.<node token>` holds every reading the hub committed since
 * its last one (bounded by count and bytes). One message per reading cost
 * the NATS servers and every hub a message each, for every reading of the
 * fleet, whether or not a dashboard was watching; a batch costs one.
 *
 * The body is a JSON array of `[device, seq, ts, position, data]` entries,
 * `data` being the device's own JSON text as the stream stores it. It is
 * read back with `JSON.parse` and every entry checked; a message no hub
 * wrote is refused whole. Pure, no I/O.
 */
import { DEFAULT_NATS_PREFIX, encodeToken, natsNames } from '../../store/jetstream/nats-names.js';
import type { StoredReading, TelemetryData } from '../../store/types.js';

/** Subject names of the live feed under one prefix. */
export interface LiveSubjects {
  /** `<prefix>.live.`: hub H publishes on this plus H's token. */
  readonly prefix: string;
  /** `<prefix>.live.>`: what each hub subscribes to. */
  readonly filter: string;
}

/** The live subjects under `prefix`; throws on a prefix NATS cannot carry. */
export function liveSubjects(prefix: string = DEFAULT_NATS_PREFIX): LiveSubjects {
  natsNames(prefix); // validates the prefix
  return Object.freeze({ prefix: `${prefix}.live.`, filter: `${prefix}.live.>` });
}

/** The subject hub `node` publishes its batches on. */
export function liveSubjectOf(subjects: LiveSubjects, node: string): string {
  return subjects.prefix + encodeToken(node);
}

/** One entry's JSON text (its data as the device sent it, when the reading has that text). */
export function encodeLiveEntry(reading: StoredReading): string {
  const data = reading.dataJson ?? JSON.stringify(reading.data);
  return `[${JSON.stringify(reading.device)},${reading.seq},${reading.ts},${reading.position},${data}]`;
}

const encoder = new TextEncoder();

/** The body of a batch of entries made by {@link encodeLiveEntry}. */
export function encodeLiveBatch(entries: readonly string[]): Uint8Array {
  return encoder.encode(`[${entries.join(',')}]`);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The readings a batch announces; throws on a body no hub wrote (not JSON, or an entry of another shape). */
export function decodeLiveBatch(body: Uint8Array): StoredReading[] {
  const parsed: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  if (!Array.isArray(parsed)) throw new Error('a live batch is not an array');
  const readings: StoredReading[] = [];
  for (const entry of parsed as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 5) throw new Error('a live batch entry is not [device, seq, ts, position, data]');
    const [device, seq, ts, position, data] = entry as unknown[];
    if (typeof device !== 'string' || device === '') throw new Error('a live batch entry has no device');
    if (!isCount(seq) || seq < 1 || !isCount(ts) || !isCount(position)) throw new Error(`a live batch entry of ${device} has a bad seq, ts or position`);
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`a live batch entry of ${device} holds no data object`);
    readings.push({ device, seq, ts, position, data: data as TelemetryData });
  }
  return readings;
}
