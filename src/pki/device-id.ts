/**
 * Device ids (SPEC: "1 to 64 characters of `A-Z a-z 0-9 . _ -`, first one a
 * letter or digit"). The id is the certificate's subject CN and a file name in
 * `devices/`, so this check is also what keeps `../x` out of the PKI folder.
 */
import { FleethubError } from '../errors.js';

/** SPEC: Device ids. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** True when `id` is a valid device id (SPEC: Device ids). */
export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID_PATTERN.test(id);
}

/**
 * True when `name` is a valid plan name (`device add --plan`, the keys of
 * the hub's `plans`): the device-id rule, as plans are looked up by names
 * that sit next to device ids in the inventory.
 */
export function isValidPlanName(name: string): boolean {
  return DEVICE_ID_PATTERN.test(name);
}

/** Throws FH_ERR_INVALID_ID unless `id` is valid; the message says why. */
export function assertDeviceId(id: string): void {
  if (isValidDeviceId(id)) return;
  const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
  let why = 'use 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';
  if (id.length === 0) why = 'it is empty';
  else if (id.length > 64) why = `it has ${id.length} characters, at most 64 are allowed`;
  else if (!/^[A-Za-z0-9]/.test(id)) why = 'it must start with a letter or digit';
  else why = 'only A-Z a-z 0-9 . _ - are allowed';
  throw new FleethubError('FH_ERR_INVALID_ID', `invalid device id ${shown}: ${why}`);
}
