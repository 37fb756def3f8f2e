/**
 * The `mqtt` sink's config section (SPEC: Sinks, Configuration), and the
 * broker connection settings it shares with ThingSpeak's MQTT transport.
 */
import type { ConfigReader } from '../config/config-reader.js';
import { DEFAULT_FLUSH_INTERVAL_MS, MAX_MS, readRunnerSettings, type SinkConfigBase } from './sink-settings.js';

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
  /** Client id (null: `fh-<random>-<sink name>`). */
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

export const DEFAULT_MQTT_TOPIC = 'fleethub/{device}/telemetry';
export const DEFAULT_MQTT_QOS = 1;
export const DEFAULT_MQTT_BATCH_SIZE = 1_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_ACK_TIMEOUT_MS = 30_000;
export const DEFAULT_KEEPALIVE_SEC = 30;
export const DEFAULT_MAX_INFLIGHT = 100;

/** Reads an `mqtt` sink section (`name` already read). */
export function resolveMqttSink(r: ConfigReader, name: string): MqttSinkConfig {
  return {
    type: 'mqtt',
    name,
    path: r.path,
    ...readRunnerSettings(r, { batchSize: DEFAULT_MQTT_BATCH_SIZE, flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS }),
    ...readMqttConnection(r, null),
    topic: topicTemplate(r),
    qos: r.oneOf('qos', [0, 1, 2] as const, DEFAULT_MQTT_QOS),
    retain: r.bool('retain', false),
  };
}

/** Reads the broker keys of a section; `defaultUrl` null makes `url` required. */
export function readMqttConnection(r: ConfigReader, defaultUrl: string | null): MqttConnectionConfig {
  const url = defaultUrl === null ? r.string('url') : r.string('url', defaultUrl);
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (parsed === null || !['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(parsed.protocol) || parsed.hostname === '') {
    throw r.fail('url', 'an mqtt://, mqtts://, ws:// or wss:// URL', url);
  }
  const connection: MqttConnectionConfig = {
    url,
    username: r.string('username', null),
    password: r.string('password', null),
    clientId: r.string('clientId', null),
    ca: r.filePath('ca', null),
    cert: r.filePath('cert', null),
    key: r.filePath('key', null),
    connectTimeoutMs: r.int('connectTimeoutMs', 100, MAX_MS, DEFAULT_CONNECT_TIMEOUT_MS),
    ackTimeoutMs: r.int('ackTimeoutMs', 100, MAX_MS, DEFAULT_ACK_TIMEOUT_MS),
    keepaliveSec: r.int('keepaliveSec', 0, 65_535, DEFAULT_KEEPALIVE_SEC),
    maxInflight: r.int('maxInflight', 1, 65_535, DEFAULT_MAX_INFLIGHT),
  };
  if ((connection.cert === null) !== (connection.key === null)) {
    throw r.fail(connection.cert === null ? 'cert' : 'key', 'set together with ' + (connection.cert === null ? 'key' : 'cert'), undefined);
  }
  return connection;
}

function topicTemplate(r: ConfigReader): string {
  const topic = r.string('topic', DEFAULT_MQTT_TOPIC);
  // MQTT 3.1.1 §4.7.1: wildcards are for subscriptions only; a publish topic must not hold them.
  if (/[#+]/.test(topic)) throw r.fail('topic', 'a topic without + or # wildcards', topic);
  return topic;
}
