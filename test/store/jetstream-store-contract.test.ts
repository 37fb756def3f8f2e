/**
 * The JetStream store passes the store contract (test/store/store-contract.ts)
 * against one real three-node nats-server cluster with replicas 3. Each place
 * is its own prefix (stream and buckets), so tests share the cluster without
 * sharing data; reopening a place is a new hub process on the same stream.
 */
import { after, before } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { openJetStreamStore } from '../../src/store/jetstream-store.js';
import { natsNames } from '../../src/store/jetstream/nats-names.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { storeContract } from './store-contract.js';

let cluster: NatsCluster | undefined;
let admin: NatsConnection | undefined;
let places = 0;

before(async () => {
  cluster = await startNatsCluster({ nodes: 3 });
  admin = await connect({ servers: [...cluster.urls] });
});
after(async () => {
  await admin?.close();
  await cluster?.stop();
});

storeContract(
  'jetstream',
  async () => {
    if (cluster === undefined || admin === undefined) throw new Error('the NATS cluster did not start');
    const { urls } = cluster;
    const nc = admin;
    const prefix = `c${process.pid}x${(places += 1)}`;
    return {
      open: (options = {}) =>
        openJetStreamStore(
          { node: 'hub-a', nats: { servers: urls, tls: null, creds: null }, replicas: 3 },
          { ...DEFAULT_STORE_CONFIG, retentionBytes: options.retentionBytes ?? 0, retentionHours: options.retentionHours ?? 0 },
          { prefix, infoRefreshMs: 50, ...(options.now === undefined ? {} : { now: options.now }) },
        ),
      remove: async () => {
        const names = natsNames(prefix);
        const jsm = await jetstreamManager(nc);
        for (const stream of [names.stream, `KV_${names.cursorBucket}`, `KV_${names.hubBucket}`, `KV_${names.seqResetBucket}`]) {
          await jsm.streams.delete(stream).catch(() => false);
        }
      },
    };
  },
  { retentionHeldByCursors: false, retentionFollowsStoreClock: false },
);
