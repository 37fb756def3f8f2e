import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, type TestHub } from '../helpers/hub.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import type { DeviceCredentials } from '../helpers/pki.js';

// One hub; plans give devices different limits (SPEC: plans are named overrides of limits).
let th: TestHub;
const devices = new Map<string, DeviceCredentials>();

before(async () => {
  th = await startHub({
    limits: { maxFields: 4 },
    device: { maxRefusedInRow: 5 },
    plans: {
      slow: { msgsPerSec: 1, burst: 2 },
      quota: { msgsPerDay: 3 },
      small: { maxPayloadBytes: 512 },
    },
  });
  for (const [id, plan] of [['proto-1'], ['proto-dup'], ['proto-stale'], ['proto-bad'], ['proto-invalid'], ['proto-slow', 'slow'], ['proto-flood', 'slow'], ['proto-quota', 'quota'], ['proto-small', 'small'], ['proto-arduino']] as const) {
    devices.set(id, await th.pki.addDevice(id, plan === undefined ? {} : { plan }));
  }
  await th.hub.checkRevocation(); // the listener re-reads the inventory (plans) now
});
after(async () => {
  await th.stop();
});

async function connect(id: string, extra: { protocol?: string; origin?: string } = {}): Promise<DeviceClient> {
  const c = devices.get(id)!;
  return connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: c.cert, key: c.key, ...extra });
}

test('hello, then telemetry and batches acked once stored', async () => {
  const client = await connect('proto-1');
  try {
    const hello = await client.hello();
    assert.deepEqual(hello, { device: 'proto-1', lastSeq: null, limits: { maxPayloadBytes: 16384, msgsPerSec: 10, burst: 50, msgsPerDay: 200000, maxFields: 4 } });
    client.send({ seq: 1, data: { temp: 21.5 } });
    client.send({ batch: [{ seq: 2, data: { temp: 21.6 } }, { seq: 3, ts: Date.now() - 1000, data: { temp: 21.7, ok: true, mode: 'eco' } }] });
    await client.waitForAck(3);
    assert.equal(th.hub.store.lastSeq('proto-1'), 3);
    assert.deepEqual(th.hub.store.latest('proto-1')?.data, { temp: 21.7, ok: true, mode: 'eco' });
  } finally {
    await client.close();
  }
});

test('repeats are acked again and not stored twice; hello.lastSeq tells where to go on', async () => {
  let client = await connect('proto-dup');
  try {
    client.sendSeqs([1, 2, 3]);
    await client.waitForAck(3);
    client.sendSeqs([2, 3]);
    await client.waitFor((m) => m.ack === 3 && client.messages.filter((x) => x.ack !== undefined).length >= 2);
  } finally {
    await client.close();
  }
  client = await connect('proto-dup');
  try {
    assert.equal((await client.hello()).lastSeq, 3);
    client.sendSeqs([1, 4]);
    await client.waitForAck(4);
    const { readings } = await th.hub.store.read(0, 1000);
    assert.deepEqual(readings.filter((r) => r.device === 'proto-dup').map((r) => r.seq), [1, 2, 3, 4]);
  } finally {
    await client.close();
  }
});

test('a seq below the dedupe window is nacked invalid_message, never acked and dropped', async () => {
  const client = await connect('proto-stale');
  try {
    await client.hello();
    client.sendSeqs([5_000_000]);
    await client.waitForAck(5_000_000);
    client.sendSeqs([2, 3, 5_000_001]); // never sent before, but below the window: the hub cannot tell them from repeats
    await client.waitForAck(5_000_001);
    const nacks = await client.waitForCount((m) => m.nack !== undefined, 2);
    assert.deepEqual(nacks.map((m) => [m.nack, m.error]), [[2, 'invalid_message'], [3, 'invalid_message']]);
    assert.ok(client.messages.every((m) => m.ack === undefined || m.ack === 5_000_000 || m.ack === 5_000_001), 'no ack that stands for 2 or 3 alone');
    const { readings } = await th.hub.store.read(0, 1000);
    assert.deepEqual(readings.filter((r) => r.device === 'proto-stale').map((r) => r.seq), [5_000_000, 5_000_001]);
  } finally {
    await client.close();
  }
});

test('invalid JSON and invalid messages are nacked with the right seq; valid ones in a batch still acked', async () => {
  const client = await connect('proto-bad');
  try {
    client.send('not json');
    client.send({ seq: 5, data: { 'bad-name': 1 } });
    client.send({ seq: 6, data: { a: 1, b: 2, c: 3, d: 4, e: 5 } }); // over maxFields (4)
    client.send({ batch: [{ seq: 7, data: { a: 1 } }, { seq: 8, data: { a: 'x'.repeat(257) } }] });
    await client.waitForAck(7);
    const nacks = await client.waitForCount((m) => m.nack !== undefined, 4);
    assert.deepEqual(nacks, [
      { nack: null, error: 'invalid_json' },
      { nack: 5, error: 'invalid_message' },
      { nack: 6, error: 'invalid_message' },
      { nack: 8, error: 'invalid_message' },
    ]);
    assert.equal(client.messages.find((m) => m.ack !== undefined)?.ack, 7);
    assert.equal(th.hub.store.lastSeq('proto-bad'), 7);
  } finally {
    await client.close();
  }
});

