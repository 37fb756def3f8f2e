/**
 * `fleethub device revoke <id> --config FILE` in cluster mode: after the
 * PKI folder's CRL and inventory are rewritten, both are published to the
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

/** Publishes `pkiDir`'s CRL and inventory to the cluster; resolves once a quorum has both. Throws FH_ERR_STORE_IO when NATS cannot be reached. */
export async function publishPkiToCluster(cluster: ClusterConfig, pkiDir: string, options: { readonly prefix?: string; readonly connectTimeoutMs?: number } = {}): Promise<Published> {
  const paths = pkiPaths(pkiDir);
  const [crl, inventory] = await Promise.all([readFile(paths.crl, 'utf8'), readFile(paths.inventory, 'utf8')]);
  let nc;
  try {
    nc = await connect({ ...natsConnectOptions(cluster), maxReconnectAttempts: 0, timeout: options.connectTimeoutMs ?? DEFAULT_PUBLISH_CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw new FleethubError('FH_ERR_STORE_IO', `cluster: cannot reach NATS at ${cluster.nats.servers.join(', ')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  try {
    const pki = await ClusterPki.open({ connection: nc, replicas: cluster.replicas, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
    try {
      return await pki.publish(crl, inventory);
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
