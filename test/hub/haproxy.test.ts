import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { connectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { makeTestPki } from '../helpers/pki.js';
import { createMemoryLogger } from '../../src/log.js';

/** The device's own address: HAProxy connects to the hubs from 127.0.0.1, the only trusted address. */
const DEVICE_ADDRESS = '127.0.0.3';

test('behind HAProxy (deploy/haproxy/haproxy.cfg): hubs see the device\'s address, and when its hub stops it reconnects to the other and resumes its TLS session', async () => {
  const pki = await makeTestPki();
  const logs = [createMemoryLogger(), createMemoryLogger()] as const;
  const device = { proxyProtocol: { trusted: ['127.0.0.1/32'] } };
  const hubs: TestHub[] = [];
  let haproxy: Awaited<ReturnType<typeof startHaproxy>> | undefined;
  try {
    for (const log of logs) hubs.push(await startHub({ device, log }, pki));
    haproxy = await startHaproxy(hubs);
    const creds = await pki.addDevice('lb-dev');
    const options: DeviceClientOptions = {
      url: haproxy.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, localAddress: DEVICE_ADDRESS,
      // As an ESP32 connects.
      maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    };
    const first = await connectDevice(options);
    assert.equal((await first.hello()).device, 'lb-dev');
    first.sendSeqs([1]);
    await first.waitForAck(1);
    const on = hubs.findIndex((h) => h.hub.onlineDevices().includes('lb-dev'));
    assert.notEqual(on, -1, 'the device is on one of the hubs');
    const other = 1 - on;
    const connectLine = `device.connect id=lb-dev ip=${DEVICE_ADDRESS} `;
    assert.ok(logs[on]!.lines.some((l) => l.includes(connectLine)), `the hub logs the device's address, not HAProxy's:\n${logs[on]!.lines.join('\n')}`);
    await waitUntil(() => first.session !== undefined, 'the hub gave a TLS session');
    const session = first.session!;

    await hubs[on]!.stop();
    assert.equal(await first.waitForClose(), 1001);
    // The device reconnects to the same address (HAProxy); HAProxy retries a refused hub on another.
    const second = await connectDevice({ ...options, session, timeoutMs: 20_000 });
    assert.equal((await second.hello()).device, 'lb-dev');
    assert.deepEqual(hubs[other]!.hub.onlineDevices(), ['lb-dev']);
    assert.ok(logs[other]!.lines.some((l) => l.includes(connectLine)), logs[other]!.lines.join('\n'));
    assert.equal(second.socket.isSessionReused(), true, 'the other hub resumed the TLS session (one ticket key per PKI folder)');
    second.sendSeqs([1]);
    await second.waitForAck(1);
    await second.close();
  } catch (err) {
    if (haproxy !== undefined && err instanceof Error) err.message += `\nHAProxy log:\n${haproxy.output()}`;
    throw err;
  } finally {
    await haproxy?.stop();
    for (const hub of hubs) await hub.stop();
    await pki.cleanup();
  }
});