test('ten invalid messages in a row close with 1008', async () => {
  const client = await connect('proto-invalid');
  await client.hello();
  for (let i = 0; i < 9; i += 1) client.send('{"seq":');
  client.send({ seq: 1, data: { a: 1 } }); // a valid one resets the count
  for (let i = 0; i < 10; i += 1) client.send('garbage');
  assert.equal(await client.waitForClose(), 1008);
  assert.equal(client.messages.filter((m) => m.error === 'invalid_json').length, 19);
  assert.ok(client.messages.some((m) => m.ack === 1), 'the valid message is acked before the close');
});

test('over msgsPerSec + burst: nack rate_limited with retryAfterMs', async () => {
  const client = await connect('proto-slow');
  try {
    assert.deepEqual((await client.hello()).limits.burst, 2);
    client.sendSeqs([1, 2, 3]);
    const nack = await client.waitFor((m) => m.nack !== undefined);
    assert.equal(nack.nack, 3);
    assert.equal(nack.error, 'rate_limited');
    assert.ok(typeof nack.retryAfterMs === 'number' && nack.retryAfterMs > 0 && nack.retryAfterMs <= 1000);
    await client.waitForAck(2);
    assert.ok(client.messages.every((m) => m.ack === undefined || m.ack <= 2), 'the nacked seq is not acked');
    await new Promise((r) => setTimeout(r, nack.retryAfterMs! + 50));
    client.sendSeqs([3]);
    await client.waitForAck(3);
  } finally {
    await client.close();
  }
});

test('sending on while rate-limited closes with 4029, after acking what was stored', async () => {
  const client = await connect('proto-flood');
  await client.hello();
  client.sendSeqs(Array.from({ length: 12 }, (_, i) => i + 1));
  assert.equal(await client.waitForClose(), 4029);
  assert.equal(client.messages.filter((m) => m.error === 'rate_limited').length, 5);
  // burst 2: seqs 1 and 2 were stored; the device learns it before the close, so it never resends them.
  assert.equal(Math.max(...client.messages.map((m) => m.ack ?? 0)), 2);
});

test('over msgsPerDay: nack quota_exceeded, and the count survives a reconnect', async () => {
  let client = await connect('proto-quota');
  try {
    client.send({ batch: [1, 2, 3, 4].map((seq) => ({ seq, data: { a: seq } })) });
    const nack = await client.waitFor((m) => m.nack !== undefined);
    assert.deepEqual(nack, { nack: 4, error: 'quota_exceeded' });
    await client.waitForAck(3);
  } finally {
    await client.close();
  }
  client = await connect('proto-quota');
  try {
    client.sendSeqs([5]);
    assert.deepEqual(await client.waitFor((m) => m.nack !== undefined), { nack: 5, error: 'quota_exceeded' });
  } finally {
    await client.close();
  }
});

test('a frame over maxPayloadBytes closes with 1009', async () => {
  const client = await connect('proto-small');
  assert.equal((await client.hello()).limits.maxPayloadBytes, 512);
  client.send({ seq: 1, data: { a: 'x'.repeat(200) } });
  await client.waitForAck(1);
  client.send({ seq: 2, data: { a: 'x'.repeat(256), b: 'y'.repeat(256) } });
  assert.equal(await client.waitForClose(), 1009);
});

test('the Arduino subprotocol and Origin: file:// are accepted', async () => {
  const client = await connect('proto-arduino', { protocol: 'arduino', origin: 'file://' });
  try {
    assert.equal(client.ws.protocol, 'arduino');
    assert.equal((await client.hello()).device, 'proto-arduino');
    client.sendSeqs([1]);
    await client.waitForAck(1);
  } finally {
    await client.close();
  }
});

test('messages committed together are acked together: one cumulative ack per group commit, not one per message', async () => {
  // A long commit interval: after the first message (committed at once), the other 19 share one commit.
  const own = await startHub({ store: { commitIntervalMs: 300 } });
  try {
    const c = await own.pki.addDevice('proto-coalesce');
    const client = await connectDevice({ url: own.deviceUrl, ca: own.pki.ca, cert: c.cert, key: c.key });
    try {
      await client.hello();
      client.sendSeqs(Array.from({ length: 20 }, (_, i) => i + 1));
      await client.waitForAck(20);
      const acks = client.messages.flatMap((m) => (m.ack === undefined ? [] : [m.ack]));
      assert.ok(acks.length <= 3, `acks ${JSON.stringify(acks)}`);
      assert.equal(acks.at(-1), 20);
      assert.equal(own.hub.store.lastSeq('proto-coalesce'), 20);
    } finally {
      await client.close();
    }
  } finally {
    await own.stop();
  }
});
