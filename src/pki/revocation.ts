/**
 * Revoking devices and (re)writing `crl.pem` (SPEC: `device revoke`, `ca crl`).
 * The CRL lists every revoked certificate in the inventory, current or replaced.
 */
import { FleethubError } from '../errors.js';
import { loadCa } from './loaded-ca.js';
import { buildCrl, parseCrl, resolveRevocationReason, type CrlEntry, type RevocationReason } from './crl.js';
import { assertDeviceId } from './device-id.js';
import { loadInventory, saveInventory, toRecord, type DeviceRecord, type InventoryFile, type StoredDevice } from './inventory.js';
import { pkiPaths } from './paths.js';
import { exists, PUBLIC_MODE, readText, withPkiLock, writeOneAtomic } from './pki-files.js';
import { DEFAULT_CRL_DAYS, resolveDays } from './validity.js';

const DAY_MS = 86_400_000;

/** Options of {@link writeCrl}. */
export interface WriteCrlOptions {
  /** nextUpdate − thisUpdate in days. @defaultValue {@link DEFAULT_CRL_DAYS} */
  days?: number;
}

/** The revoked entries of an inventory. */
export function crlEntries(inventory: InventoryFile): CrlEntry[] {
  return [...inventory.history, ...inventory.devices]
    .filter((d) => d.revokedAt !== null)
    .map((d) => ({ serial: d.serial, revokedAt: new Date(d.revokedAt as string), reason: d.reason ?? 'unspecified' }));
}

/**
 * Pure: the number of the next CRL, above both the highest number the CA
 * recorded and the number of the CRL in the folder now (RFC 5280 §5.2.3:
 * monotonically increasing). Taking both means an older `crl.pem` put back
 * cannot make the CA reissue a number, and a PKI made before the inventory
 * recorded numbers continues from its `crl.pem`.
 */
export function nextCrlNumber(recorded: number, inFolder: number | null): number {
  return Math.max(recorded, inFolder ?? 0) + 1;
}

/** The CRL number of `crl.pem`, or null when there is none, it has none or it cannot be read. */
async function folderCrlNumber(path: string): Promise<number | null> {
  if (!(await exists(path))) return null;
  try {
    return parseCrl(await readText(path)).number;
  } catch {
    return null; // an unreadable CRL is replaced; the inventory's number still counts
  }
}

/**
 * {@link writeCrl} for callers already holding the PKI lock; `inventory`,
 * when given, is the caller's changed one (a revocation). The inventory is
 * saved first, with the new CRL number in it, then `crl.pem` is written: a
 * crash in between leaves a number unused, never used twice, and what the
 * inventory revoked is repaired by `fleethub ca crl`. Returns the number.
 */
export async function writeCrlUnlocked(dir: string, opts: WriteCrlOptions = {}, inventory?: InventoryFile): Promise<number> {
  const days = resolveDays(opts.days, DEFAULT_CRL_DAYS);
  const paths = pkiPaths(dir);
  const ca = await loadCa(paths.dir);
  const inv = inventory ?? (await loadInventory(paths.dir));
  const number = nextCrlNumber(inv.crlNumber, await folderCrlNumber(paths.crl));
  inv.crlNumber = number;
  await saveInventory(paths.dir, inv);
  const now = new Date();
  const pem = buildCrl(ca.issuer, crlEntries(inv), {
    number,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * DAY_MS),
  });
  await writeOneAtomic(paths.crl, pem, PUBLIC_MODE);
  return number;
}

/** (Re)writes `crl.pem`, signed by the CA, listing every revoked serial. */
export async function writeCrl(dir: string, opts: WriteCrlOptions = {}): Promise<void> {
  resolveDays(opts.days, DEFAULT_CRL_DAYS);
  const root = pkiPaths(dir).dir;
  await loadCa(root);
  await withPkiLock(root, () => writeCrlUnlocked(root, opts));
}

/** Marks `device` revoked in place (the caller saves). */
export function markRevoked(device: StoredDevice, reason: RevocationReason, now = new Date()): StoredDevice {
  return { ...device, revokedAt: now.toISOString(), reason };
}

/** Options of {@link revokeDevice}. */
export interface RevokeOptions {
  /** CRLReason (RFC 5280 §5.3.1). @defaultValue 'unspecified' */
  reason?: RevocationReason;
}

/**
 * Revokes the current certificate of `id`: the inventory is updated, then
 * `crl.pem` rewritten. FH_ERR_DEVICE_UNKNOWN for an unknown id,
 * FH_ERR_ALREADY_REVOKED when it is revoked already.
 */
export async function revokeDevice(dir: string, id: string, opts: RevokeOptions = {}): Promise<DeviceRecord> {
  assertDeviceId(id);
  const reason = resolveRevocationReason(opts.reason);
  const root = pkiPaths(dir).dir;
  await loadCa(root);
  return withPkiLock(root, async () => {
    const inventory = await loadInventory(root);
    const index = inventory.devices.findIndex((d) => d.id === id);
    const device = inventory.devices[index];
    if (!device) throw new FleethubError('FH_ERR_DEVICE_UNKNOWN', `unknown device ${JSON.stringify(id)} (see "fleethub device list")`);
    if (device.revokedAt !== null) {
      throw new FleethubError('FH_ERR_ALREADY_REVOKED', `device ${id} was already revoked at ${device.revokedAt}`);
    }
    const revoked = markRevoked(device, reason);
    inventory.devices[index] = revoked;
    // Saves the inventory (the revocation and the CRL number), then writes the CRL.
    await writeCrlUnlocked(root, {}, inventory);
    return toRecord(revoked);
  });
}
