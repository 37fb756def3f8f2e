/** The `influx` sink's config section (SPEC: Sinks, Configuration): InfluxDB 1.x over HTTP(S). */
import { nameMap, type ConfigReader } from '../config/config-reader.js';
import { MAX_MS, readRunnerSettings, type SinkConfigBase } from './sink-settings.js';

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
  /** Static tags added to every point, besides `device` (a null-prototype object: tag names are data). */
  readonly tags: Readonly<Record<string, string>>;
  /** Fields always written as floats, even when a reading's value is whole (see docs/sinks.md). */
  readonly floatFields: readonly string[];
  /** `CREATE DATABASE` before the first write (a no-op when it exists). @defaultValue false */
  readonly createDatabase: boolean;
  /** Points per HTTP write. @defaultValue {@link DEFAULT_INFLUX_MAX_POINTS} */
  readonly maxPoints: number;
  /** Bytes of line protocol per HTTP write. @defaultValue {@link DEFAULT_INFLUX_MAX_BYTES} */
  readonly maxBytes: number;
  /** @defaultValue {@link DEFAULT_INFLUX_REQUEST_TIMEOUT_MS} */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_INFLUX_PORT = 8086;
export const DEFAULT_INFLUX_MEASUREMENT = 'telemetry';
export const DEFAULT_INFLUX_BATCH_SIZE = 5_000;
/** InfluxData recommends 5,000 to 10,000 points per write. */
export const DEFAULT_INFLUX_MAX_POINTS = 5_000;
export const DEFAULT_INFLUX_MAX_BYTES = 1024 * 1024;
export const DEFAULT_INFLUX_FLUSH_INTERVAL_MS = 1_000;
export const DEFAULT_INFLUX_REQUEST_TIMEOUT_MS = 30_000;

/** Reads an `influx` sink section (`name` already read). */
export function resolveInfluxSink(r: ConfigReader, name: string): InfluxSinkConfig {
  const measurement = r.string('measurement', DEFAULT_INFLUX_MEASUREMENT);
  const tags: Array<[string, string]> = [];
  if (r.has('tags')) {
    const tagsReader = r.object('tags');
    for (const key of tagsReader.keys()) {
      if (key === 'device') throw tagsReader.fail(key, 'another name (device is the device id tag)', key);
      tags.push([key, tagsReader.string(key)]);
    }
    tagsReader.done();
  }
  const floatFields = r.array('floatFields', 'an array of field names', []);
  if (!floatFields.every((f): f is string => typeof f === 'string' && f.length > 0)) {
    throw r.fail('floatFields', 'an array of field names', floatFields);
  }
  return {
    type: 'influx',
    name,
    path: r.path,
    ...readRunnerSettings(r, { batchSize: DEFAULT_INFLUX_BATCH_SIZE, flushIntervalMs: DEFAULT_INFLUX_FLUSH_INTERVAL_MS }),
    protocol: r.oneOf('protocol', ['http', 'https'] as const, 'http'),
    host: r.string('host', 'localhost'),
    port: r.int('port', 1, 65_535, DEFAULT_INFLUX_PORT),
    database: r.string('database'),
    retentionPolicy: r.string('retentionPolicy', null),
    username: r.string('username', null),
    password: r.string('password', null),
    ca: r.filePath('ca', null),
    measurement,
    tags: nameMap(tags),
    floatFields: Object.freeze([...floatFields]),
    createDatabase: r.bool('createDatabase', false),
    maxPoints: r.int('maxPoints', 1, 100_000, DEFAULT_INFLUX_MAX_POINTS),
    maxBytes: r.int('maxBytes', 1024, 64 * 1024 * 1024, DEFAULT_INFLUX_MAX_BYTES),
    requestTimeoutMs: r.int('requestTimeoutMs', 100, MAX_MS, DEFAULT_INFLUX_REQUEST_TIMEOUT_MS),
  };
}
