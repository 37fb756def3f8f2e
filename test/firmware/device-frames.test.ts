/**
 * The C client's WebSocket reader on a real TLS socket, and its fuzz target.
 * The hub's own downlink messages are small, so a test peer (Node's https
 * server and `ws`, with the test PKI's server certificate and client
 * certificates required) sends what the hub never does: a hello of several
 * receive buffers in fragments with a ping between them, and a message over
 * the device's reassembly limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { waitUntil } from '../helpers/hub.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { BUILD_DIR, deviceFiles, makeFirmware, reapDevice, startDevice } from './device-process.js';

/** The example's reassembly buffer (examples/linux/fleethub-device.c msg_buf) and its receive buffer. */
const DEVICE_MAX_MESSAGE = 16_384;
const DEVICE_RX_BUFFER = 4_096;

async function peer(pki: TestPki, onDevice: (ws: WebSocket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({ server, path: '/v1/device' });
  wss.on('connection', onDevice);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Sends `text` as a fragmented text message: `parts` frames, with a ping after the first. */
function sendFragmented(ws: WebSocket, text: string, parts: number): void {
  const size = Math.ceil(text.length / parts);
  for (let i = 0; i < parts; i += 1) {
    ws.send(text.slice(i * size, (i + 1) * size), { fin: i === parts - 1 });
    if (i === 0) ws.ping('between fragments');
  }
}

test('a downlink message of several receive buffers, in fragments around a ping, is reassembled; one over the limit closes 1009', async (t) => {
  makeFirmware();
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-frames'));
  t.after(() => files.cleanup());

  const pad = 'p'.repeat(3 * DEVICE_RX_BUFFER);
  const hello = JSON.stringify({ hello: { device: 'fw-frames', lastSeq: 7, limits: { maxPayloadBytes: 16384 }, pad } });
  assert.ok(hello.length > 2 * DEVICE_RX_BUFFER && hello.length < DEVICE_MAX_MESSAGE);
  const pongs: string[] = [];
  let ackedSeq = 0;
  const first = await peer(pki, (ws) => {
    ws.on('pong', (data) => pongs.push(String(data)));
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { seq?: number };
      if (message.seq === undefined) return;
      ackedSeq = message.seq;
      ws.send(JSON.stringify({ ack: message.seq }));
    });
    sendFragmented(ws, hello, 3);
  });
  t.after(() => new Promise<void>((resolve) => first.server.close(() => resolve())));
  const reader = startDevice(`wss://localhost:${first.port}/v1/device`, files, ['--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(reader));
  assert.deepEqual(await reader.exited, { code: 0, signal: null }, reader.output());
  assert.ok(reader.lines().includes('hello lastSeq=7'), reader.output());
  assert.equal(ackedSeq, 8, 'the reading after the reassembled hello goes on from lastSeq + 1');
  assert.deepEqual(pongs, ['between fragments'], 'the ping between fragments was answered with its payload');

  const closes: number[] = [];
  const { server, port } = await peer(pki, (ws) => {
    ws.on('close', (code) => closes.push(code));
    sendFragmented(ws, JSON.stringify({ hello: { device: 'fw-frames', lastSeq: 8, limits: {}, pad: 'q'.repeat(DEVICE_MAX_MESSAGE) } }), 4);
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const device = startDevice(`wss://localhost:${port}/v1/device`, files, ['--count', '1', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  await device.waitForLine(/^close 1009$/);
  assert.ok(!device.lines().some((l) => l.startsWith('hello ')), 'the oversize hello was never handed on');
  await waitUntil(() => closes.length > 0, 'the peer saw the close', 30_000);
  assert.equal(closes[0], 1009, 'the device closed with 1009 (RFC 6455 §7.4.1: message too big)');
});

test('fuzz: the frame and JSON readers take 100000 random and mutated inputs under ASan and UBSan', () => {
  makeFirmware('fuzz');
  const run = spawnSync(join(BUILD_DIR, 'fleethub-fuzz'), ['100000', '20261207'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  assert.match(run.stdout, /^fleethub-fuzz: 100000 iterations, \d+ messages, \d+ refused streams, 0 failed checks\n$/);
  assert.equal(run.stderr, '', 'no sanitizer report');
});
