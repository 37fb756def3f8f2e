/**
 * The device's upgrade request, read off the TLS socket without Node's HTTP
 * server: the parser on its own, then the wire: a request in pieces, a first
 * frame in the same write, the Arduino library's exact request, and the
 * 400, 404 and 431 refusals (the size limit crossed both ways).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isUpgradeRequest, MAX_REQUEST_HEAD_BYTES, parseRequestHead } from '../../src/hub/upgrade-request.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import type { DeviceCredentials } from '../helpers/pki.js';

const ESP_IDF_REQUEST = [
  'GET /v1/device HTTP/1.1',
  'Connection: Upgrade',
  'Host: hub.example:8443',
  'User-Agent: ESP32 Websocket Client',
  'Upgrade: websocket',
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
].join('\r\n');

test('parses what ESP-IDF sends: method, target, version, lower-case header names, values trimmed', () => {
  const head = parseRequestHead(ESP_IDF_REQUEST.replace('Upgrade: websocket', 'Upgrade: \t websocket \t'));
  assert.ok(head !== null);
  assert.equal(head.method, 'GET');
  assert.equal(head.url, '/v1/device');
  assert.equal(head.httpVersion, 'HTTP/1.1');
  assert.equal(head.headers.upgrade, 'websocket');
  assert.equal(head.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
  assert.equal(head.headers.host, 'hub.example:8443');
  assert.ok(isUpgradeRequest(head));
});

test('a repeated header is joined with a comma, as Node does (so two keys fail ws\'s key check)', () => {
  const head = parseRequestHead('GET / HTTP/1.1\r\nSec-WebSocket-Protocol: arduino\r\nsec-websocket-protocol: mqtt');
  assert.equal(head?.headers['sec-websocket-protocol'], 'arduino, mqtt');
});

test('refuses what Node\'s strict parser refuses', () => {
  const bad: Array<[string, string]> = [
    ['GET /v1/device  HTTP/1.1', 'two spaces in the request line'],
    ['GET /v1/device', 'no version'],
    ['GET /v1/device HTTP/2.0', 'not HTTP/1.x'],
    ['G(T /v1/device HTTP/1.1', 'a method that is not a token'],
    ['GET /v1/\x01device HTTP/1.1', 'a control character in the target'],
    ['GET /v1/device HTTP/1.1\r\nUpgrade : websocket', 'a space before the colon (request smuggling)'],
    ['GET /v1/device HTTP/1.1\r\nUpgrade: websocket\r\n continued', 'a folded header line'],
    ['GET /v1/device HTTP/1.1\r\nUpgrade websocket', 'no colon'],
    ['GET /v1/device HTTP/1.1\r\nX-A: 1\nX-B: 2', 'a bare LF'],
    ['GET /v1/device HTTP/1.1\r\nX-A: a\x00b', 'a NUL in a value'],
  ];
  for (const [text, why] of bad) assert.equal(parseRequestHead(text), null, why);
});

test('an upgrade needs an Upgrade header and `upgrade` among the Connection tokens', () => {
  const upgrade = (connection: string | null, upgradeHeader = true): boolean => {
    let text = 'GET /v1/device HTTP/1.1';
    if (connection !== null) text += `\r\nConnection: ${connection}`;
    if (upgradeHeader) text += '\r\nUpgrade: websocket';
    return isUpgradeRequest(parseRequestHead(text)!);
  };
  assert.ok(upgrade('Upgrade'));
  assert.ok(upgrade('keep-alive, UPGRADE'));
  assert.ok(!upgrade('keep-alive'));
  assert.ok(!upgrade(null));
  assert.ok(!upgrade('Upgrade', false));
});

// ---------------------------------------------------------------- on the wire

let th: TestHub;
let device: DeviceCredentials;

before(async () => {
  th = await startHub();
  device = await th.pki.addDevice('upgrade-raw');
});
after(async () => {
  await th.stop();
});

/** What a raw client read: the status and the response head; `closed` waits for the hub to close the connection. */
interface Response { status: number; head: string; closed: () => Promise<void> }

async function rawDevice(): Promise<{ socket: TLSSocket; response: () => Promise<Response>; frames: (count: number) => Promise<string[]> }> {
  const socket = tlsConnect({ host: '127.0.0.1', port: th.devicePort, servername: 'localhost', ca: th.pki.ca, cert: device.cert, key: device.key, maxVersion: 'TLSv1.2' });
  socket.on('error', () => {});
  const closed = (): Promise<void> => waitUntil(() => socket.closed, 'the hub closes the connection');
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  await once(socket, 'secureConnect');
  let headEnd = -1;
  const response = async (): Promise<Response> => {
    await waitUntil(() => (headEnd = received.indexOf('\r\n\r\n')) !== -1, 'an HTTP response');
    const head = received.toString('latin1', 0, headEnd);
    return { status: Number(head.split(' ')[1]), head, closed };
  };
  /** The hub's next text frames after the 101 (server frames are not masked). */
  const frames = async (count: number): Promise<string[]> => {
    const texts: string[] = [];
    await waitUntil(() => {
      texts.length = 0;
      let at = headEnd + 4;
      while (at + 2 <= received.length) {
        let length = received[at + 1]! & 0x7f;
        let start = at + 2;
        if (length === 126) {
          length = received.readUInt16BE(at + 2);
          start = at + 4;
        }
        if (start + length > received.length) break;
        texts.push(received.toString('utf8', start, start + length));
        at = start + length;
      }
      return texts.length >= count;
    }, `${count} frames`);
    return texts.slice(0, count);
  };
  return { socket, response, frames };
}

