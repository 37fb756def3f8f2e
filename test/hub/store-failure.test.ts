/**
 * The hub when its store cannot write (a real full disk, on a small tmpfs):
 * the device whose reading failed is closed with 1011 and nothing of it is
 * acked, new devices are refused with 1011 before `hello`, `/healthz`
 * answers 503 and `fleethub_store_up` is 0; once there is room again, all of
 * it turns back by itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectDevice } from '../helpers/device-client.js';
import { metricValue, startHub } from '../helpers/hub.js';
import { httpsGet, type HttpsAnswer } from '../helpers/https-get.js';
import { waitUntil } from '../helpers/wait.js';
import { fillDisk, mountTmpfs } from '../helpers/tmpfs.js';

/** A GET on its own connection (the test closes the hub later). */
const get = (url: string, ca: string): Promise<HttpsAnswer> => httpsGet(url, ca, { ownConnection: true });

test('a full disk: 1011 for the device whose reading failed and before hello for new ones, /healthz 503, then recovery', async (t) => {
  const fs = await mountTmpfs(2 * 1024 * 1024);
  if (typeof fs === 'string') return t.skip(fs);
  const th = await startHub({ dataDir: `${fs.dir}/data` }).catch(async (err: unknown) => {
    await fs.remove();
    throw err;
  });
  t.after(async () => {
    await th.stop();
    await fs.remove();
  });
  const pad = 'p'.repeat(200);
  const creds = await th.pki.addDevice('disk-a');
  const connect = () => connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });

  const first = await connect();
  await first.hello();
  first.sendSeqs([1], { pad });
  await first.waitForAck(1);
  assert.equal((await get(`${th.consoleUrl}/healthz`, th.pki.ca)).status, 200);
  assert.equal(metricValue(th.hub, 'fleethub_store_up'), 1);

  const filler = fillDisk(fs.dir);
  // Forty readings of 200+ bytes need a page the disk no longer has.
  first.send({ batch: Array.from({ length: 40 }, (_, i) => ({ seq: i + 2, data: { pad } })) });
  assert.equal(await first.waitForClose(), 1011);
  assert.ok(first.messages.every((m) => m.ack === undefined || m.ack === 1), 'nothing that failed was acked');

  const health = await get(`${th.consoleUrl}/healthz`, th.pki.ca);
  assert.equal(health.status, 503);
  assert.match(health.body, /"status":"store_failed"/);
  assert.match(health.body, /ENOSPC/);
  assert.equal(metricValue(th.hub, 'fleethub_store_up'), 0);

  const refused = await connect();
  assert.equal(await refused.waitForClose(), 1011);
  assert.equal(refused.messages.length, 0, 'no hello while the store is down');

  await filler.free();
  await waitUntil(() => th.hub.store.health().ok, 'the store to recover', 30_000);
  assert.equal((await get(`${th.consoleUrl}/healthz`, th.pki.ca)).status, 200);
  assert.equal(metricValue(th.hub, 'fleethub_store_up'), 1);
  const again = await connect();
  try {
    assert.equal((await again.hello()).lastSeq, 1, 'what failed was not stored');
    again.sendSeqs([2, 3], { pad });
    await again.waitForAck(3);
  } finally {
    await again.close();
  }
});
