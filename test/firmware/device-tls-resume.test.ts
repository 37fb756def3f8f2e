/**
 * TLS session resumption in the C client: after a reconnect the device offers
 * the session of its last handshake, and a hub with the same ticket key (a
 * restarted hub on the same PKI folder) resumes it: no ECDSA signature and no
 * certificate check on either side, what a fleet reconnecting at once costs.
 * The hub's `fleethub_tls_handshakes_total{result}` is the verdict.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { metricValue, startHub, waitUntil } from '../helpers/hub.js';
import { makeTestPki } from '../helpers/pki.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';

before(() => makeFirmware());

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const FULL = 'fleethub_tls_handshakes_total{result="full"}';
const RESUMED = 'fleethub_tls_handshakes_total{result="resumed"}';

test('a hub restarted on the same port and PKI: the device resumes its TLS session instead of a full handshake', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-resume'));
  t.after(() => files.cleanup());
  const port = await freePort();
  const limits = { msgsPerSec: 10_000, burst: 10_000 };
  const first = await startHub({ device: { port }, limits }, pki);
  const device = startDevice(`wss://localhost:${port}/v1/device`, files, ['--count', '100000', '--interval-ms', '50', '--backoff-max-ms', '500']);
  t.after(() => reapDevice(device));
  await waitUntil(() => highestAck(device.lines()) >= 3, 'readings acked by the first hub', 30_000);
  assert.equal(metricValue(first.hub, FULL), 1);
  await first.stop(); // 1001: the device backs off and connects again

  const second = await startHub({ device: { port }, limits }, pki);
  t.after(() => second.stop());
  await waitUntil(() => device.lines().filter((l) => l.startsWith('hello ')).length === 2, 'the device back on the new hub', 60_000);
  assert.equal(metricValue(second.hub, RESUMED), 1, device.output());
  assert.equal(metricValue(second.hub, FULL), 0);
  const acked = highestAck(device.lines());
  await waitUntil(() => highestAck(device.lines()) > acked, 'readings acked over the resumed session', 30_000);
  await reapDevice(device); // before its state folder is removed
});
