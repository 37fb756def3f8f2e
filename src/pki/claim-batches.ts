/**
 * Provisioning batches (SPEC: Provisioning by claim): the claim CA
 * (`claim-ca.crt`, made with the first batch), one claim certificate per
 * batch (`claims/<batch>.crt` and `.key`, what a factory line flashes), its
 * allow-list of device ids (or `--open` with a maximum), revoking a batch
 * (its claim certificate goes on `claim-crl.pem`, so the hub refuses it in
 * the TLS handshake) and `provision reset <id>`.
 *
 * The claim CA is a root of its own, apart from the device CAs: the hub
 * trusts it for `/v1/provision` only, and a claim certificate can never pass
 * for a device certificate, whatever its CN.
 */
import { FleethubError } from '../errors.js';
import { issueCertificate } from './certificate.js';
import { assertDeviceId } from './device-id.js';
import { loadInventory, saveInventory, type StoredBatch } from './inventory.js';
import { generateKeys, privateKeyPem, resolveKeySpec } from './keys.js';
import { loadClaimCa, type LoadedCa } from './loaded-ca.js';
import { pkiPaths } from './paths.js';
import { ensurePrivateDir, exists, KEY_MODE, PUBLIC_MODE, withPkiLock, writeFilesAtomic } from './pki-files.js';
import { issuerRoleOf, markRevoked, writeCaCrlUnlocked } from './revocation.js';
import { resolveDays, validityFor } from './validity.js';
import { caKeyPem } from './issuing-ca.js';

/** The claim CA's subject CN. */
export const CLAIM_CA_NAME = 'fleethub claim CA';

/** Claim CA lifetime: as long as the root's default, so batches made years apart share it. @defaultValue 3650 */
export const DEFAULT_CLAIM_CA_DAYS = 3650;

/**
 * A claim certificate's lifetime: two years, long enough for a batch to sit
 * in a warehouse before first boot, short enough that a leaked one expires.
 * @defaultValue 730
 */
export const DEFAULT_CLAIM_DAYS = 730;

/** Most ids in one allow-list (and largest `--max`). */
export const MAX_BATCH_IDS = 100_000;

/** Options of {@link addBatch}: an allow-list, or `open` with `max`. */
export interface AddBatchOptions {
  /** Device ids the batch may provision. */
  ids?: readonly string[];
  /** Any id may be provisioned, at most `max` of them (an explicit choice: a leaked claim certificate then mints up to `max` devices). */
  open?: boolean;
  max?: number;
  /** @defaultValue {@link DEFAULT_CLAIM_DAYS} */
  days?: number;
}

/** Parses an ids file: one id per line; blank lines and `#` comments are skipped; each id is checked. */
export function parseIdsFile(text: string): string[] {
  const ids: string[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    try {
      assertDeviceId(line);
    } catch (err) {
      throw new FleethubError('FH_ERR_INVALID_ID', `ids file line ${i + 1}: ${(err as Error).message}`, { cause: err });
    }
    if (!seen.has(line)) ids.push(line);
    seen.add(line);
    if (ids.length > MAX_BATCH_IDS) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `an ids file holds at most ${MAX_BATCH_IDS} ids`);
  }
  if (ids.length === 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'the ids file lists no device id');
  return ids;
}

/** The claim CA, made (with its empty CRL) when the folder has none yet. The caller holds the PKI lock. */
async function ensureClaimCaUnlocked(dir: string): Promise<LoadedCa> {
  const existing = await loadClaimCa(dir);
  if (existing !== null) return existing;
  const paths = pkiPaths(dir);
  const keys = await generateKeys(resolveKeySpec('ec'));
  const cert = issueCertificate({
    profile: 'ca', pathLen: 0, commonName: CLAIM_CA_NAME, publicKey: keys.publicKey, selfKey: keys.privateKey,
    validity: validityFor(DEFAULT_CLAIM_CA_DAYS, new Date()),
  });
  await writeFilesAtomic([
    { path: paths.claimCaKey, data: caKeyPem(keys.privateKey, null), mode: KEY_MODE },
    { path: paths.claimCaCert, data: cert.pem, mode: PUBLIC_MODE },
  ]);
  // OpenSSL checks every CA of a chain against a CRL: the claim CA's starts empty.
  await writeCaCrlUnlocked(dir, 'claim');
  const made = await loadClaimCa(dir);
  if (made === null) throw new FleethubError('FH_ERR_PKI_IO', `cannot read back ${paths.claimCaCert}`);
  return made;
}

/**
 * Makes batch `name`: its claim certificate and key under `claims/`, and
 * its record (allow-list or open maximum) in the inventory. Needs an issuing
 * CA (the hub signs provisioned devices with it). FH_ERR_FILE_EXISTS when
 * the batch exists.
 */
