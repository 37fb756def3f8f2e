/**
 * `fleethub provision reset <id> --config FILE` in cluster mode: the id's
 * records in the cluster (cluster-provisioning.ts, cluster-renewal.ts) are
 * removed, so any hub provisions it again, and the certificates the cluster
 * issued it are revoked (reason `superseded`, as a single hub's reset does);
 * the caller then publishes the CRLs (publish-pki.ts merges these in).
 */
import type { KV } from '@nats-io/kv';
import type { ClusterConfig } from '../../store/cluster-config.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, isCasConflict, openClusterBucket } from './cluster-bucket.js';
import { batchCountKey, provisionKey, type ClusterProvision } from './cluster-provisioning.js';
import { pendingKey, renewalKey, type ClusterRenewalRecord } from './cluster-renewal.js';
import { recordRevocations, type ClusterRevocation } from './cluster-revocations.js';
import { connectForCli } from './publish-pki.js';

const encoder = new TextEncoder();

/** Resets `id` in the cluster; `found` false when the cluster never provisioned it. */
export async function resetClusterProvisioned(cluster: ClusterConfig, id: string, options: { readonly prefix?: string } = {}): Promise<{ found: boolean; revoked: string[] }> {
  const nc = await connectForCli(cluster);
  try {
    const kv = await openClusterBucket(nc, clusterNames(options.prefix).renewalBucket, cluster.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS);
    const [provisioned, renewal] = await Promise.all([kv.get(provisionKey(id)), kv.get(renewalKey(id))]);
    if (provisioned === null || provisioned.operation !== 'PUT') return { found: false, revoked: [] };
    const done = provisioned.json<ClusterProvision>();
    const record = renewal?.operation === 'PUT' ? renewal.json<ClusterRenewalRecord>() : null;
    const now = new Date().toISOString();
    const serials = new Set([done.serial, record?.current?.serial, record?.pending?.serial].filter((s): s is string => s !== undefined));
    const revocations: ClusterRevocation[] = [...serials].map((serial) => ({ serial, role: 'issuing', device: id, revokedAt: now, reason: 'superseded' }));
    // Revoked first: a reset interrupted after this leaves the id provisioned, never a certificate unrevoked.
    await recordRevocations(kv, revocations);
    await kv.delete(renewalKey(id));
    await kv.delete(pendingKey(id));
    await kv.delete(provisionKey(id));
    await lowerBatchCount(kv, done.batch);
    return { found: true, revoked: [...serials] };
  } finally {
    await nc.close().catch(() => {});
  }
}

/** An open batch's count goes down by one (a slot freed, as a single hub's reset frees one). */
async function lowerBatchCount(kv: KV, batch: string): Promise<void> {
  for (let attempt = 1; attempt <= 8; attempt += 1) {
    const entry = await kv.get(batchCountKey(batch));
    if (entry === null || entry.operation !== 'PUT') return;
    const count = entry.json<{ count: number }>().count;
    try {
      await kv.update(batchCountKey(batch), encoder.encode(JSON.stringify({ count: Math.max(0, count - 1) })), entry.revision);
      return;
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
}
