/**
 * `fleethub device list --config FILE` in cluster mode: the devices as the
 * cluster knows them. Hubs commit renewals and provisionings in the renewal
 * bucket (cluster-renewal.ts, cluster-provisioning.ts), never in the CLI's
 * PKI folder, so the folder's inventory alone shows a renewed device's old
 * expiry and no device provisioned by a hub. The view here is the folder's
 * inventory merged with the published one (as hubs merge them), each
 * device's current certificate as the cluster has it, the devices the
 * cluster provisioned, and the revocations hubs recorded.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KV } from '@nats-io/kv';
import type { ClusterConfig } from '../../store/cluster-config.js';
import { FleethubError } from '../../errors.js';
import { parseInventory, toRecord, type DeviceRecord, type InventoryFile, type StoredDevice } from '../../pki/inventory.js';
import { pkiPaths } from '../../pki/paths.js';
import { decodeToken } from '../../store/jetstream/nats-names.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, openClusterBucket } from './cluster-bucket.js';
import { mergeInventories } from './cluster-pki-records.js';
import type { ClusterProvision } from './cluster-provisioning.js';
import { currentOf, type ClusterRenewalRecord } from './cluster-renewal.js';
import { clusterRevocations, inventoryOf, textOfEntry, type ClusterRevocation } from './cluster-revocations.js';
import { connectForCli } from './publish-pki.js';

/** Records read from the bucket at once (one request each). */
const READ_CONCURRENCY = 64;

/** What the cluster's view is made of. */
export interface ClusterDeviceSources {
  /** The folder's inventory merged with the published one. */
  readonly inventory: InventoryFile;
  /** `d.<device>`: renewal records, by device. */
  readonly renewals: ReadonlyMap<string, ClusterRenewalRecord>;
  /** `p.<device>`: devices the cluster provisioned, by device. */
  readonly provisioned: ReadonlyMap<string, ClusterProvision>;
  /** `x.*`: revocations hubs (and the CLI) recorded. */
  readonly revocations: readonly ClusterRevocation[];
}

/** A device the cluster provisioned, from its record's certificate (when its renewal record is not written yet). */
function provisionedDevice(p: ClusterProvision): StoredDevice {
  const cert = new X509Certificate(p.pem);
  return {
    id: p.id, serial: p.serial, keyType: cert.publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec', notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: p.notAfter, plan: null, revokedAt: null, reason: null, hasKey: false, issuer: 'issuing',
  };
}

/**
 * Pure: every device's current certificate as the cluster has it: the
 * inventory's devices in its order (a certificate a hub renewed replacing
 * the one listed), then the devices only the cluster provisioned, oldest
 * first; a current certificate with a revocation recorded in the cluster is
 * revoked.
 */
export function clusterDeviceView(sources: ClusterDeviceSources, now = new Date()): DeviceRecord[] {
  const revoked = new Map(sources.revocations.map((r) => [r.serial, r]));
  const devices: StoredDevice[] = [];
  const listed = new Set<string>();
  for (const d of sources.inventory.devices) {
    listed.add(d.id);
    devices.push(currentOf(d, sources.renewals.get(d.id) ?? null).current ?? d);
  }
  const onlyInCluster = [...sources.provisioned.values()].filter((p) => !listed.has(p.id)).sort((a, b) => a.at.localeCompare(b.at));
  for (const p of onlyInCluster) devices.push(currentOf(undefined, sources.renewals.get(p.id) ?? null).current ?? provisionedDevice(p));
  return devices.map((d) => {
    const r = d.revokedAt === null ? revoked.get(d.serial) : undefined;
    return toRecord(r === undefined ? d : { ...d, revokedAt: r.revokedAt, reason: r.reason }, now);
  });
}

/** Every PUT value under `filter` (`d.>`), by the device its key names. */
async function valuesOf<T>(kv: KV, filter: string): Promise<Map<string, T>> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  const out = new Map<string, T>();
  for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
    const entries = await Promise.all(keys.slice(i, i + READ_CONCURRENCY).map((key) => kv.get(key)));
    for (const entry of entries) {
      if (entry !== null && entry.operation === 'PUT') out.set(decodeToken(entry.key.slice(2)), entry.json<T>());
    }
  }
  return out;
}

/** The folder's inventory, or none when the folder has no file (a hub's folder may hold only the CA). */
async function localInventory(pkiDir: string): Promise<InventoryFile | null> {
  const path = pkiPaths(pkiDir).inventory;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  return text === null ? null : parseInventory(text, path);
}

/** Reads the cluster's view of the devices of `pkiDir`'s fleet. Throws FH_ERR_STORE_IO when NATS cannot be reached. */
export async function clusterDevices(cluster: ClusterConfig, pkiDir: string, options: { readonly prefix?: string } = {}): Promise<DeviceRecord[]> {
  const nc = await connectForCli(cluster);
  try {
    const names = clusterNames(options.prefix);
    const [renewalKv, pkiKv] = await Promise.all([
      openClusterBucket(nc, names.renewalBucket, cluster.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
      openClusterBucket(nc, names.pkiBucket, cluster.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS),
    ]);
    const [published, local] = await Promise.all([pkiKv.get('inventory'), localInventory(pkiDir)]);
    const inventory = mergeInventories(inventoryOf(textOfEntry(published)), local);
    const [renewals, provisioned, revocations] = await Promise.all([
      valuesOf<ClusterRenewalRecord>(renewalKv, 'd.>'), valuesOf<ClusterProvision>(renewalKv, 'p.>'), clusterRevocations(renewalKv),
    ]);
    return clusterDeviceView({ inventory, renewals, provisioned, revocations });
  } catch (err) {
    if (err instanceof FleethubError) throw err;
    throw new FleethubError('FH_ERR_STORE_IO', `cluster: cannot read the devices: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await nc.close().catch(() => {});
  }
}