export async function addBatch(dir: string, name: string, opts: AddBatchOptions): Promise<StoredBatch> {
  assertDeviceId(name);
  const open = opts.open ?? false;
  if (open === (opts.ids !== undefined)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'give either --ids-file FILE (the allow-list) or --open --max N');
  }
  if (open && (opts.max === undefined || !Number.isInteger(opts.max) || opts.max < 1 || opts.max > MAX_BATCH_IDS)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--open needs --max N (1 to ${MAX_BATCH_IDS}): how many devices the claim certificate may provision`);
  }
  if (!open && opts.max !== undefined) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', '--max applies with --open only');
  const days = resolveDays(opts.days, DEFAULT_CLAIM_DAYS);
  const paths = pkiPaths(dir);
  if (!(await exists(paths.issuingCert))) {
    throw new FleethubError('FH_ERR_CA_MISSING', `no issuing CA in ${paths.dir}: the hub signs provisioned devices with it; run "fleethub ca issuing init" first`);
  }
  return withPkiLock(paths.dir, async () => {
    const inventory = await loadInventory(paths.dir);
    if (inventory.batches.some((b) => b.name === name) || (await exists(paths.claimCert(name)))) {
      throw new FleethubError('FH_ERR_FILE_EXISTS', `batch ${name} exists (see "fleethub provision list")`);
    }
    const claimCa = await ensureClaimCaUnlocked(paths.dir);
    const keys = await generateKeys(resolveKeySpec('ec'));
    const now = new Date();
    const cert = issueCertificate({
      profile: 'device', commonName: name, organization: 'fleethub claim', publicKey: keys.publicKey, issuer: claimCa.issuer,
      validity: validityFor(days, now, claimCa.issuer.notAfter),
    });
    await ensurePrivateDir(paths.claimsDir);
    await writeFilesAtomic([
      { path: paths.claimKey(name), data: privateKeyPem(keys.privateKey), mode: KEY_MODE },
      { path: paths.claimCert(name), data: cert.pem, mode: PUBLIC_MODE },
    ]);
    const batch: StoredBatch = {
      name, serial: cert.serial, createdAt: now.toISOString(), notAfter: cert.notAfter.toISOString(),
      allow: open ? null : [...(opts.ids ?? [])], max: open ? (opts.max as number) : null, revokedAt: null,
    };
    inventory.batches.push(batch);
    await saveInventory(paths.dir, inventory);
    return batch;
  });
}

/** Every batch with how many devices it provisioned. */
export async function listBatches(dir: string): Promise<{ batch: StoredBatch; provisioned: number }[]> {
  const inventory = await loadInventory(pkiPaths(dir).dir);
  const counts = new Map<string, number>();
  for (const p of inventory.provisioned) counts.set(p.batch, (counts.get(p.batch) ?? 0) + 1);
  return inventory.batches.map((batch) => ({ batch, provisioned: counts.get(batch.name) ?? 0 }));
}

/**
 * Revokes batch `name`: its claim certificate goes on `claim-crl.pem` (a
 * running hub refuses it in the handshake within crlCheckMs). Devices it
 * already provisioned keep working.
 */
export async function revokeBatch(dir: string, name: string): Promise<StoredBatch> {
  assertDeviceId(name);
  const root = pkiPaths(dir).dir;
  return withPkiLock(root, async () => {
    const inventory = await loadInventory(root);
    const index = inventory.batches.findIndex((b) => b.name === name);
    const batch = inventory.batches[index];
    if (batch === undefined) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `unknown batch ${JSON.stringify(name)} (see "fleethub provision list")`);
    if (batch.revokedAt !== null) throw new FleethubError('FH_ERR_ALREADY_REVOKED', `batch ${name} was already revoked at ${batch.revokedAt}`);
    const revoked: StoredBatch = { ...batch, revokedAt: new Date().toISOString() };
    inventory.batches[index] = revoked;
    await writeCaCrlUnlocked(root, 'claim', {}, inventory);
    return revoked;
  });
}

/**
 * `provision reset <id>`: the id may be provisioned again (a device whose
 * flash was erased). Its current certificate, when active, is revoked
 * (reason superseded) so that two certificates never serve one id.
 */
export async function resetProvisioned(dir: string, id: string, issuingPassphrase: string | null): Promise<{ revokedSerial: string | null }> {
  assertDeviceId(id);
  const root = pkiPaths(dir).dir;
  return withPkiLock(root, async () => {
    const inventory = await loadInventory(root);
    const index = inventory.provisioned.findIndex((p) => p.id === id);
    if (index === -1) throw new FleethubError('FH_ERR_DEVICE_UNKNOWN', `device ${id} was not provisioned by claim (see "fleethub device list")`);
    inventory.provisioned.splice(index, 1);
    const current = inventory.devices.findIndex((d) => d.id === id && d.revokedAt === null);
    const device = inventory.devices[current];
    if (device === undefined) {
      await saveInventory(root, inventory);
      return { revokedSerial: null };
    }
    inventory.devices[current] = markRevoked(device, 'superseded');
    await writeCaCrlUnlocked(root, issuerRoleOf(device), { issuingPassphrase }, inventory);
    return { revokedSerial: device.serial };
  });
}
