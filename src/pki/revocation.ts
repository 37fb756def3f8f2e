/**
 * Revoking devices and (re)writing the CRLs (SPEC: `device revoke`, `ca crl`).
 * Each CA has its own CRL, signed by itself: `crl.pem` the root's (the
 * certificates it signed), `issuing-crl.pem` the issuing CA's,
 * `claim-crl.pem` the claim CA's (revoked batches). Each lists every revoked
 * certificate of its CA in the inventory, current or replaced.
 */
import { FleethubError } from '../errors.js';
import { loadCa, loadClaimCa, loadIssuingCa, type LoadedCa } from './loaded-ca.js';
import { buildCrl, parseCrl, resolveRevocationReason, type CrlEntry, type RevocationReason } from './crl.js';
import { assertDeviceId } from './device-id.js';
import { loadInventory, retirePending, saveInventory, toRecord, type DeviceRecord, type InventoryFile, type StoredDevice } from './inventory.js';
import { pkiPaths } from './paths.js';
import { exists, PUBLIC_MODE, readText, withPkiLock, writeOneAtomic } from './pki-files.js';
import { DEFAULT_CRL_DAYS, resolveDays } from './validity.js';

const DAY_MS = 86_400_000;

/** The CAs of a PKI folder, each with its own CRL. */
export type CaRole = 'root' | 'issuing' | 'claim';

/** Options of {@link writeCrl}. */
export interface WriteCrlOptions {
  /** nextUpdate − thisUpdate in days. @defaultValue {@link DEFAULT_CRL_DAYS} */
  days?: number;
  /** The passphrase of an encrypted `issuing.key`. @defaultValue null */
  issuingPassphrase?: string | null;
  /** Only this CA's CRL. @defaultValue every CA of the folder whose key is there */
  ca?: CaRole;
}

/** The CA that signed a stored device certificate. */
export function issuerRoleOf(device: StoredDevice): CaRole {
  return device.issuer === 'issuing' ? 'issuing' : 'root';
}

/** The revoked entries of an inventory for the CRL of `role`. */
export function crlEntries(inventory: InventoryFile, role: CaRole = 'root'): CrlEntry[] {
  if (role === 'claim') {
    // A revoked batch's claim certificate stops working at once (SPEC: refused in the TLS handshake).
    return inventory.batches
      .filter((b) => b.revokedAt !== null)
      .map((b) => ({ serial: b.serial, revokedAt: new Date(b.revokedAt as string), reason: 'cessationOfOperation' }));
  }
  return [...inventory.history, ...inventory.devices]
    .filter((d) => d.revokedAt !== null && issuerRoleOf(d) === role)
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

/** The CA of `role`, ready to sign its CRL. */
async function loadRole(dir: string, role: CaRole, passphrase: string | null): Promise<LoadedCa> {
  if (role === 'root') return loadCa(dir);
  const ca = role === 'issuing' ? await loadIssuingCa(dir, passphrase) : await loadClaimCa(dir);
  if (ca === null) throw new FleethubError('FH_ERR_CA_MISSING', `no ${role} CA in ${pkiPaths(dir).dir}`);
  return ca;
}

/**
 * Writes the CRL of the CA `role`, for callers already holding the PKI lock;
 * `inventory`, when given, is the caller's changed one (a revocation). The
 * inventory is saved first, with the new CRL number in it, then the CRL is
 * written: a crash in between leaves a number unused, never used twice, and
 * what the inventory revoked is repaired by `fleethub ca crl`. Returns the number.
 */
export async function writeCaCrlUnlocked(dir: string, role: CaRole, opts: WriteCrlOptions = {}, inventory?: InventoryFile): Promise<number> {
  const days = resolveDays(opts.days, DEFAULT_CRL_DAYS);
  const paths = pkiPaths(dir);
  const ca = await loadRole(paths.dir, role, opts.issuingPassphrase ?? null);
  const inv = inventory ?? (await loadInventory(paths.dir));
  const path = role === 'root' ? paths.crl : role === 'issuing' ? paths.issuingCrl : paths.claimCrl;
  const recorded = role === 'root' ? inv.crlNumber : role === 'issuing' ? inv.issuingCrlNumber : inv.claimCrlNumber;
  const number = nextCrlNumber(recorded, await folderCrlNumber(path));
  if (role === 'root') inv.crlNumber = number;
  else if (role === 'issuing') inv.issuingCrlNumber = number;
  else inv.claimCrlNumber = number;
  await saveInventory(paths.dir, inv);
  const now = new Date();
  const pem = buildCrl(ca.issuer, crlEntries(inv, role), {
    number,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * DAY_MS),
  });
  await writeOneAtomic(path, pem, PUBLIC_MODE);
  return number;
}

