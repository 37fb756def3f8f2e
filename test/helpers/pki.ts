/**
 * A throwaway PKI per test, made with the real `src/pki` in a temp dir: a
 * CA, a server certificate for localhost/127.0.0.1/::1, an empty CRL, and
 * devices good, revoked, expired, from another CA, or using the server
 * certificate as a client certificate.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevice, initCa, issueServerCert, loadCa, pkiPaths, revokeDevice, type KeyType } from '../../src/pki/index.js';
import { issueCertificate, issuerFrom, type Issuer } from '../../src/pki/certificate.js';
import { generateKeys, privateKeyPem, resolveKeySpec } from '../../src/pki/keys.js';
import { validityFor } from '../../src/pki/validity.js';

/** PEM credentials of one device. */
export interface DeviceCredentials { id: string; cert: string; key: string }

/** A PKI folder in a temp dir, and ways to make good and bad client certificates. */
export interface TestPki {
  /** A real PKI folder made with src/pki: CA, server cert for localhost + 127.0.0.1 (+ ::1), crl.pem (empty CRL). */
  dir: string;
  /** CA certificate PEM. */
  ca: string;
  server: { cert: string; key: string };
  /** Real `addDevice`, written to `dir`. */
  addDevice(id: string, opts?: { keyType?: KeyType; plan?: string }): Promise<DeviceCredentials>;
  /** Real `revokeDevice`: inventory updated, crl.pem rewritten. */
  revoke(id: string): Promise<void>;
  /** Signed by this CA, notAfter in the past (not in the inventory). */
  expiredDevice(id: string): Promise<DeviceCredentials>;
  /** A valid-looking device certificate from an unrelated CA with the same name. */
  otherCaDevice(id: string): Promise<DeviceCredentials>;
  /** The serverAuth-only server cert/key, to try as a client cert. */
  serverCertAsClient(): DeviceCredentials;
  /** Removes the temp dir. */
  cleanup(): Promise<void>;
}

const DAY_MS = 86_400_000;
const TEST_CA_NAME = 'fleethub test CA';

async function deviceFrom(issuer: Issuer, id: string, keyType: KeyType, notBefore: Date, notAfter: Date): Promise<DeviceCredentials> {
  const keys = await generateKeys(resolveKeySpec(keyType));
  const cert = issueCertificate({ profile: 'device', commonName: id, publicKey: keys.publicKey, issuer, validity: { notBefore, notAfter } });
  return { id, cert: cert.pem, key: privateKeyPem(keys.privateKey) };
}

/**
 * Makes a test PKI; `keyType` is that of the CA, the server and the devices
 * (default 'ec'); `rootPathLen` 0 makes a root as fleethub made them before
 * online signing (default: today's root, which may certify an issuing CA).
 */
export async function makeTestPki(opts: { keyType?: KeyType; rootPathLen?: 0 | 1 } = {}): Promise<TestPki> {
  const keyType = opts.keyType ?? 'ec';
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-pki-'));
  const paths = pkiPaths(dir);
  await initCa(dir, { name: TEST_CA_NAME, keyType, ...(opts.rootPathLen === undefined ? {} : { pathLen: opts.rootPathLen }) });
  await issueServerCert(dir, { hosts: ['localhost'], ips: ['127.0.0.1', '::1'], keyType });
  const ca = await readFile(paths.caCert, 'utf8');
  const server = { cert: await readFile(paths.serverCert, 'utf8'), key: await readFile(paths.serverKey, 'utf8') };
  let otherIssuer: Issuer | undefined;

  return {
    dir,
    ca,
    server,
    async addDevice(id, o = {}) {
      await addDevice(dir, id, { keyType: o.keyType ?? keyType, ...(o.plan === undefined ? {} : { plan: o.plan }) });
      return { id, cert: await readFile(paths.deviceCert(id), 'utf8'), key: await readFile(paths.deviceKey(id), 'utf8') };
    },
    async revoke(id) {
      await revokeDevice(dir, id, { reason: 'keyCompromise' });
    },
    async expiredDevice(id) {
      const { issuer } = await loadCa(dir);
      const now = Date.now();
      return deviceFrom(issuer, id, keyType, new Date(now - 30 * DAY_MS), new Date(now - DAY_MS));
    },
    async otherCaDevice(id) {
      if (!otherIssuer) {
        const keys = await generateKeys(resolveKeySpec(keyType));
        const cert = issueCertificate({
          profile: 'ca', commonName: TEST_CA_NAME, publicKey: keys.publicKey, selfKey: keys.privateKey, validity: validityFor(30, new Date()),
        });
        otherIssuer = issuerFrom(cert.pem, keys.privateKey);
      }
      const { notBefore, notAfter } = validityFor(30, new Date(), otherIssuer.notAfter);
      return deviceFrom(otherIssuer, id, keyType, notBefore, notAfter);
    },
    serverCertAsClient() {
      return { id: 'localhost', cert: server.cert, key: server.key };
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
