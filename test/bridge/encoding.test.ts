/** The pure encoders: InfluxDB line-protocol tokens and chunks, ThingSpeak entries and answers, MQTT topic and payload. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkPoints, escapeMeasurement, fieldToken, parsePartialWrite, toPoint } from '../../src/bridge/influx-point.js';
import { isValidTopicName, mqttPayload as mqttJson, mqttTopic } from '../../src/bridge/mqtt-sink.js';
import { isSinkRefused } from '../../src/bridge/sink.js';
import { isAccepted, mqttPayload, toUpdate } from '../../src/bridge/thingspeak-entry.js';

describe('influx encoding', () => {
  it('keeps integers as integers unless the field is float', () => {
    assert.equal(fieldToken(42, false), '42i');
    assert.equal(fieldToken(42, true), '42');
    assert.equal(fieldToken(21.5, false), '21.5');
    assert.equal(fieldToken(2 ** 60, false), String(2 ** 60));
    assert.equal(fieldToken(true, false), 'true');
    assert.equal(fieldToken('a "q" \\ b', false), '"a \\"q\\" \\\\ b"');
  });

  it('keeps fields and tags named __proto__, constructor or toString as fields and tags', () => {
    const data = JSON.parse('{"__proto__":1,"constructor":2.5,"toString":"s"}') as Record<string, number | string>;
    const tags = JSON.parse('{"__proto__":"p"}') as Record<string, string>;
    const { point } = toPoint({ device: 'constructor', seq: 1, ts: 1, position: 0, data }, { measurement: 'm', tags, floatFields: new Set() });
    assert.deepEqual(Object.entries(point.fields ?? {}).map(([k, v]) => [k, String(v)]), [['__proto__', '1i'], ['constructor', '2.5'], ['toString', '"s"']]);
    assert.deepEqual(Object.entries(point.tags ?? {}), [['__proto__', 'p'], ['device', 'constructor']]);
  });

  it('escapes the measurement name', () => {
    assert.equal(escapeMeasurement('my meas,x'), 'my\\ meas\\,x');
  });

  it('chunks by points and by bytes', () => {
    const items = Array.from({ length: 10 }, () => ({ bytes: 100 }));
    assert.deepEqual(chunkPoints(items, 4, 10_000).map((c) => c.length), [4, 4, 2]);
    assert.deepEqual(chunkPoints(items, 100, 250).map((c) => c.length), [2, 2, 2, 2, 2]);
    assert.deepEqual(chunkPoints([{ bytes: 5000 }], 100, 250).map((c) => c.length), [1]);
  });

  it('reads partial writes and the float-field conflict', () => {
    const msg = 'A 400 Bad Request error occurred: {"error":"partial write: field type conflict: input field \\"temp\\" on measurement \\"telemetry\\" is type integer, already exists as type float dropped=2"}';
    assert.deepEqual(parsePartialWrite(msg)?.dropped, 2);
    assert.equal(parsePartialWrite(msg)?.floatField, 'temp');
    assert.equal(parsePartialWrite('A 400 Bad Request error occurred: {"error":"partial write: field type conflict: input field \\"v\\" on measurement \\"t\\" is type float, already exists as type integer dropped=1"}')?.floatField, null);
    assert.equal(parsePartialWrite('A 404 Not Found error occurred: database not found'), null);
  });
});

describe('thingspeak encoding', () => {
  const channel = { channelId: 1, writeKey: 'k', fields: new Map([['temp', 'field1' as const], ['hum', 'field2' as const]]), status: 'msg', latitude: 'lat', longitude: null, elevation: null };

  it('maps fields and uses the reading time as created_at', () => {
    assert.deepEqual(toUpdate({ device: 'd', seq: 1, ts: 0, position: 0, data: { temp: 1.5, msg: 'hi', lat: 47.1, other: 3 } }, channel), {
      created_at: '1970-01-01T00:00:00.000Z',
      field1: '1.5',
      status: 'hi',
      latitude: '47.1',
    });
    assert.equal(toUpdate({ device: 'd', seq: 1, ts: 0, position: 0, data: { other: 3 } }, channel), null);
  });

  it('takes only the reading\'s own fields: a map naming constructor or toString finds nothing in a reading without them', () => {
    const named = { ...channel, fields: new Map([['constructor', 'field1' as const], ['toString', 'field2' as const]]), status: 'hasOwnProperty', latitude: null };
    assert.equal(toUpdate({ device: 'd', seq: 1, ts: 0, position: 0, data: { t: 1 } }, named), null);
    const data = JSON.parse('{"constructor":1,"toString":"x","hasOwnProperty":true}') as Record<string, number | string | boolean>;
    assert.deepEqual(toUpdate({ device: 'd', seq: 1, ts: 0, position: 0, data }, named), { created_at: '1970-01-01T00:00:00.000Z', field1: '1', field2: 'x', status: 'true' });
  });

  it('refuses (for good) a reading whose time cannot be written', () => {
    assert.throws(() => toUpdate({ device: 'd', seq: 1, ts: 9e15, position: 0, data: { temp: 1 } }, channel), (err: unknown) => isSinkRefused(err));
  });

  it('treats 0, -1, success:false, 429 and 5xx as failures', () => {
    assert.equal(isAccepted(202, '{"success":true}'), true);
    assert.equal(isAccepted(200, '0'), false);
    assert.equal(isAccepted(200, '-1'), false);
    assert.equal(isAccepted(200, '{"success":false}'), false);
    assert.equal(isAccepted(429, '{"status":"429"}'), false);
    assert.equal(isAccepted(503, ''), false);
  });

  it('encodes the MQTT payload as a query string', () => {
    assert.equal(mqttPayload({ field1: '1', status: 'a&b' }), 'field1=1&status=a%26b');
  });
});

describe('mqtt encoding', () => {
  it('knows a valid topic name (MQTT 3.1.1 §4.7)', () => {
    for (const good of ['a/b', 'fleethub/__proto__/telemetry', '/', 'é/☃']) assert.equal(isValidTopicName(good), true, good);
    for (const bad of ['', 'a/+/b', 'a/#', 'a\u0000b', 'x\ud800', 'x'.repeat(65_536)]) assert.equal(isValidTopicName(bad), false, bad.slice(0, 20));
  });

  it('fills the topic template and keeps the payload shape', () => {
    assert.equal(mqttTopic('a/{device}/b/{device}', 'x'), 'a/x/b/x');
    assert.equal(mqttJson({ device: 'x', seq: 2, ts: 3, position: 9, data: { a: 1 } }), '{"device":"x","seq":2,"ts":3,"data":{"a":1}}');
  });
});
