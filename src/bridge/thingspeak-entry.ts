/**
 * Readings → ThingSpeak channel updates (pure): the bulk JSON entry
 * (`{"created_at", "field1", ...}`, ThingSpeak "Bulk-Write JSON Data") and
 * the MQTT publish payload (`field1=..&created_at=..`, ThingSpeak "Publish to
 * a Channel Field Feed").
 */
import type { StoredReading, TelemetryValue } from '../store/types.js';
import type { ThingSpeakChannel } from './thingspeak-config.js';
import { SinkRefusedError } from './sink.js';

/** One update of a channel: ThingSpeak keys → values as text. */
export type ThingSpeakUpdate = Readonly<Record<string, string>>;

/** ThingSpeak stores every value as text, at most 255 characters. */
function text(value: TelemetryValue): string {
  return String(value).slice(0, 255);
}

/**
 * The update for one reading on its channel, or null when none of its fields
 * is mapped (ThingSpeak answers `0` to an update without any field).
 */
export function toUpdate(reading: StoredReading, channel: ThingSpeakChannel): ThingSpeakUpdate | null {
  // Null prototype, and only the reading's own fields: a field named `constructor` in the map must not find Object's.
  const update = Object.create(null) as Record<string, string>;
  let mapped = 0;
  for (const [name, slot] of channel.fields) {
    const value = ownValue(reading, name);
    if (value !== undefined) {
      update[slot] = text(value);
      mapped += 1;
    }
  }
  for (const key of ['status', 'latitude', 'longitude', 'elevation'] as const) {
    const name = channel[key];
    const value = name === null ? undefined : ownValue(reading, name);
    if (value !== undefined) {
      update[key] = text(value);
      mapped += 1;
    }
  }
  if (mapped === 0) return null;
  // The reading's own time, so a backlog keeps its timeline (ISO 8601 is accepted by ThingSpeak).
  const time = new Date(reading.ts);
  if (Number.isNaN(time.getTime())) throw new SinkRefusedError(`reading ${reading.device}/${reading.seq} has a time ThingSpeak cannot take: ${reading.ts}`);
  return { created_at: time.toISOString(), ...update };
}

function ownValue(reading: StoredReading, name: string): TelemetryValue | undefined {
  return Object.hasOwn(reading.data, name) ? reading.data[name] : undefined;
}

/** The bulk update request body. */
export function bulkBody(writeKey: string, updates: readonly ThingSpeakUpdate[]): string {
  return JSON.stringify({ write_api_key: writeKey, updates });
}

/** The MQTT publish payload: the update as `key=value&...`, URL-encoded. */
export function mqttPayload(update: ThingSpeakUpdate): string {
  return new URLSearchParams(Object.entries(update)).toString();
}

/**
 * True when a bulk update answer means ThingSpeak took the entries: a 2xx
 * status whose body is not `0` or `-1` (ThingSpeak's "not written") and not
 * `{"success":false}`. Anything else is a failure that the runner retries.
 */
export function isAccepted(status: number, body: string): boolean {
  if (status < 200 || status >= 300) return false;
  const trimmed = body.trim();
  if (trimmed === '0' || trimmed === '-1') return false;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    return !(typeof parsed === 'object' && parsed !== null && (parsed as { success?: unknown }).success === false);
  } catch {
    return trimmed.length > 0;
  }
}
