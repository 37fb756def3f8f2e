/**
 * Provisioning records in the cluster (SPEC: Provisioning by claim, Cluster
 * mode): the same decision as a single hub ({@link decideProvision}), with
 * the records in the renewal bucket, so an id provisioned on one hub is
 * provisioned for all (one-time use per id, identical repeats idempotent)
 * and its device streams through any hub.
 *
 * `p.<device>` holds how the id was provisioned, with the certificate's PEM
 * (an identical repeat gets it back), written with create-if-absent: two
 * hubs provisioning one id at once issue one certificate. `n.<batch>` counts
 * the ids an open batch (`--open --max N`) provisioned, raised with a
 * compare-and-set before the certificate is signed, so the maximum holds
 * across hubs. The batches themselves (allow-list, revocation) come from
 * the inventory the operator published. A provisioned device also gets a
 * renewal record (`d.<device>`, cluster-renewal.ts) so it can renew.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KV } from '@nats-io/kv';
import { signDevice, type SigningCa } from '../../pki/devices.js';
import type { InventoryFile, StoredProvision } from '../../pki/inventory.js';
import { pkiPaths } from '../../pki/paths.js';
import {
  checkProvisionCsr, decideProvision, keySha256, provisionViewOf, type ProvisionOutcome, type ProvisionRequest, type ProvisioningLedger,
} from '../../pki/provisioning.js';
import { encodeToken } from '../../store/jetstream/nats-names.js';
import { isCasConflict } from './cluster-bucket.js';
import { currentOf, renewalKey, type ClusterRenewalRecord } from './cluster-renewal.js';

const encoder = new TextEncoder();

/** Compare-and-set rounds one request tries (each lost round means another hub provisioned the same id or batch first). */
export const MAX_PROVISION_CAS_ATTEMPTS = 8;

/** `p.<device>`: how an id was provisioned in the cluster. */
export interface ClusterProvision extends StoredProvision {
  readonly pem: string;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** The key of an id's provisioning record. */
export function provisionKey(device: string): string {
  return `p.${encodeToken(device)}`;
}

/** The key of an open batch's count. */
export function batchCountKey(batch: string): string {
  return `n.${encodeToken(batch)}`;
}

/** What the ledger works with. */
export interface ClusterProvisioningLedgerOptions {
  /** The renewal bucket. */
  readonly kv: KV;
  /** The inventory as the operator last published it (or the PKI folder's). */
  readonly inventory: () => Promise<InventoryFile>;
  /** The PKI folder (signDevice names files under it; nothing is written there). */
  readonly dir: string;
  readonly signer: SigningCa;
  readonly days: number;
  /**
   * Counts one issuance against the cluster-wide `provisioning.perBatchPerMinute`
   * of `batch` (cluster-rate.ts): 0, or the ms until it allows one. Asked
   * after the hub's own buckets, before signing. Absent: the hub's buckets only.
   */
  readonly clusterRate?: (batch: string) => Promise<number>;
}

/** Provisioning records in the cluster's renewal bucket. */
export class ClusterProvisioningLedger implements ProvisioningLedger {
  readonly #o: ClusterProvisioningLedgerOptions;

  constructor(options: ClusterProvisioningLedgerOptions) {
    this.#o = options;
  }

