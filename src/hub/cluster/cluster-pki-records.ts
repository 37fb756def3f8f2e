/**
 * What renewal and provisioning on a cluster hub share: the renewal
 * bucket, the device inventory as the operator published it (else the PKI
 * folder's), and revoking a certificate for every hub (an `x.*` record, then
 * the issuing CA's CRL published with cluster-revocations.ts).
 */
import { readFile } from 'node:fs/promises';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import { loadInventory, type InventoryFile } from '../../pki/inventory.js';
import type { LoadedCa } from '../../pki/loaded-ca.js';
import { pkiPaths } from '../../pki/paths.js';
import type { ClusterLedgerParts, RenewalCluster } from '../renewal/open-renewal.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, errorText, openClusterBucket } from './cluster-bucket.js';
import { ClusterRenewalLedger } from './cluster-renewal.js';
import { ClusterProvisioningLedger } from './cluster-provisioning.js';
import type { SigningCa } from '../../pki/devices.js';
import type { ProvisioningLedger } from '../../pki/provisioning.js';
import { crlNumberOf, inventoryOf, publishHubCrl, recordRevocations, textOfEntry, type ClusterRevocation, type DeviceCaRole } from './cluster-revocations.js';

/** Where the records are. */
export interface ClusterPkiRecordsOptions {
  readonly connection: NatsConnection;
  readonly replicas: number;
  readonly prefix?: string;
  readonly log: Logger;
}

/** The buckets, the inventory and revocation for one hub. */
export class ClusterPkiRecords {
  readonly renewalKv: KV;
  readonly #pkiKv: KV;
  readonly #log: Logger;

  private constructor(renewalKv: KV, pkiKv: KV, log: Logger) {
    this.renewalKv = renewalKv;
    this.#pkiKv = pkiKv;
    this.#log = log;
  }

  /** Opens (creating them) the renewal and PKI buckets. */
  static async open(options: ClusterPkiRecordsOptions): Promise<ClusterPkiRecords> {
    const names = clusterNames(options.prefix);
    const [renewalKv, pkiKv] = await Promise.all([
      openClusterBucket(options.connection, names.renewalBucket, options.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
      openClusterBucket(options.connection, names.pkiBucket, options.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
    ]);
    return new ClusterPkiRecords(renewalKv, pkiKv, options.log);
  }

  /** The inventory the operator published to the cluster, else the PKI folder's `dir`. */
  async inventory(dir: string): Promise<InventoryFile> {
    return inventoryOf(textOfEntry(await this.#pkiKv.get('inventory'))) ?? loadInventory(dir);
  }

  /**
   * Records `revocations` for every hub and publishes the CRL of each CA
   * involved that `issuing` can sign; resolves with a CA it cannot (the
   * root's, whose key is off the hub: the CLI merges the record in at its
   * next publish), else null.
   */
  async revoke(revocations: readonly ClusterRevocation[], issuing: LoadedCa, dir: string): Promise<DeviceCaRole | null> {
    if (revocations.length === 0) return null;
    await recordRevocations(this.renewalKv, revocations);
    let notWritten: DeviceCaRole | null = null;
    if (revocations.some((r) => r.role === 'root')) notWritten = 'root';
    if (revocations.some((r) => r.role === 'issuing')) {
      const number = await publishHubCrl({
        pkiKv: this.#pkiKv, renewalKv: this.renewalKv, ca: issuing, role: 'issuing',
        local: async () => {
          const paths = pkiPaths(dir);
          const [inventory, file] = await Promise.all([loadInventory(dir).catch(() => null), readFile(paths.issuingCrl, 'utf8').catch(() => null)]);
          return { inventory, numbers: [crlNumberOf(file), inventory?.issuingCrlNumber ?? 0] };
        },
      });
      this.#log.log('info', 'renewal.crl_published', { ca: 'issuing', number, serials: revocations.map((r) => r.serial).join(' ') });
    }
    return notWritten;
  }

  /** The provisioning ledger open-provisioning.ts takes in cluster mode. */
  provisioning(parts: { readonly dir: string; readonly signer: SigningCa; readonly days: number }): ProvisioningLedger {
    return new ClusterProvisioningLedger({ kv: this.renewalKv, inventory: () => this.inventory(parts.dir), ...parts });
  }

  /** The {@link RenewalCluster} open-renewal.ts takes. */
  renewal(): RenewalCluster {
    return {
      ledger: (parts: ClusterLedgerParts) => {
        const ledger = new ClusterRenewalLedger({
          kv: this.renewalKv, dir: parts.dir, signer: parts.signer, days: parts.days, policy: parts.policy,
          inventory: () => this.inventory(parts.dir),
          revoke: (list) => this.revoke(list, parts.signer.ca, parts.dir).catch((err: unknown) => {
            // The x.* records that were written stay: the next CRL published by any hub or the CLI lists them.
            this.#log.log('error', 'renewal.crl_publish_failed', { serials: list.map((r) => r.serial).join(' '), error: errorText(err) });
            throw err;
          }),
        });
        return Promise.resolve(Object.assign(ledger, { inventory: () => this.inventory(parts.dir) }));
      },
    };
  }
}
