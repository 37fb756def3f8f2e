/**
 * Issuing device certificates one at a time (`device add <id>`, with or
 * without `--csr`), and the pieces the batch issuer shares.
 */
import { unlink } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { loadSigningCa, type LoadedCa } from './loaded-ca.js';
import { issueCertificate } from './certificate.js';
import { verifyCsr } from './csr.js';
import { assertDeviceId, isValidPlanName } from './device-id.js';
import { loadInventory, retirePending, saveInventory, statusOf, toRecord, type DeviceRecord, type InventoryFile, type StoredDevice } from './inventory.js';
import { generateKeys, privateKeyPem, resolveKeySpec, type KeySpec, type KeyType } from './keys.js';
import { pkiPaths } from './paths.js';
import { ensurePrivateDir, KEY_MODE, PUBLIC_MODE, withPkiLock, writeFilesAtomic, type FileWrite } from './pki-files.js';
import { issuerRoleOf, markRevoked, writeCaCrlUnlocked, type CaRole } from './revocation.js';
import { defaultDeviceDays, resolveDays, validityFor, type DeviceRenewalPolicy } from './validity.js';

/** Options of {@link addDevice}. */
export interface AddDeviceOptions {
  /** Limits plan the hub applies (a key of its config's `plans`). @defaultValue null (the default limits) */
  plan?: string;
  /**
   * Lifetime in days, clamped to the CA's notAfter. @defaultValue
   * {@link defaultDeviceDays}: with an issuing CA and `renewal` renewing, its
   * `deviceDays` (a year); else ten years
   */
  days?: number;
  /** Whether the hub renews what the issuing CA signs. @defaultValue a hub on its defaults (renewal on, a year) */
  renewal?: DeviceRenewalPolicy;
  /** Ignored with `csrPem`. @defaultValue 'ec' */
  keyType?: KeyType;
  /** RSA only: 2048 or 3072. @defaultValue 2048 */
  keyBits?: number;
  /** Sign this CSR (PEM) instead of making a key: no key file is written. @defaultValue undefined */
  csrPem?: string;
  /** Replace an active device, revoking its certificate (reason superseded). @defaultValue false */
  force?: boolean;
  /** The passphrase of an encrypted `issuing.key` (with an issuing CA, it signs). @defaultValue null */
  issuingPassphrase?: string | null;
}

/** The CA that signs device certificates: the issuing CA when the folder has one, else the root. */
export interface SigningCa {
  readonly ca: LoadedCa;
  readonly role: 'root' | 'issuing';
}

/** Checks `--plan`; returns it or null. */
export function resolvePlan(plan: string | undefined): string | null {
  if (plan === undefined) return null;
  if (!isValidPlanName(plan)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--plan ${JSON.stringify(plan)} must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
  }
  return plan;
}

/** The device id a CSR asks for (its CN), checked; FH_ERR_CSR_INVALID when the CN is missing or not a valid id. */
export function deviceIdFromCsr(csrPem: string): string {
  const csr = verifyCsr(csrPem);
  if (csr.commonName === null) throw new FleethubError('FH_ERR_CSR_INVALID', 'invalid CSR: its subject has no CN (the CN is the device id)');
  try {
    assertDeviceId(csr.commonName);
  } catch (err) {
    throw new FleethubError('FH_ERR_CSR_INVALID', `invalid CSR: its CN is not a valid device id (${(err as Error).message})`);
  }
  return csr.commonName;
}

/** Everything needed to issue one device certificate. */
export interface DeviceIssue {
  readonly id: string;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject | null;
  readonly keyType: KeyType;
  readonly plan: string | null;
  readonly days: number;
}

/** Signs one device certificate; returns the stored record and the files to write. Pure apart from randomness. */
export function signDevice(signer: SigningCa, dir: string, req: DeviceIssue, now = new Date()): { device: StoredDevice; files: FileWrite[] } {
  const paths = pkiPaths(dir);
  const { ca } = signer;
  const cert = issueCertificate({
    profile: 'device', commonName: req.id, publicKey: req.publicKey, issuer: ca.issuer,
    validity: validityFor(req.days, now, ca.issuer.notAfter),
  });
  const files: FileWrite[] = [];
  if (req.privateKey) files.push({ path: paths.deviceKey(req.id), data: privateKeyPem(req.privateKey), mode: KEY_MODE });
  files.push({ path: paths.deviceCert(req.id), data: cert.pem, mode: PUBLIC_MODE });
  const device: StoredDevice = {
    id: req.id, serial: cert.serial, keyType: req.keyType,
    notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(),
    plan: req.plan, revokedAt: null, reason: null, hasKey: req.privateKey !== null,
    ...(signer.role === 'issuing' ? { issuer: 'issuing' as const } : {}),
  };
  return { device, files };
}

