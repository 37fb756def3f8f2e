/**
 * The `thingspeak` sink's config section (SPEC: Sinks, Configuration): the
 * transport (HTTP bulk updates, or MQTT publishes with the broker keys of
 * `mqtt-config.ts`), pacing, and the channel of each device.
 */
import type { ConfigReader } from '../config/config-reader.js';
import { readMqttConnection, type MqttConnectionConfig } from './mqtt-config.js';
import { DEFAULT_FLUSH_INTERVAL_MS, MAX_MS, readRunnerSettings, type SinkConfigBase } from './sink-settings.js';

/** ThingSpeak field slots. */
export const THINGSPEAK_FIELDS = ['field1', 'field2', 'field3', 'field4', 'field5', 'field6', 'field7', 'field8'] as const;
export type ThingSpeakField = (typeof THINGSPEAK_FIELDS)[number];

/** Where one device's readings go on ThingSpeak. */
export interface ThingSpeakChannel {
  readonly channelId: number;
  readonly writeKey: string;
  /** Reading field name → ThingSpeak slot. */
  readonly fields: ReadonlyMap<string, ThingSpeakField>;
  /** Reading field names copied to the entry's `status`, `latitude`, `longitude`, `elevation` (null: none). */
  readonly status: string | null;
  readonly latitude: string | null;
  readonly longitude: string | null;
  readonly elevation: string | null;
}

/** What both transports share. */
interface ThingSpeakSinkCommon extends SinkConfigBase {
  readonly type: 'thingspeak';
  /** Minimum time between two updates of one channel (ThingSpeak: 15 s on free plans). @defaultValue {@link DEFAULT_THINGSPEAK_MIN_INTERVAL_MS} */
  readonly minIntervalMs: number;
  /** Device id → channel. Readings of other devices are skipped. */
  readonly channels: ReadonlyMap<string, ThingSpeakChannel>;
}

/** `transport: "http"`: bulk JSON updates (at least once). */
export interface ThingSpeakHttpSinkConfig extends ThingSpeakSinkCommon {
  readonly transport: 'http';
  /** The API's base URL, without a trailing slash. @defaultValue {@link DEFAULT_THINGSPEAK_URL} */
  readonly url: string;
  /** CA certificate path for an https URL served with a private CA (null: the system's roots). */
  readonly ca: string | null;
  /** Entries per bulk update (ThingSpeak: at most 960). @defaultValue {@link THINGSPEAK_MAX_BULK_ENTRIES} */
  readonly maxEntries: number;
  /** @defaultValue {@link DEFAULT_THINGSPEAK_REQUEST_TIMEOUT_MS} */
  readonly requestTimeoutMs: number;
}

/** `transport: "mqtt"`: publishes at QoS 0 (at most once), over the broker keys of the section. */
export interface ThingSpeakMqttSinkConfig extends ThingSpeakSinkCommon {
  readonly transport: 'mqtt';
  readonly mqtt: MqttConnectionConfig;
}

/** A resolved `thingspeak` sink. */
export type ThingSpeakSinkConfig = ThingSpeakHttpSinkConfig | ThingSpeakMqttSinkConfig;

export const DEFAULT_THINGSPEAK_URL = 'https://api.thingspeak.com';
export const DEFAULT_THINGSPEAK_MQTT_URL = 'mqtts://mqtt3.thingspeak.com:8883';
/** ThingSpeak's free plans accept one update per channel every 15 s. */
export const DEFAULT_THINGSPEAK_MIN_INTERVAL_MS = 15_000;
/** ThingSpeak's cap on entries per bulk update (free plans). */
export const THINGSPEAK_MAX_BULK_ENTRIES = 960;
/** Readings per batch over ThingSpeak's MQTT transport. */
export const DEFAULT_THINGSPEAK_MQTT_BATCH_SIZE = 8;
export const DEFAULT_THINGSPEAK_REQUEST_TIMEOUT_MS = 30_000;

/** Reads a `thingspeak` sink section (`name` already read). */
export function resolveThingSpeakSink(r: ConfigReader, name: string): ThingSpeakSinkConfig {
  const transport = r.oneOf('transport', ['http', 'mqtt'] as const, 'http');
  const common = {
    type: 'thingspeak' as const,
    name,
    path: r.path,
    // Over MQTT each reading is its own update, one per interval: small batches keep the position moving.
    ...readRunnerSettings(r, {
      batchSize: transport === 'http' ? THINGSPEAK_MAX_BULK_ENTRIES : DEFAULT_THINGSPEAK_MQTT_BATCH_SIZE,
      flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS,
    }),
    minIntervalMs: r.int('minIntervalMs', 0, MAX_MS, DEFAULT_THINGSPEAK_MIN_INTERVAL_MS),
    channels: readChannels(r.object('channels')),
  };
  if (transport === 'mqtt') return { ...common, transport, mqtt: readMqttConnection(r, DEFAULT_THINGSPEAK_MQTT_URL) };
  const url = r.string('url', DEFAULT_THINGSPEAK_URL);
  if (!/^https?:\/\/[^/]+/.test(url)) throw r.fail('url', 'an http:// or https:// URL', url);
  return {
    ...common,
    transport,
    url: url.replace(/\/+$/, ''),
    ca: r.filePath('ca', null),
    maxEntries: r.int('maxEntries', 1, 14_400, THINGSPEAK_MAX_BULK_ENTRIES),
    requestTimeoutMs: r.int('requestTimeoutMs', 100, MAX_MS, DEFAULT_THINGSPEAK_REQUEST_TIMEOUT_MS),
  };
}

/** Device id → channel, in a `Map`: a device may be called `constructor`. */
function readChannels(r: ConfigReader): ReadonlyMap<string, ThingSpeakChannel> {
  const channels = new Map<string, ThingSpeakChannel>();
  for (const device of r.keys()) channels.set(device, readChannel(r.object(device)));
  r.done();
  return channels;
}

function readChannel(r: ConfigReader): ThingSpeakChannel {
  const fieldsReader = r.object('fields');
  const fields = new Map<string, ThingSpeakField>();
  const used = new Set<string>();
  for (const name of fieldsReader.keys()) {
    const slot = fieldsReader.oneOf(name, THINGSPEAK_FIELDS);
    if (used.has(slot)) throw fieldsReader.fail(name, `a slot not used by another field`, slot);
    used.add(slot);
    fields.set(name, slot);
  }
  fieldsReader.done();
  const resolved: ThingSpeakChannel = {
    channelId: r.int('channelId', 1, Number.MAX_SAFE_INTEGER),
    writeKey: r.string('writeKey'),
    fields,
    status: r.string('status', null),
    latitude: r.string('latitude', null),
    longitude: r.string('longitude', null),
    elevation: r.string('elevation', null),
  };
  r.done();
  return Object.freeze(resolved);
}
