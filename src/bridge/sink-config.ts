/**
 * The `sinks` array of the config file (SPEC: Sinks, Configuration): the one
 * resolver that validates it at start-up. The keys every sink shares live in
 * `sink-settings.ts`; each sink type reads its own section in its own module.
 * Every error names its key; unknown keys are refused.
 */
import { CONFIG_FILE, ConfigReader, configError } from '../config/config-reader.js';
import { resolveInfluxSink, type InfluxSinkConfig } from './influx-config.js';
import { resolveMqttSink, type MqttSinkConfig } from './mqtt-config.js';
import { readSinkName, type SinkResolveContext } from './sink-settings.js';
import { resolveThingSpeakSink, type ThingSpeakSinkConfig } from './thingspeak-config.js';

/** Kinds of sink the config file can name. */
export const SINK_TYPES = ['mqtt', 'influx', 'thingspeak'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

/** A validated sink configuration (an entry of the `sinks` array). */
export type SinkConfig = MqttSinkConfig | InfluxSinkConfig | ThingSpeakSinkConfig;

/**
 * Validates the raw `sinks` value of the config file (absent: no sinks).
 * Throws FH_ERR_CONFIG naming the key, e.g.
 * `config: sinks[1].qos must be 0, 1 or 2, got 3`. Relative `ca`, `cert`
 * and `key` paths are resolved against `baseDir` (the config file's folder)
 * when given, else against the working directory.
 */
export function resolveSinkConfigs(raw: unknown, options: SinkResolveContext = {}): readonly SinkConfig[] {
  if (raw === undefined) return Object.freeze([]);
  if (!Array.isArray(raw)) throw configError('sinks', 'an array', raw);
  const source = options.baseDir === undefined ? CONFIG_FILE : { ...CONFIG_FILE, baseDir: options.baseDir };
  const names = new Set<string>();
  const sinks = raw.map((entry: unknown, i) => {
    const reader = new ConfigReader(entry, `sinks[${i}]`, source);
    const sink = resolveOne(reader);
    if (names.has(sink.name)) throw reader.fail('name', 'unique among the sinks', sink.name);
    names.add(sink.name);
    reader.done();
    return Object.freeze(sink);
  });
  return Object.freeze(sinks);
}

function resolveOne(r: ConfigReader): SinkConfig {
  const type = r.oneOf('type', SINK_TYPES);
  const name = readSinkName(r);
  switch (type) {
    case 'mqtt':
      return resolveMqttSink(r, name);
    case 'influx':
      return resolveInfluxSink(r, name);
    case 'thingspeak':
      return resolveThingSpeakSink(r, name);
  }
}