/**
 * Moves the current record of `id` (if any) to the history, revoking it when
 * it is still valid. Active ids need `force`. Returns the CA whose CRL must
 * be rewritten when a revocation happened, else null.
 */
export function retireDevice(inventory: InventoryFile, id: string, force: boolean, now = new Date()): CaRole | null {
  const index = inventory.devices.findIndex((d) => d.id === id);
  const old = inventory.devices[index];
  if (!old) return null;
  const status = statusOf(old, now);
  if (status === 'active' && !force) {
    throw new FleethubError('FH_ERR_DEVICE_EXISTS', `device ${id} already has an active certificate (--force revokes it and issues a new one)`);
  }
  inventory.devices.splice(index, 1);
  inventory.history.push(status === 'active' ? markRevoked(old, 'superseded', now) : old);
  return status === 'active' ? issuerRoleOf(old) : null;
}

/**
 * Issues a certificate for device `id`: a new key pair (0600 key file), or
 * the key of `csrPem` (verified; its CN must equal `id`; no key written).
 * The inventory records it. An active `id` fails with FH_ERR_DEVICE_EXISTS
 * unless `force`, which first revokes the old certificate and rewrites the CRL.
 */
export async function addDevice(dir: string, id: string, opts: AddDeviceOptions = {}): Promise<DeviceRecord> {
  assertDeviceId(id);
  const plan = resolvePlan(opts.plan);
  let spec: KeySpec | undefined;
  let csrKey: { publicKey: KeyObject; keyType: KeyType } | undefined;
  if (opts.csrPem !== undefined) {
    const requested = deviceIdFromCsr(opts.csrPem);
    if (requested !== id) throw new FleethubError('FH_ERR_CSR_INVALID', `invalid CSR: its CN ${JSON.stringify(requested)} does not match the device id ${JSON.stringify(id)}`);
    csrKey = verifyCsr(opts.csrPem);
  } else {
    spec = resolveKeySpec(opts.keyType, opts.keyBits);
  }
  const paths = pkiPaths(dir);
  const passphrase = opts.issuingPassphrase ?? null;
  const signer = await loadSigningCa(paths.dir, passphrase);
  const days = resolveDays(opts.days, defaultDeviceDays(signer.role, opts.renewal));
  return withPkiLock(paths.dir, async () => {
    const inventory = await loadInventory(paths.dir);
    // Checked before the slow key generation, and again nothing is written until here passes.
    const probe: InventoryFile = { ...inventory, devices: [...inventory.devices], history: [...inventory.history] };
    retireDevice(probe, id, opts.force ?? false);
    await ensurePrivateDir(paths.devicesDir);
    const keys = csrKey ? { publicKey: csrKey.publicKey, privateKey: null } : await generateKeys(spec as KeySpec);
    const keyType = csrKey?.keyType ?? (spec as KeySpec).type;
    const { device, files } = signDevice(signer, paths.dir, { id, publicKey: keys.publicKey, privateKey: keys.privateKey, keyType, plan, days });
    // SPEC: revoke before re-issuing, so a crash never leaves two valid certificates for one id.
    // Saves the inventory with the revocation, then writes the CRL.
    const retired = retireDevice(inventory, id, opts.force ?? false);
    // A renewed certificate the hub issued and the device never used must not become current after this one.
    const pendingRole = retirePending(inventory, id, 'superseded');
    if (retired !== null) await writeCaCrlUnlocked(paths.dir, retired, { issuingPassphrase: passphrase }, inventory);
    if (pendingRole !== null && pendingRole !== retired) await writeCaCrlUnlocked(paths.dir, pendingRole, { issuingPassphrase: passphrase }, inventory);
    await writeFilesAtomic(files);
    // A key file left from an earlier certificate must not sit next to a CSR-issued one.
    if (!keys.privateKey) await unlink(paths.deviceKey(id)).catch(() => {});
    inventory.devices.push(device);
    await saveInventory(paths.dir, inventory);
    return toRecord(device);
  });
}
