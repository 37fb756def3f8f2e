/** Validation of the `sinks` array: defaults filled in, every error names its key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { DEFAULT_INFLUX_MEASUREMENT } from '../../src/bridge/influx-config.js';
import { DEFAULT_MQTT_TOPIC } from '../../src/bridge/mqtt-config.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import { DEFAULT_THINGSPEAK_MIN_INTERVAL_MS, DEFAULT_THINGSPEAK_URL } from '../../src/bridge/thingspeak-config.js';

function refuses(raw: unknown, message: string | RegExp): void {
  assert.throws(
    () => resolveSinkConfigs(raw),
    (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG') && (typeof message === 'string' ? err.message === message : message.test(err.message)),
  );
}

describe('resolveSinkConfigs', () => {
  it('no sinks key means no sinks', () => {
    assert.deepEqual(resolveSinkConfigs(undefined), []);
  });

  it('fills in the defaults', () => {
    const [mqtt, influx, ts] = resolveSinkConfigs([
      { type: 'mqtt', name: 'broker', url: 'mqtts://broker.example:8883' },
      { type: 'influx', name: 'db', database: 'fleet' },
      { type: 'thingspeak', name: 'ts', channels: { d1: { channelId: 5, writeKey: 'K', fields: { temp: 'field1' } } } },
    ]);
    assert.equal(mqtt?.type, 'mqtt');
    assert.ok(mqtt?.type === 'mqtt' && mqtt.topic === DEFAULT_MQTT_TOPIC && mqtt.qos === 1 && mqtt.retain === false);
    assert.ok(influx?.type === 'influx' && influx.measurement === DEFAULT_INFLUX_MEASUREMENT && influx.port === 8086 && influx.host === 'localhost');
    assert.ok(ts?.type === 'thingspeak' && ts.transport === 'http' && ts.url === DEFAULT_THINGSPEAK_URL && ts.minIntervalMs === DEFAULT_THINGSPEAK_MIN_INTERVAL_MS && ts.maxEntries === 960);
    assert.ok(Object.isFrozen(mqtt));
  });

  it('gives ThingSpeak over HTTP no MQTT connection, and over MQTT no HTTP settings', () => {
    const channels = { d1: { channelId: 5, writeKey: 'K', fields: { temp: 'field1' } } };
    const [http, mqtt] = resolveSinkConfigs([
      { type: 'thingspeak', name: 'h', channels },
      { type: 'thingspeak', name: 'm', transport: 'mqtt', username: 'u', password: 'p', clientId: 'c', channels },
    ]);
    assert.ok(http?.type === 'thingspeak' && http.transport === 'http');
    for (const key of ['username', 'password', 'clientId', 'keepaliveSec', 'maxInflight', 'mqtt']) assert.equal(key in http, false, key);
    assert.ok(mqtt?.type === 'thingspeak' && mqtt.transport === 'mqtt');
    assert.deepEqual([mqtt.mqtt.url, mqtt.mqtt.username, mqtt.mqtt.clientId], ['mqtts://mqtt3.thingspeak.com:8883', 'u', 'c']);
    for (const key of ['url', 'maxEntries', 'requestTimeoutMs']) assert.equal(key in mqtt, false, key);
    refuses([{ type: 'thingspeak', name: 'h', username: 'u', channels }], /^config: unknown key sinks\[0\]\.username \(known: /);
    refuses([{ type: 'thingspeak', name: 'm', transport: 'mqtt', maxEntries: 5, channels }], /^config: unknown key sinks\[0\]\.maxEntries \(known: /);
  });

  it('keeps device ids, field names and tag names of the config as data (Maps and null-prototype objects)', () => {
    const [influx, ts] = resolveSinkConfigs(
      JSON.parse(`[
        {"type":"influx","name":"db","database":"d","tags":{"__proto__":"p","constructor":"c"}},
        {"type":"thingspeak","name":"ts","channels":{"__proto__":{"channelId":1,"writeKey":"k","fields":{"__proto__":"field1","toString":"field2"}}}}
      ]`),
    );
    assert.ok(influx?.type === 'influx' && ts?.type === 'thingspeak');
    assert.deepEqual(Object.entries(influx.tags), [['__proto__', 'p'], ['constructor', 'c']]);
    assert.equal(Object.getPrototypeOf(influx.tags), null);
    assert.deepEqual([...ts.channels.keys()], ['__proto__']);
    assert.deepEqual([...(ts.channels.get('__proto__')?.fields ?? [])], [['__proto__', 'field1'], ['toString', 'field2']]);
    assert.equal(ts.channels.get('constructor'), undefined);
  });

  it('names the key in every error', () => {
    refuses({}, 'config: sinks must be an array, got {}');
    refuses([{ type: 'kafka', name: 'k' }], 'config: sinks[0].type must be "mqtt", "influx" or "thingspeak", got "kafka"');
    refuses([{ type: 'mqtt', name: 'a', url: 'mqtt://h' }, { type: 'mqtt', name: 'b', url: 'mqtt://h', qos: 3 }], 'config: sinks[1].qos must be 0, 1 or 2, got 3');
    refuses([{ type: 'mqtt', name: 'a', url: 'http://h' }], 'config: sinks[0].url must be an mqtt://, mqtts://, ws:// or wss:// URL, got "http://h"');
    refuses([{ type: 'mqtt', name: 'a', url: 'mqtt://h', topic: 'a/#' }], 'config: sinks[0].topic must be a topic without + or # wildcards, got "a/#"');
    refuses([{ type: 'mqtt', name: 'a', url: 'mqtt://h', cert: '/c.pem' }], 'config: sinks[0].key must be set together with cert, got nothing');
    refuses([{ type: 'mqtt', name: 'a', url: 'mqtt://h', qso: 1 }], /^config: unknown key sinks\[0\]\.qso \(known: /);
    refuses([{ type: 'mqtt', name: 'a', url: 'mqtt://h' }, { type: 'influx', name: 'a', database: 'd' }], 'config: sinks[1].name must be unique among the sinks, got "a"');
    refuses([{ type: 'influx', name: 'db' }], 'config: sinks[0].database must be a non-empty string, got nothing');
    refuses([{ type: 'influx', name: 'db', database: 'd', port: 0 }], 'config: sinks[0].port must be an integer from 1 to 65535, got 0');
    refuses([{ type: 'influx', name: 'db', database: 'd', tags: { device: 'x' } }], 'config: sinks[0].tags.device must be another name (device is the device id tag), got "device"');
    refuses([{ type: 'influx', name: 'db', database: 'd', batchSize: 0 }], 'config: sinks[0].batchSize must be an integer from 1 to 100000, got 0');
    refuses(
      [{ type: 'thingspeak', name: 't', channels: { d1: { channelId: 1, writeKey: 'k', fields: { temp: 'field9' } } } }],
      'config: sinks[0].channels.d1.fields.temp must be "field1", "field2", "field3", "field4", "field5", "field6", "field7" or "field8", got "field9"',
    );
    refuses(
      [{ type: 'thingspeak', name: 't', channels: { d1: { channelId: 1, writeKey: 'k', fields: { a: 'field1', b: 'field1' } } } }],
      'config: sinks[0].channels.d1.fields.b must be a slot not used by another field, got "field1"',
    );
    refuses([{ type: 'thingspeak', name: 't', maxEntries: 20_000, channels: {} }], 'config: sinks[0].maxEntries must be an integer from 1 to 14400, got 20000');
    refuses([{ type: 'mqtt', name: 'bad name', url: 'mqtt://h' }], 'config: sinks[0].name must be 1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit, got "bad name"');
  });

  it('resolves relative TLS file paths against the config file folder', () => {
    const [sink] = resolveSinkConfigs([{ type: 'mqtt', name: 'a', url: 'mqtts://h', ca: 'certs/ca.pem', cert: '/abs/c.pem', key: 'k.pem' }], { baseDir: '/etc/fleethub' });
    assert.ok(sink?.type === 'mqtt');
    assert.deepEqual([sink.ca, sink.cert, sink.key], ['/etc/fleethub/certs/ca.pem', '/abs/c.pem', '/etc/fleethub/k.pem']);
  });

  it('a missing TLS file is a config error naming the key, when the bridge is built', async () => {
    const { createBridge } = await import('../../src/bridge/index.js');
    const { MemoryStoreReader } = await import('../helpers/memory-store-reader.js');
    const { SILENT_LOGGER } = await import('../../src/log.js');
    const sinks = resolveSinkConfigs([{ type: 'mqtt', name: 'a', url: 'mqtts://h', ca: '/nonexistent/ca.pem' }]);
    assert.throws(
      () => createBridge({ store: new MemoryStoreReader(), sinks, dataDir: null, log: SILENT_LOGGER }),
      (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG') && err.message.startsWith('config: sinks[0].ca must be a readable file'),
    );
  });
});
