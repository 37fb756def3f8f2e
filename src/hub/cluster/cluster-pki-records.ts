/**
 * What renewal and provisioning on a cluster hub share: the renewal
 * bucket, the device inventory as the operator published it (merged with
 * the PKI folder's), and revoking a certificate for every hub (an `x.*` record, then
 * the issuing CA's CRL published with cluster-revocations.ts).
 */
import { readFile } from 'node:fs/promises';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import { parseCrl } from '../../pki/crl.js';
import type { SigningCa } from '../../pki/devices.js';
import { emptyInventory, loadInventory, type InventoryFile } from '../../pki/inventory.js';
import type { LoadedCa } from '../../pki/loaded-ca.js';
import { pkiPaths } from '../../pki/paths.js';
import type { ProvisioningLedger } from '../../pki/provisioning.js';
import type { ClusterLedgerParts, RenewalCluster } from '../renewal/open-renewal.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, openClusterBucket } from './cluster-bucket.js';
import { ClusterProvisioningLedger } from './cluster-provisioning.js';
import { batchRateKey, ClusterRateCounter, RENEWAL_RATE_KEY } from './cluster-rate.js';
import { ClusterRenewalLedger } from './cluster-renewal.js';
import { crlNumberOf, inventoryOf, issuingRevokedSerials, publishHubCrl, recordRevocations, textOfEntry, type ClusterRevocation, type DeviceCaRole } from './cluster-revocations.js';

/**
 * Pure: what a cluster hub decides renewals and provisionings from. The
 * published inventory wins for a device or batch it lists; one only the hub's
 * PKI folder lists (a batch added and the folder copied, not published yet)
 * still counts; a batch revoked in either is revoked (a revocation is never
 * undone).
 */
export function mergeInventories(published: InventoryFile | null, local: InventoryFile | null): InventoryFile {
  if (published === null) return local ?? emptyInventory();
  if (local === null) return published;
  const ids = new Set(published.devices.map((d) => d.id));
  const batches = published.batches.map((b) => {
    const other = local.batches.find((l) => l.name === b.name && l.serial === b.serial);
    return b.revokedAt === null && other !== undefined && other.revokedAt !== null ? { ...b, revokedAt: other.revokedAt } : b;
  });
  const names = new Set(batches.map((b) => b.name));
  const provisioned = new Set(published.provisioned.map((p) => p.id));
  return {
    ...published,
    devices: [...published.devices, ...local.devices.filter((d) => !ids.has(d.id))],
    batches: [...batches, ...local.batches.filter((b) => !names.has(b.name))],
    provisioned: [...published.provisioned, ...local.provisioned.filter((p) => !provisioned.has(p.id))],
  };
}

/** What a cluster provisioning ledger is opened with. */
export interface ClusterProvisioningParts {
  readonly dir: string;
  readonly signer: SigningCa;
  readonly days: number;
  /** `provisioning.perBatchPerMinute`: held for the whole cluster. */
  readonly perBatchPerMinute: number;
}

/** Attempts at writing a hub's revocation records before it gives up (logged `renewal.revocation_not_recorded`). */
export const MAX_RECORD_ATTEMPTS = 3;

/** Where the records are. */
export interface ClusterPkiRecordsOptions {
  readonly connection: NatsConnection;
  readonly replicas: number;
  readonly prefix?: string;
  readonly log: Logger;
  /** The clock of the rate windows. @defaultValue Date.now */
  readonly rateClock?: () => number;
}

/** The buckets, the inventory and revocation for one hub. */
export class ClusterPkiRecords {
  readonly renewalKv: KV;
  /** The cluster-wide renewal and batch rates (cluster-rate.ts). */
  readonly #rates: ClusterRateCounter;
  readonly #pkiKv: KV;
  readonly #log: Logger;
  /** The CRL publish waiting to start, which a new revocation joins. */
  #queued: Promise<number> | null = null;
  /** The last publish started or queued. */
  #current: Promise<unknown> = Promise.resolve();

  private constructor(renewalKv: KV, pkiKv: KV, rates: ClusterRateCounter, log: Logger) {
    this.renewalKv = renewalKv;
    this.#rates = rates;
    this.#pkiKv = pkiKv;
    this.#log = log;
  }

