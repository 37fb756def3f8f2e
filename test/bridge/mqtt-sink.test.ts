/**
 * The `mqtt` sink against a real Mosquitto: the contract suite over plain
 * mqtt://, then mutual TLS with `require_certificate`, the payload and topic,
 * and a broker outage mid-stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MqttSink } from '../../src/bridge/mqtt-sink.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { arrivalsOf, mqttConfig, subscribe } from './mqtt-subscriber.js';
import type { SinkFixture } from './sink-contract.js';
import { runSinkContract } from './sink-contract.js';
import { waitUntil } from '../helpers/wait.js';

runSinkContract('mqtt', async (): Promise<SinkFixture> => {
  const broker = await startMosquitto();
  const subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
  return {
    create: async (tag) => new MqttSink(mqttConfig({ name: `c-${tag}`, url: broker.url })),
    arrivals: async (tag) => arrivalsOf(subscriber, tag),
    // MQTT 3.1.1 §4.7.1: no wildcard in a topic name; a broker closes the connection on such a publish.
    poison: (device, seq) => ({ device: `${device}/#`, seq, ts: 1_700_000_000_000 + seq * 1000, data: { count: seq } }),
    breakDestination: () => broker.pause(),
    restore: () => broker.start(),
    async close() {
      await subscriber.close();
      await broker.stop();
    },
  };
});

describe('mqtt sink', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto({ websockets: true });
  });
  after(async () => {
    await broker.stop();
  });

  it('publishes the reading as {device,seq,ts,data} to the topic template, with retain', async () => {
    const subscriber = await subscribe(broker.url, 'plants/#');
    const sink = new MqttSink(mqttConfig({ url: broker.url, topic: 'plants/{device}/t', qos: 2, retain: true }));
    try {
      const reading = { device: 'p1', seq: 7, ts: 1_700_000_000_123, position: 0, data: { temp: 21.5, n: 3, ok: true, s: 'x' } };
      await sink.deliver([reading], new AbortController().signal);
      await waitUntil(() => subscriber.messages.length >= 1, 'subscriber.messages.length >= 1', 20_000);
      assert.equal(subscriber.messages[0]?.topic, 'plants/p1/t');
      assert.deepEqual(JSON.parse(subscriber.messages[0]?.payload ?? ''), { device: 'p1', seq: 7, ts: 1_700_000_000_123, data: { temp: 21.5, n: 3, ok: true, s: 'x' } });
      // Retained: a late subscriber gets it too.
      const late = await subscribe(broker.url, 'plants/p1/t');
      await waitUntil(() => late.messages.length >= 1, 'late.messages.length >= 1', 20_000);
      await late.close();
    } finally {
      await sink.close();
      await subscriber.close();
    }
  });

  it('publishes over ws://', async () => {
    const subscriber = await subscribe(broker.url, 'fleethub/ws1/telemetry');
    const sink = new MqttSink(mqttConfig({ url: `ws://127.0.0.1:${broker.wsPort ?? 0}` }));
    try {
      await sink.deliver([{ device: 'ws1', seq: 1, ts: 1, position: 0, data: { a: 1 } }], new AbortController().signal);
      await waitUntil(() => subscriber.messages.length >= 1, 'subscriber.messages.length >= 1', 20_000);
    } finally {
      await sink.close();
      await subscriber.close();
    }
  });

  it('logs in with username and password; wrong ones fail the delivery', async () => {
    const secured = await startMosquitto({ users: { bridge: 's3cret' } });
    const subscriber = await subscribe(secured.url, 'fleethub/#', { username: 'bridge', password: 's3cret' });
    const good = new MqttSink(mqttConfig({ url: secured.url, username: 'bridge', password: 's3cret' }));
    const bad = new MqttSink(mqttConfig({ url: secured.url, username: 'bridge', password: 'wrong' }));
    const reading = { device: 'auth1', seq: 1, ts: 1, position: 0, data: { a: 1 } };
    try {
      await assert.rejects(bad.deliver([reading], new AbortController().signal));
      await good.deliver([reading], new AbortController().signal);
      await waitUntil(() => subscriber.messages.length >= 1, 'subscriber.messages.length >= 1', 20_000);
    } finally {
      await Promise.all([good.close(), bad.close(), subscriber.close()]);
      await secured.stop();
    }
  });

  it('fails (does not buffer) when the broker is unreachable, within the connect timeout', async () => {
    const sink = new MqttSink(mqttConfig({ url: 'mqtt://127.0.0.1:1', connectTimeoutMs: 500 }));
    await assert.rejects(sink.deliver([{ device: 'x', seq: 1, ts: 1, position: 0, data: {} }], new AbortController().signal));
    await sink.close();
  });

  it('a close while waiting for the broker ends the delivery at once', async () => {
    await broker.pause();
    try {
      const sink = new MqttSink(mqttConfig({ url: broker.url, connectTimeoutMs: 60_000 }));
      const abort = new AbortController();
      const delivery = sink.deliver([{ device: 'x', seq: 1, ts: 1, position: 0, data: {} }], abort.signal);
      abort.abort(new Error('closing'));
      await assert.rejects(delivery);
      await sink.close();
    } finally {
      await broker.start();
    }
  });
});
