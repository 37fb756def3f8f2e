/**
 * `fleethub device revoke <id> --config FILE` in cluster mode: after the
 * PKI folder's CRLs and inventory are rewritten, they are published to the
 * cluster (cluster-crl.ts), where every hub follows them: a revocation
 * reaches every hub within 2 s with no shared filesystem (SPEC: Cluster mode).
 * The CRLs published keep the revocations hubs made (cli-crl-merge.ts), and
 * a certificate the cluster renewed for the revoked device is revoked too.
 */
import { readFile } from 'node:fs/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FleethubError } from '../../errors.js';
import { pkiPaths } from '../../pki/index.js';
import type { ClusterConfig } from '../../store/cluster-config.js';
import { natsConnectOptions } from '../../store/jetstream/jetstream-options.js';
import type { KV } from '@nats-io/kv';
import type { RevocationReason } from '../../pki/crl.js';
import { cliCrlToPublish } from './cli-crl-merge.js';
import { clusterNames, DEFAULT_CLUSTER_KV_TIMEOUT_MS, isCasConflict, openClusterBucket } from './cluster-bucket.js';
import { ClusterPki, type ClusterTextKey, type Published } from './cluster-crl.js';
import { renewalKey, type ClusterRenewalRecord } from './cluster-renewal.js';
import { clusterRevocations, MAX_CRL_PUBLISH_ATTEMPTS, recordRevocations } from './cluster-revocations.js';

/** How long the CLI tries to reach a NATS server before it gives up. @defaultValue 10 s */
export const DEFAULT_PUBLISH_CONNECT_TIMEOUT_MS = 10_000;

/** A file's text, or null when there is none (a PKI folder without an issuing or claim CA). */
async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The CLI's connection to the cluster (no reconnects: a command fails rather than waits). Throws FH_ERR_STORE_IO when NATS cannot be reached. */
export async function connectForCli(cluster: ClusterConfig, timeoutMs = DEFAULT_PUBLISH_CONNECT_TIMEOUT_MS): Promise<NatsConnection> {
  try {
    return await connect({ ...natsConnectOptions(cluster), maxReconnectAttempts: 0, timeout: timeoutMs });
  } catch (err) {
    throw new FleethubError('FH_ERR_STORE_IO', `cluster: cannot reach NATS at ${cluster.nats.servers.join(', ')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Options of {@link publishPkiToCluster}. */
export interface PublishPkiOptions {
  readonly prefix?: string;
  readonly connectTimeoutMs?: number;
  /** The passphrase of an encrypted `issuing.key`: the issuing CA's CRL is re-signed when hubs revoked certificates too. @defaultValue null */
  readonly issuingPassphrase?: string | null;
  /** The device just revoked: certificates the cluster issued it (renewal) are revoked with it. */
  readonly revoked?: { readonly id: string; readonly reason: RevocationReason };
}

/**
 * Publishes `pkiDir`'s CRLs (one per CA) and inventory to the cluster;
 * resolves once a quorum has both. The root's and the issuing CA's CRLs
 * keep every revocation the hubs made (cli-crl-merge.ts). Throws
 * FH_ERR_STORE_IO when NATS cannot be reached.
 */
export async function publishPkiToCluster(cluster: ClusterConfig, pkiDir: string, options: PublishPkiOptions = {}): Promise<Published> {
  const paths = pkiPaths(pkiDir);
  const nc = await connectForCli(cluster, options.connectTimeoutMs);
  try {
    const prefix = options.prefix === undefined ? {} : { prefix: options.prefix };
    const pki = await ClusterPki.open({ connection: nc, replicas: cluster.replicas, ...prefix });
    const renewals = await openClusterBucket(nc, clusterNames(options.prefix).renewalBucket, cluster.replicas, DEFAULT_CLUSTER_KV_TIMEOUT_MS);
    if (options.revoked !== undefined) await revokeClusterIssued(renewals, options.revoked.id, options.revoked.reason);
    try {
      for (let attempt = 1; ; attempt += 1) {
        // The revisions first, then what the CRLs must include (cluster-revocations.ts).
        const [root, issuing] = await Promise.all([pki.current('crl'), pki.current('issuing-crl')]);
        const revocations = await clusterRevocations(renewals);
        const merge = { pkiDir, revocations, issuingPassphrase: options.issuingPassphrase ?? null };
        const rootText = await cliCrlToPublish({ ...merge, role: 'root', published: root.text });
        const issuingText = await cliCrlToPublish({ ...merge, role: 'issuing', published: issuing.text });
        const [claim, inventory] = await Promise.all([readIfExists(paths.claimCrl), readFile(paths.inventory, 'utf8')]);
        const expected = new Map<ClusterTextKey, number>([['crl', root.revision], ['issuing-crl', issuing.revision]]);
        try {
          return await pki.publish({ root: rootText, issuing: issuingText, claim }, inventory, expected);
        } catch (err) {
          // A hub published a CRL since it was read: merge again.
          if (!isCasConflict(err) || attempt >= MAX_CRL_PUBLISH_ATTEMPTS) throw err;
        }
      }
    } finally {
      await pki.close();
    }
  } catch (err) {
    if (err instanceof FleethubError) throw err;
    throw new FleethubError('FH_ERR_STORE_IO', `cluster: cannot publish the CRL: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Records the revocation of the certificates the cluster issued device `id` by renewal (its current one and a pending one), so the CRL lists them. */
async function revokeClusterIssued(kv: KV, id: string, reason: RevocationReason): Promise<void> {
  const entry = await kv.get(renewalKey(id));
  if (entry === null || entry.operation !== 'PUT') return;
  const record = entry.json<ClusterRenewalRecord>();
  const now = new Date().toISOString();
  const certs = [record.current, record.pending].filter((c) => c !== null);
  await recordRevocations(kv, certs.map((c) => ({ serial: c.serial, role: c.issuer === 'issuing' ? 'issuing' : 'root', device: id, revokedAt: now, reason })));
}
