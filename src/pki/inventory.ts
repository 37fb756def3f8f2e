/**
 * The device inventory: one JSON file (`inventory.json`) holding the current
 * certificate of every device and the history of replaced ones (which the CRL
 * still lists). Written atomically; `status` is computed on read, so an
 * expired device shows as expired without anyone rewriting the file.
 */
import { FleethubError } from '../errors.js';
import type { RevocationReason } from './crl.js';
import type { KeyType } from './keys.js';
import { exists, readText, writeOneAtomic, PUBLIC_MODE } from './pki-files.js';
import { pkiPaths } from './paths.js';

/** A device's state: revoked wins over expired; expired is computed from notAfter. */
export type DeviceStatus = 'active' | 'revoked' | 'expired';

/** One issued device certificate, as stored. */
export interface StoredDevice {
  readonly id: string;
  /** Uppercase hex, equal to Node's `X509Certificate.serialNumber`. */
  readonly serial: string;
  readonly keyType: KeyType;
  /** ISO 8601. */
  readonly notBefore: string;
  /** ISO 8601. */
  readonly notAfter: string;
  readonly plan: string | null;
  /** ISO 8601 when revoked, else null. */
  readonly revokedAt: string | null;
  readonly reason: RevocationReason | null;
  /** False when issued from a CSR: the private key never left the device, so there is no key file. */
  readonly hasKey: boolean;
  /** `issuing` when the issuing CA signed it (its CRL lists it when revoked); absent: the root did. */
  readonly issuer?: 'issuing';
  /** ISO 8601 when the hub issued it by renewal (protocol 2); absent: issued otherwise. */
  readonly renewedAt?: string;
}

/**
 * A certificate the hub issued by renewal that the device has not used yet
 * (SPEC: Device protocol version 2): it becomes the device's current one at
 * its first handshake with it. Its PEM is `renewals/<id>.crt`.
 */
export interface StoredPending extends StoredDevice {
  /** The serial of the certificate it replaces. */
  readonly previousSerial: string;
  /** SHA-256 of its key's SPKI, hex: a repeat with the same key gets this certificate again. */
  readonly keySha256: string;
  /** ISO 8601 when it was issued. */
  readonly issuedAt: string;
}

/** A provisioning batch (SPEC: Provisioning by claim): its claim certificate and who may use it. */
export interface StoredBatch {
  readonly name: string;
  /** The claim certificate's serial, uppercase hex. */
  readonly serial: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601: the claim certificate's notAfter. */
  readonly notAfter: string;
  /** Device ids the batch may provision; null with `open`. */
  readonly allow: readonly string[] | null;
  /** `--open --max N`: any id, at most `max` of them. */
  readonly max: number | null;
  /** ISO 8601 when revoked (its claim certificate is on `claim-crl.pem`), else null. */
  readonly revokedAt: string | null;
}

/** One device provisioned by claim. */
export interface StoredProvision {
  readonly id: string;
  readonly batch: string;
  /** The issued certificate's serial. */
  readonly serial: string;
  /** SHA-256 of the device key's SPKI, hex: an identical repeat (same id, same key) gets the same certificate. */
  readonly keySha256: string;
  /** ISO 8601. */
  readonly at: string;
}

/** A device as {@link readInventory} returns it: the stored fields and its status now. */
export interface DeviceRecord extends StoredDevice {
  readonly status: DeviceStatus;
}

/** The inventory file's content. */
export interface InventoryFile {
  readonly version: 1;
  /** The current certificate of each device, in issue order. */
  devices: StoredDevice[];
  /** Certificates replaced by a later `device add` of the same id (revoked ones stay on the CRL). */
  history: StoredDevice[];
  /**
   * The highest CRL number the CA has used (0: none yet), recorded before the
   * CRL is written, so a number is never issued twice (RFC 5280 §5.2.3), even
   * when an older `crl.pem` is put back. Absent in inventories written before
   * it existed: read as 0, and `crl.pem`'s own number then counts.
   */
  crlNumber: number;
  /** The issuing CA's highest CRL number (as crlNumber, for `issuing-crl.pem`). */
  issuingCrlNumber: number;
  /** The claim CA's highest CRL number (as crlNumber, for `claim-crl.pem`). */
  claimCrlNumber: number;
  /** Provisioning batches, in creation order. */
  batches: StoredBatch[];
  /** Devices provisioned by claim (until `provision reset`). */
  provisioned: StoredProvision[];
  /** Renewed certificates not used yet, one per device at most. */
  pending: StoredPending[];
}

/** An inventory with nothing in it. */
export function emptyInventory(): InventoryFile {
  return { version: 1, devices: [], history: [], crlNumber: 0, issuingCrlNumber: 0, claimCrlNumber: 0, batches: [], provisioned: [], pending: [] };
}

