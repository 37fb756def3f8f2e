/**
 * What the cluster coordination tests share: a real three-node nats-server
 * cluster, a NATS connection per "hub" (each its own, like separate hub
 * processes, with the options a hub uses), and a fresh prefix per test so
 * tests sharing a cluster never share a bucket.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../../../src/store/cluster-config.js';
import { natsConnectOptions } from '../../../src/store/jetstream/jetstream-options.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';

/** A cluster and the connections opened on it; {@link stop} closes them all. */
export interface ClusterFixture {
  readonly cluster: NatsCluster;
  /** A new connection as hub `node` (unlimited reconnects, a ping every few seconds, named after the node). */
  connect(node: string): Promise<NatsConnection>;
  /** A prefix no other test of this process uses. */
  newPrefix(): string;
  stop(): Promise<void>;
}

/** Starts three nats-servers. */
export async function startClusterFixture(): Promise<ClusterFixture> {
  const cluster = await startNatsCluster({ nodes: 3 });
  const connections: NatsConnection[] = [];
  let prefixes = 0;
  return {
    cluster,
    async connect(node) {
      const config: ClusterConfig = { node, nats: { servers: cluster.urls, tls: null, creds: null }, replicas: 3 };
      const nc = await connect(natsConnectOptions(config));
      connections.push(nc);
      return nc;
    },
    newPrefix: () => `t${process.pid}x${(prefixes += 1)}`,
    async stop() {
      await Promise.all(connections.map((nc) => (nc.isClosed() ? Promise.resolve() : nc.close())));
      await cluster.stop();
    },
  };
}
