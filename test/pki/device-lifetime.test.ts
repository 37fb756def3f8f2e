/**
 * The default lifetime of a device certificate (SPEC: with renewal on, the
 * default device lifetime is a year; without it, ten years), through the
 * real CLI: `device add` (a new key, `--csr`, `--count`) signed by the
 * issuing CA lasts `renewal.deviceDays` (365 by default), signed by the
 * root ten years; `--days` always wins; with `--config`, a hub that does not
 * renew (renewal off) gets ten years (never past the signing CA's expiry)
 * and its own `renewal.deviceDays` otherwise (a cluster hub renews too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { EXIT } from '../../src/errors.js';
import { DEFAULT_DEVICE_DAYS, DEFAULT_RENEWED_DEVICE_DAYS, initCa, pkiPaths } from '../../src/pki/index.js';
import { createCsr } from '../../src/pki/csr-builder.js';
import { initIssuingCa } from '../../src/pki/issuing-ca.js';
import { BACKDATE_MS } from '../../src/pki/validity.js';

const DAY_MS = 86_400_000;

/** Whole days from the certificate's issue (notBefore less the backdate) to its notAfter. */
async function lifetimeDays(pkiDir: string, id: string): Promise<number> {
  const cert = new X509Certificate(await readFile(pkiPaths(pkiDir).deviceCert(id)));
  return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom) - BACKDATE_MS) / DAY_MS);
}

async function addOk(args: string[]): Promise<void> {
  const result = await runCli(['device', 'add', ...args]);
  assert.equal(result.code, 0, result.stderr);
}

/** A PKI folder (a root, and an issuing CA when `issuing`) in a temp dir; removed after the test. */
async function pkiFolder(t: { after: (fn: () => Promise<void>) => void }, issuing: boolean): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-lifetime-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const dir = join(work, 'certs');
  await initCa(dir);
  if (issuing) await initIssuingCa(dir);
  return dir;
}

test('device add signed by the issuing CA lasts a year: one device, --csr and --count; --days still wins', async (t) => {
  const dir = await pkiFolder(t, true);
  await addOk(['lt-key', '--pki', dir]);
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csrFile = join(dir, '..', 'lt-csr.csr');
  await writeFile(csrFile, createCsr('lt-csr', keys.publicKey, keys.privateKey));
  await addOk(['--csr', csrFile, '--pki', dir]);
  await addOk(['--count', '2', '--prefix', 'lt-batch-', '--pki', dir]);
  await addOk(['lt-days', '--days', '30', '--pki', dir]);
  for (const id of ['lt-key', 'lt-csr', 'lt-batch-0001', 'lt-batch-0002']) assert.equal(await lifetimeDays(dir, id), DEFAULT_RENEWED_DEVICE_DAYS, id);
  assert.equal(DEFAULT_RENEWED_DEVICE_DAYS, 365);
  assert.equal(await lifetimeDays(dir, 'lt-days'), 30);
});

test('device add signed by the root (no issuing CA) lasts ten years', async (t) => {
  const dir = await pkiFolder(t, false);
  await addOk(['lt-root', '--pki', dir]);
  await addOk(['--count', '1', '--prefix', 'lt-root-', '--pki', dir]);
  // Never past the CA's own notAfter, made a moment earlier with the same ten years: a day either way.
  for (const id of ['lt-root', 'lt-root-0001']) assert.ok(Math.abs((await lifetimeDays(dir, id)) - DEFAULT_DEVICE_DAYS) <= 1, id);
  assert.equal(DEFAULT_DEVICE_DAYS, 3650);
});

test('device add --config follows the hub: its renewal.deviceDays; when it does not renew, ten years clamped to the issuing CA', async (t) => {
  const dir = await pkiFolder(t, true);
  const config = async (name: string, body: Record<string, unknown>): Promise<string> => {
    const path = join(dir, '..', `${name}.json`);
    await writeFile(path, JSON.stringify({ pkiDir: dir, ...body }));
    return path;
  };
  await addOk(['lt-90', '--config', await config('days-90', { renewal: { deviceDays: 90 } })]);
  await addOk(['lt-off', '--config', await config('renewal-off', { renewal: { enabled: false } })]);
  await addOk(['lt-cluster', '--config', await config('cluster', { cluster: { node: 'hub-a', nats: { servers: ['nats://127.0.0.1:4222'] } } })]);
  await addOk(['lt-override', '--days', '7', '--config', await config('override', { renewal: { deviceDays: 90 } })]);
  assert.equal(await lifetimeDays(dir, 'lt-90'), 90);
  // Ten years asked for, never past the issuing CA's own notAfter (it lasts five).
  const issuingNotAfter = new X509Certificate(await readFile(pkiPaths(dir).issuingCert)).validTo;
  assert.equal(new X509Certificate(await readFile(pkiPaths(dir).deviceCert('lt-off'))).validTo, issuingNotAfter);
  // A cluster hub renews: a year, as a single hub.
  assert.equal(await lifetimeDays(dir, 'lt-cluster'), DEFAULT_RENEWED_DEVICE_DAYS);
  assert.equal(await lifetimeDays(dir, 'lt-override'), 7);
  const both = await runCli(['device', 'add', 'lt-both', '--pki', dir, '--config', await config('both', {})]);
  assert.equal(both.code, EXIT.USAGE);
  assert.match(both.stderr, /--pki and --config name the PKI folder twice/);
});
