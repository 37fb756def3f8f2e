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
  /** `devices/<id>.crt`; throws FH_ERR_INVALID_ID for an invalid id (no path escapes). */
  deviceCert(id: string): string;
  /** `devices/<id>.key`; throws FH_ERR_INVALID_ID for an invalid id. */
  deviceKey(id: string): string;
}

/** The inventory's file name inside the PKI folder. */
export const INVENTORY_FILE = 'inventory.json';

/** Paths of the PKI folder `dir` (resolved to an absolute path). */
export function pkiPaths(dir: string): PkiPaths {
  const root = resolve(dir);
  const devicesDir = join(root, 'devices');
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
