/**
 * Issuing a device certificate to a device that claims an id with its
 * batch's claim certificate (SPEC: Provisioning by claim). The decision is
 * pure ({@link decideProvision}); {@link FileProvisioningLedger} takes it
 * and records the outcome in the inventory under the PKI lock, so the CLI
 * and a running hub never write the inventory at once. The hub sees only
 * the {@link ProvisioningLedger} interface, so cluster mode can keep the
 * same records in its own store.
 *
 * Never anything but a CSR: the device makes its key, the hub never sees it.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { FleethubError } from '../errors.js';
import { verifyCsr } from './csr.js';
import { isValidDeviceId } from './device-id.js';
import { retireDevice, signDevice, type SigningCa } from './devices.js';
import { loadInventory, saveInventory, statusOf, type InventoryFile, type StoredBatch, type StoredDevice, type StoredProvision } from './inventory.js';
import { spkiDer } from './key-encoding.js';
import { pkiPaths } from './paths.js';
import { ensurePrivateDir, withPkiLock, writeFilesAtomic } from './pki-files.js';
import { writeCaCrlUnlocked } from './revocation.js';

/** The `provisionError` codes of SPEC: Provisioning by claim (`rate_limited` is the hub's). */
export type ProvisionRefusal = 'not_allowed' | 'already_provisioned' | 'csr_invalid' | 'claim_revoked';

/** A device's request, as the hub received it over a claim certificate. */
export interface ProvisionRequest {
  /** The batch of the claim certificate (its CN). */
  readonly batch: string;
  /** The claim certificate's serial, uppercase hex. */
  readonly claimSerial: string;
  /** The id the device asks for. */
  readonly device: string;
  /** Its PKCS #10 CSR, PEM. */
  readonly csrPem: string;
}

/** What the device gets. */
export type ProvisionOutcome =
  | { readonly ok: true; readonly device: string; readonly certPem: string; readonly serial: string; readonly notAfter: Date; readonly repeat: boolean }
  | { readonly ok: false; readonly error: ProvisionRefusal; readonly detail: string }
  /** Over a rate the ledger keeps (the cluster-wide rate of a batch): nothing issued; try again after `retryAfterMs`. */
  | { readonly ok: false; readonly error: 'rate_limited'; readonly detail: string; readonly retryAfterMs: number };

/** Where provisioning decisions are taken and recorded (the inventory file today; the cluster's store later). */
export interface ProvisioningLedger {
  provision(request: ProvisionRequest): Promise<ProvisionOutcome>;
}

/** SHA-256 of a public key's SPKI, hex: how a repeat with the same key is recognized. */
export function keySha256(publicKey: KeyObject): string {
  return createHash('sha256').update(spkiDer(publicKey)).digest('hex');
}

/** What {@link decideProvision} decided. */
export type ProvisionDecision =
  | { readonly kind: 'issue' }
  | { readonly kind: 'repeat'; readonly serial: string }
  | { readonly kind: 'refuse'; readonly error: ProvisionRefusal; readonly detail: string };

function refuse(error: ProvisionRefusal, detail: string): ProvisionDecision {
  return { kind: 'refuse', error, detail };
}

/** What {@link decideProvision} looks at: the records of one request's batch and id, wherever they are kept. */
export interface ProvisionView {
  /** The batch the request names. */
  readonly batch: StoredBatch | undefined;
  /** How the id was provisioned, if it was. */
  readonly done: StoredProvision | undefined;
  /** How many ids the batch provisioned. */
  readonly used: number;
  /** The id's current certificate, if it has one. */
  readonly current: StoredDevice | undefined;
}

/** Pure: the view of an inventory for `req`. */
export function provisionViewOf(inventory: InventoryFile, req: ProvisionRequest): ProvisionView {
  return {
    batch: inventory.batches.find((b) => b.name === req.batch),
    done: inventory.provisioned.find((p) => p.id === req.device),
    used: inventory.provisioned.reduce((n, p) => n + (p.batch === req.batch ? 1 : 0), 0),
    current: inventory.devices.find((d) => d.id === req.device),
  };
}

/**
 * Pure: may batch `req.batch` provision `req.device` with the key whose hash
 * is `keyHash`? Refused: an unknown or revoked batch or another claim
 * certificate than the batch's (`claim_revoked`), an id off the allow-list
 * or past an open batch's maximum (`not_allowed`), an id provisioned before
 * with another key, or one with an active certificate from elsewhere
 * (`already_provisioned`). The same id and key again: `repeat`.
 */
