/**
 * The library refuses every bad option with a registered code before
 * touching the disk (the CLI maps the code to its exit code; the
 * cli-errors test covers that path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEVICE_ID_PATTERN, addDevice, addDevices, initCa, isValidDeviceId, issueServerCert, pkiPaths, revokeDevice, writeCrl,
} from '../../src/pki/index.js';

test('device ids (SPEC: 1-64 of A-Z a-z 0-9 . _ -, first a letter or digit)', () => {
  for (const ok of ['a', 'Z9', '0', 'esp32.kitchen_1-b', 'a'.repeat(64)]) assert.ok(isValidDeviceId(ok), ok);
  for (const bad of ['', '.a', '-a', '_a', 'a b', '../x', 'a/b', 'a'.repeat(65), 'é', 'a\n', 'a:b']) assert.equal(isValidDeviceId(bad), false, bad);
  assert.equal(DEVICE_ID_PATTERN.test('a'.repeat(64)), true);
  assert.throws(() => pkiPaths('/x').deviceCert('../ca'), { code: 'FH_ERR_INVALID_ID' });
});

test('bad options are refused before anything is written', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-validation-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const empty = join(work, 'empty');
  const pki = join(work, 'certs');
  const bad = (code: string) => ({ code });
  await assert.rejects(initCa(empty, { days: 0 }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(initCa(empty, { keyType: 'ed25519' as 'ec' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(initCa(empty, { keyType: 'ec', keyBits: 384 }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(initCa(empty, { name: '' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(issueServerCert(empty, { hosts: ['localhost'] }), bad('FH_ERR_CA_MISSING'));
  await assert.rejects(writeCrl(empty), bad('FH_ERR_CA_MISSING'));
  await assert.rejects(revokeDevice(empty, 'x'), bad('FH_ERR_CA_MISSING'));
  await assert.rejects(readdir(empty), { code: 'ENOENT' }); // nothing was created

  await initCa(pki);
  await issueServerCert(pki, { hosts: ['localhost'] });
  await assert.rejects(issueServerCert(pki, { hosts: ['x.example'] }), bad('FH_ERR_FILE_EXISTS'));
  for (const opts of [
    { hosts: [] }, { hosts: ['bad host'] }, { hosts: ['10.0.0.1'] }, { hosts: ['a'], ips: ['300.1.1.1'] },
    { hosts: ['a'], days: 1.5 }, { hosts: ['a'], keyType: 'rsa' as const, keyBits: 1024 },
  ]) {
    await assert.rejects(issueServerCert(pki, { ...opts, force: true }), bad('FH_ERR_INVALID_ARGUMENT'), JSON.stringify(opts));
  }
  await assert.rejects(addDevice(pki, 'x', { plan: '../p' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(addDevice(pki, 'x', { days: 36_501 }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(addDevices(pki, { count: 3, prefix: '-x' }), bad('FH_ERR_INVALID_ID'));
  await assert.rejects(addDevices(pki, { count: 100_001, prefix: 'x' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(addDevices(pki, { count: 1.5, prefix: 'x' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await addDevice(pki, 'dev-1');
  await assert.rejects(revokeDevice(pki, 'dev-1', { reason: 'bored' as 'unspecified' }), bad('FH_ERR_INVALID_ARGUMENT'));
  await assert.rejects(revokeDevice(pki, 'nope'), bad('FH_ERR_DEVICE_UNKNOWN'));
  assert.deepEqual((await readdir(pkiPaths(pki).devicesDir)).sort(), ['dev-1.crt', 'dev-1.key']);
});
