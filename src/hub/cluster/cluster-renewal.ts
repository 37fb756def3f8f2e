/**
 * Renewal records in the cluster (SPEC: Cluster mode, Device protocol
 * version 2): the same decisions as a single hub ({@link decideRenewal}),
 * with the records in the renewal bucket instead of the PKI folder's
 * inventory, so a device may renew on one hub and reconnect on any other.
 *
 * One key per device, `d.<device>`: the certificate a hub made current
 * (null while the inventory's one is), and the pending one with its PEM.
 * The record belongs to the inventory's certificate it started from
 * (`base`): once the operator replaces the device by hand (another serial
 * in the inventory) the record is stale and the inventory's certificate
 * counts. Every change is a compare-and-set on the key's revision: two hubs
 * renewing one device at once issue one certificate (the loser reads again
 * and gets the repeat, or the one-renewal-per-day refusal), and the pending
 * certificate is committed once, at the device's first handshake with it on
 * whichever hub. `q.<device>` indexes the devices with a pending
 * certificate, so the periodic check of unused ones lists those only.
 * Revocations go through cluster-revocations.ts.
 */
import type { KV } from '@nats-io/kv';
import { signDevice, type SigningCa } from '../../pki/devices.js';
import { emptyInventory, statusOf, type InventoryFile, type StoredDevice, type StoredPending } from '../../pki/inventory.js';
import { keySha256 } from '../../pki/provisioning.js';
import {
  decideRenewal, renewalKeyType, type RenewalCommit, type RenewalLedger, type RenewalOutcome, type RenewalPolicy, type RenewalRequest,
} from '../../pki/renewal.js';
import { decodeToken, encodeToken } from '../../store/jetstream/nats-names.js';
import { isCasConflict } from './cluster-bucket.js';
import type { ClusterRevocation, DeviceCaRole } from './cluster-revocations.js';

const encoder = new TextEncoder();

/** Compare-and-set rounds one renewal or commit tries (each lost round means another hub changed the record first). */
export const MAX_RENEWAL_CAS_ATTEMPTS = 8;

/** An index entry without a pending certificate is removed once older than this: a renewal writes the entry a moment before its record. */
export const STALE_PENDING_INDEX_MS = 60_000;

/** A pending certificate as the cluster keeps it. */
export interface ClusterPending extends StoredPending {
  readonly pem: string;
  /** The CA that signed the certificate it replaces (whose CRL lists it once superseded). */
  readonly previousRole: DeviceCaRole;
}

/** `d.<device>`: a device's renewal record. */
export interface ClusterRenewalRecord {
  /** The serial of the inventory's certificate the record started from (null: a certificate the cluster issued by provisioning). */
  readonly base: string | null;
  /** The certificate a hub made current by a commit; null: the inventory's (`base`) is current. */
  readonly current: StoredDevice | null;
  readonly pending: ClusterPending | null;
}

/** The key of a device's entry in the index of pending certificates (what the periodic check lists, instead of every record). */
export function pendingKey(device: string): string {
  return `q.${encodeToken(device)}`;
}

/** The key of a device's renewal record. */
export function renewalKey(device: string): string {
  return `d.${encodeToken(device)}`;
}

/** What the ledger works with. */
export interface ClusterRenewalLedgerOptions {
  /** The renewal bucket. */
  readonly kv: KV;
  /** The device inventory as the operator last published it (or the PKI folder's when none was). */
  readonly inventory: () => Promise<InventoryFile>;
  /** The PKI folder (signDevice names files under it; nothing is written there). */
  readonly dir: string;
  readonly signer: SigningCa;
  readonly days: number;
  readonly policy: RenewalPolicy;
  /** Publishes the issuing CA's CRL if a revocation recorded in the cluster is not on it (run by the periodic check). */
  readonly reconcile?: () => Promise<void>;
  /** Records revocations and publishes the CRL of their CA; resolves with a CA whose CRL this hub cannot sign (the root's), else null. */
  readonly revoke: (revocations: readonly ClusterRevocation[]) => Promise<DeviceCaRole | null>;
  /**
   * Counts one issuance against the cluster-wide `renewal.perMinute`
   * (cluster-rate.ts): 0, or the ms until it allows one. Asked after the
   * hub's own bucket, before signing. Absent: the hub's bucket only.
   */
  readonly clusterRate?: () => Promise<number>;
}