  /** Opens (creating them) the renewal and PKI buckets and the rates stream. */
  static async open(options: ClusterPkiRecordsOptions): Promise<ClusterPkiRecords> {
    const names = clusterNames(options.prefix);
    const [renewalKv, pkiKv, rates] = await Promise.all([
      openClusterBucket(options.connection, names.renewalBucket, options.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
      openClusterBucket(options.connection, names.pkiBucket, options.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
      ClusterRateCounter.open({
        connection: options.connection, stream: names.rateStream, subjectPrefix: names.rateSubjectPrefix, replicas: options.replicas, timeoutMs: DEFAULT_CLUSTER_KV_TIMEOUT_MS,
        ...(options.rateClock === undefined ? {} : { now: options.rateClock }),
      }),
    ]);
    return new ClusterPkiRecords(renewalKv, pkiKv, rates, options.log);
  }

  /** The inventory the operator published to the cluster merged with the PKI folder's `dir` ({@link mergeInventories}). */
  async inventory(dir: string): Promise<InventoryFile> {
    const [published, local] = await Promise.all([this.#pkiKv.get('inventory'), loadInventory(dir).catch(() => null)]);
    return mergeInventories(inventoryOf(textOfEntry(published)), local);
  }

  /**
   * Records `revocations` for every hub and publishes the CRL of each CA
   * involved that `issuing` can sign; resolves with a CA it cannot (the
   * root's, whose key is off the hub: the CLI merges the record in at its
   * next publish), else null.
   */
  async revoke(revocations: readonly ClusterRevocation[], issuing: LoadedCa, dir: string): Promise<DeviceCaRole | null> {
    if (revocations.length === 0) return null;
    // Called after the record that revokes was written: the revocation must not be lost to one failed write.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await recordRevocations(this.renewalKv, revocations);
        break;
      } catch (err) {
        if (attempt >= MAX_RECORD_ATTEMPTS) {
          this.#log.log('error', 'renewal.revocation_not_recorded', { serials: revocations.map((r) => r.serial).join(' '), error: errorText(err), fix: 'revoke these serials: fleethub device revoke <id> --config FILE' });
          throw err;
        }
      }
    }
    let notWritten: DeviceCaRole | null = null;
    if (revocations.some((r) => r.role === 'root')) notWritten = 'root';
    if (revocations.some((r) => r.role === 'issuing')) {
      const number = await this.#publishIssuing(issuing, dir);
      this.#log.log('info', 'renewal.crl_published', { ca: 'issuing', number, serials: revocations.map((r) => r.serial).join(' ') });
    }
    return notWritten;
  }

  /**
   * Publishes the issuing CA's CRL when a revocation recorded in the cluster
   * is not on it (a publish that failed, a hub that died in between): the
   * periodic check calls it. Returns the number published, or null when
   * nothing was missing.
   */
  async reconcile(issuing: LoadedCa, dir: string): Promise<number | null> {
    const published = textOfEntry(await this.#pkiKv.get('issuing-crl'));
    const listed = published === null ? new Set<string>() : parseCrl(published).serials;
    const missing = (await issuingRevokedSerials(this.renewalKv)).filter((s) => !listed.has(s));
    if (missing.length === 0) return null;
    const number = await this.#publishIssuing(issuing, dir);
    this.#log.log('warn', 'renewal.crl_republished', { ca: 'issuing', number, missing: missing.length });
    return number;
  }

  /**
   * One publish at a time per hub: a caller joins the publish waiting to
   * start (it reads the records after the caller wrote its own), or queues
   * one behind the publish under way (which may have read before).
   */
  #publishIssuing(issuing: LoadedCa, dir: string): Promise<number> {
    if (this.#queued !== null) return this.#queued;
    const queued = this.#current.catch(() => undefined).then(() => {
      this.#queued = null;
      return publishHubCrl({
        pkiKv: this.#pkiKv, renewalKv: this.renewalKv, ca: issuing, role: 'issuing',
        local: async () => {
          const paths = pkiPaths(dir);
          const [inventory, file] = await Promise.all([loadInventory(dir).catch(() => null), readFile(paths.issuingCrl, 'utf8').catch(() => null)]);
          return { inventory, numbers: [crlNumberOf(file), inventory?.issuingCrlNumber ?? 0] };
        },
      });
    });
    this.#queued = queued;
    this.#current = queued;
    return queued;
  }

  /** The provisioning ledger open-provisioning.ts takes in cluster mode. */
  provisioning(parts: ClusterProvisioningParts): ProvisioningLedger {
    const { perBatchPerMinute, ...rest } = parts;
    return new ClusterProvisioningLedger({
      kv: this.renewalKv, inventory: () => this.inventory(parts.dir), ...rest,
      clusterRate: (batch) => this.#rates.take(batchRateKey(batch), perBatchPerMinute),
    });
  }

  /** The {@link RenewalCluster} open-renewal.ts takes. */
  renewal(): RenewalCluster {
    return {
      ledger: (parts: ClusterLedgerParts) => {
        const ledger = new ClusterRenewalLedger({
          kv: this.renewalKv, dir: parts.dir, signer: parts.signer, days: parts.days, policy: parts.policy,
          inventory: () => this.inventory(parts.dir),
          clusterRate: () => this.#rates.take(RENEWAL_RATE_KEY, parts.perMinute),
          reconcile: async () => {
            await this.reconcile(parts.signer.ca, parts.dir);
          },
          // A failed publish does not undo the commit or the expiry that revoked: the x.* records stay, and the
          // next CRL published by any hub (at the latest the periodic check's reconcile) or the CLI lists them.
          revoke: (list) => this.revoke(list, parts.signer.ca, parts.dir).catch((err: unknown) => {
            this.#log.log('error', 'renewal.crl_publish_failed', { serials: list.map((r) => r.serial).join(' '), error: errorText(err) });
            return null;
          }),
        });
        return Promise.resolve(Object.assign(ledger, { inventory: () => this.inventory(parts.dir) }));
      },
    };
  }
}
