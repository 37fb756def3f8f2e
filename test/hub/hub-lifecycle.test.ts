import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { metricValue, startHub } from '../helpers/hub.js';
import { httpsGet, type HttpsAnswer } from '../helpers/https-get.js';
import { waitUntil } from '../helpers/wait.js';
import { connectDevice } from '../helpers/device-client.js';
import { makeTestPki } from '../helpers/pki.js';
import type { FeedEvent } from '../../src/hub/live-feed.js';
import { createLogger, createMemoryLogger } from '../../src/log.js';

test('a newer connection of the same device replaces the older one with 4002', async () => {
  const th = await startHub();
  try {
    const creds = await th.pki.addDevice('life-takeover');
    const opts = { url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key };
    const old = await connectDevice(opts);
    await old.hello();
    const fresh = await connectDevice(opts);
    assert.equal(await old.waitForClose(), 4002);
    fresh.sendSeqs([1]);
    await fresh.waitForAck(1);
    assert.deepEqual(th.hub.onlineDevices(), ['life-takeover']);
    await fresh.close();
    await waitUntil(() => th.hub.onlineDevices().length === 0, 'offline');
  } finally {
    await th.stop();
  }
});

test('one connect and one disconnect line per connection, with the session\'s counts', async () => {
  const log = createMemoryLogger();
  const th = await startHub({ log });
  try {
    const creds = await th.pki.addDevice('life-log');
    const client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key, maxVersion: 'TLSv1.2' });
    await client.hello();
    client.sendSeqs([1, 2]);
    client.send('not json');
    await client.waitForAck(2);
    await client.waitFor((m) => m.error === 'invalid_json');
    await client.close();
    await waitUntil(() => log.lines.some((line) => line.includes(' device.disconnect ')), 'the disconnect line');
    const lines = log.lines.filter((line) => / device\.(connect|disconnect) /.test(line)).map((line) => line.slice(line.indexOf(' ') + 1));
    assert.deepEqual(lines, [
      'info device.connect id=life-log ip=127.0.0.1 tls=TLSv1.2 resumed=false',
      'info device.disconnect id=life-log code=1000 accepted=2 nacked=invalid_json:1',
    ]);
  } finally {
    await th.stop();
  }
});

test('a logger says which levels it writes, so hot paths build no lines for nothing', () => {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const warn = createLogger('warn', sink);
  assert.deepEqual((['debug', 'info', 'warn', 'error'] as const).map((level) => warn.enabled(level)), [false, false, true, true]);
  assert.equal(createLogger('debug', sink).enabled('debug'), true);
  assert.equal(createMemoryLogger().enabled('debug'), true);
});

test('close(): devices get their acks, then 1001; close is idempotent; a restart keeps lastSeq and repeats are not stored twice', async () => {
  const pki = await makeTestPki();
  let th = await startHub({}, pki);
  const dataDir = th.dataDir;
  try {
    const creds = await pki.addDevice('life-restart');
    const opts = { url: th.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key };
    const client = await connectDevice(opts);
    await client.hello();
    client.sendSeqs([1, 2, 3, 4, 5]);
    await client.waitForAck(5);
    await Promise.all([th.hub.close(), th.hub.close()]);
    assert.equal(await client.waitForClose(), 1001);
    await th.hub.close();

    th = await startHub({ dataDir }, pki);
    const again = await connectDevice({ ...opts, url: th.deviceUrl });
    assert.equal((await again.hello()).lastSeq, 5);
    again.sendSeqs([4, 5, 6]);
    await again.waitForAck(6);
    const { readings } = await th.hub.store.read(0, 100);
    assert.deepEqual(readings.map((r) => r.seq), [1, 2, 3, 4, 5, 6]);
    await again.close();
  } finally {
    await th.stop();
    await rm(dataDir, { recursive: true, force: true });
    await pki.cleanup();
  }
});

test('the live feed: presence, committed readings and rejections; /metrics carries no device id', async () => {
  const th = await startHub({ limits: { maxFields: 2 } });
  try {
    const creds = await th.pki.addDevice('life-feed');
    const events: FeedEvent[] = [];
    const unsubscribe = th.hub.feed.subscribe((e) => events.push(e));
    const client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });
    client.send({ seq: 1, data: { t: 20 } });
    client.send({ seq: 2, data: { a: 1, b: 2, c: 3 } });
    await client.waitForAck(1);
    await client.waitFor((m) => m.nack === 2);
    assert.deepEqual([...th.hub.feed.onlineDevices()], ['life-feed']);
    assert.deepEqual([...th.hub.feed.knownDevices()], ['life-feed']);
    assert.equal(th.hub.feed.latest('life-feed')?.seq, 1);
    // The connection gauges are read at scrape time.
    assert.equal(metricValue(th.hub, 'fleethub_device_connections'), 1);
    assert.equal(metricValue(th.hub, 'fleethub_device_sockets'), 1);
    await client.close();
    await waitUntil(() => events.some((e) => e.type === 'presence' && !e.online), 'offline event');
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 0, 'the socket is released');
    assert.equal(metricValue(th.hub, 'fleethub_device_connections'), 0);
    unsubscribe();
    const seen = events.map((e) => (e.type === 'reading' ? `reading ${e.reading.device} ${e.reading.seq}` : e.type === 'presence' ? `presence ${e.device} ${e.online}` : `rejected ${e.device} ${e.code}`));
    // The rejection is immediate; the reading appears after the fsync that commits it.
    assert.equal(seen[0], 'presence life-feed true');
    assert.deepEqual(seen.slice(1, 3).sort(), ['reading life-feed 1', 'rejected life-feed invalid_message']);
    assert.equal(seen[3], 'presence life-feed false');
    assert.equal(seen.length, 4);
    const text = th.hub.metrics.render();
    assert.doesNotMatch(text, /life-feed/);
    assert.equal(metricValue(th.hub, 'fleethub_messages_accepted_total'), 1);
    assert.equal(metricValue(th.hub, 'fleethub_messages_nacked_total{code="invalid_message"}'), 1);
    assert.equal(metricValue(th.hub, 'fleethub_device_closes_total{code="1000"}'), 1);
    assert.match(text, /^fleethub_store_fsyncs_total [1-9]/m);
  } finally {
    await th.stop();
  }
});

test('the console listener serves /healthz and /metrics with the device figures', async () => {
  const th = await startHub();
  try {
    const get = (path: string): Promise<HttpsAnswer> => httpsGet(`${th.consoleUrl}${path}`, th.pki.ca, { ownConnection: true });
    const health = await get('/healthz');
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { devicesOnline: number }).devicesOnline, 0);
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^fleethub_device_connections 0$/m);
    assert.match(metrics.body, /^fleethub_store_bytes \d+$/m);
  } finally {
    await th.stop();
  }
});
