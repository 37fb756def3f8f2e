/**
 * STYLE: names chosen by others are data, not properties. A real hub with
 * every sink (a real Mosquitto, a real InfluxDB, the ThingSpeak stand-in)
 * and a dashboard on its live feed gets the names of `Object.prototype`
 * members as device ids, field names, sink names, channel-map keys and tag
 * names; each reading arrives intact everywhere, and so do later ones.
 *
 * Devices with a certificate send over mutual TLS (`__proto__` is no valid
 * device id: it starts with `_`); a reading of device `__proto__` is put in
 * the hub's store directly, which the sinks and the live feed read alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createBridge, type Bridge } from '../../src/bridge/index.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { isValidDeviceId } from '../../src/pki/index.js';
import type { TelemetryData } from '../../src/store/types.js';
import { connectClient, type Json, type TestClient } from '../console/console-fixture.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { startThingSpeakServer, type ThingSpeakServer } from '../helpers/thingspeak-server.js';
import { subscribe, type Subscriber } from './mqtt-subscriber.js';
import { waitUntil } from '../helpers/wait.js';

const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'] as const;
/** Devices with a ThingSpeak channel; the others are unmapped, as `constructor` was in the report that found this. */
const CHANNELS: ReadonlyMap<string, number> = new Map([['__proto__', 31], ['prototype', 32], ['toString', 33]]);
const TS_BASE = Date.now() - 3_600_000;

/** The JSON text a device sends as `data` for `seq`: every name as a field, one type per field. */
function dataText(seq: number): string {
  return `{"__proto__":${seq},"constructor":${seq + 0.5},"prototype":"p${seq}","toString":${seq % 2 === 0},"hasOwnProperty":${-seq},"t":${seq}}`;
}

/** `data` as the hub validated it: parsed JSON, where `__proto__` is an own key. */
function dataOf(seq: number): TelemetryData {
  return JSON.parse(dataText(seq)) as TelemetryData;
}

function tsOf(seq: number, device: string): number {
  return TS_BASE + seq * 1000 + NAMES.indexOf(device as (typeof NAMES)[number]);
}

/** The sinks section, as a config file holds it: JSON text, so `__proto__` is a key like any other. */
function sinksText(broker: Mosquitto, influxd: Influxd, thingspeak: ThingSpeakServer): string {
  const fields = '{"__proto__":"field1","constructor":"field2","prototype":"field3","toString":"field4","hasOwnProperty":"field5"}';
  const channels = [...CHANNELS]
    .map(([device, id]) => `${JSON.stringify(device)}:{"channelId":${id},"writeKey":"k${id}","fields":${fields},"status":"prototype"}`)
    .join(',');
  return `[
    {"type":"mqtt","name":"constructor","url":"${broker.url}","backoffInitialMs":50,"backoffMaxMs":500},
    {"type":"influx","name":"toString","host":"127.0.0.1","port":${influxd.port},"database":"names","createDatabase":true,
     "flushIntervalMs":50,"backoffInitialMs":50,"backoffMaxMs":500,"tags":{"valueOf":"tagged"}},
    {"type":"thingspeak","name":"hasOwnProperty","url":"${thingspeak.url}","minIntervalMs":100,"backoffInitialMs":50,"backoffMaxMs":500,
     "channels":{${channels}}}
  ]`;
}

