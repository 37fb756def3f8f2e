/**
 * What the C client's outbox costs its storage (on an ESP32: NVS flash
 * wear). Kept by record, a reading costs the write of its own slot when it is
 * kept and again when its ack frees it, not a rewrite of the whole outbox;
 * and the sequence counter lives in the slots, so it survives a restart with
 * an empty outbox. The Linux example counts its storage writes and prints
 * them when it exits.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { startHub } from '../helpers/hub.js';
import { makeTestPki } from '../helpers/pki.js';
import { deviceFiles, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

/** The example's outbox (examples/linux/fleethub-device.c): 64 slots of 256 bytes of data, each after a 24-byte slot header. */
const SLOTS = 64;
const RECORD_BYTES = 24 + 256;
const HEADER_BYTES = 24;

function storageLine(lines: readonly string[]): { writes: number; bytes: number } {
  const line = lines.find((l) => l.startsWith('storage '));
  const match = /^storage writes=(\d+) bytes=(\d+)$/.exec(line ?? '');
  assert.ok(match, `a storage line: ${lines.join('\n')}`);
  return { writes: Number(match[1]), bytes: Number(match[2]) };
}

test('a reading costs a write of its own slot (kept, then freed by its ack), not of the whole outbox', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-wear'));
  t.after(() => files.cleanup());
  const readings = 20;
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--count', String(readings), '--interval-ms', '20']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-wear'), readings);
  const { writes, bytes } = storageLine(device.lines());
  // Kept and freed: two slot writes a reading; a reading kept before the first hello is written once more when numbered.
  assert.ok(writes >= 2 * readings && writes <= 3 * readings + 2, `writes=${writes}`);
  assert.ok(bytes <= 3 * readings * RECORD_BYTES + 2 * HEADER_BYTES, `bytes=${bytes}`);
  assert.ok(bytes < 2 * (HEADER_BYTES + SLOTS * RECORD_BYTES), 'less than two rewrites of the whole outbox for all 20 readings');
  const names = await readdir(files.state);
  assert.ok(names.includes('outbox.0') && names.every((n) => /^outbox\.\d+$/.test(n)), names.join(' '));
});

test('the counter survives a restart with every reading acked: a hub that lost its data gets seqs above the old ones', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-counter'));
  t.after(() => files.cleanup());
  const first = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } }, pki);
  const a = startDevice(`wss://localhost:${first.devicePort}/v1/device`, files, ['--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(a));
  assert.deepEqual(await a.exited, { code: 0, signal: null }, a.output());
  await first.stop();

  // A new hub (another data folder) says lastSeq=null: the device's own counter goes on from 6.
  const second = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } }, pki);
  t.after(() => second.stop());
  const b = startDevice(`wss://localhost:${second.devicePort}/v1/device`, files, ['--count', '3', '--interval-ms', '0']);
  t.after(() => reapDevice(b));
  assert.deepEqual(await b.exited, { code: 0, signal: null }, b.output());
  assert.ok(b.lines().includes('hello lastSeq=null'), b.output());
  assert.deepEqual([...(await storedSeqs(second.hub.store, 'fw-counter')).keys()].sort((x, y) => x - y), [6, 7, 8]);
});
