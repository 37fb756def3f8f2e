/**
 * Renewing a device certificate over the device's own connection (SPEC:
 * Device protocol version 2). The decision is pure ({@link decideRenewal});
 * {@link FileRenewalLedger} takes it and records the outcome in the
 * inventory under the PKI lock, so the CLI and a running hub never write the
 * inventory at once. The new certificate stays pending (`renewals/<id>.crt`,
 * the inventory's `pending`) until the device's first handshake with it
 * ({@link FileRenewalLedger.commit}); the previous one then is revoked
 * (`superseded`). A pending one unused for long is revoked
 * ({@link FileRenewalLedger.expirePending}).
 *
 * Never anything but a public key from the device: the hub never makes or
 * sees a device's private key.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { assertDeviceId } from './device-id.js';
import { signDevice, type SigningCa } from './devices.js';
import { loadInventory, retirePending, saveInventory, statusOf, type InventoryFile, type StoredDevice, type StoredPending } from './inventory.js';
import { keyTypeOf, type KeyType } from './keys.js';
import { pkiPaths } from './paths.js';
import { DIR_MODE, PUBLIC_MODE, withPkiLock, writeFilesAtomic } from './pki-files.js';
import { keySha256 } from './provisioning.js';
import { issuerRoleOf, markRevoked, writeCaCrlUnlocked, type CaRole } from './revocation.js';
import { renewAt } from './renewal-timing.js';

/** The `certError` codes of SPEC: Device protocol version 2. */
export type RenewalRefusal = 'csr_invalid' | 'not_due' | 'rate_limited' | 'unavailable';

/** A device's renewal request, as the hub received it on a connection. */
export interface RenewalRequest {
  readonly device: string;
  /** The serial of the certificate of this connection's handshake, uppercase hex. */
  readonly serial: string;
  /** The key to certify: the CSR's (rekey) or the handshake certificate's (`renew`). */
  readonly publicKey: KeyObject;
}

/** What the device gets. */
export type RenewalOutcome =
  | { readonly ok: true; readonly certPem: string; readonly serial: string; readonly notAfter: Date; readonly repeat: boolean }
  | { readonly ok: false; readonly error: RenewalRefusal; readonly detail: string; readonly retryAfterMs?: number };

/** The rules a renewal is decided by. */
export interface RenewalPolicy {
  /** Shortest time between two renewals of one device, ms. */
  readonly minIntervalMs: number;
  /** Renew before `hello.cert.renew` says so (an operator rotating every certificate). */
  readonly allowEarly: boolean;
}

/** What {@link decideRenewal} decided. */
export type RenewalDecision =
  | { readonly kind: 'issue'; readonly current: StoredDevice }
  | { readonly kind: 'repeat'; readonly pending: StoredPending }
  | { readonly kind: 'refuse'; readonly error: RenewalRefusal; readonly detail: string; readonly retryAfterMs?: number };

