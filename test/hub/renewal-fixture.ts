/**
 * Shared by the renewal tests: a PKI with an issuing CA (online signing),
 * devices whose certificate is as old as a test needs (recorded in the
 * inventory like any issued one), CSRs made with Node's crypto as a device
 * makes them, and a protocol 2 client on TLS 1.2 with the ESP32 suite.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connectDevice, type DeviceClient, type HubMessage } from '../helpers/device-client.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';
import { pkiPaths } from '../../src/pki/index.js';
import { issueCertificate } from '../../src/pki/certificate.js';
import { createCsr } from '../../src/pki/csr-builder.js';
import { loadInventory, saveInventory } from '../../src/pki/inventory.js';
import { initIssuingCa } from '../../src/pki/issuing-ca.js';
import { loadIssuingCa } from '../../src/pki/loaded-ca.js';
import { privateKeyPem } from '../../src/pki/keys.js';
import { ensurePrivateDir, writeFilesAtomic } from '../../src/pki/pki-files.js';

export const DAY_MS = 86_400_000;
export const ESP32_TLS = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } as const;

/** A test PKI with an issuing CA: the hub can sign renewals. */
export async function makeSigningPki(): Promise<TestPki> {
  const pki = await makeTestPki();
  await initIssuingCa(pki.dir);
  return pki;
}

/** A P-256 key pair made with Node's crypto, as a device makes one. */
export function deviceKeys(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** A PEM CSR with CN `cn` for `keys`. */
export function csrFor(cn: string, keys: { publicKey: KeyObject; privateKey: KeyObject }): string {
  return createCsr(cn, keys.publicKey, keys.privateKey);
}

/**
 * A device whose certificate (signed by the issuing CA, recorded in the
 * inventory) started `ageDays` ago and ends in `leftDays`: due for renewal
 * once past two thirds of its lifetime.
 */
export async function agedDevice(pki: TestPki, id: string, ageDays: number, leftDays: number): Promise<DeviceCredentials> {
  const issuing = await loadIssuingCa(pki.dir, null);
  if (issuing === null) throw new Error('no issuing CA');
  const keys = deviceKeys();
  const now = Date.now();
  const cert = issueCertificate({
    profile: 'device', commonName: id, publicKey: keys.publicKey, issuer: issuing.issuer,
    validity: { notBefore: new Date(now - ageDays * DAY_MS), notAfter: new Date(now + leftDays * DAY_MS) },
  });
  const paths = pkiPaths(pki.dir);
  const key = privateKeyPem(keys.privateKey);
  await ensurePrivateDir(paths.devicesDir);
  await writeFilesAtomic([{ path: paths.deviceCert(id), data: cert.pem, mode: 0o644 }, { path: paths.deviceKey(id), data: key, mode: 0o600 }]);
  const inventory = await loadInventory(pki.dir);
  inventory.devices.push({
    id, serial: cert.serial, keyType: 'ec', notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(),
    plan: null, revokedAt: null, reason: null, hasKey: true, issuer: 'issuing',
  });
  await saveInventory(pki.dir, inventory);
  return { id, cert: cert.pem, key };
}

/** A device due for renewal: 300 of 330 days gone. */
export function dueDevice(pki: TestPki, id: string): Promise<DeviceCredentials> {
  return agedDevice(pki, id, 300, 30);
}

/** Connects with protocol 2 on TLS 1.2 and the ESP32 suite; resolves once `hello` came. */
export async function connectV2(url: string, pki: TestPki, creds: { cert: string; key: string }): Promise<DeviceClient> {
  const client = await connectDevice({ url, ca: pki.ca, cert: creds.cert, key: creds.key, protocol: ['arduino', 'fleethub.v2'], ...ESP32_TLS });
  await client.hello();
  return client;
}

/** The `cert` or `certError` reply number `n` (1-based) of a connection. */
export async function certReply(client: DeviceClient, n = 1): Promise<HubMessage & Record<string, unknown>> {
  const replies = await client.waitForCount((m) => 'cert' in m || 'certError' in m, n);
  return replies[n - 1] as HubMessage & Record<string, unknown>;
}

/** A device's current serial in the inventory. */
export async function currentSerial(pki: TestPki, id: string): Promise<string | undefined> {
  return (await loadInventory(pki.dir)).devices.find((d) => d.id === id)?.serial;
}

/** The issuing CA's CRL text. */
export function issuingCrl(pki: TestPki): Promise<string> {
  return readFile(pkiPaths(pki.dir).issuingCrl, 'utf8');
}
