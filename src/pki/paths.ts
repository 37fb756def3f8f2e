/**
 * The PKI folder layout (SPEC: `certs/` layout). Every other module asks
 * here for a path, so the layout is written down once.
 */
import { join, resolve } from 'node:path';
import { assertDeviceId } from './device-id.js';

/** Where each file of a PKI folder lives. */
export interface PkiPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly crl: string;
  readonly tokenKey: string;
  readonly devicesDir: string;
  readonly inventory: string;
  /** The issuing CA (online signing), certified by the root; its key may be encrypted. */
  readonly issuingCert: string;
  readonly issuingKey: string;
  /** The issuing CA's CRL: the certificates it signed that are revoked. */
  readonly issuingCrl: string;
  /** The claim CA: it signs the claim certificates of provisioning batches, trusted for `/v1/provision` only. */
  readonly claimCaCert: string;
  readonly claimCaKey: string;
  /** The claim CA's CRL: the revoked batches' claim certificates. */
  readonly claimCrl: string;
  /** `claims/`: one certificate and key per batch. */
  readonly claimsDir: string;
  /** `claims/<batch>.crt`; throws FH_ERR_INVALID_ID for an invalid batch name. */
  claimCert(batch: string): string;
  /** `claims/<batch>.key`; throws FH_ERR_INVALID_ID for an invalid batch name. */
  claimKey(batch: string): string;
  /** `devices/<id>.crt`; throws FH_ERR_INVALID_ID for an invalid id (no path escapes). */
  deviceCert(id: string): string;
  /** `devices/<id>.key`; throws FH_ERR_INVALID_ID for an invalid id. */
  deviceKey(id: string): string;
}

/** The PKI folder when neither a flag, the config nor {@link PKI_DIR_ENV} names one (SPEC). */
export const DEFAULT_PKI_DIR = './certs';
/** The environment variable that names the default PKI folder. */
export const PKI_DIR_ENV = 'FLEETHUB_PKI';

/** The PKI folder `FLEETHUB_PKI` names, if any: the one place the variable is read. */
export function envPkiDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[PKI_DIR_ENV];
}

/** The PKI folder when no flag or config names one: `FLEETHUB_PKI`, else `./certs` (as written, not resolved). */
export function defaultPkiDir(env: NodeJS.ProcessEnv = process.env): string {
  return envPkiDir(env) ?? DEFAULT_PKI_DIR;
}

/** The inventory's file name inside the PKI folder. */
export const INVENTORY_FILE = 'inventory.json';

/** Paths of the PKI folder `dir` (resolved to an absolute path). */
export function pkiPaths(dir: string): PkiPaths {
  const root = resolve(dir);
  const devicesDir = join(root, 'devices');
  const claimsDir = join(root, 'claims');
  return {
    dir: root,
    caCert: join(root, 'ca.crt'),
    caKey: join(root, 'ca.key'),
    serverCert: join(root, 'server.crt'),
    serverKey: join(root, 'server.key'),
    crl: join(root, 'crl.pem'),
    tokenKey: join(root, 'token.key'),
    devicesDir,
    inventory: join(root, INVENTORY_FILE),
    issuingCert: join(root, 'issuing.crt'),
    issuingKey: join(root, 'issuing.key'),
    issuingCrl: join(root, 'issuing-crl.pem'),
    claimCaCert: join(root, 'claim-ca.crt'),
    claimCaKey: join(root, 'claim-ca.key'),
    claimCrl: join(root, 'claim-crl.pem'),
    claimsDir,
    claimCert(batch: string): string {
      assertDeviceId(batch);
      return join(claimsDir, `${batch}.crt`);
    },
    claimKey(batch: string): string {
      assertDeviceId(batch);
      return join(claimsDir, `${batch}.key`);
    },
    deviceCert(id: string): string {
      assertDeviceId(id);
      return join(devicesDir, `${id}.crt`);
    },
    deviceKey(id: string): string {
      assertDeviceId(id);
      return join(devicesDir, `${id}.key`);
    },
  };
}
