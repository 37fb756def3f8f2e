/**
 * Reading back one device's credentials (for `device export` and for tools
 * like the simulator that need the PEMs of issued devices).
 */
import { FleethubError } from '../errors.js';
import { assertDeviceId } from './device-id.js';
import { readInventory, type DeviceRecord } from './inventory.js';
import { pkiPaths } from './paths.js';
import { readText } from './pki-files.js';

/** A device's record and PEM files. */
export interface StoredCredentials {
  readonly record: DeviceRecord;
  readonly caCertPem: string;
  readonly certPem: string;
  /** Absent for devices issued from a CSR. */
  readonly keyPem?: string;
}

/** Reads the CA certificate, the device certificate and (when there is one) its key. FH_ERR_DEVICE_UNKNOWN for an unknown id. */
export async function readDeviceCredentials(dir: string, id: string): Promise<StoredCredentials> {
  assertDeviceId(id);
  const paths = pkiPaths(dir);
  const record = (await readInventory(paths.dir)).find((d) => d.id === id);
  if (!record) throw new FleethubError('FH_ERR_DEVICE_UNKNOWN', `unknown device ${JSON.stringify(id)} (see "fleethub device list")`);
  const caCertPem = await readText(paths.caCert);
  const certPem = await readText(paths.deviceCert(id));
  const keyPem = record.hasKey ? await readText(paths.deviceKey(id)) : undefined;
  return keyPem === undefined ? { record, caCertPem, certPem } : { record, caCertPem, certPem, keyPem };
}
