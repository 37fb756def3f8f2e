/**
 * A device that does not read its socket cannot grow the hub's memory
 * (issue: defect 3): past `device.maxUnreadReplyBytes` of unread replies the
 * hub stops reading from it, and refusals of any kind count towards a close
 * however many valid messages lie between them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { clientFrame, RawDevice, upgradeHead } from '../helpers/raw-device.js';
import { connectDevice } from '../helpers/device-client.js';

async function rawDevice(th: TestHub, id: string): Promise<RawDevice> {
  const creds = await th.pki.addDevice(id);
  const device = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  device.socket.write(upgradeHead());
  assert.equal(await device.responseStatus(), 101);
  return device;
}

/** `groups` times: four invalid frames (each nacked), then a valid reading (acked): a valid message between them resets the in-a-row counts. */
function interleaved(firstSeq: number, groups: number): Buffer {
  const invalid = clientFrame('x');
  const frames: Buffer[] = [];
  for (let i = 0; i < groups; i += 1) frames.push(invalid, invalid, invalid, invalid, clientFrame(`{"seq":${firstSeq + i},"data":{"a":${i}}}`));
  return Buffer.concat(frames);
}

/** A batch frame of 100 items that are not objects: 212 bytes that make the hub send 100 nacks (4,000 bytes). */
const NACK_BATCH = clientFrame(`{"batch":[${Array(100).fill('1').join(',')}]}`);
/** Each nack in a frame of its own: two bytes of header (RFC 6455 §5.2, unmasked, under 126 bytes). */
const NACK_BATCH_REPLY_BYTES = 100 * (2 + '{"nack":null,"error":"invalid_message"}'.length);

/** What the kernel can hold of the hub's replies to a client that never reads: the hub's send buffer at most, and the client's receive buffer. */
function kernelReplyCapacity(): number {
  try {
    const wmemMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
    const rmemDefault = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[1]);
    if (Number.isFinite(wmemMax) && Number.isFinite(rmemDefault)) return wmemMax + 2 * rmemDefault;
  } catch {
    // Not Linux: the Linux defaults.
  }
  return 4 * 1024 * 1024 + 256 * 1024;
}

const LIMIT = 4096;
/** Replies to the frames already read when reading stops: one TLS record (16 KiB) of those batch frames (one more straddling its end), and acks. */
const SLACK = (Math.ceil(16_384 / NACK_BATCH.length) + 1) * NACK_BATCH_REPLY_BYTES + 4096;

test('a device that never reads: the hub stops reading from it at maxUnreadReplyBytes, and goes on once it reads', async () => {
  const th = await startHub({
    device: { maxUnreadReplyBytes: LIMIT, maxRefusalsPerMinute: 1_000_000, maxInvalidInRow: 10_000 },
    limits: { msgsPerSec: 100_000, burst: 100_000 },
  });
  const device = await rawDevice(th, 'unread-1');
  try {
    // Enough to provoke twice what the kernel can hold, a valid reading after every ten batch frames.
    const batches = Math.ceil((2 * kernelReplyCapacity()) / NACK_BATCH_REPLY_BYTES);
    const frames: Buffer[] = [];
    let last = 0;
    for (let i = 0; i < batches; i += 1) {
      frames.push(NACK_BATCH);
      if (i % 10 === 9) frames.push(clientFrame(`{"seq":${++last},"data":{"a":${i}}}`));
    }
    device.socket.write(Buffer.concat(frames));
    const unread = (): number => metricValue(th.hub, 'fleethub_device_unread_reply_bytes');
    // The hub also stops for a moment when replies pile up faster than they leave; this waits for it to stay
    // stopped: paused, with the same readings stored, on three probes in a row (the event loop ran between them).
    let sameFor = 0;
    let seen = -1;
    await waitUntil(() => {
      const stored = th.hub.store.lastSeq('unread-1') ?? 0;
      const stuck = metricValue(th.hub, 'fleethub_device_reads_paused') === 1 && unread() > LIMIT && stored === seen;
      seen = stored;
      sameFor = stuck ? sameFor + 1 : 0;
      return sameFor >= 3;
    }, 'the hub stops reading from the device', 60_000);
    const held = unread();
    assert.ok(held <= LIMIT + SLACK, `the hub holds ${held} bytes of unread replies (limit ${LIMIT} + ${SLACK})`);
    assert.ok(seen < last, 'the hub stopped before it had read everything');
    assert.deepEqual(th.hub.onlineDevices(), ['unread-1'], 'paused, not closed');
    // The device reads at last: the hub reads again, and every valid reading is acked.
    await device.read(() => device.messages.includes(`{"ack":${last}}`), 60_000);
    assert.equal(th.hub.store.lastSeq('unread-1'), last);
    assert.equal(metricValue(th.hub, 'fleethub_device_reads_paused'), 0);
    assert.ok(metricValue(th.hub, 'fleethub_device_reads_paused_total') >= 1);
  } finally {
    device.destroy();
    await th.stop();
  }
});

test('refusals count towards a close whatever valid messages lie between them (1008 when any was invalid)', async () => {
  const th = await startHub({ device: { maxRefusalsPerMinute: 40 }, limits: { msgsPerSec: 100_000, burst: 100_000 } });
  const device = await rawDevice(th, 'unread-mixed');
  try {
    // 4 invalid, 1 valid, 20 times: never 10 invalid in a row, 80 refusals in all.
    device.socket.write(interleaved(1, 20));
    await device.read(() => device.closeCode !== null);
    assert.equal(device.closeCode, 1008);
    assert.equal(device.messages.filter((m) => m.includes('"invalid_json"')).length, 41, 'closed at the 41st refusal');
    await waitUntil(() => th.hub.onlineDevices().length === 0, 'the device is gone');
    assert.equal(metricValue(th.hub, 'fleethub_device_closes_total{code="1008"}'), 1);
  } finally {
    device.destroy();
    await th.stop();
  }
});

test('rate-limited and over-quota refusals alone count too, and close with 4029', async () => {
  const th = await startHub({ device: { maxRefusalsPerMinute: 5, maxRefusedInRow: 100 }, limits: { msgsPerDay: 2 } });
  const creds = await th.pki.addDevice('unread-quota');
  const client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  await client.hello();
  client.sendSeqs([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(await client.waitForClose(), 4029);
  assert.equal(client.messages.filter((m) => m.error === 'quota_exceeded').length, 6);
  assert.ok(client.messages.some((m) => m.ack === 2), 'what was stored is acked before the close');
  await th.stop();
});