/** Pure: the device's current certificate, from the inventory and its record (a record started from another certificate is stale). */
export function currentOf(inventoryDevice: StoredDevice | undefined, record: ClusterRenewalRecord | null): { current: StoredDevice | undefined; valid: boolean } {
  if (record === null) return { current: inventoryDevice, valid: false };
  if (inventoryDevice === undefined) return { current: record.base === null ? record.current ?? undefined : undefined, valid: record.base === null };
  if (record.base !== inventoryDevice.serial) return { current: inventoryDevice, valid: false };
  // A device the operator revoked stays revoked, whichever certificate a hub made current.
  const current = record.current === null ? inventoryDevice : { ...record.current, revokedAt: inventoryDevice.revokedAt, reason: inventoryDevice.reason };
  return { current, valid: true };
}

/** Renewal records in the cluster's renewal bucket. */
export class ClusterRenewalLedger implements RenewalLedger {
  readonly #o: ClusterRenewalLedgerOptions;
  /** Device → the last serial seen in a handshake that was not its pending one (a pending serial is always newer, so this never hides one). */
  readonly #notPending = new Map<string, string>();
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(options: ClusterRenewalLedgerOptions) {
    this.#o = options;
  }

  /** Empty: in cluster mode every handshake is offered to {@link commit} (another hub may have issued the pending certificate), so the participant needs no list. */
  pendingSerials(): Promise<Map<string, string>> {
    return Promise.resolve(new Map());
  }

