import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, type TestHub } from '../helpers/hub.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import type { DeviceCredentials } from '../helpers/pki.js';

// SPEC: Device protocol version 2 (negotiated). A device opts in by offering `fleethub.v2`; one that does not sees version 1.
let th: TestHub;
const devices = new Map<string, DeviceCredentials>();

before(async () => {
  th = await startHub({ limits: { maxDownlinkBytes: 2048 }, plans: { small: { maxDownlinkBytes: 1024 } } });
  for (const [id, plan] of [['v2-a'], ['v2-b'], ['v2-small', 'small'], ['v1-a'], ['v1-arduino']] as const) {
    devices.set(id, await th.pki.addDevice(id, plan === undefined ? {} : { plan }));
  }
  await th.hub.checkRevocation();
});
after(async () => {
  await th.stop();
});

async function connect(id: string, protocol?: string | string[]): Promise<DeviceClient> {
  const c = devices.get(id)!;
  return connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: c.cert, key: c.key, ...(protocol === undefined ? {} : { protocol }) });
}

test('a device offering fleethub.v2 gets it, a v2 hello with features and maxDownlinkBytes, and telemetry as before', async () => {
  const client = await connect('v2-a', 'fleethub.v2');
  try {
    assert.equal(client.ws.protocol, 'fleethub.v2');
    const hello = await client.hello();
    assert.equal(hello.protocol, 2);
    assert.ok(Array.isArray(hello.features));
    assert.deepEqual(hello.limits, { maxPayloadBytes: 16384, msgsPerSec: 10, burst: 50, msgsPerDay: 200000, maxFields: 32, maxDownlinkBytes: 2048 });
    client.send({ seq: 1, data: { temp: 20 } });
    client.send({ batch: [{ seq: 2, data: { temp: 21 } }] });
    await client.waitForAck(2);
    assert.equal(th.hub.store.lastSeq('v2-a'), 2);
  } finally {
    await client.close();
  }
});

test('offered with arduino, fleethub.v2 is selected; a plan sets maxDownlinkBytes', async () => {
  const client = await connect('v2-small', ['arduino', 'fleethub.v2']);
  try {
    assert.equal(client.ws.protocol, 'fleethub.v2');
    const hello = await client.hello();
    assert.equal(hello.protocol, 2);
    assert.equal(hello.limits.maxDownlinkBytes, 1024);
  } finally {
    await client.close();
  }
});

test('a v1 device (no subprotocol, or arduino) sees exactly the version 1 hello and no v2 message is understood', async () => {
  for (const [id, protocol] of [['v1-a', undefined], ['v1-arduino', 'arduino']] as const) {
    const client = await connect(id, protocol);
    try {
      assert.equal(client.ws.protocol, protocol ?? '');
      const hello = await client.hello();
      assert.deepEqual(hello, { device: id, lastSeq: null, limits: { maxPayloadBytes: 16384, msgsPerSec: 10, burst: 50, msgsPerDay: 200000, maxFields: 32 } });
      client.send({ configAck: { version: 1, ok: true } });
      client.send({ cmdResult: { id: 'x', ok: true } });
      await client.waitForCount((m) => m.nack === null && m.error === 'invalid_message', 2);
      client.send({ seq: 1, data: { v: 1 } });
      await client.waitForAck(1);
    } finally {
      await client.close();
    }
  }
});

test('v2: a control key next to telemetry keys, or a control message nobody offers, is invalid_message', async () => {
  const client = await connect('v2-b', 'fleethub.v2');
  try {
    await client.hello();
    client.send({ seq: 1, data: { v: 1 }, configAck: { version: 1, ok: true } });
    await client.waitFor((m) => m.nack === 1 && m.error === 'invalid_message');
    client.send({ renew: {} });
    await client.waitFor((m) => m.nack === null && m.error === 'invalid_message');
    client.send({ seq: 2, data: { v: 1 } });
    await client.waitForAck(2);
  } finally {
    await client.close();
  }
});
