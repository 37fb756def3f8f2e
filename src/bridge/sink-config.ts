/**
 * The `sinks` array of the config file (SPEC: Sinks, Configuration): input
 * shapes, the `DEFAULT_*` constants and the one resolver that validates it at
 * start-up. Every error names its key; unknown keys are refused.
 */
import { resolve } from 'node:path';
import { DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS } from '../backoff.js';
import { ConfigReader, configError } from './config-reader.js';

/** Kinds of sink. */
export const SINK_TYPES = ['mqtt', 'influx', 'thingspeak'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

/** How a runner reads, batches and retries; every sink type has these keys. */
export interface RunnerSettings {
  /** Readings read from the store and handed to the sink at once. @defaultValue mqtt {@link DEFAULT_MQTT_BATCH_SIZE}, influx {@link DEFAULT_INFLUX_BATCH_SIZE}, thingspeak {@link THINGSPEAK_MAX_BULK_ENTRIES} */
  readonly batchSize: number;
  /** When caught up, how long to wait for more readings before delivering a small batch (0: at once). @defaultValue influx {@link DEFAULT_INFLUX_FLUSH_INTERVAL_MS}, others 0 */
  readonly flushIntervalMs: number;
  /** First retry ceiling after a failed delivery (full jitter below it). @defaultValue {@link DEFAULT_SINK_BACKOFF_INITIAL_MS} */
  readonly backoffInitialMs: number;
  /** Largest retry ceiling: a dead destination is retried at least this often. @defaultValue {@link DEFAULT_SINK_BACKOFF_MAX_MS} */
  readonly backoffMaxMs: number;
}

/** Shared by every resolved sink configuration. */
export interface SinkConfigBase extends RunnerSettings {
  readonly type: SinkType;
  /** Unique among the sinks; names the cursor (`sink:<name>`) and the metrics label. */
  readonly name: string;
  /** Where it sits in the config file (`sinks[0]`), for error messages. */
  readonly path: string;
}

/** TLS files (paths) for mqtts:// and wss:// brokers. */
export interface TlsFiles {
  /** CA certificate(s) that signed the broker's certificate (null: the system's roots). */
  readonly ca: string | null;
  /** Client certificate for mutual TLS (with `key`). */
  readonly cert: string | null;
  /** Client private key for mutual TLS (with `cert`). */
  readonly key: string | null;
}

/** Connection settings of an MQTT broker (the `mqtt` sink, and ThingSpeak's MQTT transport). */
export interface MqttConnectionConfig extends TlsFiles {
  /** mqtt://, mqtts://, ws:// or wss:// URL. */
  readonly url: string;
  readonly username: string | null;
  readonly password: string | null;
  /** Client id (null: `fleethub-<sink name>-<random>`). */
  readonly clientId: string | null;
  /** Time to open the connection before the delivery fails and is retried. @defaultValue {@link DEFAULT_CONNECT_TIMEOUT_MS} */
  readonly connectTimeoutMs: number;
  /** Time for every publish of a batch to be acknowledged before the delivery fails. @defaultValue {@link DEFAULT_ACK_TIMEOUT_MS} */
  readonly ackTimeoutMs: number;
  /** MQTT keepalive in seconds. @defaultValue {@link DEFAULT_KEEPALIVE_SEC} */
  readonly keepaliveSec: number;
  /** Publishes awaiting their PUBACK/PUBCOMP at once (brokers cap this; AWS IoT Core at 100). @defaultValue {@link DEFAULT_MAX_INFLIGHT} */
  readonly maxInflight: number;
}

/** A resolved `mqtt` sink. */
export interface MqttSinkConfig extends SinkConfigBase, MqttConnectionConfig {
  readonly type: 'mqtt';
  /** Topic template; `{device}` is replaced by the device id. @defaultValue {@link DEFAULT_MQTT_TOPIC} */
  readonly topic: string;
  /** @defaultValue {@link DEFAULT_MQTT_QOS} */
  readonly qos: 0 | 1 | 2;
  /** @defaultValue false */
  readonly retain: boolean;
}

/** A resolved `influx` sink (InfluxDB 1.x). */
export interface InfluxSinkConfig extends SinkConfigBase {
  readonly type: 'influx';
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** null: the database's default retention policy. */
  readonly retentionPolicy: string | null;
  readonly username: string | null;
  readonly password: string | null;
  /** CA certificate path for https with a private CA (null: the system's roots). */
  readonly ca: string | null;
  /** @defaultValue {@link DEFAULT_INFLUX_MEASUREMENT} */
  readonly measurement: string;
  /** Static tags added to every point, besides `device`. */
  readonly tags: Readonly<Record<string, string>>;
  /** Fields always written as floats, even when a reading's value is whole (see docs/sinks.md). */
  readonly floatFields: readonly string[];
  /** `CREATE DATABASE` before the first write (a no-op when it exists). @defaultValue false */
  readonly createDatabase: boolean;
  /** Points per HTTP write. @defaultValue {@link DEFAULT_INFLUX_MAX_POINTS} */
  readonly maxPoints: number;
  /** Bytes of line protocol per HTTP write. @defaultValue {@link DEFAULT_INFLUX_MAX_BYTES} */
  readonly maxBytes: number;
  readonly requestTimeoutMs: number;
}

/** ThingSpeak field slots. */
export const THINGSPEAK_FIELDS = ['field1', 'field2', 'field3', 'field4', 'field5', 'field6', 'field7', 'field8'] as const;
export type ThingSpeakField = (typeof THINGSPEAK_FIELDS)[number];

/** Where one device's readings go on ThingSpeak. */
export interface ThingSpeakChannel {
  readonly channelId: number;
  readonly writeKey: string;
  /** Reading field name → ThingSpeak slot. */
  readonly fields: Readonly<Record<string, ThingSpeakField>>;
  /** Reading field names copied to the entry's `status`, `latitude`, `longitude`, `elevation` (null: none). */
  readonly status: string | null;
  readonly latitude: string | null;
  readonly longitude: string | null;
  readonly elevation: string | null;
}

/** A resolved `thingspeak` sink. */
export interface ThingSpeakSinkConfig extends SinkConfigBase, MqttConnectionConfig {
  readonly type: 'thingspeak';
  /** `http`: bulk JSON updates (at least once); `mqtt`: publishes at QoS 0 (at most once). */
  readonly transport: 'http' | 'mqtt';
  /** Minimum time between two updates of one channel (ThingSpeak: 15 s on free plans). @defaultValue {@link DEFAULT_THINGSPEAK_MIN_INTERVAL_MS} */
  readonly minIntervalMs: number;
  /** Entries per bulk update (ThingSpeak: at most 960). @defaultValue {@link THINGSPEAK_MAX_BULK_ENTRIES} */
  readonly maxEntries: number;
  readonly requestTimeoutMs: number;
  /** Device id → channel. Readings of other devices are skipped. */
  readonly channels: Readonly<Record<string, ThingSpeakChannel>>;
}

/** A validated sink configuration (an entry of the `sinks` array). */
export type SinkConfig = MqttSinkConfig | InfluxSinkConfig | ThingSpeakSinkConfig;

export const DEFAULT_MQTT_TOPIC = 'fleethub/{device}/telemetry';
export const DEFAULT_MQTT_QOS = 1;
export const DEFAULT_MQTT_BATCH_SIZE = 1_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_ACK_TIMEOUT_MS = 30_000;
export const DEFAULT_KEEPALIVE_SEC = 30;
export const DEFAULT_MAX_INFLIGHT = 100;

export const DEFAULT_INFLUX_PORT = 8086;
export const DEFAULT_INFLUX_MEASUREMENT = 'telemetry';
export const DEFAULT_INFLUX_BATCH_SIZE = 5_000;
/** InfluxData recommends 5,000 to 10,000 points per write. */
export const DEFAULT_INFLUX_MAX_POINTS = 5_000;
export const DEFAULT_INFLUX_MAX_BYTES = 1024 * 1024;
export const DEFAULT_INFLUX_FLUSH_INTERVAL_MS = 1_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export const DEFAULT_THINGSPEAK_URL = 'https://api.thingspeak.com';
export const DEFAULT_THINGSPEAK_MQTT_URL = 'mqtts://mqtt3.thingspeak.com:8883';
/** ThingSpeak's free plans accept one update per channel every 15 s. */
export const DEFAULT_THINGSPEAK_MIN_INTERVAL_MS = 15_000;
/** ThingSpeak's cap on entries per bulk update (free plans). */
export const THINGSPEAK_MAX_BULK_ENTRIES = 960;
/** Readings per batch over ThingSpeak's MQTT transport. */
export const DEFAULT_THINGSPEAK_MQTT_BATCH_SIZE = 8;

/** Runner defaults shared by all sink types unless a type overrides them. */
export const DEFAULT_FLUSH_INTERVAL_MS = 0;
export const DEFAULT_SINK_BACKOFF_INITIAL_MS = DEFAULT_BACKOFF_INITIAL_MS;
export const DEFAULT_SINK_BACKOFF_MAX_MS = DEFAULT_BACKOFF_MAX_MS;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_MS = 24 * 3600 * 1000;

/**
 * Validates the raw `sinks` value of the config file (absent: no sinks).
 * Throws FH_ERR_CONFIG naming the key, e.g.
 * `config: sinks[1].qos must be 0, 1 or 2, got 3`. Relative `ca`, `cert`
 * and `key` paths are resolved against `baseDir` (the config file's folder)
 * when given, else against the working directory.
 */
export function resolveSinkConfigs(raw: unknown, options: { readonly baseDir?: string } = {}): readonly SinkConfig[] {
  if (raw === undefined) return Object.freeze([]);
  if (!Array.isArray(raw)) throw configError('sinks', 'an array', raw);
  const names = new Set<string>();
  const sinks = raw.map((entry: unknown, i) => {
    const reader = new ConfigReader(entry, `sinks[${i}]`);
    const sink = resolveFiles(resolveOne(reader), options.baseDir);
    if (names.has(sink.name)) throw configError(reader.at('name'), 'unique among the sinks', sink.name);
    names.add(sink.name);
    reader.done();
    return Object.freeze(sink);
  });
  return Object.freeze(sinks);
}

function resolveFiles<T extends SinkConfig>(sink: T, baseDir: string | undefined): T {
  if (baseDir === undefined) return sink;
  const out: Record<string, unknown> = { ...sink };
  for (const key of ['ca', 'cert', 'key'] as const) {
    const file = out[key];
    if (typeof file === 'string') out[key] = resolve(baseDir, file);
  }
  return out as T;
}

function resolveOne(r: ConfigReader): SinkConfig {
  const type = r.oneOf('type', SINK_TYPES);
  const name = r.string('name');
  if (!NAME.test(name)) throw configError(r.at('name'), '1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit', name);
  switch (type) {
    case 'mqtt':
      return {
        type,
        name,
        path: r.path,
        ...runner(r, DEFAULT_MQTT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL_MS),
        ...mqttConnection(r, null),
        topic: topicTemplate(r),
        qos: r.oneOf('qos', [0, 1, 2] as const, DEFAULT_MQTT_QOS),
        retain: r.bool('retain', false),
      };
    case 'influx':
      return { type, name, path: r.path, ...influx(r) };
    case 'thingspeak':
      return { type, name, path: r.path, ...thingSpeak(r) };
  }
}

function runner(r: ConfigReader, batchSize: number, flushIntervalMs: number): RunnerSettings {
  const settings = {
    batchSize: r.int('batchSize', 1, 100_000, batchSize),
    flushIntervalMs: r.int('flushIntervalMs', 0, 60_000, flushIntervalMs),
    backoffInitialMs: r.int('backoffInitialMs', 1, 60_000, DEFAULT_SINK_BACKOFF_INITIAL_MS),
    backoffMaxMs: r.int('backoffMaxMs', 1, 3_600_000, DEFAULT_SINK_BACKOFF_MAX_MS),
  };
  if (settings.backoffMaxMs < settings.backoffInitialMs) {
    throw configError(r.at('backoffMaxMs'), `at least backoffInitialMs (${settings.backoffInitialMs})`, settings.backoffMaxMs);
  }
  return settings;
}

function mqttConnection(r: ConfigReader, defaultUrl: string | null): MqttConnectionConfig {
  const url = defaultUrl === null ? r.string('url') : r.string('url', defaultUrl);
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (parsed === null || !['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(parsed.protocol) || parsed.hostname === '') {
    throw configError(r.at('url'), 'an mqtt://, mqtts://, ws:// or wss:// URL', url);
  }
  const connection: MqttConnectionConfig = {
    url,
    username: r.string('username', null),
    password: r.string('password', null),
    clientId: r.string('clientId', null),
    ca: r.string('ca', null),
    cert: r.string('cert', null),
    key: r.string('key', null),
    connectTimeoutMs: r.int('connectTimeoutMs', 100, MAX_MS, DEFAULT_CONNECT_TIMEOUT_MS),
    ackTimeoutMs: r.int('ackTimeoutMs', 100, MAX_MS, DEFAULT_ACK_TIMEOUT_MS),
    keepaliveSec: r.int('keepaliveSec', 0, 65_535, DEFAULT_KEEPALIVE_SEC),
    maxInflight: r.int('maxInflight', 1, 65_535, DEFAULT_MAX_INFLIGHT),
  };
  if ((connection.cert === null) !== (connection.key === null)) {
    throw configError(r.at(connection.cert === null ? 'cert' : 'key'), 'set together with ' + (connection.cert === null ? 'key' : 'cert'), undefined);
  }
  return connection;
}

function topicTemplate(r: ConfigReader): string {
  const topic = r.string('topic', DEFAULT_MQTT_TOPIC);
  // MQTT 3.1.1 §4.7.1: wildcards are for subscriptions only; a publish topic must not hold them.
  if (/[#+]/.test(topic)) throw configError(r.at('topic'), 'a topic without + or # wildcards', topic);
  return topic;
}

function influx(r: ConfigReader): Omit<InfluxSinkConfig, 'type' | 'name' | 'path'> {
  const measurement = r.string('measurement', DEFAULT_INFLUX_MEASUREMENT);
  const tagsReader = r.has('tags') ? r.object('tags') : null;
  const tags: Record<string, string> = {};
  if (tagsReader !== null) {
    for (const key of Object.keys(r.raw('tags') as object)) {
      if (key === 'device') throw configError(tagsReader.at(key), 'another name (device is the device id tag)', key);
      tags[key] = tagsReader.string(key);
    }
    tagsReader.done();
  }
  const floatFields = r.raw('floatFields') ?? [];
  if (!Array.isArray(floatFields) || !floatFields.every((f): f is string => typeof f === 'string' && f.length > 0)) {
    throw configError(r.at('floatFields'), 'an array of field names', floatFields);
  }
  return {
    ...runner(r, DEFAULT_INFLUX_BATCH_SIZE, DEFAULT_INFLUX_FLUSH_INTERVAL_MS),
    protocol: r.oneOf('protocol', ['http', 'https'] as const, 'http'),
    host: r.string('host', 'localhost'),
    port: r.int('port', 1, 65_535, DEFAULT_INFLUX_PORT),
    database: r.string('database'),
    retentionPolicy: r.string('retentionPolicy', null),
    username: r.string('username', null),
    password: r.string('password', null),
    ca: r.string('ca', null),
    measurement,
    tags: Object.freeze(tags),
    floatFields: Object.freeze([...floatFields]),
    createDatabase: r.bool('createDatabase', false),
    maxPoints: r.int('maxPoints', 1, 100_000, DEFAULT_INFLUX_MAX_POINTS),
    maxBytes: r.int('maxBytes', 1024, 64 * 1024 * 1024, DEFAULT_INFLUX_MAX_BYTES),
    requestTimeoutMs: r.int('requestTimeoutMs', 100, MAX_MS, DEFAULT_REQUEST_TIMEOUT_MS),
  };
}

function thingSpeak(r: ConfigReader): Omit<ThingSpeakSinkConfig, 'type' | 'name' | 'path'> {
  const transport = r.oneOf('transport', ['http', 'mqtt'] as const, 'http');
  let connection: MqttConnectionConfig;
  if (transport === 'http') {
    const url = r.string('url', DEFAULT_THINGSPEAK_URL);
    if (!/^https?:\/\/[^/]+/.test(url)) throw configError(r.at('url'), 'an http:// or https:// URL', url);
    // The HTTP transport has no broker; these stay unused.
    connection = { url: url.replace(/\/+$/, ''), username: null, password: null, clientId: null, ca: r.string('ca', null), cert: null, key: null, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, ackTimeoutMs: DEFAULT_ACK_TIMEOUT_MS, keepaliveSec: DEFAULT_KEEPALIVE_SEC, maxInflight: DEFAULT_MAX_INFLIGHT };
  } else {
    connection = mqttConnection(r, DEFAULT_THINGSPEAK_MQTT_URL);
  }
  const channelsReader = r.object('channels');
  const channels: Record<string, ThingSpeakChannel> = {};
  for (const device of Object.keys(r.raw('channels') as object)) {
    channels[device] = channel(channelsReader.object(device));
  }
  channelsReader.done();
  return {
    // Over MQTT each reading is its own update, one per interval: small batches keep the position moving.
    ...runner(r, transport === 'http' ? THINGSPEAK_MAX_BULK_ENTRIES : DEFAULT_THINGSPEAK_MQTT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL_MS),
    ...connection,
    transport,
    minIntervalMs: r.int('minIntervalMs', 0, MAX_MS, DEFAULT_THINGSPEAK_MIN_INTERVAL_MS),
    maxEntries: r.int('maxEntries', 1, 14_400, THINGSPEAK_MAX_BULK_ENTRIES),
    requestTimeoutMs: r.int('requestTimeoutMs', 100, MAX_MS, DEFAULT_REQUEST_TIMEOUT_MS),
    channels: Object.freeze(channels),
  };
}

function channel(r: ConfigReader): ThingSpeakChannel {
  const fieldsReader = r.object('fields');
  const fields: Record<string, ThingSpeakField> = {};
  const used = new Set<string>();
  for (const name of Object.keys(r.raw('fields') as object)) {
    const slot = fieldsReader.oneOf(name, THINGSPEAK_FIELDS);
    if (used.has(slot)) throw configError(fieldsReader.at(name), `a slot not used by another field`, slot);
    used.add(slot);
    fields[name] = slot;
  }
  fieldsReader.done();
  const resolved: ThingSpeakChannel = {
    channelId: r.int('channelId', 1, Number.MAX_SAFE_INTEGER),
    writeKey: r.string('writeKey'),
    fields: Object.freeze(fields),
    status: r.string('status', null),
    latitude: r.string('latitude', null),
    longitude: r.string('longitude', null),
    elevation: r.string('elevation', null),
  };
  r.done();
  return Object.freeze(resolved);
}
