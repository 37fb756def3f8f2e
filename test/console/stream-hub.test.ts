/**
 * `/v1/stream` on a real hub: a real device over mutual TLS, its readings,
 * repeats, refusals and presence as a dashboard sees them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { connectClient, type Json, type TestClient } from './console-fixture.js';

describe('dashboard stream on a real hub', () => {
  let hub: TestHub;
  let dashboard: TestClient | undefined;
  let device: DeviceClient | undefined;
  before(async () => {
    hub = await startHub();
  });
  after(async () => {
    dashboard?.ws.terminate();
    await device?.close();
    await hub.stop();
  });

  /** A dashboard with a token for `pump-*`, authenticated and subscribed to `pattern`; returns it and its `authed` message. */
  async function subscribedDashboard(pattern: string): Promise<{ client: TestClient; authed: Json }> {
    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'pump-*' }).token;
    const client = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
    try {
      client.send({ auth: token });
      const { authed } = (await client.next()) as { authed: Json };
      client.send({ subscribe: pattern });
      assert.deepEqual(await client.next(), { subscribed: pattern });
      return { client, authed };
    } catch (err) {
      client.ws.terminate();
      throw err;
    }
  }

  it('streams presence, each stored reading once (a repeat is not sent twice) and refusals', async () => {
    const creds = await hub.pki.addDevice('pump-7');
    const subscribed = await subscribedDashboard('pump-*');
    dashboard = subscribed.client;
    assert.equal(subscribed.authed.devices, 'pump-*');

    device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
    await device.hello();
    assert.deepEqual(await dashboard.next(), { presence: { device: 'pump-7', online: true } });

    device.ws.send(JSON.stringify({ seq: 1, ts: 1_700_000_000_000, data: { rpm: 1200 } }));
    await device.waitForAck(1);
    device.ws.send(JSON.stringify({ seq: 1, ts: 1_700_000_000_000, data: { rpm: 1200 } })); // a repeat: acked again, not stored twice
    device.ws.send(JSON.stringify({ seq: 2, ts: 1_700_000_001_000, data: { rpm: 1250 } }));
    await device.waitForAck(2);
    device.ws.send(JSON.stringify({ seq: 3, data: { 'bad name': 1 } }));
    assert.deepEqual(await dashboard.next(), { device: 'pump-7', seq: 1, ts: 1_700_000_000_000, data: { rpm: 1200 } });
    assert.deepEqual(await dashboard.next(), { device: 'pump-7', seq: 2, ts: 1_700_000_001_000, data: { rpm: 1250 } });
    const rejected = (await dashboard.next()).rejected as Json;
    assert.deepEqual({ ...rejected, at: 0 }, { device: 'pump-7', code: 'invalid_message', count: 1, codes: { invalid_message: 1 }, at: 0 });

    await device.close();
    device = undefined;
    assert.deepEqual(await dashboard.next(), { presence: { device: 'pump-7', online: false } });

    // A new dashboard gets the latest stored reading in its snapshot.
    const { client: late } = await subscribedDashboard('pump-7');
    try {
      assert.deepEqual(await late.next(), { presence: { device: 'pump-7', online: false } });
      assert.deepEqual(await late.next(), { device: 'pump-7', seq: 2, ts: 1_700_000_001_000, data: { rpm: 1250 } });
    } finally {
      late.ws.terminate();
    }
  });

  it('a dashboard that connects after every earlier one has left still gets live presence and readings', async () => {
    // The console follows the feed only while a dashboard is connected: it must follow it again.
    dashboard?.ws.terminate();
    dashboard = undefined;
    await waitUntil(() => metricValue(hub.hub, 'fleethub_dashboard_connections') === 0, 'no dashboard is connected');
    const creds = await hub.pki.addDevice('pump-8');
    dashboard = (await subscribedDashboard('pump-8')).client;
    device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
    await device.hello();
    assert.deepEqual(await dashboard.next(), { presence: { device: 'pump-8', online: true } });
    device.ws.send(JSON.stringify({ seq: 1, ts: 1_700_000_000_000, data: { rpm: 900 } }));
    assert.deepEqual(await dashboard.next(), { device: 'pump-8', seq: 1, ts: 1_700_000_000_000, data: { rpm: 900 } });
  });
});

describe('dashboard stream on a real hub: a device that is refused without end', () => {
  it('rejected events are summarised: at most one per device per rejectedSummaryMs, with a count that adds up', async () => {
    // A device that sends only garbage and is never closed for it (maxInvalidInRow and maxRefusalsPerMinute far away).
    const hub = await startHub({ device: { maxInvalidInRow: 10_000, maxRefusalsPerMinute: 10_000 }, console: { rejectedSummaryMs: 500 } });
    let dashboard: TestClient | undefined;
    let device: DeviceClient | undefined;
    try {
      const creds = await hub.pki.addDevice('noisy-1');
      const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: '*' }).token;
      dashboard = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
      dashboard.send({ auth: token });
      await dashboard.next((m) => 'authed' in m);
      dashboard.send({ subscribe: 'noisy-*' });
      await dashboard.next((m) => 'subscribed' in m);
      device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
      await device.hello();
      const sent = 300;
      for (let i = 0; i < sent; i++) device.send(i % 2 === 0 ? 'not json' : { seq: 0, data: {} });
      await device.waitForCount((m) => m.nack !== undefined, sent, 30_000);
      // Every refusal is accounted for, in few events.
      const events: Json[] = [];
      let total = 0;
      while (total < sent) {
        const { rejected } = (await dashboard.next((m) => 'rejected' in m, 10_000)) as { rejected: Json };
        events.push(rejected);
        total += rejected.count as number;
      }
      assert.equal(total, sent, JSON.stringify(events));
      const codes: Record<string, number> = {};
      for (const e of events) for (const [code, n] of Object.entries(e.codes as Record<string, number>)) codes[code] = (codes[code] ?? 0) + n;
      assert.deepEqual(codes, { invalid_json: 150, invalid_message: 150 });
      for (let i = 1; i < events.length; i++) {
        const gap = (events[i]?.at as number) - (events[i - 1]?.at as number);
        assert.ok(gap >= 500, `two rejected events of one device ${gap} ms apart: ${JSON.stringify(events.slice(0, 5))}`);
      }
    } finally {
      dashboard?.ws.terminate();
      await device?.close();
      await hub.stop();
    }
  });
});
