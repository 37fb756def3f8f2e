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