/** The root's CRL ({@link writeCaCrlUnlocked} for `root`). */
export async function writeCrlUnlocked(dir: string, opts: WriteCrlOptions = {}, inventory?: InventoryFile): Promise<number> {
  return writeCaCrlUnlocked(dir, 'root', opts, inventory);
}

/** The CAs of the folder whose CRL `ca crl` rewrites by default: each one whose key is here. */
async function presentRoles(dir: string): Promise<CaRole[]> {
  const paths = pkiPaths(dir);
  const roles: CaRole[] = [];
  // The root's key may have been moved off the machine (online signing): its CRL is then signed where the key is.
  if (await exists(paths.caKey)) roles.push('root');
  if (await exists(paths.issuingKey)) roles.push('issuing');
  if (await exists(paths.claimCaKey)) roles.push('claim');
  return roles;
}

/**
 * (Re)writes the CRLs, each signed by its CA, listing every revoked serial:
 * `opts.ca`'s only, or that of every CA whose key is in the folder. Returns
 * the CAs whose CRL was written.
 */
export async function writeCrl(dir: string, opts: WriteCrlOptions = {}): Promise<CaRole[]> {
  resolveDays(opts.days, DEFAULT_CRL_DAYS);
  const root = pkiPaths(dir).dir;
  const roles = opts.ca !== undefined ? [opts.ca] : await presentRoles(root);
  if (roles.length === 0) await loadCa(root); // no CA at all: FH_ERR_CA_MISSING
  for (const role of roles) await loadRole(root, role, opts.issuingPassphrase ?? null);
  await withPkiLock(root, async () => {
    for (const role of roles) await writeCaCrlUnlocked(root, role, opts);
  });
  return roles;
}

/** Marks `device` revoked in place (the caller saves). */
export function markRevoked(device: StoredDevice, reason: RevocationReason, now = new Date()): StoredDevice {
  return { ...device, revokedAt: now.toISOString(), reason };
}

/** Options of {@link revokeDevice}. */
export interface RevokeOptions {
  /** CRLReason (RFC 5280 §5.3.1). @defaultValue 'unspecified' */
  reason?: RevocationReason;
  /** The passphrase of an encrypted `issuing.key`, for a device the issuing CA signed. @defaultValue null */
  issuingPassphrase?: string | null;
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
  const passphrase = opts.issuingPassphrase ?? null;
  if (!(await exists(pkiPaths(root).issuingCert))) await loadCa(root);
  return withPkiLock(root, async () => {
    const inventory = await loadInventory(root);
    const index = inventory.devices.findIndex((d) => d.id === id);
    const device = inventory.devices[index];
    if (!device) throw new FleethubError('FH_ERR_DEVICE_UNKNOWN', `unknown device ${JSON.stringify(id)} (see "fleethub device list")`);
    if (device.revokedAt !== null) {
      throw new FleethubError('FH_ERR_ALREADY_REVOKED', `device ${id} was already revoked at ${device.revokedAt}`);
    }
    // The CA that signed it must sign the CRL that lists it: checked before anything is written.
    await loadRole(root, issuerRoleOf(device), passphrase);
    const revoked = markRevoked(device, reason);
    inventory.devices[index] = revoked;
    // A renewed certificate the device has not used yet is revoked with it (it would otherwise still open the door).
    const pendingRole = retirePending(inventory, id, reason);
    // Saves the inventory (the revocation and the CRL number), then writes the CRL.
    await writeCaCrlUnlocked(root, issuerRoleOf(device), { issuingPassphrase: passphrase }, inventory);
    if (pendingRole !== null && pendingRole !== issuerRoleOf(device)) await writeCaCrlUnlocked(root, pendingRole, { issuingPassphrase: passphrase }, inventory);
    return toRecord(revoked);
  });
}