export function decideProvision(view: ProvisionView, req: ProvisionRequest, keyHash: string, now = new Date()): ProvisionDecision {
  const { batch, done } = view;
  if (batch === undefined || batch.serial !== req.claimSerial || batch.revokedAt !== null) return refuse('claim_revoked', `batch ${req.batch} is revoked or unknown`);
  if (done !== undefined) {
    if (done.batch === req.batch && done.keySha256 === keyHash) return { kind: 'repeat', serial: done.serial };
    return refuse('already_provisioned', `device ${req.device} was provisioned already (fleethub provision reset ${req.device} allows it again)`);
  }
  if (batch.allow !== null) {
    if (!batch.allow.includes(req.device)) return refuse('not_allowed', `device ${req.device} is not on batch ${req.batch}'s allow-list`);
  } else if (view.used >= (batch.max ?? 0)) {
    return refuse('not_allowed', `batch ${req.batch} provisioned its maximum of ${batch.max ?? 0} devices`);
  }
  // Never take over an id issued otherwise (device add) while its certificate is good.
  const current = view.current;
  if (current !== undefined && statusOf(current, now) === 'active') return refuse('already_provisioned', `device ${req.device} already has an active certificate`);
  return { kind: 'issue' };
}

/** Checks the CSR of a request: valid signature, supported key, CN equal to the id asked for. */
export function checkProvisionCsr(req: ProvisionRequest): { publicKey: KeyObject; keyType: 'ec' | 'rsa' } | { error: string } {
  if (!isValidDeviceId(req.device)) return { error: 'not a valid device id' };
  try {
    const csr = verifyCsr(req.csrPem);
    if (csr.commonName !== req.device) return { error: `the CSR's CN ${JSON.stringify(csr.commonName)} is not the device id ${JSON.stringify(req.device)}` };
    return { publicKey: csr.publicKey, keyType: csr.keyType };
  } catch (err) {
    if (err instanceof FleethubError) return { error: err.message };
    throw err;
  }
}

/** Options of {@link FileProvisioningLedger}. */
export interface FileLedgerOptions {
  /** The PKI folder. */
  readonly dir: string;
  /** The CA that signs (the issuing CA). */
  readonly signer: SigningCa;
  /** Lifetime of provisioned certificates, in days. */
  readonly days: number;
  /** The passphrase of an encrypted `issuing.key` (a CRL rewrite when an expired certificate is retired). */
  readonly issuingPassphrase: string | null;
}

/** The ledger in the PKI folder's inventory, written under the PKI lock; one request at a time in this process. */
export class FileProvisioningLedger implements ProvisioningLedger {
  readonly #options: FileLedgerOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: FileLedgerOptions) {
    this.#options = options;
  }

  provision(request: ProvisionRequest): Promise<ProvisionOutcome> {
    const next = this.#queue.then(() => this.#provision(request));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const csr = checkProvisionCsr(req);
    if ('error' in csr) return { ok: false, error: 'csr_invalid', detail: csr.error };
    const hash = keySha256(csr.publicKey);
    const { dir, signer, days } = this.#options;
    const paths = pkiPaths(dir);
    return withPkiLock(paths.dir, async () => {
      const inventory = await loadInventory(paths.dir);
      const now = new Date();
      const decision = decideProvision(provisionViewOf(inventory, req), req, hash, now);
      if (decision.kind === 'refuse') return { ok: false, error: decision.error, detail: decision.detail };
      if (decision.kind === 'repeat') {
        const device = inventory.devices.find((d) => d.id === req.device && d.serial === decision.serial);
        if (device !== undefined) {
          const certPem = await readFile(paths.deviceCert(req.device), 'utf8');
          return { ok: true, device: req.device, certPem, serial: device.serial, notAfter: new Date(device.notAfter), repeat: true };
        }
        return { ok: false, error: 'already_provisioned', detail: `device ${req.device}'s provisioned certificate was replaced or revoked` };
      }
      await ensurePrivateDir(paths.devicesDir);
      const { device, files } = signDevice(signer, paths.dir, { id: req.device, publicKey: csr.publicKey, privateKey: null, keyType: csr.keyType, plan: null, days }, now);
      // A revoked or expired record of the id moves to the history (an expired one still valid is revoked first).
      const retired = retireDevice(inventory, req.device, false, now);
      if (retired !== null) await writeCaCrlUnlocked(paths.dir, retired, { issuingPassphrase: this.#options.issuingPassphrase }, inventory);
      await writeFilesAtomic(files);
      // A key file left from an earlier certificate must not sit next to a CSR-issued one.
      await unlink(paths.deviceKey(req.device)).catch(() => {});
      inventory.devices.push(device);
      inventory.provisioned.push({ id: req.device, batch: req.batch, serial: device.serial, keySha256: hash, at: now.toISOString() });
      await saveInventory(paths.dir, inventory);
      return { ok: true, device: req.device, certPem: files[files.length - 1]?.data as string, serial: device.serial, notAfter: new Date(device.notAfter), repeat: false };
    });
  }
}
