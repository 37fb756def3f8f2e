/**
 * Provisioning by claim in the C client (SPEC: Provisioning by claim): the
 * Linux example with only the batch's claim certificate, made by the real
 * `fleethub provision batch add`, against a real hub. It makes its key,
 * gets its certificate from /v1/provision, keeps both in --state and streams
 * with them; a second run streams with the kept pair; a device cut off
 * after its key was kept sends the same key again and gets the same
 * certificate; an id the batch does not allow is refused and exits 3.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startHub } from '../helpers/hub.js';
import { runCli } from '../helpers/cli.js';
import { makeTestPki } from '../helpers/pki.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { highestAck, makeFirmware, reapDevice, spawnDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

test('a device with a claim certificate provisions itself, then streams with its own certificate; the pair is kept across runs', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  assert.equal((await runCli(['ca', 'issuing', 'init', '--pki', pki.dir])).code, 0);
  const ids = join(pki.dir, 'ids.txt');
  await writeFile(ids, 'fw-claim-1\nfw-claim-2\n');
  const batch = await runCli(['provision', 'batch', 'add', 'fw-line', '--ids-file', ids, '--pki', pki.dir]);
  assert.equal(batch.code, 0, batch.stderr);
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } }, pki);
  t.after(() => hub.stop());
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-fw-claim-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.crt');
  await writeFile(ca, pki.ca);
  const url = `wss://localhost:${hub.devicePort}/v1/device`;
  const claim = ['--claim-cert', join(pki.dir, 'claims', 'fw-line.crt'), '--claim-key', join(pki.dir, 'claims', 'fw-line.key')];
  const run = (id: string, state: string, count: number) =>
    spawnDevice(['--url', url, '--ca', ca, ...claim, '--id', id, '--state', state, '--count', String(count), '--interval-ms', '0']);

  const state = join(dir, 'state-1');
  const first = run('fw-claim-1', state, 5);
  t.after(() => reapDevice(first));
  assert.deepEqual(await first.exited, { code: 0, signal: null }, first.output());
  const provisioned = first.lines().find((l) => l.startsWith('provisioned serial='));
  assert.ok(provisioned !== undefined, first.output());
  assert.equal(highestAck(first.lines()), 5);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-claim-1'), 5);
  // The device's own pair, in --state: the key never left it (0600), the certificate is the hub's for this id.
  assert.equal((await stat(join(state, 'cred-0.key'))).mode & 0o777, 0o600);
  const cert = new X509Certificate(await readFile(join(state, 'cred-0.crt')));
  assert.match(cert.subject, /CN=fw-claim-1/);
  assert.equal(provisioned, `provisioned serial=${cert.serialNumber} notAfter=${Date.parse(cert.validTo)}`);
  assert.deepEqual((await loadInventory(pki.dir)).provisioned.map((p) => p.id), ['fw-claim-1']);

  // Run again with the same state: no provisioning, the kept certificate streams on from lastSeq.
  const second = run('fw-claim-1', state, 3);
  t.after(() => reapDevice(second));
  assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());
  assert.ok(second.lines().includes('credentials from state'), second.output());
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-claim-1'), 8);

  // Cut off after its key was kept and before the certificate was: the same key again gets the same certificate.
  const cut = join(dir, 'state-2');
  const ok = run('fw-claim-2', cut, 1);
  t.after(() => reapDevice(ok));
  assert.deepEqual(await ok.exited, { code: 0, signal: null }, ok.output());
  const issued = ok.lines().find((l) => l.startsWith('provisioned '));
  await unlink(join(cut, 'cred-0.crt'));
  await writeFile(join(cut, 'cred.state'), Buffer.from([0x04])); // pending slot 0, no current pair
  const again = run('fw-claim-2', cut, 1);
  t.after(() => reapDevice(again));
  assert.deepEqual(await again.exited, { code: 0, signal: null }, again.output());
  assert.equal(again.lines().find((l) => l.startsWith('provisioned ')), issued, 'an identical repeat: the same certificate');
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-claim-2'), 2);
});

test('an id the batch does not allow: provisionError not_allowed, exit 3, nothing kept but the key', async (t) => {
  const pki = await makeTestPki();
  t.after(() => pki.cleanup());
  assert.equal((await runCli(['ca', 'issuing', 'init', '--pki', pki.dir])).code, 0);
  const ids = join(pki.dir, 'ids.txt');
  await writeFile(ids, 'fw-allowed\n');
  assert.equal((await runCli(['provision', 'batch', 'add', 'fw-line', '--ids-file', ids, '--pki', pki.dir])).code, 0);
  const hub = await startHub({}, pki);
  t.after(() => hub.stop());
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-fw-claim-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.crt');
  await writeFile(ca, pki.ca);
  const device = spawnDevice([
    '--url', `wss://localhost:${hub.devicePort}/v1/device`, '--ca', ca,
    '--claim-cert', join(pki.dir, 'claims', 'fw-line.crt'), '--claim-key', join(pki.dir, 'claims', 'fw-line.key'),
    '--id', 'fw-stranger', '--state', join(dir, 'state'), '--count', '1',
  ]);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 3, signal: null }, device.output());
  assert.ok(device.lines().includes('provision_error not_allowed retryAfterMs=0'), device.output());
  await assert.rejects(stat(join(dir, 'state', 'cred-0.crt')));
  assert.equal((await loadInventory(pki.dir)).provisioned.length, 0);
});