/** Checks a key a renewal would certify: EC P-256 or RSA of at least 2048 bits (as `device add --csr`). */
export function renewalKeyType(publicKey: KeyObject): KeyType | string {
  const type = keyTypeOf(publicKey);
  if (type === undefined) return 'unsupported key: use EC P-256 or RSA';
  if (type === 'rsa' && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return 'RSA key shorter than 2048 bits';
  return type;
}

/**
 * Pure: may `req.device` get a new certificate for the key hashing to
 * `keyHash` now? Its handshake certificate must be its current, active one
 * (`unavailable` else: unknown to the inventory, or replaced by hand); the
 * same key as its pending certificate gets that one again (`repeat`, whatever
 * the limits); otherwise it must be due (`not_due`, unless `allowEarly`) and
 * its last renewal at least `minIntervalMs` ago (`rate_limited`).
 */
export function decideRenewal(inventory: InventoryFile, req: RenewalRequest, keyHash: string, policy: RenewalPolicy, now: Date): RenewalDecision {
  const current = inventory.devices.find((d) => d.id === req.device);
  if (current === undefined || current.serial !== req.serial || statusOf(current, now) !== 'active') {
    return { kind: 'refuse', error: 'unavailable', detail: `the certificate ${req.serial} is not device ${req.device}'s current active one in the inventory` };
  }
  const pending = inventory.pending.find((p) => p.id === req.device);
  if (pending !== undefined && pending.previousSerial === current.serial && pending.keySha256 === keyHash) return { kind: 'repeat', pending };
  const at = renewAt(req.device, Date.parse(current.notBefore), Date.parse(current.notAfter));
  if (!policy.allowEarly && now.getTime() < at) {
    return { kind: 'refuse', error: 'not_due', detail: `not due before ${new Date(at).toISOString()}`, retryAfterMs: at - now.getTime() };
  }
  const last = Math.max(pending === undefined ? 0 : Date.parse(pending.issuedAt), current.renewedAt === undefined ? 0 : Date.parse(current.renewedAt));
  const wait = last + policy.minIntervalMs - now.getTime();
  if (wait > 0) return { kind: 'refuse', error: 'rate_limited', detail: `renewed at ${new Date(last).toISOString()}: one renewal per device per ${policy.minIntervalMs} ms`, retryAfterMs: wait };
  return { kind: 'issue', current };
}

/** Options of {@link FileRenewalLedger}. */
export interface FileRenewalLedgerOptions {
  /** The PKI folder. */
  readonly dir: string;
  /** The CA that signs (the issuing CA). */
  readonly signer: SigningCa;
  /** Lifetime of renewed certificates, in days. */
  readonly days: number;
  readonly policy: RenewalPolicy;
  /** The passphrase of an encrypted `issuing.key` (its CRL is rewritten). */
  readonly issuingPassphrase: string | null;
  /**
   * Aborted when the hub closes: changes still queued run (a commit takes
   * milliseconds), but none waits for a PKI lock a command holds (FH_ERR_PKI_BUSY
   * at once), so closing never waits the lock's LOCK_WAIT_MS per queued
   * change. A commit that gave up is tried again at the device's next
   * handshake. @defaultValue none
   */
  readonly signal?: AbortSignal;
}

/** What a commit did. */
export interface RenewalCommit {
  readonly device: string;
  readonly serial: string;
  readonly previousSerial: string;
  /** The CRL that could not be rewritten (the root's, its key off the machine), or null. */
  readonly crlNotWritten: CaRole | null;
}

/**
 * Where renewal decisions are taken and recorded: the PKI folder's
 * inventory ({@link FileRenewalLedger}), or in cluster mode the cluster's
 * store (src/hub/cluster/cluster-renewal.ts). Both take the same pure
 * {@link decideRenewal}.
 */
export interface RenewalLedger {
  /** Device id → serial of its pending certificate, as the records have them now. */
  pendingSerials(): Promise<Map<string, string>>;
  /** Decides and records one renewal; `takeToken` (the hub-wide rate) is asked only when a certificate would be signed: 0, or the ms to wait. */
  renew(req: RenewalRequest, takeToken: () => number): Promise<RenewalOutcome>;
  /** The device connected with `serial`: when it is its pending certificate, it becomes current and the previous one is revoked. Null when there was nothing to commit. */
  commit(device: string, serial: string): Promise<RenewalCommit | null>;
  /** Revokes pending certificates issued more than `maxAgeMs` ago; returns their device ids. */
  expirePending(maxAgeMs: number): Promise<string[]>;
  /** Resolves once every change asked for so far is written (or failed). */
  idle(): Promise<void>;
}

/** `renewals/<id>.crt`: the pending certificate's PEM. */
export function pendingCertPath(dir: string, id: string): string {
  assertDeviceId(id);
  return join(pkiPaths(dir).dir, 'renewals', `${id}.crt`);
}

/** The renewal records in the PKI folder's inventory, written under the PKI lock; one change at a time in this process. */
export class FileRenewalLedger implements RenewalLedger {
  readonly #options: FileRenewalLedgerOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: FileRenewalLedgerOptions) {
    this.#options = options;
  }

  /** Device id → serial of its pending certificate, as the inventory has them now. */
  pendingSerials(): Promise<Map<string, string>> {
    // In the queue: read after any renewal or commit before it was recorded.
    return this.#serial(async () => new Map((await loadInventory(this.#options.dir)).pending.map((p) => [p.id, p.serial])));
  }

  /**
   * Decides and records one renewal. `takeToken` is asked only when a new
   * certificate would be signed (the global rate): it returns 0, or the ms
   * to wait (then nothing is issued).
   */
  renew(req: RenewalRequest, takeToken: () => number): Promise<RenewalOutcome> {
    return this.#serial(() => this.#renew(req, takeToken));
  }

  /** The device connected with its pending certificate `serial`: it becomes current and the previous one is revoked. Null when there was nothing to commit. */
  commit(device: string, serial: string): Promise<RenewalCommit | null> {
    return this.#serial(() => this.#commit(device, serial));
  }

  /** Revokes pending certificates issued more than `maxAgeMs` ago; returns their device ids. */
  expirePending(maxAgeMs: number): Promise<string[]> {
    return this.#serial(() => this.#expirePending(maxAgeMs));
  }

  /** Resolves once every change asked for so far is written (or failed). */
  idle(): Promise<void> {
    return this.#queue.then(() => undefined);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #renew(req: RenewalRequest, takeToken: () => number): Promise<RenewalOutcome> {
    const keyType = renewalKeyType(req.publicKey);
    if (keyType !== 'ec' && keyType !== 'rsa') return { ok: false, error: 'csr_invalid', detail: keyType };
    const hash = keySha256(req.publicKey);
    const { dir, signer, days, policy } = this.#options;
    const root = pkiPaths(dir).dir;
    return withPkiLock(root, async () => {
      const inventory = await loadInventory(root);
      const now = new Date();
      const decision = decideRenewal(inventory, req, hash, policy, now);
      if (decision.kind === 'refuse') return { ok: false, error: decision.error, detail: decision.detail, ...(decision.retryAfterMs === undefined ? {} : { retryAfterMs: decision.retryAfterMs }) };
      if (decision.kind === 'repeat') {
        const certPem = await readFile(pendingCertPath(root, req.device), 'utf8');
        return { ok: true, certPem, serial: decision.pending.serial, notAfter: new Date(decision.pending.notAfter), repeat: true };
      }
      const wait = takeToken();
      if (wait > 0) return { ok: false, error: 'rate_limited', detail: 'over the hub-wide renewal rate', retryAfterMs: wait };
      const { current } = decision;
      const { device, files } = signDevice(signer, root, { id: req.device, publicKey: req.publicKey, privateKey: null, keyType, plan: current.plan, days }, now);
      const pem = files[files.length - 1]?.data as string;
      // An older pending certificate (another key, past the interval) is revoked: one pending per device.
      const replaced = retirePending(inventory, req.device, 'superseded', now);
      await mkdir(join(root, 'renewals'), { recursive: true, mode: DIR_MODE });
      await writeFilesAtomic([{ path: pendingCertPath(root, req.device), data: pem, mode: PUBLIC_MODE }]);
      const sameKey = current.hasKey && hash === (await this.#currentKeyHash(root, req.device));
      inventory.pending.push({ ...device, hasKey: sameKey, previousSerial: current.serial, keySha256: hash, issuedAt: now.toISOString() });
      if (replaced !== null) await writeCaCrlUnlocked(root, replaced, { issuingPassphrase: this.#options.issuingPassphrase }, inventory);
      else await saveInventory(root, inventory);
      return { ok: true, certPem: pem, serial: device.serial, notAfter: new Date(device.notAfter), repeat: false };
    }, this.#options.signal);
  }

  /** SHA-256 of the public key of `devices/<id>.crt`, or null. */
  async #currentKeyHash(root: string, id: string): Promise<string | null> {
    try {
      return keySha256(new X509Certificate(await readFile(pkiPaths(root).deviceCert(id))).publicKey);
    } catch {
      return null;
    }
  }

  async #commit(id: string, serial: string): Promise<RenewalCommit | null> {
    const root = pkiPaths(this.#options.dir).dir;
    return withPkiLock(root, async () => {
      const inventory = await loadInventory(root);
      const index = inventory.pending.findIndex((p) => p.id === id && p.serial === serial);
      const pending = inventory.pending[index];
      if (pending === undefined) return null;
      const now = new Date();
      inventory.pending.splice(index, 1);
      const { previousSerial, keySha256: _key, issuedAt, ...device } = pending;
      const currentIndex = inventory.devices.findIndex((d) => d.id === id);
      const current = inventory.devices[currentIndex];
      const pem = await readFile(pendingCertPath(root, id), 'utf8');
      // The new certificate first, then the inventory that makes it current and revokes the previous one, then the CRL.
      await writeFilesAtomic([{ path: pkiPaths(root).deviceCert(id), data: pem, mode: PUBLIC_MODE }]);
      // A key file of the previous key must not sit next to a certificate for another key.
      if (!device.hasKey) await unlink(pkiPaths(root).deviceKey(id)).catch(() => {});
      let role: CaRole | null = null;
      if (current !== undefined) {
        inventory.devices.splice(currentIndex, 1);
        const active = statusOf(current, now) === 'active';
        inventory.history.push(active ? markRevoked(current, 'superseded', now) : current);
        if (active) role = issuerRoleOf(current);
      }
      inventory.devices.push({ ...device, renewedAt: issuedAt });
      await saveInventory(root, inventory);
      await unlink(pendingCertPath(root, id)).catch(() => {});
      const crlNotWritten = role === null ? null : await this.#writeCrl(root, role, inventory);
      return { device: id, serial, previousSerial, crlNotWritten };
    }, this.#options.signal);
  }

  async #expirePending(maxAgeMs: number): Promise<string[]> {
    const root = pkiPaths(this.#options.dir).dir;
    return withPkiLock(root, async () => {
      const inventory = await loadInventory(root);
      const now = new Date();
      const old = inventory.pending.filter((p) => now.getTime() - Date.parse(p.issuedAt) >= maxAgeMs);
      if (old.length === 0) return [];
      const roles = new Set<CaRole>();
      for (const p of old) {
        const role = retirePending(inventory, p.id, 'superseded', now);
        if (role !== null) roles.add(role);
        await unlink(pendingCertPath(root, p.id)).catch(() => {});
      }
      await saveInventory(root, inventory);
      for (const role of roles) await this.#writeCrl(root, role, inventory);
      return old.map((p) => p.id);
    }, this.#options.signal);
  }

  /** Rewrites a CRL; returns `role` when it could not be (the root's key is off the machine), else null. */
  async #writeCrl(root: string, role: CaRole, inventory: InventoryFile): Promise<CaRole | null> {
    try {
      await writeCaCrlUnlocked(root, role, { issuingPassphrase: this.#options.issuingPassphrase }, inventory);
      return null;
    } catch {
      // The inventory has the revocation; `fleethub ca crl` where the root's key lives writes the CRL.
      return role;
    }
  }
}
