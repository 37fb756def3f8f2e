/**
 * End to end, as a user runs it: `fleethub serve --config` with a `sinks`
 * block for a real Mosquitto and a real InfluxDB; a device sends readings over
 * mutual TLS; they arrive at both, in order, also after the broker was
 * stopped for a while (devices keep getting acks meanwhile); `/metrics` shows
 * the sinks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../helpers/cli.js';
import { connectDevice } from '../helpers/device-client.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { waitUntil } from '../helpers/wait.js';
import { arrivalsOf, subscribe, type Subscriber } from './mqtt-subscriber.js';
import { assertInOrderPerDevice } from './sink-contract.js';

function get(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('fleethub serve with sinks', () => {
  let pki: TestPki;
  let broker: Mosquitto;
  let influxd: Influxd;
  let subscriber: Subscriber;
  let dir: string;
  let serve: ServeProcess | undefined;

  before(async () => {
    [pki, broker, influxd] = await Promise.all([makeTestPki(), startMosquitto(), startInfluxd()]);
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
    dir = await mkdtemp(join(tmpdir(), 'fleethub-serve-sinks-'));
  });
  after(async () => {
    if (serve !== undefined && serve.child.exitCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    await subscriber?.close();
    await Promise.all([broker?.stop(), influxd?.stop()]);
    await pki?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers what a device sends to MQTT and InfluxDB, through a broker outage', async () => {
    const device = await pki.addDevice('e2e-1');
    const config = {
      device: { host: '127.0.0.1', port: 0 },
      console: { host: '127.0.0.1', port: 0 },
      pkiDir: pki.dir,
      dataDir: join(dir, 'data'),
      sinks: [
        { type: 'mqtt', name: 'broker', url: broker.url, backoffInitialMs: 100, backoffMaxMs: 500, connectTimeoutMs: 1000 },
        { type: 'influx', name: 'history', host: '127.0.0.1', port: influxd.port, database: 'e2e', createDatabase: true, flushIntervalMs: 100 },
      ],
    };
    const configPath = join(dir, 'fleethub.json');
    await writeFile(configPath, JSON.stringify(config));
    serve = startServe(['--config', configPath]);
    const { deviceUrl, consoleUrl } = await serve.ready;
    const client = await connectDevice({ url: deviceUrl, ca: pki.ca, cert: device.cert, key: device.key });
    try {
      await client.hello();
      client.sendSeqs(Array.from({ length: 10 }, (_, i) => i + 1), { temp: 21.5, n: 7 });
      await client.waitForAck(10);
      await waitUntil(() => arrivalsOf(subscriber, 'e2e').length >= 10, 'the first 10 readings are at the broker', 30_000);

      await broker.pause();
      // SPEC: a dead sink never slows devices: the hub keeps acking.
      client.sendSeqs(Array.from({ length: 10 }, (_, i) => i + 11), { temp: 22.5, n: 8 });
      await client.waitForAck(20);
      await waitUntil(async () => /fleethub_sink_up\{sink="broker",type="mqtt"\} 0/.test(await get(`${consoleUrl}metrics`, pki.ca)), '/metrics shows the sink down', 30_000);
      await broker.start();
      await waitUntil(() => new Set(arrivalsOf(subscriber, 'e2e').map((a) => a.seq)).size >= 20, 'all 20 readings are at the broker', 30_000);
    } finally {
      await client.close();
    }
    assertInOrderPerDevice(arrivalsOf(subscriber, 'e2e'), new Map([['e2e-1', [1, 20] as const]]));
    const first = JSON.parse(subscriber.messages.find((m) => m.topic === 'fleethub/e2e-1/telemetry')?.payload ?? '{}') as Record<string, unknown>;
    assert.deepEqual(first.data, { temp: 21.5, n: 7 });
    assert.equal(first.seq, 1);

    await waitUntil(async () => {
      const [result] = await influxd.query('e2e', 'SELECT count(n) FROM telemetry').catch(() => []);
      return result?.series?.[0]?.values[0]?.[1] === 20;
    }, 'InfluxDB holds 20 points', 30_000);
    const metrics = await get(`${consoleUrl}metrics`, pki.ca);
    assert.match(metrics, /fleethub_sink_delivered_total\{sink="broker",type="mqtt"\} 20/);
    assert.match(metrics, /fleethub_sink_delivered_total\{sink="history",type="influx"\} 20/);
    assert.match(metrics, /fleethub_sink_up\{sink="broker",type="mqtt"\} 1/);

    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
  });
});