describe('names of Object.prototype members as device ids, field names, sink names and map keys', () => {
  let hub: TestHub;
  let broker: Mosquitto;
  let influxd: Influxd;
  let thingspeak: ThingSpeakServer;
  let subscriber: Subscriber;
  let bridge: Bridge | undefined;
  let dashboard: TestClient | undefined;
  const devices = new Map<string, DeviceClient>();

  before(async () => {
    [hub, broker, influxd, thingspeak] = await Promise.all([
      startHub(),
      startMosquitto(),
      startInfluxd(),
      startThingSpeakServer({ channels: { 31: 'k31', 32: 'k32', 33: 'k33' }, minIntervalMs: 100 }),
    ]);
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
  });
  after(async () => {
    dashboard?.ws.terminate();
    await Promise.all([...devices.values()].map((d) => d.close()));
    await bridge?.close();
    await subscriber?.close();
    await Promise.all([hub?.stop(), broker?.stop(), influxd?.stop(), thingspeak?.close()]);
  });

  it('each reading arrives intact at every sink and on the live feed, and later readings too', async () => {
    bridge = createBridge({ store: hub.hub.store, sinks: resolveSinkConfigs(JSON.parse(sinksText(broker, influxd, thingspeak))), dataDir: hub.dataDir, log: SILENT_LOGGER });
    bridge.start();

    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: '*' }).token;
    dashboard = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
    dashboard.send({ auth: token });
    await dashboard.next((m) => m.authed !== undefined);
    dashboard.send({ subscribe: '*' });
    await dashboard.next((m) => m.subscribed !== undefined);

    const withCert = NAMES.filter((name) => isValidDeviceId(name));
    assert.deepEqual(withCert, ['constructor', 'prototype', 'toString', 'hasOwnProperty']);
    for (const id of withCert) {
      const creds = await hub.pki.addDevice(id);
      const client = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
      devices.set(id, client);
      await client.hello();
    }

    for (const seq of [1, 2]) {
      for (const [id, client] of devices) client.send(`{"seq":${seq},"ts":${tsOf(seq, id)},"data":${dataText(seq)}}`);
      for (const client of devices.values()) await client.waitForAck(seq);
      await hub.hub.store.append([{ device: '__proto__', seq, ts: tsOf(seq, '__proto__'), data: dataOf(seq) }]);

      for (const device of NAMES) {
        const want = { device, seq, ts: tsOf(seq, device), data: dataOf(seq) };
        // The live feed.
        const live: Json = await dashboard.next((m) => m.device === device && m.seq === seq && m.data !== undefined, 30_000);
        assert.deepEqual(live, want, `dashboard: ${device} seq ${seq}`);
        // MQTT: the payload, on the device's topic.
        await waitUntil(() => subscriber.messages.some((m) => m.topic === `fleethub/${device}/telemetry` && (JSON.parse(m.payload) as Json).seq === seq), `mqtt ${device} ${seq}`, 30_000);
        const message = subscriber.messages.find((m) => m.topic === `fleethub/${device}/telemetry` && (JSON.parse(m.payload) as Json).seq === seq);
        assert.deepEqual(JSON.parse(message?.payload ?? '{}'), want, `mqtt: ${device} seq ${seq}`);
      }

      // InfluxDB: one point per device and seq, every field and the static tags.
      let points: Array<Record<string, unknown>> = [];
      await waitUntil(async () => {
        const [result] = await influxd.query('names', 'SELECT * FROM telemetry').catch(() => []);
        const series = result?.series?.[0];
        points = series === undefined ? [] : series.values.map((values) => Object.fromEntries(series.columns.map((c, i) => [c, values[i]])));
        return points.length >= NAMES.length * seq;
      }, 'InfluxDB holds a point for every device and seq', 30_000);
      for (const device of NAMES) {
        const point = points.find((p) => p.device === device && p.t === seq);
        assert.ok(point !== undefined, `influx: no point for ${device} seq ${seq}`);
        assert.equal(point.time, tsOf(seq, device));
        const { t: _, ...fields } = dataOf(seq);
        assert.deepEqual(Object.fromEntries(NAMES.map((n) => [n, point[n]])), fields, `influx fields: ${device} seq ${seq}`);
      }

      // ThingSpeak: mapped devices get entries with every slot; unmapped ones are skipped, not stuck.
      for (const [device, channelId] of CHANNELS) {
        await waitUntil(() => (thingspeak.accepted.get(channelId)?.length ?? 0) >= seq, `thingspeak ${device} ${seq}`, 30_000);
        assert.deepEqual(
          thingspeak.accepted.get(channelId)?.[seq - 1],
          {
            created_at: new Date(tsOf(seq, device)).toISOString(),
            field1: String(seq),
            field2: String(seq + 0.5),
            field3: `p${seq}`,
            field4: String(seq % 2 === 0),
            field5: String(-seq),
            status: `p${seq}`,
          },
          `thingspeak: ${device} seq ${seq}`,
        );
      }
    }

    await waitUntil(() => bridge!.stats().every((s) => s.lagMessages === 0), 'every sink caught up', 30_000);
    const stats = new Map(bridge.stats().map((s) => [s.name, s]));
    assert.deepEqual(
      [...stats.values()].map((s) => [s.name, s.state, s.rejected, s.position]),
      [['constructor', 'up', 0, 10], ['toString', 'up', 0, 10], ['hasOwnProperty', 'up', 0, 10]],
    );
    assert.equal(stats.get('hasOwnProperty')?.unmapped, 4);
    // The static tag named valueOf was written as a tag.
    const [tagKeys] = await influxd.query('names', 'SHOW TAG KEYS FROM telemetry');
    assert.deepEqual(tagKeys?.series?.[0]?.values.map((v) => v[0]).sort(), ['device', 'valueOf']);
  });
});
