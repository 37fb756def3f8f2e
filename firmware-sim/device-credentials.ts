/**
 * Where the simulated devices' keys and certificates come from: the PKI
 * folder's `devices/<id>.crt|key` (SPEC: `certs/` layout), issued first in
 * one batch with `--provision`; for `badcert`, certificates the hub must
 * refuse: signed by another CA, expired, or revoked.
 *
 * With claim-provisioning.ts (its CSR builder and the claim certificate's
 * path), the only modules of firmware-sim that import src/pki (ARCHITECTURE:
 * the simulator knows the hub only over the wire, and the PKI to provision).
 */
import { readFile } from 'node:fs/promises';
import { FleethubError } from '../src/errors.js';
import { addDevice, addDevices, loadCa, pkiPaths, revokeDevice } from '../src/pki/index.js';
import { issueCertificate, issuerFrom, type Issuer } from '../src/pki/certificate.js';
import { generateKeys, privateKeyPem, resolveKeySpec } from '../src/pki/keys.js';
import { validityFor } from '../src/pki/validity.js';
import { KEY_MODE, PUBLIC_MODE, writeFilesAtomic, type FileWrite } from '../src/pki/pki-files.js';
import type { DeviceCredentials } from './sim-device.js';
import { deviceId } from './sim-options.js';

/** Files read at once while loading a large fleet's credentials. */
const READ_CONCURRENCY = 64;

/** The fleet's device ids, as `fleethub device add --count N --prefix P` names them. */
export function fleetIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => deviceId(prefix, i, count));
}

/**
 * With `--provision`: issues the fleet's missing certificates in one batch
 * (ids that have an active certificate are left alone). Returns how many
 * were issued.
 */
export async function provisionFleet(pkiDir: string, prefix: string, count: number): Promise<number> {
  const issued = await addDevices(pkiDir, { count, prefix, skipExisting: true });
  return issued.length;
}

/** Reads every device's key and certificate; FH_ERR_DEVICE_UNKNOWN names the first missing one. */
export async function loadFleetCredentials(pkiDir: string, ids: readonly string[]): Promise<DeviceCredentials[]> {
  const paths = pkiPaths(pkiDir);
  const out = new Array<DeviceCredentials>(ids.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i] as string;
      try {
        const [cert, key] = await Promise.all([readFile(paths.deviceCert(id), 'utf8'), readFile(paths.deviceKey(id), 'utf8')]);
        out[i] = { id, cert, key };
      } catch (err) {
        throw new FleethubError(
          'FH_ERR_DEVICE_UNKNOWN',
          `sim: no key and certificate for device ${id} in ${paths.devicesDir} (add --provision to issue the missing ones)`,
          { cause: err },
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, ids.length) }, worker));
  return out;
}

/**
 * Writes renewed pairs back to `devices/<id>.key|crt` (0600 for the key),
 * so the next run connects with them: the hub made the new certificate
 * current at the device's first handshake with it and revoked the old one.
 */
export async function saveRenewedCredentials(pkiDir: string, renewed: ReadonlyMap<string, { readonly cert: string | Buffer; readonly key: string | Buffer }>): Promise<void> {
  if (renewed.size === 0) return;
  const paths = pkiPaths(pkiDir);
  const files: FileWrite[] = [];
  for (const [id, pair] of renewed) {
    files.push({ path: paths.deviceKey(id), data: pair.key, mode: KEY_MODE }, { path: paths.deviceCert(id), data: pair.cert, mode: PUBLIC_MODE });
  }
  await writeFilesAtomic(files);
}

/** Reads the CA certificate the hub's server certificate must chain to. */
export async function loadCaCert(caFile: string): Promise<string> {
  try {
    return await readFile(caFile, 'utf8');
  } catch (err) {
    throw new FleethubError('FH_ERR_CA_MISSING', `sim: cannot read the CA certificate ${caFile} (give --pki or --ca)`, { cause: err });
  }
}

/** The kinds of bad certificate `badcert` cycles through. */
export type BadCertKind = 'other-ca' | 'expired' | 'revoked';

const DAY_MS = 86_400_000;

async function issueWith(issuer: Issuer, id: string, notBefore: Date, notAfter: Date): Promise<DeviceCredentials> {
  const keys = await generateKeys(resolveKeySpec('ec'));
  const cert = issueCertificate({ profile: 'device', commonName: id, publicKey: keys.publicKey, issuer, validity: { notBefore, notAfter } });
  return { id, cert: cert.pem, key: privateKeyPem(keys.privateKey) };
}

/**
 * `badcert` credentials for the fleet's ids, the kinds in turn: `other-ca`
 * (a look-alike CA with the same name, made here in memory), `expired`
 * (signed by the real CA, notAfter yesterday; needs `ca.key`), and, only
 * when `allowRevoke` (with `--provision`, since it writes to the PKI),
 * `revoked` (issued by the real CA, then revoked: the CRL is rewritten).
 * Without `ca.key` only `other-ca` is used.
 */
export async function makeBadCredentials(
  pkiDir: string,
  ids: readonly string[],
  allowRevoke: boolean,
): Promise<{ credentials: DeviceCredentials[]; kinds: BadCertKind[] }> {
  let realIssuer: Issuer | null = null;
  // The look-alike CA copies the real one's name, so only the signature tells them apart.
  let realName = 'fleethub CA';
  try {
    const ca = await loadCa(pkiDir);
    realIssuer = ca.issuer;
    realName = /(?:^|\n)CN=([^\n]*)/.exec(ca.cert.subject)?.[1] ?? realName;
  } catch {
    realIssuer = null;
  }
  const kinds: BadCertKind[] = ['other-ca'];
  if (realIssuer !== null) kinds.push('expired');
  if (realIssuer !== null && allowRevoke) kinds.push('revoked');
  const caKeys = await generateKeys(resolveKeySpec('ec'));
  const now = new Date();
  const otherCa = issueCertificate({ profile: 'ca', commonName: realName, publicKey: caKeys.publicKey, selfKey: caKeys.privateKey, validity: validityFor(30, now) });
  const otherIssuer = issuerFrom(otherCa.pem, caKeys.privateKey);
  const credentials: DeviceCredentials[] = [];
  const used: BadCertKind[] = [];
  for (const [i, id] of ids.entries()) {
    const kind = kinds[i % kinds.length] as BadCertKind;
    used.push(kind);
    if (kind === 'other-ca') {
      const v = validityFor(30, now, otherIssuer.notAfter);
      credentials.push(await issueWith(otherIssuer, id, v.notBefore, v.notAfter));
    } else if (kind === 'expired') {
      credentials.push(await issueWith(realIssuer as Issuer, id, new Date(now.getTime() - 30 * DAY_MS), new Date(now.getTime() - DAY_MS)));
    } else {
      const paths = pkiPaths(pkiDir);
      await addDevice(pkiDir, id, { force: true });
      await revokeDevice(pkiDir, id, { reason: 'keyCompromise' });
      credentials.push({ id, cert: await readFile(paths.deviceCert(id), 'utf8'), key: await readFile(paths.deviceKey(id), 'utf8') });
    }
  }
  return { credentials, kinds: used };
}
