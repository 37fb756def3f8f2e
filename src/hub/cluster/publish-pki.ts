/**
 * `fleethub device revoke <id> --config FILE` in cluster mode: after the
 * PKI folder's CRLs and inventory are rewritten, they are published to the
 * cluster (cluster-crl.ts), where every hub follows them: a revocation
 * reaches every hub within 2 s with no shared filesystem (SPEC: Cluster mode).
 */
import { readFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { FleethubError } from '../../errors.js';
import { pkiPaths } from '../../pki/index.js';
import type { ClusterConfig } from '../../store/cluster-config.js';
import { natsConnectOptions } from '../../store/jetstream/jetstream-options.js';
import { ClusterPki, type Published } from './cluster-crl.js';

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

/** Publishes `pkiDir`'s CRLs (one per CA) and inventory to the cluster; resolves once a quorum has both. Throws FH_ERR_STORE_IO when NATS cannot be reached. */
export async function publishPkiToCluster(cluster: ClusterConfig, pkiDir: string, options: { readonly prefix?: string; readonly connectTimeoutMs?: number } = {}): Promise<Published> {
  const paths = pkiPaths(pkiDir);
  const [root, issuing, claim, inventory] = await Promise.all([
    readFile(paths.crl, 'utf8'), readIfExists(paths.issuingCrl), readIfExists(paths.claimCrl), readFile(paths.inventory, 'utf8'),
  ]);
  let nc;
  try {
    nc = await connect({ ...natsConnectOptions(cluster), maxReconnectAttempts: 0, timeout: options.connectTimeoutMs ?? DEFAULT_PUBLISH_CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw new FleethubError('FH_ERR_STORE_IO', `cluster: cannot reach NATS at ${cluster.nats.servers.join(', ')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  try {
    const pki = await ClusterPki.open({ connection: nc, replicas: cluster.replicas, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
    try {
      return await pki.publish({ root, issuing, claim }, inventory);
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
