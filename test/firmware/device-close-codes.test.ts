/**
 * The C device client's answers to what the hub says when it will not take
 * readings (SPEC: Device protocol, close codes and nacks), against a real hub
 * on 127.0.0.1: 1013 moves to another endpoint of the fleet, a handshake the
 * hub refuses (a revoked certificate) waits at least `refused_min_ms`, a
 * `quota_exceeded` nack pauses for `quota_wait_ms` instead of resending, and
 * 4029 waits at least `rate_limited_min_ms`.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { makeTestPki } from '../helpers/pki.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

/** fh_client.h FH_DEFAULT_REFUSED_MIN_MS, FH_DEFAULT_QUOTA_WAIT_MS, FH_DEFAULT_RATE_LIMITED_MIN_MS. */
const REFUSED_MIN_MS = 300_000;
const QUOTA_WAIT_MS = 600_000;
const RATE_LIMITED_MIN_MS = 30_000;

before(() => makeFirmware());

function byName(hub: TestHub): string {
  return `wss://localhost:${hub.devicePort}/v1/device`;
}

/** The `retry in M ms` values printed so far. */
function retries(lines: readonly string[]): number[] {
  return lines.flatMap((l) => {
    const match = /^retry in (\d+) ms$/.exec(l);
    return match ? [Number(match[1])] : [];
  });
}

test('1013 (a hub that lost its cluster): the device moves to the next --url and streams there', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-1013'));
  t.after(() => files.cleanup());
  // A hub of the same fleet (same server certificate) that has lost its cluster: it closes every device with 1013.
  const server = createServer({ cert: hub.pki.server.cert, key: hub.pki.server.key, ca: hub.pki.ca, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({ server, path: '/v1/device' });
  let lostHubConnections = 0;
  wss.on('connection', (ws) => {
    lostHubConnections += 1;
    ws.close(1013, 'cluster unavailable');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const lostUrl = `wss://localhost:${(server.address() as { port: number }).port}/v1/device`;

  const device = startDevice(lostUrl, files, ['--url', byName(hub), '--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  const lines = device.lines();
  assert.deepEqual(lines.filter((l) => l.startsWith('close ')), ['close 1013'], device.output());
  assert.equal(lostHubConnections, 1, 'after 1013 the device went to the other endpoint, not back');
  assert.equal(highestAck(lines), 5);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-1013'), 5);
});

test('revoked before it starts: the hub refuses the handshake twice, then the device waits at least 5 minutes, not a backoff draw', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  const files = await deviceFiles(pki.ca, await pki.addDevice('fw-refused'));
  t.after(() => files.cleanup());
  await pki.revoke('fw-refused');
  const hub = await startHub({}, pki);
  t.after(() => hub.stop());
  const device = startDevice(byName(hub), files, ['--count', '1', '--interval-ms', '0', '--backoff-max-ms', '200']);
  t.after(() => reapDevice(device));
  await waitUntil(() => retries(device.lines()).length >= 2, 'two retries scheduled', 60_000);
  const lines = device.lines();
  // The hub verified itself, then ended the handshake once it had the revoked certificate.
  assert.equal(lines.filter((l) => /^connect_failed -0x[0-9a-f]+ refused$/.test(l)).length, 2, device.output());
  assert.ok(!lines.includes('connected'), device.output());
  const [first, second] = retries(lines);
  assert.ok(first !== undefined && first <= 200, `the first refusal is a backoff draw (a hub may die mid-handshake), got ${first}`);
  assert.ok(second !== undefined && second >= REFUSED_MIN_MS, `a second refusal waits at least ${REFUSED_MIN_MS} ms, got ${second}`);
});

test('quota_exceeded (no retryAfterMs): the device pauses for the quota wait instead of resending', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000, msgsPerDay: 3 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-quota'));
  t.after(() => files.cleanup());
  const device = startDevice(byName(hub), files, ['--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  await waitUntil(() => highestAck(device.lines()) >= 3, 'readings 1-3 acked', 60_000);
  const pause = await device.waitForLine(/^pause \d+ ms$/);
  assert.ok(Number(/\d+/.exec(pause)?.[0]) >= QUOTA_WAIT_MS, `${pause}: the quota wait, not the 500 ms base backoff`);
  assert.ok(device.lines().some((l) => /^nack [45] quota_exceeded retryAfterMs=0$/.test(l)), device.output());
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-quota'), 3);
});

test('4029 (kept sending while refused): the device waits at least 30 s before it connects again', async (t) => {
  // One refusal closes with 4029: the device's first window meets an empty bucket.
  const hub = await startHub({ limits: { msgsPerSec: 1, burst: 1 }, device: { maxRefusedInRow: 1 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-4029'));
  t.after(() => files.cleanup());
  const device = startDevice(byName(hub), files, ['--count', '8', '--interval-ms', '0', '--backoff-max-ms', '200']);
  t.after(() => reapDevice(device));
  await device.waitForLine(/^close 4029$/);
  await device.waitForLine(/^retry in \d+ ms$/);
  const [wait] = retries(device.lines());
  assert.ok(wait !== undefined && wait >= RATE_LIMITED_MIN_MS, `4029 waits at least ${RATE_LIMITED_MIN_MS} ms, got ${wait}`);
});
