import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';

function metric(th: TestHub, line: string): number {
  return metricValue(th.hub, line);
}

/** A raw TCP connection from `localAddress` (127.0.0.0/8 is all loopback on Linux). */
async function rawSocket(th: TestHub, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port: th.devicePort, localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

test('per-IP and global connection caps refuse before any TLS work', async () => {
  const th = await startHub({ device: { maxConnections: 3, maxConnectionsPerIp: 2 } });
  const open: DeviceClient[] = [];
  try {
    const creds = await Promise.all(['gate-a', 'gate-b', 'gate-c', 'gate-d'].map((id) => th.pki.addDevice(id)));
    const opts = (i: number, localAddress: string): DeviceClientOptions & { localAddress: string } =>
      ({ url: th.deviceUrl, ca: th.pki.ca, cert: creds[i]!.cert, key: creds[i]!.key, localAddress });
    open.push(await connectDevice(opts(0, '127.0.0.1')), await connectDevice(opts(1, '127.0.0.1')));
    const handshakesBefore = metric(th, 'fleethub_tls_handshakes_total{result="full"}');
    // ws passes localAddress on to the socket.
    const third = await tryConnectDevice(opts(2, '127.0.0.1'));
    assert.ok(!(third instanceof DeviceClient));
    assert.equal(metric(th, 'fleethub_device_connections_refused_total{reason="max_connections_per_ip"}'), 1);
    open.push(await connectDevice(opts(2, '127.0.0.2')));
    const fourth = await tryConnectDevice(opts(3, '127.0.0.3'));
    assert.ok(!(fourth instanceof DeviceClient));
    assert.equal(metric(th, 'fleethub_device_connections_refused_total{reason="max_connections"}'), 1);
    assert.equal(metric(th, 'fleethub_tls_handshakes_total{result="full"}'), handshakesBefore + 1, 'refused sockets never started a handshake');
    await open.pop()!.close();
    await waitUntil(() => metric(th, 'fleethub_device_sockets') === 2, 'the hub saw the close');
    open.push(await connectDevice(opts(3, '127.0.0.3')));
  } finally {
    await Promise.all(open.map((c) => c.close()));
    await th.stop();
  }
});

test('new connections per IP per second are capped; silent sockets hit the handshake timeout, connected devices do not', async () => {
  const th = await startHub({ device: { newConnectionsPerIpPerSec: 3, handshakeTimeoutMs: 300 } });
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 4; i += 1) sockets.push(await rawSocket(th, '127.0.0.5'));
    // The fourth is closed by the hub at once; the others when their handshake time is up.
    await Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close'))));
    assert.equal(metric(th, 'fleethub_device_connections_refused_total{reason="new_connections_per_ip"}'), 1);
    assert.equal(metric(th, 'fleethub_tls_handshake_failures_total{reason="timeout"}'), 3);
    await waitUntil(() => metric(th, 'fleethub_device_sockets') === 0, 'every socket is released');
    // The deadline ends at the upgrade: a connected device outlives handshakeTimeoutMs.
    const creds = await th.pki.addDevice('gate-slow-ok');
    const client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key, localAddress: '127.0.0.6' });
    await new Promise((resolve) => setTimeout(resolve, 600));
    client.sendSeqs([1]);
    await client.waitForAck(1);
    await client.close();
  } finally {
    for (const s of sockets) s.destroy();
    await th.stop();
  }
});

test('a device that finishes TLS but sends no upgrade request is dropped at the handshake timeout', async () => {
  const th = await startHub({ device: { handshakeTimeoutMs: 300 } });
  const creds = await th.pki.addDevice('gate-no-upgrade');
  const started = Date.now();
  const socket = tlsConnect({ host: '127.0.0.1', port: th.devicePort, servername: 'localhost', ca: th.pki.ca, cert: creds.cert, key: creds.key });
  socket.on('error', () => {});
  try {
    await once(socket, 'secureConnect');
    // Half a request line, then silence (slowloris after TLS).
    socket.write('GET /v1/device HTTP/1.1\r\n');
    const closed = once(socket, 'close').then(() => true);
    let giveUp: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => (giveUp = setTimeout(() => resolve(false), 5_000)));
    const wasClosed = await Promise.race([closed, gaveUp]);
    clearTimeout(giveUp);
    assert.ok(wasClosed, 'the hub still holds the socket 5 s later');
    const held = Date.now() - started;
    assert.ok(held >= 250, `dropped after ${held} ms, before its deadline`);
    assert.equal(metric(th, 'fleethub_device_upgrades_refused_total{reason="timeout"}'), 1);
    assert.equal(metric(th, 'fleethub_tls_handshake_failures_total{reason="timeout"}'), 0);
    await waitUntil(() => metric(th, 'fleethub_device_sockets') === 0, 'the socket is released');
  } finally {
    socket.destroy();
    await th.stop();
  }
});

test('heartbeats: a device that was busy and then falls quiet for several intervals is pinged, not dropped', async () => {
  const th = await startHub({ device: { pingIntervalMs: 200 } });
  try {
    const creds = await th.pki.addDevice('hb-quiet');
    const device = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });
    let pings = 0;
    device.ws.on('ping', () => (pings += 1));
    // Busy through a sweep or two, then silent: a sweep that saw frames must not count against the silence after it.
    for (let seq = 1; seq <= 4; seq += 1) {
      device.sendSeqs([seq]);
      await device.waitForAck(seq);
      await new Promise((r) => setTimeout(r, 120));
    }
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(device.closeCode, null, 'a quiet device that answers pings stays connected');
    assert.ok(pings >= 2, `pinged while quiet (${pings} pings)`);
    device.sendSeqs([5]);
    await device.waitForAck(5);
    await device.close();
  } finally {
    await th.stop();
  }
});

test('heartbeats: a device that stops answering pings is dropped, one that answers stays', async () => {
  const th = await startHub({ device: { pingIntervalMs: 150 } });
  try {
    const alive = await th.pki.addDevice('hb-alive');
    const silent = await th.pki.addDevice('hb-silent');
    const good = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: alive.cert, key: alive.key });
    const mute = new WebSocket(th.deviceUrl, { ca: th.pki.ca, cert: silent.cert, key: silent.key, servername: 'localhost', autoPong: false } as ClientOptions);
    mute.on('error', () => {});
    const [code] = (await once(mute, 'close')) as [number];
    assert.equal(code, 1006, 'dropped without a close frame');
    assert.equal(good.closeCode, null);
    await waitUntil(() => th.hub.onlineDevices().length === 1, 'the silent device is gone');
    assert.deepEqual(th.hub.onlineDevices(), ['hb-alive']);
    await good.close();
  } finally {
    await th.stop();
  }
});