  /** The current certificate of the device the inventory lists as `listed`: that one, or the one a hub made current. */
  async current(listed: StoredDevice): Promise<StoredDevice | undefined> {
    return currentOf(listed, (await this.#read(listed.id)).record).current;
  }

  renew(req: RenewalRequest, takeToken: () => number): Promise<RenewalOutcome> {
    return this.#track(this.#renew(req, takeToken));
  }

  commit(device: string, serial: string): Promise<RenewalCommit | null> {
    if (this.#notPending.get(device) === serial) return Promise.resolve(null);
    return this.#track(this.#commit(device, serial));
  }

  expirePending(maxAgeMs: number): Promise<string[]> {
    return this.#track(this.#expirePending(maxAgeMs));
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  async #read(device: string): Promise<{ record: ClusterRenewalRecord | null; revision: number }> {
    const entry = await this.#o.kv.get(renewalKey(device));
    if (entry === null || entry.operation !== 'PUT') return { record: null, revision: entry?.revision ?? 0 };
    return { record: entry.json<ClusterRenewalRecord>(), revision: entry.revision };
  }

  /** Writes `record` if the key is still at `revision`; false when another hub wrote it first. */
  async #write(device: string, record: ClusterRenewalRecord, revision: number): Promise<boolean> {
    const data = encoder.encode(JSON.stringify(record));
    try {
      if (revision === 0) await this.#o.kv.create(renewalKey(device), data);
      else await this.#o.kv.update(renewalKey(device), data, revision);
      return true;
    } catch (err) {
      if (isCasConflict(err)) return false;
      throw err;
    }
  }

  async #renew(req: RenewalRequest, takeToken: () => number): Promise<RenewalOutcome> {
    const keyType = renewalKeyType(req.publicKey);
    if (keyType !== 'ec' && keyType !== 'rsa') return { ok: false, error: 'csr_invalid', detail: keyType };
    const hash = keySha256(req.publicKey);
    for (let attempt = 1; attempt <= MAX_RENEWAL_CAS_ATTEMPTS; attempt += 1) {
      const { record, revision } = await this.#read(req.device);
      const inventory = await this.#o.inventory();
      const listed = inventory.devices.find((d) => d.id === req.device);
      const { current, valid } = currentOf(listed, record);
      const pending = valid ? record?.pending ?? null : null;
      // The same pure decision as a single hub, over this device's records only.
      const view: InventoryFile = { ...emptyInventory(), devices: current === undefined ? [] : [current], pending: pending === null ? [] : [pending] };
      const now = new Date();
      const decision = decideRenewal(view, req, hash, this.#o.policy, now);
      if (decision.kind === 'refuse') return { ok: false, error: decision.error, detail: decision.detail, ...(decision.retryAfterMs === undefined ? {} : { retryAfterMs: decision.retryAfterMs }) };
      if (decision.kind === 'repeat') {
        const stored = pending as ClusterPending;
        return { ok: true, certPem: stored.pem, serial: stored.serial, notAfter: new Date(stored.notAfter), repeat: true };
      }
      const wait = takeToken();
      if (wait > 0) return { ok: false, error: 'rate_limited', detail: 'over the hub-wide renewal rate', retryAfterMs: wait };
      // The hub's bucket let it through; the cluster's counter holds the rate for every hub together.
      const clusterWait = (await this.#o.clusterRate?.()) ?? 0;
      if (clusterWait > 0) return { ok: false, error: 'rate_limited', detail: 'over the cluster-wide renewal rate', retryAfterMs: clusterWait };
      const { device, files } = signDevice(this.#o.signer, this.#o.dir, { id: req.device, publicKey: req.publicKey, privateKey: null, keyType, plan: decision.current.plan, days: this.#o.days }, now);
      const pem = files[files.length - 1]?.data as string;
      const next: ClusterRenewalRecord = {
        base: valid ? (record as ClusterRenewalRecord).base : listed?.serial ?? null,
        current: valid ? (record as ClusterRenewalRecord).current : null,
        pending: {
          ...device, hasKey: false, previousSerial: decision.current.serial, keySha256: hash, issuedAt: now.toISOString(), pem,
          previousRole: decision.current.issuer === 'issuing' ? 'issuing' : 'root',
        },
      };
      // The index of pending certificates first: a crash after it leaves a stale entry the check removes, never a pending one it misses.
      await this.#o.kv.put(pendingKey(req.device), encoder.encode(device.serial));
      // Lost the race: another hub renewed this device first; read again (a repeat, or the daily limit).
      if (!(await this.#write(req.device, next, revision))) continue;
      // An older pending certificate (another key, or a stale record's) is revoked: one pending per device.
      const older = record?.pending ?? null;
      if (older !== null) await this.#o.revoke([revocationOf(older, 'issuing', now)]);
      return { ok: true, certPem: pem, serial: device.serial, notAfter: new Date(device.notAfter), repeat: false };
    }
    return { ok: false, error: 'unavailable', detail: `device ${req.device}'s record changed ${MAX_RENEWAL_CAS_ATTEMPTS} times while renewing`, retryAfterMs: this.#o.policy.minIntervalMs };
  }

  async #commit(id: string, serial: string): Promise<RenewalCommit | null> {
    for (let attempt = 1; attempt <= MAX_RENEWAL_CAS_ATTEMPTS; attempt += 1) {
      const { record, revision } = await this.#read(id);
      const pending = record?.pending ?? null;
      if (record === null || pending === null || pending.serial !== serial) {
        this.#notPending.set(id, serial);
        return null;
      }
      const now = new Date();
      const { previousSerial, keySha256: _key, issuedAt, pem: _pem, previousRole, ...device } = pending;
      const inventory = await this.#o.inventory();
      const { current } = currentOf(inventory.devices.find((d) => d.id === id), record);
      if (!(await this.#write(id, { base: record.base, current: { ...device, renewedAt: issuedAt }, pending: null }, revision))) continue;
      this.#notPending.set(id, serial);
      await this.#o.kv.delete(pendingKey(id)).catch(() => undefined);
      // The previous certificate is revoked unless it is expired or revoked already.
      const active = current !== undefined && current.serial === previousSerial && statusOf(current, now) === 'active';
      const crlNotWritten = active ? await this.#o.revoke([{ serial: previousSerial, role: previousRole, device: id, revokedAt: now.toISOString(), reason: 'superseded' }]) : null;
      return { device: id, serial, previousSerial, crlNotWritten };
    }
    throw new Error(`device ${id}'s record changed ${MAX_RENEWAL_CAS_ATTEMPTS} times while committing`);
  }

  async #expirePending(maxAgeMs: number): Promise<string[]> {
    const now = new Date();
    const expired: ClusterRevocation[] = [];
    const devices: string[] = [];
    for await (const key of await this.#o.kv.keys('q.>')) devices.push(decodeToken(key.slice(2)));
    for (const device of devices) {
      const { record, revision } = await this.#read(device);
      const pending = record?.pending ?? null;
      if (record === null || pending === null) {
        // A stale entry (a renewal that lost its race, or a hub that died in between); a young one may be a renewal under way.
        const entry = await this.#o.kv.get(pendingKey(device));
        if (entry !== null && now.getTime() - entry.created.getTime() > STALE_PENDING_INDEX_MS) await this.#o.kv.delete(pendingKey(device), { previousSeq: entry.revision }).catch(() => undefined);
        continue;
      }
      if (now.getTime() - Date.parse(pending.issuedAt) < maxAgeMs) continue;
      // Another hub's check may expire it at the same time: only the one whose write lands revokes.
      if (await this.#write(device, { ...record, pending: null }, revision)) {
        expired.push(revocationOf(pending, 'issuing', now));
        await this.#o.kv.delete(pendingKey(device)).catch(() => undefined);
      }
    }
    if (expired.length > 0) await this.#o.revoke(expired);
    else await this.#o.reconcile?.();
    return expired.map((r) => r.device);
  }
}

/** The revocation of a pending certificate (the hub's CA signed it). */
function revocationOf(pending: ClusterPending, role: DeviceCaRole, now: Date): ClusterRevocation {
  return { serial: pending.serial, role: pending.issuer === 'issuing' ? 'issuing' : role, device: pending.id, revokedAt: now.toISOString(), reason: 'superseded' };
}
