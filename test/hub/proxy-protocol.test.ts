import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { createMemoryLogger } from '../../src/log.js';
import { proxyV1, proxyV2 } from '../helpers/proxy-protocol.js';

// 127.0.0.1 plays the load balancer; 127.0.0.2 and up are devices connecting directly (all of 127/8 is loopback on Linux).
const BALANCER = '127.0.0.1';
const DIRECT = '127.0.0.2';

function refused(th: TestHub, reason: string): number {
  return metricValue(th.hub, `fleethub_device_connections_refused_total{reason="${reason}"}`);
}

async function device(th: TestHub, id: string, extra: Partial<DeviceClientOptions>): Promise<DeviceClientOptions> {
  const creds = await th.pki.addDevice(id);
  return { url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key, ...extra };
}

/** A raw socket from `localAddress` that writes `bytes` and waits for the hub to close it. */
async function closedAfterSending(th: TestHub, localAddress: string, bytes: Buffer): Promise<void> {
  const socket: Socket = netConnect({ host: '127.0.0.1', port: th.devicePort, localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(bytes);
  socket.resume();
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
}

test('v1 and v2 headers from the trusted balancer: TLS and the device protocol run after them, logs show the device address', async () => {
  const log = createMemoryLogger();
  const th = await startHub({ device: { proxyProtocol: { trusted: [`${BALANCER}/32`] } }, log });
  try {
    for (const [version, header, address] of [['v1', proxyV1('192.0.2.10'), '192.0.2.10'], ['v2', proxyV2('2001:db8::10'), '2001:db8::10']] as const) {
      const client = await connectDevice(await device(th, `pp-${version}`, { localAddress: BALANCER, beforeTls: header, maxVersion: 'TLSv1.2' }));
      assert.equal((await client.hello()).device, `pp-${version}`);
      client.sendSeqs([1]);
      await client.waitForAck(1);
      assert.ok(log.lines.some((l) => l.includes(`device.connect id=pp-${version} ip=${address} `)), log.lines.join('\n'));
      await client.close();
    }
    // TLS 1.3 too, and a v2 LOCAL header (the balancer's own connection) counts as the balancer.
    const local = await connectDevice(await device(th, 'pp-local', { localAddress: BALANCER, beforeTls: proxyV2('10.9.9.9', { command: 'LOCAL' }), minVersion: 'TLSv1.3' }));
    await local.hello();
    assert.ok(log.lines.some((l) => l.includes(`device.connect id=pp-local ip=${BALANCER} `)), log.lines.join('\n'));
    await local.close();
  } finally {
    await th.stop();
  }
});

test('per-IP limits apply to the address in the header, not to the balancer', async () => {
  const th = await startHub({ device: { maxConnectionsPerIp: 1, proxyProtocol: { trusted: [`${BALANCER}/32`] } } });
  const open: DeviceClient[] = [];
  try {
    // Two devices behind one balancer: with the balancer's address they would share one slot.
    open.push(await connectDevice(await device(th, 'pp-ip-a', { localAddress: BALANCER, beforeTls: proxyV2('198.51.100.1') })));
    open.push(await connectDevice(await device(th, 'pp-ip-b', { localAddress: BALANCER, beforeTls: proxyV1('198.51.100.2') })));
    // A second connection claiming 198.51.100.1 is over that address's limit.
    const third = await tryConnectDevice(await device(th, 'pp-ip-c', { localAddress: BALANCER, beforeTls: proxyV1('198.51.100.1', 40_001) }));
    assert.ok(!(third instanceof DeviceClient));
    assert.equal(refused(th, 'max_connections_per_ip'), 1);
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 2, 'the refused socket is gone');
    // The slot is released with the connection.
    await open.shift()!.close();
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 1, 'the hub saw the close');
    open.push(await connectDevice(await device(th, 'pp-ip-d', { localAddress: BALANCER, beforeTls: proxyV2('198.51.100.1', { sourcePort: 40_002 }) })));
  } finally {
    await Promise.all(open.map((c) => c.close()));
    await th.stop();
  }
});

