/**
 * Which device protocol version the C client speaks (SPEC: Device protocol
 * version 2, negotiated): with `--protocol 2` it offers `fleethub.v2`; a hub
 * that does not select it (this hub today) gets version 1, unchanged. Where
 * the hub selects it, `hello.protocol` and `hello.features` are read; the
 * hub's own version 2 is not on this branch, so that side is a test peer
 * (Node's https and `ws`), and commands, config and renewal are not built.
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

test('--protocol 2 against this hub (no fleethub.v2 yet): version 1, every reading stored once', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-v2-fallback'));
  t.after(() => files.cleanup());
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--protocol', '2', '--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.ok(device.lines().includes('protocol 1 features='), device.output());
  assert.equal(highestAck(device.lines()), 5);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-v2-fallback'), 5);
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
  assert.ok(device.lines().includes('protocol 2 features=renew,cmd'), device.output());
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
  assert.ok(device.lines().includes('protocol 1 features='), device.output());

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
