/**
 * Which device protocol version the C client speaks (SPEC: Device protocol
 * version 2, negotiated): with `--protocol 2` it offers `fleethub.v2`, and
 * speaks version 2 only when the hub selects it and its hello says
 * `"protocol":2` (the real hub: negotiation, `hello.features`,
 * `limits.maxDownlinkBytes`). A hub that does not select it, or selects one
 * the device did not offer, is a test peer (Node's https and `ws`).
 * Commands and desired configuration: device-commands.test.ts; renewal is
 * not built in the client.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { startHub } from '../helpers/hub.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

/** A TLS WebSocket peer that selects `select` (or nothing) and sends `hello` to each device. */
async function peer(pki: TestPki, select: string | false, hello: object): Promise<{ url: string; offered: string[]; close(): Promise<void> }> {
  const offered: string[] = [];
  const server = createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({
    server,
    path: '/v1/device',
    handleProtocols: (protocols) => {
      offered.push(...protocols);
      return select;
    },
  });
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ hello }));
    ws.on('message', (raw) => {
      const seq = (JSON.parse(String(raw)) as { seq?: number }).seq;
      if (seq !== undefined) ws.send(JSON.stringify({ ack: seq }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `wss://localhost:${(server.address() as { port: number }).port}/v1/device`,
    offered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('--protocol 2 against the real hub: version 2 negotiated, its maxDownlinkBytes read, every reading stored once', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000, maxDownlinkBytes: 8192 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-v2-hub'));
  t.after(() => files.cleanup());
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--protocol', '2', '--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  // A hub without a commands allow-list or renewal offers desired configuration only.
  assert.ok(device.lines().includes('protocol 2 features=config maxDownlinkBytes=8192'), device.output());
  assert.equal(highestAck(device.lines()), 5);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-v2-hub'), 5);

  // The same device with --protocol 1 offers nothing and gets the version 1 hello.
  const v1 = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(v1));
  assert.deepEqual(await v1.exited, { code: 0, signal: null }, v1.output());
  assert.ok(!v1.lines().some((l) => l.startsWith('protocol ')), v1.output());
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-v2-hub'), 6);
});

test('--protocol 2 against a hub that does not select fleethub.v2: version 1, the readings acked', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-v2-old'));
  t.after(() => files.cleanup());
  const old = await peer(pki, false, { device: 'fw-v2-old', lastSeq: null, limits: {} });
  t.after(() => old.close());
  const device = startDevice(old.url, files, ['--protocol', '2', '--count', '2', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.deepEqual(old.offered, ['fleethub.v2']);
  assert.ok(device.lines().includes('protocol 1 features= maxDownlinkBytes=0'), device.output());
});

test('a peer that selects fleethub.v2 and says protocol 2: the client reads hello.features', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-v2'));
  t.after(() => files.cleanup());
  const v2 = await peer(pki, 'fleethub.v2', { device: 'fw-v2', protocol: 2, features: ['renew', 'cmd', 'later'], lastSeq: null, limits: { maxDownlinkBytes: 8192 } });
  t.after(() => v2.close());
  const device = startDevice(v2.url, files, ['--protocol', '2', '--count', '2', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.deepEqual(v2.offered, ['fleethub.v2']);
  assert.ok(device.lines().includes('protocol 2 features=renew,cmd maxDownlinkBytes=8192'), device.output());
});

test('fleethub.v2 selected but a hello without protocol 2, or --protocol 1: version 1', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-v2-half'));
  t.after(() => files.cleanup());
  const half = await peer(pki, 'fleethub.v2', { device: 'fw-v2-half', features: ['cmd'], lastSeq: null, limits: {} });
  t.after(() => half.close());
  const device = startDevice(half.url, files, ['--protocol', '2', '--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.ok(device.lines().includes('protocol 1 features= maxDownlinkBytes=0'), device.output());

  const v1 = startDevice(half.url, files, ['--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(v1));
  assert.deepEqual(await v1.exited, { code: 0, signal: null }, v1.output());
  assert.deepEqual(half.offered, ['fleethub.v2'], 'a --protocol 1 device offers no subprotocol');
});

test('a hub that selects a subprotocol the device did not offer is refused (RFC 6455 §4.1)', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-v2-odd'));
  t.after(() => files.cleanup());
  const odd = await peer(pki, 'arduino', { device: 'fw-v2-odd', lastSeq: null, limits: {} });
  t.after(() => odd.close());
  const device = startDevice(odd.url, files, ['--protocol', '2', '--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  await device.waitForLine(/^retry in \d+ ms$/);
  assert.ok(device.lines().includes('connect_failed -0x0006'), device.output());
  assert.ok(!device.lines().includes('connected'), device.output());
});