/** A client's masked text frame. */
function maskedFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = randomBytes(4);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload]);
  for (let i = 0; i < payload.length; i += 1) frame[6 + i]! ^= mask[i % 4]!;
  return frame;
}

function refused(reason: string): number {
  return metricValue(th.hub, `fleethub_device_upgrades_refused_total{reason="${reason}"}`);
}

test('a request that arrives in pieces, one byte at a time at the end, still upgrades', async () => {
  const { socket, response, frames } = await rawDevice();
  try {
    const request = `${ESP_IDF_REQUEST}\r\n\r\n`;
    socket.write(request.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 30));
    socket.write(request.slice(20, -6));
    for (const byte of request.slice(-6)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      socket.write(byte);
    }
    assert.equal((await response()).status, 101);
    const [hello] = await frames(1);
    assert.equal((JSON.parse(hello!) as { hello: { device: string } }).hello.device, 'upgrade-raw');
  } finally {
    socket.destroy();
  }
});

test('a first frame sent in the same write as the request is not lost', async () => {
  const { socket, response, frames } = await rawDevice();
  try {
    socket.write(Buffer.concat([Buffer.from(`${ESP_IDF_REQUEST}\r\n\r\n`), maskedFrame('{"seq":1,"data":{"t":21.5}}')]));
    assert.equal((await response()).status, 101);
    const [, ack] = await frames(2);
    assert.deepEqual(JSON.parse(ack!), { ack: 1 });
  } finally {
    socket.destroy();
  }
});

test('the Arduino WebSockets library\'s request (subprotocol arduino, Origin: file://) upgrades', async () => {
  const { socket, response } = await rawDevice();
  try {
    socket.write([
      'GET /v1/device HTTP/1.1',
      'Host: 127.0.0.1',
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Protocol: arduino',
      'Origin: file://',
      'User-Agent: arduino-WebSocket-Client',
      '', '',
    ].join('\r\n'));
    const { status, head } = await response();
    assert.equal(status, 101);
    assert.match(head, /\r\nSec-WebSocket-Protocol: arduino(\r\n|$)/i);
    assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=(\r\n|$)/);
  } finally {
    socket.destroy();
  }
});

test('a malformed request gets 400, one that is no upgrade 404 (even on /v1/device); each closes the connection', async () => {
  const cases: Array<[string, number, string]> = [
    ['GET /v1/device HTTP/1.1\r\nUpgrade : websocket\r\n\r\n', 400, 'bad_request'],
    ['GET /v1/device HTTP/1.1\r\nHost: hub\r\n\r\n', 404, 'not_found'],
  ];
  for (const [request, status, reason] of cases) {
    const before = refused(reason);
    const { socket, response } = await rawDevice();
    socket.write(request);
    const answer = await response();
    assert.equal(answer.status, status, request);
    await answer.closed();
    assert.equal(refused(reason), before + 1, reason);
  }
});

test(`a request head over MAX_REQUEST_HEAD_BYTES (${MAX_REQUEST_HEAD_BYTES}) gets 431; one just under it upgrades`, async () => {
  const padded = (total: number): string => {
    const base = `${ESP_IDF_REQUEST}\r\nX-Pad: `;
    return `${base}${'a'.repeat(total - base.length)}\r\n\r\n`;
  };
  const under = await rawDevice();
  try {
    under.socket.write(padded(MAX_REQUEST_HEAD_BYTES));
    assert.equal((await under.response()).status, 101);
  } finally {
    under.socket.destroy();
  }
  const before = refused('head_too_large');
  const over = await rawDevice();
  over.socket.write(padded(MAX_REQUEST_HEAD_BYTES + 1));
  const answer = await over.response();
  assert.equal(answer.status, 431);
  await answer.closed();
  assert.equal(refused('head_too_large'), before + 1);
});

test('a client that never ends its head is cut off at the limit, not buffered without end', async () => {
  const { socket, response } = await rawDevice();
  // Header lines, never the empty line that ends the head.
  const line = `X-Pad: ${'a'.repeat(1000)}\r\n`;
  socket.write('GET /v1/device HTTP/1.1\r\n');
  for (let sent = 0; sent <= MAX_REQUEST_HEAD_BYTES && !socket.destroyed; sent += line.length) socket.write(line);
  const answer = await response();
  assert.equal(answer.status, 431);
  await answer.closed();
});
