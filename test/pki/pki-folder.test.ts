/**
 * The PKI folder on disk: file modes, the inventory, batches, replacing a
 * device, the development PKI, concurrent commands, and crash safety (a
 * batch killed mid-way leaves the old inventory and only complete files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnCli } from '../helpers/cli.js';
import {
  addDevice, addDevices, ensureDevelopmentPki, initCa, issueServerCert, parseCrl, pkiPaths, readInventory, revokedSerials,
  revokeDevice,
} from '../../src/pki/index.js';
import { batchIds } from '../../src/pki/batch-issue.js';
import { statusOf, type StoredDevice } from '../../src/pki/inventory.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-folder-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

test('modes: keys 0600, folders 0700, certificates 0644', async (t) => {
  const pki = join(await tempDir(t), 'a', 'certs');
  const paths = pkiPaths(pki);
  await initCa(pki);
  await issueServerCert(pki, { hosts: ['localhost'] });
  await addDevice(pki, 'dev-1');
  await addDevices(pki, { count: 2, prefix: 'b' });
  assert.equal(await mode(paths.dir), 0o700);
  assert.equal(await mode(paths.devicesDir), 0o700);
  for (const key of [paths.caKey, paths.serverKey, paths.deviceKey('dev-1'), paths.deviceKey('b0002')]) assert.equal(await mode(key), 0o600, key);
  for (const pub of [paths.caCert, paths.serverCert, paths.crl, paths.deviceCert('dev-1'), paths.inventory]) assert.equal(await mode(pub), 0o644, pub);
  assert.deepEqual((await readdir(paths.dir)).filter((f) => f.startsWith('.')), [], 'no temp or lock files left');
});

test('batches: P0001…, skipExisting, refusal writes nothing', async (t) => {
  const pki = await tempDir(t);
  const paths = pkiPaths(pki);
  await initCa(pki);
  assert.deepEqual(batchIds('P', 3), ['P0001', 'P0002', 'P0003']);
  assert.equal(batchIds('x-', 12_345)[0], 'x-00001');
  const progress: number[] = [];
  const first = await addDevices(pki, { count: 3, prefix: 'P', plan: 'gold', onProgress: (done) => progress.push(done) });
  assert.deepEqual(first.map((r) => r.id), ['P0001', 'P0002', 'P0003']);
  assert.deepEqual(progress, [3]);
  for (const r of first) {
    const cert = new X509Certificate(await readFile(paths.deviceCert(r.id)));
    assert.equal(cert.serialNumber, r.serial);
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(paths.deviceKey(r.id)))));
    assert.equal(r.plan, 'gold');
  }
  const before = await readFile(paths.inventory, 'utf8');
  await assert.rejects(addDevices(pki, { count: 5, prefix: 'P' }), { code: 'FH_ERR_DEVICE_EXISTS' });
  assert.equal(await readFile(paths.inventory, 'utf8'), before);
  assert.equal((await readdir(paths.devicesDir)).length, 6);
  await revokeDevice(pki, 'P0002');
  const more = await addDevices(pki, { count: 5, prefix: 'P', skipExisting: true });
  assert.deepEqual(more.map((r) => r.id), ['P0002', 'P0004', 'P0005'], 'missing and revoked ids only');
  const inventory = await readInventory(pki);
  assert.deepEqual(inventory.map((r) => [r.id, r.status]).sort(), ['P0001', 'P0002', 'P0003', 'P0004', 'P0005'].map((id) => [id, 'active']));
  // The replaced P0002 certificate stays on the CRL.
  const crl = revokedSerials(await readFile(paths.crl, 'utf8'));
  assert.equal(crl.size, 1);
  assert.ok(!crl.has(inventory.find((r) => r.id === 'P0002')?.serial ?? ''));
});

test('device add --force revokes the old certificate (superseded) before re-issuing', async (t) => {
  const pki = await tempDir(t);
  const paths = pkiPaths(pki);
  await initCa(pki);
  const old = await addDevice(pki, 'dev-1', { plan: 'a' });
  await assert.rejects(addDevice(pki, 'dev-1'), { code: 'FH_ERR_DEVICE_EXISTS' });
  const fresh = await addDevice(pki, 'dev-1', { force: true, plan: 'b' });
  assert.notEqual(fresh.serial, old.serial);
  const crl = parseCrl(await readFile(paths.crl, 'utf8'));
  assert.deepEqual([...crl.serials], [old.serial]);
  const list = await readInventory(pki);
  assert.deepEqual(list.map((r) => [r.id, r.serial, r.status, r.plan]), [['dev-1', fresh.serial, 'active', 'b']]);
  const revoked = await revokeDevice(pki, 'dev-1', { reason: 'cessationOfOperation' });
  assert.equal(revoked.status, 'revoked');
  assert.equal(revoked.reason, 'cessationOfOperation');
  await assert.rejects(revokeDevice(pki, 'dev-1'), { code: 'FH_ERR_ALREADY_REVOKED' });
  const after = parseCrl(await readFile(paths.crl, 'utf8'));
  assert.deepEqual([...after.serials].sort(), [old.serial, fresh.serial].sort());
  assert.ok((after.number ?? 0) > (crl.number ?? 0), 'CRL number increases');
  // A revoked id may be added again without --force.
  const third = await addDevice(pki, 'dev-1');
  assert.equal(third.status, 'active');
});

test('status: expired is computed from notAfter, revoked wins', () => {
  const base: StoredDevice = {
    id: 'x', serial: '10', keyType: 'ec', notBefore: '2020-01-01T00:00:00.000Z', notAfter: '2021-01-01T00:00:00.000Z',
    plan: null, revokedAt: null, reason: null, hasKey: true,
  };
  assert.equal(statusOf(base, new Date('2020-06-01')), 'active');
  assert.equal(statusOf(base, new Date('2021-06-01')), 'expired');
  assert.equal(statusOf({ ...base, revokedAt: '2020-07-01T00:00:00.000Z', reason: 'keyCompromise' }, new Date('2021-06-01')), 'revoked');
});

test('concurrent commands do not lose inventory entries (PKI lock)', async (t) => {
  const pki = await tempDir(t);
  await initCa(pki);
  await Promise.all(['a1', 'a2', 'a3', 'a4'].map((id) => addDevice(pki, id)));
  assert.deepEqual((await readInventory(pki)).map((r) => r.id).sort(), ['a1', 'a2', 'a3', 'a4']);
});

test('ensureDevelopmentPki: CA, localhost server certificate and CRL once, never replaced', async (t) => {
  const pki = join(await tempDir(t), 'certs');
  const paths = pkiPaths(pki);
  assert.deepEqual(await ensureDevelopmentPki(pki), { created: true, replaced: null });
  const ca = await readFile(paths.caCert, 'utf8');
  const server = new X509Certificate(await readFile(paths.serverCert));
  assert.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.equal(parseCrl(await readFile(paths.crl, 'utf8')).serials.size, 0);
  assert.deepEqual(await ensureDevelopmentPki(pki), { created: false, replaced: null });
  assert.equal(await readFile(paths.caCert, 'utf8'), ca);
});

test('a batch killed mid-way leaves the old inventory and only complete files', async (t) => {
  const pki = await tempDir(t);
  const paths = pkiPaths(pki);
  await initCa(pki);
  await addDevice(pki, 'keep-1');
  const inventoryBefore = await readFile(paths.inventory, 'utf8');
  const child = spawnCli(['device', 'add', '--count', '20000', '--prefix', 'K', '--pki', pki]);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  t.after(() => { child.kill('SIGKILL'); });
  // Wait (bounded) until the batch has begun writing device files, then kill it as a crash would.
  for (let i = 0; i < 1200; i += 1) {
    if ((await readdir(paths.devicesDir)).some((f) => f.startsWith('K'))) break;
    await sleep(25);
  }
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', 'the batch was still running when killed');
  assert.equal(await readFile(paths.inventory, 'utf8'), inventoryBefore);
  const visible = (await readdir(paths.devicesDir)).filter((f) => !f.startsWith('.'));
  assert.ok(visible.length > 2);
  for (const f of visible) {
    const text = await readFile(join(paths.devicesDir, f), 'utf8');
    if (f.endsWith('.crt')) assert.doesNotThrow(() => new X509Certificate(text), f);
    else assert.doesNotThrow(() => createPrivateKey(text), f);
  }
  // The lock of the killed process is taken over, and a re-run completes the batch's ids.
  const rerun = await addDevices(pki, { count: 3, prefix: 'K' });
  assert.equal(rerun.length, 3);
});
