/**
 * The C device client (firmware/) against a real hub on 127.0.0.1: the Linux
 * example built with gcc and the system's mbedTLS 2.28, connecting by name
 * (`localhost`, the server certificate's DNS SAN) over TLS 1.2 with its
 * client certificate.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

/** The hub's URL by name: mbedTLS checks the server certificate's DNS SAN, as on an ESP32. */
function byName(hub: TestHub): string {
  return `wss://localhost:${hub.devicePort}/v1/device`;
}

test('streams N readings over TLS 1.2 by name: all acked, each stored once, exit 0', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-stream'));
  t.after(() => files.cleanup());
  const device = startDevice(byName(hub), files, ['--count', '25', '--interval-ms', '5']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  const events = device.lines().filter((l) => !l.startsWith('reading '));
  assert.deepEqual(events.slice(0, 2), ['connected', 'hello lastSeq=null'], device.output());
  assert.equal(device.lines().filter((l) => l.startsWith('reading ')).length, 25);
  assert.equal(highestAck(device.lines()), 25);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-stream'), 25);
  assert.equal(hub.hub.store.lastSeq('fw-stream'), 25);
});

test('the device killed with SIGKILL and restarted with its state: it resumes, nothing lost, nothing stored twice', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-reboot'));
  t.after(() => files.cleanup());
  // No interval: readings are taken faster than acks come back, so the outbox
  // holds readings never sent when the process dies.
  const first = startDevice(byName(hub), files, ['--count', '100000', '--interval-ms', '0']);
  t.after(() => reapDevice(first));
  await waitUntil(() => highestAck(first.lines()) >= 40, 'the first run got 40 readings acked', 60_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const ackedBefore = highestAck(first.lines());
  const takenBefore = first.lines().filter((l) => l.startsWith('reading ')).length;

  const second = startDevice(byName(hub), files, ['--count', '20', '--interval-ms', '5']);
  t.after(() => reapDevice(second));
  assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());
  assert.match(second.lines()[0] ?? '', /^resuming \d+ unacked readings$/);
  const hello = second.lines().find((l) => l.startsWith('hello '));
  const lastSeq = Number(/lastSeq=(\d+)/.exec(hello ?? '')?.[1]);
  assert.ok(lastSeq >= ackedBefore, `hello lastSeq=${lastSeq} covers what was acked (${ackedBefore})`);
  // Every reading either run took is stored once: the first run's unacked ones
  // from its saved outbox, then the second run's 20 after them. (A reading
  // saved in the instant between its save and its printed line makes one more.)
  const stored = assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-reboot'), takenBefore + 20);
  assert.ok(stored <= takenBefore + 21, `stored ${stored}, taken ${takenBefore} + 20`);
});

test('revoked while connected: close 4001, exit non-zero, no reconnect', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-revoked'));
  t.after(() => files.cleanup());
  const device = startDevice(byName(hub), files, ['--count', '100000', '--interval-ms', '50', '--backoff-max-ms', '200']);
  t.after(() => reapDevice(device));
  await device.waitForLine(/^ack \d+$/);
  await hub.pki.revoke('fw-revoked');
  const exit = await device.exited;
  assert.equal(exit.code, 3, device.output());
  const lines = device.lines();
  assert.deepEqual(lines.filter((l) => l.startsWith('close ')), ['close 4001']);
  assert.deepEqual(lines.filter((l) => l.startsWith('hello ')).length, 1, 'one connection only');
  assert.ok(!lines.some((l) => l.startsWith('retry ')), 'no reconnect scheduled after 4001');
  // The last event (the example then prints what its storage cost, as on every exit).
  assert.equal(lines.filter((l) => !l.startsWith('storage ')).at(-1), 'stopped 4001');
});

test('rate limited: waits retryAfterMs after a nack, never earns 4029, and every reading is acked', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 4, burst: 2 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-limited'));
  t.after(() => files.cleanup());
  const device = startDevice(byName(hub), files, ['--count', '16', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  const lines = device.lines();
  const nacks = lines.filter((l) => /^nack \d+ rate_limited retryAfterMs=[1-9]\d*$/.test(l));
  assert.ok(nacks.length > 0, `the hub refused some readings:\n${lines.join('\n')}`);
  // The hub closes with 4029 after 20 refusals in a row: a client that kept sending would get there.
  assert.ok(!lines.some((l) => l.startsWith('close ')), `no close at all:\n${lines.join('\n')}`);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-limited'), 16);
});
