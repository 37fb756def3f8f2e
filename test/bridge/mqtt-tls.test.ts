/**
 * The `mqtt` sink over mutual TLS to a real Mosquitto with
 * `require_certificate`, certificates from our own PKI: readings arrive in
 * order with the right payload; a broker stopped for seconds mid-stream and
 * started again loses nothing; a sink without a client certificate is refused.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { MqttSink } from '../../src/bridge/mqtt-sink.js';
import { SinkRunner } from '../../src/bridge/sink-runner.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { pkiPaths } from '../../src/pki/index.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { waitUntil } from '../helpers/wait.js';
import { arrivalsOf, mqttConfig, subscribe, type Subscriber } from './mqtt-subscriber.js';
import { assertInOrderPerDevice, readings, TEST_RUNNER_SETTINGS } from './sink-contract.js';

describe('mqtt sink over mutual TLS (require_certificate)', () => {
  let pki: TestPki;
  let broker: Mosquitto;
  let subscriber: Subscriber;
  let tlsFiles: { ca: string; cert: string; key: string };

  before(async () => {
    pki = await makeTestPki();
    const paths = pkiPaths(pki.dir);
    await pki.addDevice('bridge-client');
    await pki.addDevice('observer');
    tlsFiles = { ca: paths.caCert, cert: paths.deviceCert('bridge-client'), key: paths.deviceKey('bridge-client') };
    broker = await startMosquitto({ tls: { ca: paths.caCert, cert: paths.serverCert, key: paths.serverKey, requireCertificate: true }, websockets: true });
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry', {
      ca: await readFile(paths.caCert),
      cert: await readFile(paths.deviceCert('observer')),
      key: await readFile(paths.deviceKey('observer')),
    });
  });
  after(async () => {
    await subscriber?.close();
    await broker?.stop();
    await pki?.cleanup();
  });

  it('delivers in order with the right payload', async () => {
    const sink = new MqttSink(mqttConfig({ url: broker.url.replace('127.0.0.1', 'localhost'), ...tlsFiles }));
    const batch = new MemoryStoreReader().append(readings(['tls-a', 'tls-b'], 10));
    await sink.deliver(batch, new AbortController().signal);
    await sink.close();
    await waitUntil(() => arrivalsOf(subscriber, 'tls').length >= 20, '20 readings reached the broker over TLS', 30_000);
    const first = subscriber.messages.find((m) => m.topic === 'fleethub/tls-a/telemetry');
    assert.deepEqual(JSON.parse(first?.payload ?? ''), { device: 'tls-a', seq: 1, ts: batch[0]?.ts, data: batch[0]?.data });
    assertInOrderPerDevice(arrivalsOf(subscriber, 'tls'), new Map([['tls-a', [1, 10] as const], ['tls-b', [1, 10] as const]]));
  });

  it('delivers over wss:// with the client certificate', async () => {
    const sink = new MqttSink(mqttConfig({ url: `wss://localhost:${broker.wsPort ?? 0}`, ...tlsFiles }));
    await sink.deliver(new MemoryStoreReader().append(readings(['wss-a'], 3)), new AbortController().signal);
    await sink.close();
    await waitUntil(() => arrivalsOf(subscriber, 'wss').length >= 3, '3 readings reached the broker over wss', 30_000);
  });

  it('is refused without a client certificate', async () => {
    const sink = new MqttSink(mqttConfig({ url: broker.url, ca: tlsFiles.ca, connectTimeoutMs: 3_000 }));
    await assert.rejects(sink.deliver(new MemoryStoreReader().append(readings(['nocert'], 1)), new AbortController().signal));
    await sink.close();
  });

  it('a broker stopped for seconds mid-stream and started again: every reading arrives', async () => {
    const store = new MemoryStoreReader();
    const devices = ['out-a', 'out-b', 'out-c'];
    const runner = new SinkRunner({ sink: new MqttSink(mqttConfig({ url: broker.url, ...tlsFiles, connectTimeoutMs: 1_000 })), store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    runner.start();
    let seq = 0;
    const produce = async (rounds: number): Promise<void> => {
      for (let i = 0; i < rounds; i += 1) {
        seq += 1;
        store.append(readings(devices, 1, seq));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await produce(40);
      await broker.pause();
      await produce(100);
      assert.equal(runner.stats().state, 'retrying');
      await broker.start();
      await produce(40);
      await waitUntil(() => runner.stats().lagMessages === 0 && runner.stats().delivered >= seq * devices.length, 'the sink delivered every reading', 60_000);
      await waitUntil(() => new Set(arrivalsOf(subscriber, 'out').map((a) => `${a.device}/${a.seq}`)).size >= seq * devices.length, 'every reading reached the broker', 60_000);
    } finally {
      await broker.start();
      await runner.close();
    }
    assert.ok(runner.stats().failures > 0);
    assertInOrderPerDevice(arrivalsOf(subscriber, 'out'), new Map(devices.map((d) => [d, [1, seq] as const])));
  });
});
