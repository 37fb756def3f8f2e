/**
 * The `thingspeak` sink against the local ThingSpeak stand-in: the contract
 * suite, then the entry format, bulk calls of at most 960 entries spaced by
 * the channel's interval, retries on 429 and `0`, unmapped devices, and the
 * MQTT transport against a real Mosquitto.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import type { ThingSpeakSinkConfig } from '../../src/bridge/thingspeak-config.js';
import { SinkRunner } from '../../src/bridge/sink-runner.js';
import { ThingSpeakSink } from '../../src/bridge/thingspeak-sink.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { startThingSpeakServer, type ThingSpeakServer } from '../helpers/thingspeak-server.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { subscribe } from './mqtt-subscriber.js';
import { runSinkContract, TEST_RUNNER_SETTINGS, type Arrival } from './sink-contract.js';
import { waitUntil } from '../helpers/wait.js';

const BASE_TS = 1_700_000_000_000;
const FIELDS = { count: 'field1', temp: 'field2' };

function thingSpeakConfig(fields: Record<string, unknown>): ThingSpeakSinkConfig {
  const http = fields.transport === 'mqtt' ? {} : { requestTimeoutMs: 5_000 };
  const [config] = resolveSinkConfigs([{ type: 'thingspeak', name: 'test', minIntervalMs: 100, ...http, ...fields }]);
  assert.ok(config !== undefined && config.type === 'thingspeak');
  return config;
}

function channelsFor(devices: Readonly<Record<string, number>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(devices).map(([device, id]) => [device, { channelId: id, writeKey: `key-${id}`, fields: FIELDS, status: 'label' }]));
}

runSinkContract('thingspeak', async () => {
  const tags = ['order', 'redeliver', 'outage', 'resume', 'poison', 'close'];
  const ids = new Map<string, number>();
  for (const tag of tags) for (const d of ['a', 'b', 'c']) ids.set(`${tag}-${d}`, ids.size + 1);
  const server = await startThingSpeakServer({ channels: Object.fromEntries([...ids.values()].map((id) => [id, `key-${id}`])), minIntervalMs: 100 });
  return {
    create: async (tag) =>
      new ThingSpeakSink(thingSpeakConfig({ name: `c-${tag}`, url: server.url, channels: channelsFor(Object.fromEntries([...ids].filter(([d]) => d.startsWith(`${tag}-`)))) })),
    arrivals: async (tag): Promise<Arrival[]> =>
      [...ids]
        .filter(([d]) => d.startsWith(`${tag}-`))
        .flatMap(([device, id]) => (server.accepted.get(id) ?? []).map((e) => ({ device, seq: Math.floor((Date.parse(String(e.created_at)) - BASE_TS) / 1000) }))),
    // A time no ThingSpeak entry can carry (past year 275760): an encoding error, for good.
    poison: (device, seq) => ({ device, seq, ts: 9e15, data: { count: seq } }),
    breakDestination: async () => server.setAvailable(false),
    restore: async () => server.setAvailable(true),
    close: () => server.close(),
  };
});

describe('thingspeak sink (HTTP bulk update)', () => {
  let server: ThingSpeakServer;
  before(async () => {
    server = await startThingSpeakServer({ channels: { 11: 'key-11', 12: 'key-12', 13: 'key-13', 14: 'key-14', 15: 'key-15' }, minIntervalMs: 300 });
  });
  after(async () => {
    await server.close();
  });

  it('maps fields, status and created_at into bulk entries', async () => {
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, minIntervalMs: 300, channels: channelsFor({ d11: 11 }) }));
    await sink.deliver([{ device: 'd11', seq: 1, ts: BASE_TS, position: 0, data: { temp: 21.5, count: 3, label: 'ok', other: 1 } }], new AbortController().signal);
    await sink.close();
    assert.deepEqual(server.accepted.get(11), [{ created_at: new Date(BASE_TS).toISOString(), field1: '3', field2: '21.5', status: 'ok' }]);
  });

  it('sends at most 960 entries per call, spaced by the channel interval, and nothing is lost', async () => {
    const store = new MemoryStoreReader();
    store.append(Array.from({ length: 2000 }, (_, i) => ({ device: 'd12', seq: i + 1, ts: BASE_TS + i, data: { count: i } })));
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, minIntervalMs: 300, channels: channelsFor({ d12: 12 }) }));
    const runner = new SinkRunner({ sink, store, settings: { ...TEST_RUNNER_SETTINGS, batchSize: 2000 }, log: SILENT_LOGGER });
    runner.start();
    await waitUntil(() => runner.stats().delivered === 2000, 'runner.stats().delivered === 2000', 30_000);
    await runner.close();
    const calls = server.calls.filter((c) => c.channelId === 12);
    assert.deepEqual(calls.map((c) => [c.status, c.entries]), [[202, 960], [202, 960], [202, 80]]);
    assert.deepEqual(server.accepted.get(12)?.map((e) => Number(e.field1)), Array.from({ length: 2000 }, (_, i) => i));
  });

  it('retries after 429 and a 0 answer; entries arrive once', async () => {
    const store = new MemoryStoreReader();
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, minIntervalMs: 300, channels: channelsFor({ d13: 13 }) }));
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    server.failNext('429');
    server.failNext('zero');
    store.append(Array.from({ length: 5 }, (_, i) => ({ device: 'd13', seq: i + 1, ts: BASE_TS + i, data: { count: i } })));
    runner.start();
    await waitUntil(() => runner.stats().delivered === 5, 'runner.stats().delivered === 5', 30_000);
    await runner.close();
    assert.equal(runner.stats().failures, 2);
    assert.deepEqual(server.calls.filter((c) => c.channelId === 13).map((c) => c.status), [429, 200, 202]);
    assert.deepEqual(server.accepted.get(13)?.map((e) => e.field1), ['0', '1', '2', '3', '4']);
  });

  it('a 4xx other than 401, 403, 404, 408 and 429 is a refusal: the refused entries are set aside, later ones go through', async () => {
    const store = new MemoryStoreReader();
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, minIntervalMs: 300, channels: channelsFor({ d15: 15 }) }));
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    // The batch of two, then each alone: three refusals.
    server.failNext('400', 3);
    store.append(Array.from({ length: 2 }, (_, i) => ({ device: 'd15', seq: i + 1, ts: BASE_TS + i, data: { count: i } })));
    runner.start();
    await waitUntil(() => runner.stats().rejected === 2, 'runner.stats().rejected === 2', 30_000);
    store.append([{ device: 'd15', seq: 3, ts: BASE_TS + 2, data: { count: 2 } }]);
    await waitUntil(() => runner.stats().delivered === 1, 'runner.stats().delivered === 1', 30_000);
    await runner.close();
    assert.equal(runner.stats().failures, 0);
    assert.deepEqual(server.calls.filter((c) => c.channelId === 15).map((c) => c.status), [400, 400, 400, 202]);
    assert.deepEqual(server.accepted.get(15)?.map((e) => e.field1), ['2']);
  });

  it('a channel interval shorter than the server\'s is caught by 429 and retried', async () => {
    const store = new MemoryStoreReader();
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, minIntervalMs: 0, maxEntries: 2, channels: channelsFor({ d14: 14 }) }));
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    store.append(Array.from({ length: 6 }, (_, i) => ({ device: 'd14', seq: i + 1, ts: BASE_TS + i, data: { count: i } })));
    runner.start();
    await waitUntil(() => runner.stats().delivered === 6, 'runner.stats().delivered === 6', 30_000);
    await runner.close();
    assert.ok(server.calls.some((c) => c.channelId === 14 && c.status === 429));
    assert.deepEqual(server.accepted.get(14)?.map((e) => e.field1), ['0', '1', '2', '3', '4', '5']);
  });

  it('skips and counts readings of devices without a channel', async () => {
    const sink = new ThingSpeakSink(thingSpeakConfig({ url: server.url, channels: channelsFor({}) }));
    await sink.deliver([{ device: 'nobody', seq: 1, ts: BASE_TS, position: 0, data: { count: 1 } }], new AbortController().signal);
    assert.deepEqual(sink.takeDrops(), { unmapped: 1 });
    await sink.close();
  });
});

describe('thingspeak sink (MQTT transport)', () => {
  it('publishes field1=..&created_at=.. to channels/<id>/publish', async () => {
    const broker = await startMosquitto();
    const subscriber = await subscribe(broker.url, 'channels/#');
    const sink = new ThingSpeakSink(thingSpeakConfig({ transport: 'mqtt', url: broker.url, clientId: 'ts-device', username: 'u', password: 'p', minIntervalMs: 50, channels: channelsFor({ m1: 77 }) }));
    try {
      await sink.deliver(
        [
          { device: 'm1', seq: 1, ts: BASE_TS, position: 0, data: { count: 1, temp: 20.5 } },
          { device: 'm1', seq: 2, ts: BASE_TS + 1000, position: 1, data: { count: 2, label: 'a b&c' } },
        ],
        new AbortController().signal,
      );
      await waitUntil(() => subscriber.messages.length >= 2, 'subscriber.messages.length >= 2', 30_000);
      assert.deepEqual(subscriber.messages.map((m) => m.topic), ['channels/77/publish', 'channels/77/publish']);
      assert.equal(subscriber.messages[0]?.payload, `created_at=${encodeURIComponent(new Date(BASE_TS).toISOString())}&field1=1&field2=20.5`);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(subscriber.messages[1]?.payload)), { created_at: new Date(BASE_TS + 1000).toISOString(), field1: '2', status: 'a b&c' });
    } finally {
      await sink.close();
      await subscriber.close();
      await broker.stop();
    }
  });
});