function crlNumberField(value: unknown, key: string): number {
  const n = value ?? 0;
  // A damaged number must stop the CA rather than read as 0: it could then reissue a number.
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error(`${key} ${JSON.stringify(n)} is not a whole number`);
  return n;
}

function listField<T>(value: unknown, key: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${key} is not a list`);
  return value as T[];
}

/** Status of a stored device at `now`. */
export function statusOf(d: StoredDevice, now = new Date()): DeviceStatus {
  if (d.revokedAt !== null) return 'revoked';
  return Date.parse(d.notAfter) <= now.getTime() ? 'expired' : 'active';
}

/** Adds the computed status. */
export function toRecord(d: StoredDevice, now = new Date()): DeviceRecord {
  return { ...d, status: statusOf(d, now) };
}

/** Pure: parses the text of `inventory.json`; throws FH_ERR_PKI_IO naming `path` when it is not one. */
export function parseInventory(text: string, path: string): InventoryFile {
  try {
    const parsed = JSON.parse(text) as Partial<InventoryFile>;
    if (parsed.version !== 1 || !Array.isArray(parsed.devices) || !Array.isArray(parsed.history)) throw new Error('unexpected shape');
    // Fields added after the first version are absent in older inventories: read as none.
    return {
      version: 1, devices: parsed.devices, history: parsed.history,
      crlNumber: crlNumberField(parsed.crlNumber, 'crlNumber'),
      issuingCrlNumber: crlNumberField(parsed.issuingCrlNumber, 'issuingCrlNumber'),
      claimCrlNumber: crlNumberField(parsed.claimCrlNumber, 'claimCrlNumber'),
      batches: listField<StoredBatch>(parsed.batches, 'batches'),
      provisioned: listField<StoredProvision>(parsed.provisioned, 'provisioned'),
      pending: listField<StoredPending>(parsed.pending, 'pending'),
    };
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot read ${path}: not a fleethub inventory (${(err as Error).message})`, { cause: err });
  }
}

/** Loads the inventory file of `dir`; a missing file is an empty inventory. */
export async function loadInventory(dir: string): Promise<InventoryFile> {
  const path = pkiPaths(dir).inventory;
  if (!(await exists(path))) return emptyInventory();
  return parseInventory(await readText(path), path);
}

/** Atomically replaces the inventory file. */
export async function saveInventory(dir: string, inventory: InventoryFile): Promise<void> {
  // One record per line: diffable, and still a single JSON document.
  const lines = (list: readonly object[]): string => list.map((d) => `    ${JSON.stringify(d)}`).join(',\n');
  let text = `{\n  "version": 1,\n  "crlNumber": ${inventory.crlNumber},\n`;
  // Written only once used, so an inventory of a PKI without online signing or provisioning reads as before.
  if (inventory.issuingCrlNumber > 0) text += `  "issuingCrlNumber": ${inventory.issuingCrlNumber},\n`;
  if (inventory.claimCrlNumber > 0) text += `  "claimCrlNumber": ${inventory.claimCrlNumber},\n`;
  if (inventory.batches.length > 0) text += `  "batches": [\n${lines(inventory.batches)}\n  ],\n`;
  if (inventory.provisioned.length > 0) text += `  "provisioned": [\n${lines(inventory.provisioned)}\n  ],\n`;
  if (inventory.pending.length > 0) text += `  "pending": [\n${lines(inventory.pending)}\n  ],\n`;
  text += `  "devices": [\n${lines(inventory.devices)}\n  ],\n  "history": [\n${lines(inventory.history)}\n  ]\n}\n`;
  await writeOneAtomic(pkiPaths(dir).inventory, text, PUBLIC_MODE);
}

/**
 * The current certificate of every device (one record per id, issue order),
 * with its status now. Replaced certificates are not listed (they stay on the CRL).
 */
export async function readInventory(dir: string): Promise<DeviceRecord[]> {
  const now = new Date();
  return (await loadInventory(dir)).devices.map((d) => toRecord(d, now));
}

/**
 * Moves the pending renewed certificate of `id` (if any) to the history,
 * revoked: when the device is revoked or replaced by hand, a certificate the
 * hub issued it earlier must not become current later. Returns the CA whose
 * CRL must be rewritten, or null when there was none. The caller saves.
 */
export function retirePending(inventory: InventoryFile, id: string, reason: RevocationReason, now = new Date()): 'issuing' | 'root' | null {
  const index = inventory.pending.findIndex((p) => p.id === id);
  const pending = inventory.pending[index];
  if (pending === undefined) return null;
  inventory.pending.splice(index, 1);
  const { previousSerial: _previous, keySha256: _key, issuedAt: _at, ...device } = pending;
  inventory.history.push({ ...device, revokedAt: now.toISOString(), reason });
  return pending.issuer === 'issuing' ? 'issuing' : 'root';
}
