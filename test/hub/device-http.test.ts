/**
 * The one HTTP request a device sends is read by Node's own HTTP parser
 * (SPEC: only the WebSocket upgrade of GET /v1/device, anything else 404):
 * what Node refuses is refused (400, 431), never upgraded, and the
 * subprotocol is the hub's choice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { clientFrame, RawDevice, upgradeHead } from '../helpers/raw-device.js';
import { connectDevice } from '../helpers/device-client.js';
import type { DeviceCredentials } from '../helpers/pki.js';

let th: TestHub;
let creds: DeviceCredentials;

before(async () => {
  th = await startHub();
  creds = await th.pki.addDevice('http-dev');
});
after(async () => {
  await th.stop();
});

async function statusFor(head: string | Buffer): Promise<{ status: number; device: RawDevice }> {
  const device = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  device.socket.write(head);
  return { status: await device.responseStatus(), device };
}

test('a well-formed upgrade by hand gets 101, then hello', async () => {
  const { status, device } = await statusFor(upgradeHead());
  try {
    assert.equal(status, 101);
    await device.read(() => device.messages.length > 0);
    assert.equal((JSON.parse(device.messages[0] as string) as { hello: { device: string } }).hello.device, 'http-dev');
  } finally {
    device.destroy();
  }
});

test('request heads Node refuses are refused with 400 and never upgraded', async () => {
  const valid = upgradeHead();
  const heads: Array<[string, string | Buffer]> = [
    ['Content-Length with Transfer-Encoding', valid.replace('\r\n\r\n', '\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n')],
    ['two different Content-Lengths', valid.replace('\r\n\r\n', '\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n')],
    ['a lower-case method', valid.replace(/^GET /, 'get ')],
    ['a space before a header colon', valid.replace('Upgrade: websocket', 'Upgrade : websocket')],
    ['a bare LF inside a header value', valid.replace('Upgrade: websocket', 'Upgrade: web\nsocket')],
    ['a folded header line', valid.replace('Connection: Upgrade\r\n', 'Connection:\r\n Upgrade\r\n')],
    ['a byte 0xFF in the target', Buffer.from(valid.replace('/v1/device', '/v1/device?x=\xff'), 'latin1')],
    ['a NUL in a header value', valid.replace('Upgrade: websocket', 'Upgrade: web\0socket')],
  ];
  const before = metricValue(th.hub, 'fleethub_device_upgrades_refused_total{reason="bad_request"}');
  for (const [what, head] of heads) {
    const { status, device } = await statusFor(head);
    device.destroy();
    assert.equal(status, 400, what);
  }
  assert.equal(metricValue(th.hub, 'fleethub_device_upgrades_refused_total{reason="bad_request"}'), before + heads.length);
  assert.deepEqual(th.hub.onlineDevices(), []);
});

test('a request head over Node\'s header limit is refused with 431', async () => {
  const { status, device } = await statusFor(upgradeHead('/v1/device', `X-Pad: ${'a'.repeat(20_000)}\r\n`));
  device.destroy();
  assert.equal(status, 431);
  assert.equal(metricValue(th.hub, 'fleethub_device_upgrades_refused_total{reason="head_too_large"}'), 1);
});

test('another path, another method or no upgrade is 404', async () => {
  const valid = upgradeHead();
  for (const [what, head] of [
    ['another path', upgradeHead('/v1/devices')],
    ['POST', valid.replace(/^GET /, 'POST ')],
    ['no Upgrade header', valid.replace('Upgrade: websocket\r\n', '').replace('Connection: Upgrade', 'Connection: close')],
  ] as const) {
    const { status, device } = await statusFor(head);
    device.destroy();
    assert.equal(status, 404, what);
  }
});

test('a first frame sent with the upgrade request is not lost', async () => {
  const device = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  try {
    device.socket.write(Buffer.concat([Buffer.from(upgradeHead()), clientFrame('{"seq":1,"data":{"t":1}}')]));
    assert.equal(await device.responseStatus(), 101);
    await device.read(() => device.messages.some((t) => t === '{"ack":1}'));
  } finally {
    device.destroy();
  }
});

test('the subprotocol is chosen by the hub: arduino when offered, none for one it does not speak', async () => {
  const arduino = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key, protocol: 'arduino', origin: 'file://' });
  assert.equal(arduino.ws.protocol, 'arduino');
  await arduino.close();
  const { status, device } = await statusFor(upgradeHead('/v1/device', 'Sec-WebSocket-Protocol: mqtt\r\n'));
  try {
    assert.equal(status, 101);
    const head = device.received.toString('latin1', 0, device.received.indexOf('\r\n\r\n'));
    assert.doesNotMatch(head, /sec-websocket-protocol/i, 'a subprotocol the hub does not speak is not echoed');
  } finally {
    device.destroy();
  }
});
