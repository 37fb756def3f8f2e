/**
 * The C device client against two cluster hubs on a real three-node
 * nats-server cluster (SPEC: Cluster mode): the hub it streams to loses its
 * JetStream quorum and closes it with 1013; the device moves between the
 * hubs with backoff until the quorum is back, then every reading it took is
 * stored once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterHubs, type ClusterHubs } from '../helpers/cluster-hubs.js';
import { waitUntil, type TestHub } from '../helpers/hub.js';
import type { NatsCluster } from '../helpers/nats-cluster.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice, type DeviceFiles } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

const COUNT = 40;

let hubs: ClusterHubs;
let nats: NatsCluster;
let a: TestHub;
let b: TestHub;
let files: DeviceFiles;

before(async () => {
  makeFirmware();
  // Hub B has its own copy of the PKI folder, as an operator makes it.
  hubs = await startClusterHubs({
    overrides: { limits: { msgsPerSec: 10_000, burst: 10_000 } },
    prepare: async (pki) => {
      files = await deviceFiles(pki.ca, await pki.addDevice('fw-cluster'));
    },
  });
  ({ nats, a, b } = hubs);
});

after(async () => {
  await hubs?.stop();
  await files?.cleanup();
});

test('a cluster hub that loses its quorum closes with 1013: the device backs off between the hubs and, once the quorum is back, every reading is stored once', async (t) => {
  const urlA = `wss://localhost:${a.devicePort}/v1/device`;
  const urlB = `wss://localhost:${b.devicePort}/v1/device`;
  const device = startDevice(urlA, files, ['--url', urlB, '--count', String(COUNT), '--interval-ms', '100', '--backoff-max-ms', '1000']);
  t.after(() => reapDevice(device));
  await waitUntil(() => highestAck(device.lines()) >= 5, 'five readings acked by hub A', 60_000);
  await nats.kill(1);
  await nats.kill(2);
  try {
    await device.waitForLine(/^close 1013$/, 60_000);
  } finally {
    await nats.restart(1);
    await nats.restart(2);
  }
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  const lines = device.lines();
  const afterClose = lines.slice(lines.indexOf('close 1013'));
  assert.ok(afterClose.includes('connected'), `connected again after 1013:\n${device.output()}`);
  assert.ok(afterClose.some((l) => /^retry in \d+ ms$/.test(l)), 'backed off after 1013');
  assert.equal(highestAck(lines), COUNT);
  // Hub A learns of what hub B stored from the stream's state, refreshed every infoRefreshMs: wait until it has.
  let seen = new Map<number, number>();
  await waitUntil(async () => {
    seen = await storedSeqs(a.hub.store, 'fw-cluster');
    return seen.has(COUNT);
  }, 'hub A sees every reading in the stream', 30_000);
  assertContiguousOnce(seen, COUNT);
});