test('a header from an untrusted address is refused; the same address without one connects', async () => {
  const th = await startHub({ device: { proxyProtocol: { trusted: [`${BALANCER}/32`] } } });
  try {
    const spoof = await tryConnectDevice(await device(th, 'pp-spoof', { localAddress: DIRECT, beforeTls: proxyV2('203.0.113.99') }));
    assert.ok(!(spoof instanceof DeviceClient));
    await closedAfterSending(th, DIRECT, proxyV1('203.0.113.98'));
    assert.equal(refused(th, 'proxy_header_untrusted'), 2);
    assert.equal(metricValue(th.hub, 'fleethub_tls_handshake_failures_total{reason="protocol"}'), 0, 'refused before TLS, not as TLS garbage');
    const direct = await connectDevice(await device(th, 'pp-direct', { localAddress: DIRECT }));
    direct.sendSeqs([1]);
    await direct.waitForAck(1);
    await direct.close();
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 0, 'every socket is released');
  } finally {
    await th.stop();
  }
});

test('a trusted address without a header is refused', async () => {
  const th = await startHub({ device: { proxyProtocol: { trusted: ['127.0.0.0/30', 'fd00::/8'] } } });
  try {
    const plain = await tryConnectDevice(await device(th, 'pp-plain', { localAddress: '127.0.0.2' }));
    assert.ok(!(plain instanceof DeviceClient));
    assert.equal(refused(th, 'proxy_header_missing'), 1);
    assert.equal(metricValue(th.hub, 'fleethub_tls_handshakes_total{result="full"}'), 0);
    // Outside the /30: a direct device.
    const outside = await connectDevice(await device(th, 'pp-outside', { localAddress: '127.0.0.4' }));
    await outside.close();
  } finally {
    await th.stop();
  }
});

test('a header read has a deadline and a size limit; a broken header is refused', async () => {
  const th = await startHub({ device: { proxyProtocol: { trusted: [`${BALANCER}/32`], headerTimeoutMs: 200, maxHeaderBytes: 300 } } });
  try {
    // Half a header, then silence.
    await closedAfterSending(th, BALANCER, proxyV1('192.0.2.1').subarray(0, 12));
    assert.equal(refused(th, 'proxy_header_timeout'), 1);
    // One byte over the limit, and exactly at it.
    const over = proxyV2('192.0.2.1', { tlvBytes: 300 - 28 - 3 + 1 });
    assert.equal(over.length, 301);
    await closedAfterSending(th, BALANCER, over);
    assert.equal(refused(th, 'proxy_header_too_large'), 1);
    const atLimit = proxyV2('192.0.2.2', { tlvBytes: 300 - 28 - 3 });
    assert.equal(atLimit.length, 300);
    const client = await connectDevice(await device(th, 'pp-at-limit', { localAddress: BALANCER, beforeTls: atLimit }));
    await client.close();
    await closedAfterSending(th, BALANCER, Buffer.from('PROXY TCP4 not an address\r\n'));
    assert.equal(refused(th, 'proxy_header_invalid'), 1);
    // An untrusted peer that stops inside what could be a header gets the same deadline.
    await closedAfterSending(th, DIRECT, Buffer.from('PROX'));
    assert.equal(refused(th, 'proxy_header_timeout'), 2);
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 0, 'every socket is released');
  } finally {
    await th.stop();
  }
});

test('closing the hub drops connections still waiting for their header', async () => {
  const th = await startHub({ device: { proxyProtocol: { trusted: [`${BALANCER}/32`], headerTimeoutMs: 60_000 } } });
  const socket = netConnect({ host: '127.0.0.1', port: th.devicePort, localAddress: BALANCER });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write('PROXY ');
  socket.resume();
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await th.stop();
  await closed;
});