  async provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const csr = checkProvisionCsr(req);
    if ('error' in csr) return { ok: false, error: 'csr_invalid', detail: csr.error };
    const hash = keySha256(csr.publicKey);
    const { kv } = this.#o;
    for (let attempt = 1; attempt <= MAX_PROVISION_CAS_ATTEMPTS; attempt += 1) {
      const inventory = await this.#o.inventory();
      const [doneEntry, countEntry, renewalEntry] = await Promise.all([kv.get(provisionKey(req.device)), kv.get(batchCountKey(req.batch)), kv.get(renewalKey(req.device))]);
      const done = doneEntry?.operation === 'PUT' ? doneEntry.json<ClusterProvision>() : undefined;
      const counted = countEntry?.operation === 'PUT' ? countEntry.json<{ count: number }>().count : 0;
      const record = renewalEntry?.operation === 'PUT' ? renewalEntry.json<ClusterRenewalRecord>() : null;
      const fromFile = provisionViewOf(inventory, req);
      const view = {
        batch: fromFile.batch,
        done: done ?? fromFile.done,
        used: fromFile.used + counted,
        current: currentOf(fromFile.current, record).current,
      };
      const now = new Date();
      const decision = decideProvision(view, req, hash, now);
      if (decision.kind === 'refuse') return { ok: false, error: decision.error, detail: decision.detail };
      if (decision.kind === 'repeat') return this.#repeat(req.device, done, decision.serial);
      // A leaked claim certificate mints at the batch's rate for the whole cluster, not once per hub; repeats are not counted.
      const wait = (await this.#o.clusterRate?.(req.batch)) ?? 0;
      if (wait > 0) return { ok: false, error: 'rate_limited', detail: `over batch ${req.batch}'s cluster-wide rate`, retryAfterMs: wait };
      // An open batch's maximum holds across hubs: the count is raised before anything is signed.
      if (view.batch?.allow === null && !(await this.#raiseCount(req.batch, counted, countEntry?.revision ?? 0))) continue;
      const { device, files } = signDevice(this.#o.signer, this.#o.dir, { id: req.device, publicKey: csr.publicKey, privateKey: null, keyType: csr.keyType, plan: null, days: this.#o.days }, now);
      const pem = files[files.length - 1]?.data as string;
      const provision: ClusterProvision = { id: req.device, batch: req.batch, serial: device.serial, keySha256: hash, at: now.toISOString(), pem, notAfter: device.notAfter };
      try {
        await kv.create(provisionKey(req.device), encoder.encode(JSON.stringify(provision)));
      } catch (err) {
        if (!isCasConflict(err)) throw err;
        // Another hub provisioned this id first: its record decides (a repeat, or already_provisioned).
        if (view.batch?.allow === null) await this.#lowerCount(req.batch);
        continue;
      }
      const renewal: ClusterRenewalRecord = { base: null, current: device, pending: null };
      await kv.put(renewalKey(req.device), encoder.encode(JSON.stringify(renewal)));
      return { ok: true, device: req.device, certPem: pem, serial: device.serial, notAfter: new Date(device.notAfter), repeat: false };
    }
    throw new Error(`device ${req.device}'s records changed ${MAX_PROVISION_CAS_ATTEMPTS} times while provisioning`);
  }

  /** The certificate of an identical repeat: the cluster's record, or the PKI folder's for an id the CLI's hub provisioned. */
  async #repeat(id: string, done: ClusterProvision | undefined, serial: string): Promise<ProvisionOutcome> {
    if (done !== undefined) return { ok: true, device: id, certPem: done.pem, serial: done.serial, notAfter: new Date(done.notAfter), repeat: true };
    const certPem = await readFile(pkiPaths(this.#o.dir).deviceCert(id), 'utf8').catch(() => null);
    const cert = certPem === null ? null : new X509Certificate(certPem);
    if (certPem === null || cert === null || cert.serialNumber.toUpperCase() !== serial) {
      return { ok: false, error: 'already_provisioned', detail: `device ${id}'s provisioned certificate is not in this hub's PKI folder` };
    }
    return { ok: true, device: id, certPem, serial, notAfter: new Date(cert.validTo), repeat: true };
  }

  async #raiseCount(batch: string, count: number, revision: number): Promise<boolean> {
    const data = encoder.encode(JSON.stringify({ count: count + 1 }));
    try {
      if (revision === 0) await this.#o.kv.create(batchCountKey(batch), data);
      else await this.#o.kv.update(batchCountKey(batch), data, revision);
      return true;
    } catch (err) {
      if (isCasConflict(err)) return false;
      throw err;
    }
  }

  /** Gives back a count raised for a certificate that was not issued (bounded: a lost round leaves the count one high, which only refuses sooner). */
  async #lowerCount(batch: string): Promise<void> {
    for (let attempt = 1; attempt <= MAX_PROVISION_CAS_ATTEMPTS; attempt += 1) {
      const entry = await this.#o.kv.get(batchCountKey(batch));
      if (entry === null || entry.operation !== 'PUT') return;
      const count = entry.json<{ count: number }>().count;
      try {
        await this.#o.kv.update(batchCountKey(batch), encoder.encode(JSON.stringify({ count: Math.max(0, count - 1) })), entry.revision);
        return;
      } catch (err) {
        if (!isCasConflict(err)) throw err;
      }
    }
  }
}
