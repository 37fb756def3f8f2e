/**
 * A key and certificate request made by the C library on the device
 * (fh_make_key_and_csr: mbedtls_pk, mbedtls_x509write_csr), signed by the
 * real CLI (`fleethub device add <id> --csr`, SPEC: no private key is
 * written anywhere), and the device streaming to a real hub with its own key.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startHub } from '../helpers/hub.js';
import { DEVICE_BINARY, deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

test('a key and CSR made on the device, signed by `device add --csr`: the device streams with its own key', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-fw-csr-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const keyPath = join(work, 'device.key');
  const csrPath = join(work, 'device.csr');
  const made = spawnSync(DEVICE_BINARY, ['--new-key', keyPath, '--csr', csrPath, '--id', 'fw-own-key'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  assert.equal((await stat(keyPath)).mode & 0o777, 0o600, 'the key is written 0600');
  // Made once: a second run never replaces the key.
  const again = spawnSync(DEVICE_BINARY, ['--new-key', keyPath, '--csr', join(work, 'other.csr'), '--id', 'fw-own-key'], { encoding: 'utf8' });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /must not exist yet/);

  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const signed = await runCli(['device', 'add', 'fw-own-key', '--csr', csrPath, '--pki', hub.pki.dir]);
  assert.equal(signed.code, 0, signed.stderr);
  assert.ok(!existsSync(join(hub.pki.dir, 'devices', 'fw-own-key.key')), 'no private key written by the CLI');
  const cert = await readFile(join(hub.pki.dir, 'devices', 'fw-own-key.crt'), 'utf8');

  const files = await deviceFiles(hub.pki.ca, { id: 'fw-own-key', cert, key: await readFile(keyPath, 'utf8') });
  t.after(() => files.cleanup());
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--count', '5', '--interval-ms', '0']);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.equal(highestAck(device.lines()), 5);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-own-key'), 5);
});

test('a device id the hub would refuse makes no key and no request', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-fw-csr-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  for (const id of ['-leading-dash', 'has space', 'x'.repeat(65), 'a,CN=admin']) {
    const run = spawnSync(DEVICE_BINARY, ['--new-key', join(work, 'k.pem'), '--csr', join(work, 'r.pem'), '--id', id], { encoding: 'utf8' });
    assert.equal(run.status, 2, id);
    assert.match(run.stderr, /--id must be 1 to 64 of/);
    assert.ok(!existsSync(join(work, 'k.pem')) && !existsSync(join(work, 'r.pem')), `nothing written for ${JSON.stringify(id)}`);
  }
});
