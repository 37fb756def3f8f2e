/**
 * What is stored, streamed and bridged is exactly what was validated: the
 * object JSON.parse made of the frame, serialised again, never the device's
 * own text (with duplicate keys or escapes it can say something else).
 * String lengths are counted in characters (code points), as SPEC says.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub, type TestHub } from '../helpers/hub.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import type { FeedEvent } from '../../src/hub/live-feed.js';

let th: TestHub;
let client: DeviceClient;
const streamed: FeedEvent[] = [];
let unsubscribe: () => void;

before(async () => {
  th = await startHub();
  const creds = await th.pki.addDevice('val-dev');
  unsubscribe = th.hub.feed.subscribe((event) => streamed.push(event));
  client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  await client.hello();
});
after(async () => {
  unsubscribe();
  await client.close();
  await th.stop();
});

/** Every byte the store wrote under dataDir. */
async function storeBytes(): Promise<string> {
  let text = '';
  for (const entry of await readdir(th.dataDir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) text += (await readFile(join(entry.parentPath, entry.name))).toString('latin1');
  }
  return text;
}

function streamedData(seq: number): unknown {
  for (const event of streamed) if (event.type === 'reading' && event.reading.device === 'val-dev' && event.reading.seq === seq) return event.reading.data;
  return undefined;
}

test('with a key given twice, what is stored and streamed is the value that was validated, never the other one', async () => {
  const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  client.send(`{"seq":4,"data":{"t":${deep},"t":2}}`);
  client.send(`{"seq":5,"data":{"s":"${'x'.repeat(300)}","s":"ok"}}`);
  await client.waitForAck(5);
  assert.deepEqual(th.hub.store.latest('val-dev')?.data, { s: 'ok' });
  const { readings } = await th.hub.store.read(0, 100);
  assert.deepEqual(readings.map((r) => [r.seq, r.data]), [[4, { t: 2 }], [5, { s: 'ok' }]]);
  assert.deepEqual(streamedData(4), { t: 2 });
  assert.deepEqual(streamedData(5), { s: 'ok' });
  const disk = await storeBytes();
  assert.ok(disk.includes('{"t":2}') && disk.includes('{"s":"ok"}'), 'the validated objects are on disk');
  assert.ok(!disk.includes('[[[['), 'the deep array that was never validated is not on disk');
  assert.ok(!disk.includes('x'.repeat(257)), 'the 300-character string that was never validated is not on disk');
});

test('41 fields past the limit of 32 are refused; 41 keys that are 32 fields spelled twice are stored as the 32', async () => {
  const distinct = Array.from({ length: 41 }, (_, i) => `"f${i}":1`).join(',');
  client.send(`{"seq":6,"data":{${distinct}}}`);
  assert.deepEqual(await client.waitFor((m) => m.nack === 6), { nack: 6, error: 'invalid_message' });
  // f0..f8 given again with the name escaped (\u0030 is "0"): JSON.parse makes them the same 32 fields.
  const first = Array.from({ length: 32 }, (_, i) => `"f${i}":1`).join(',');
  const again = Array.from({ length: 9 }, (_, i) => `"f\\u00${(0x30 + i).toString(16)}":2`).join(',');
  client.send(`{"seq":7,"data":{${first},${again}}}`);
  await client.waitForAck(7);
  const expected: Record<string, number> = {};
  for (let i = 0; i < 32; i += 1) expected[`f${i}`] = i < 9 ? 2 : 1;
  assert.deepEqual(th.hub.store.latest('val-dev')?.data, expected);
  assert.equal(th.hub.store.lastSeq('val-dev'), 7, 'seq 6 was not stored');
  const disk = await storeBytes();
  assert.ok(!disk.includes('\\u00'), 'the device\'s escaped spelling is not what is stored');
  assert.ok(!disk.includes('"f40"'), 'the refused reading is not on disk');
});

test('a string of 256 characters outside the BMP is valid, 257 are not (code points, not UTF-16 units)', async () => {
  client.send({ seq: 8, data: { e: '😀'.repeat(256) } });
  client.send({ seq: 9, data: { e: '😀'.repeat(257) } });
  client.send({ seq: 10, data: { e: `${'😀'.repeat(254)}ab` } });
  assert.deepEqual(await client.waitFor((m) => m.nack === 9), { nack: 9, error: 'invalid_message' });
  assert.ok(!client.messages.some((m) => m.nack === 8 || m.nack === 10), '256 characters are not refused');
  await client.waitForAck(10);
  const { readings } = await th.hub.store.read(0, 100);
  assert.deepEqual(readings.filter((r) => r.seq >= 8).map((r) => r.seq), [8, 10]);
  assert.equal((readings.find((r) => r.seq === 8)?.data.e as string).length, 512, 'stored whole');
});
