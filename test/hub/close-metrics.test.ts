/**
 * What the hub records matches what happened (issue: observability): a
 * client that gives up during its TLS handshake is `aborted`, not `timeout`,
 * and a connection ws closes for a protocol error is counted and logged with
 * the code sent (1002, 1007), not as 1006.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { metricValue, startHub, waitUntil } from '../helpers/hub.js';
import { clientFrame, RawDevice, upgradeHead } from '../helpers/raw-device.js';
import { createMemoryLogger } from '../../src/log.js';

test('a client that closes or resets during its TLS handshake is counted as aborted, not as a timeout', async () => {
  const th = await startHub();
  try {
    // A ClientHello's record header and a few bytes of it, then a clean close; the same, then a reset.
    const partialHello = Buffer.from('160301020001', 'hex');
    for (const end of ['close', 'reset'] as const) {
      const socket = netConnect({ host: '127.0.0.1', port: th.devicePort });
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(partialHello);
      await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 1, 'the hub took the socket');
      if (end === 'close') socket.end();
      else socket.resetAndDestroy();
      await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === 0, `the hub saw the ${end}`);
    }
    await waitUntil(() => metricValue(th.hub, 'fleethub_tls_handshake_failures_total{reason="aborted"}') === 2, 'both are counted as aborted');
    assert.equal(metricValue(th.hub, 'fleethub_tls_handshake_failures_total{reason="timeout"}'), 0);
  } finally {
    await th.stop();
  }
});

test('closes for invalid UTF-8 (1007) and for a protocol error (1002) are recorded with their code', async () => {
  const log = createMemoryLogger();
  const th = await startHub({ log });
  try {
    const creds = await th.pki.addDevice('close-codes');
    const cases: Array<[number, Buffer]> = [
      [1007, clientFrame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
      [1002, clientFrame('{"seq":1,"data":{"t":1}}', { mask: false })],
    ];
    for (const [code, frame] of cases) {
      const device = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: creds.cert, key: creds.key });
      try {
        device.socket.write(upgradeHead());
        assert.equal(await device.responseStatus(), 101);
        device.socket.write(frame);
        await device.read(() => device.closeCode !== null);
        assert.equal(device.closeCode, code, 'the code the hub sent');
        await waitUntil(() => metricValue(th.hub, `fleethub_device_closes_total{code="${code}"}`) === 1, `close ${code} is counted`);
      } finally {
        device.destroy();
      }
    }
    assert.equal(metricValue(th.hub, 'fleethub_device_closes_total{code="1006"}'), 0);
    const codes = log.lines.filter((l) => l.includes(' device.disconnect ')).map((l) => /\bcode=(\d+)/.exec(l)?.[1]);
    assert.deepEqual(codes, ['1007', '1002']);
  } finally {
    await th.stop();
  }
});
