/**
 * Dashboards anywhere (SPEC: Cluster mode): two hubs on one real
 * three-node nats-server cluster; a device connected to hub A, its
 * presence and readings seen through hub B's live feed (what B's console
 * serves to dashboards), and B's starting state including it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FeedEvent } from '../../../src/hub/live-feed.js';
import { connectDevice } from '../../helpers/device-client.js';
import { startClusterHubs, type ClusterHubs } from '../../helpers/cluster-hubs.js';
import type { TestHub } from '../../helpers/hub.js';
import type { TestPki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/wait.js';

const WAIT_MS = 30_000;

describe('cluster mode: the live feed of every hub', () => {
  let hubs: ClusterHubs;
  let pki: TestPki;
  let a: TestHub;
  let b: TestHub;

  before(async () => {
    hubs = await startClusterHubs({ sharedPki: true });
    ({ pki, a, b } = hubs);
  });
  after(async () => {
    await hubs?.stop();
  });

  it("shows a device on hub A, its readings and its going offline to hub B's dashboards", async () => {
    const creds = await pki.addDevice('feed-dev');
    const events: FeedEvent[] = [];
    const unsubscribe = b.hub.feed.subscribe((event) => events.push(event));
    try {
      const device = await connectDevice({ url: a.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key });
      await device.hello();
      await waitUntil(() => [...b.hub.feed.onlineDevices()].includes('feed-dev'), 'hub B sees the device online', WAIT_MS);
      device.sendSeqs([1, 2], { temp: 21 });
      await device.waitForAck(2);
      await waitUntil(() => events.filter((e) => e.type === 'reading' && e.reading.device === 'feed-dev').length === 2, 'hub B got both readings', WAIT_MS);
      assert.deepEqual(b.hub.feed.latest('feed-dev')?.data, { temp: 21 });
      assert.equal(b.hub.feed.latest('feed-dev')?.seq, 2);
      await device.close();
      await waitUntil(() => events.some((e) => e.type === 'presence' && e.device === 'feed-dev' && !e.online), 'hub B saw the device go offline', WAIT_MS);
      assert.ok(![...b.hub.feed.onlineDevices()].includes('feed-dev'));
      assert.deepEqual(events.flatMap((e) => (e.type === 'presence' && e.device === 'feed-dev' ? [e.online] : [])), [true, false]);
    } finally {
      unsubscribe();
    }
  });
});
