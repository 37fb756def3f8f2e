/**
 * The cluster parts' options given in code: every part reads them through
 * the one config reader, so a bad value is refused at open with
 * FH_ERR_CONFIG naming the option (`clusterPresenceOptions.maxHubs`), before
 * the part opens a bucket or a timer (against a real three-node
 * nats-server cluster, as the hub runs them).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { isFleethubError } from '../../../src/errors.js';
import { ClusterPki } from '../../../src/hub/cluster/cluster-crl.js';
import { ClusterFeed } from '../../../src/hub/cluster/cluster-feed.js';
import { ClusterHub } from '../../../src/hub/cluster/cluster-hub.js';
import { ClusterPresence } from '../../../src/hub/cluster/cluster-presence.js';
import { DeviceOwnership } from '../../../src/hub/cluster/device-ownership.js';
import { SinkLeases } from '../../../src/hub/cluster/sink-lease.js';
import { DeviceRegistry } from '../../../src/hub/device-registry.js';
import type { ClusterConfig } from '../../../src/store/cluster-config.js';
import { openJetStreamStore, type JetStreamStore } from '../../../src/store/jetstream-store.js';
import { DEFAULT_STORE_CONFIG } from '../../../src/store/store-config.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

/** Checks that `err` is FH_ERR_CONFIG naming `key` (`sinkLeaseOptions.kvTimeoutMs`). */
const naming = (key: string) => (err: unknown): boolean => {
  assert.ok(isFleethubError(err, 'FH_ERR_CONFIG'), String(err));
  assert.ok(err.message.startsWith(`config: ${key} must be `), err.message);
  return true;
};

describe('cluster parts refuse a bad option, naming it (3 nats-servers)', () => {
  let fixture: ClusterFixture;
  let nc: NatsConnection;
  let prefix: string;
  const common = () => ({ connection: nc, node: 'hub-a', replicas: 3, prefix });

  before(async () => {
    fixture = await startClusterFixture();
    nc = await fixture.connect('hub-a');
    prefix = fixture.newPrefix();
  });
  after(async () => {
    await fixture?.stop();
  });

  it('device ownership', async () => {
    await assert.rejects(DeviceOwnership.open({ ...common(), onTakeover: () => {}, claimAttempts: 0 }), naming('deviceOwnershipOptions.claimAttempts'));
  });

  it('the cluster CRL and inventory', async () => {
    await assert.rejects(ClusterPki.open({ ...common(), kvTimeoutMs: 0 }), naming('clusterPkiOptions.kvTimeoutMs'));
  });

  it('sink leases', async () => {
    await assert.rejects(SinkLeases.open({ ...common(), kvTimeoutMs: 0 }), naming('sinkLeaseOptions.kvTimeoutMs'));
  });

  it('cluster presence', async () => {
    await assert.rejects(ClusterPresence.open({ ...common(), onChange: () => {}, maxHubs: 0 }), naming('clusterPresenceOptions.maxHubs'));
  });

  describe('with a JetStream store', () => {
    let store: JetStreamStore;
    const config = (): ClusterConfig => ({ node: 'hub-a', nats: { servers: fixture.cluster.urls, tls: null, creds: null }, replicas: 3 });
    before(async () => {
      store = await openJetStreamStore(config(), { ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 }, { prefix, connection: nc });
    });
    after(async () => {
      await store?.close();
    });

    it('the cluster feed', async () => {
      const options = { ...common(), store, registry: new DeviceRegistry(), rejectedSummaryMs: 1_000 };
      await assert.rejects(ClusterFeed.open({ ...options, loadConcurrency: 0 }), naming('clusterFeedOptions.loadConcurrency'));
    });

    it('the cluster hub', async () => {
      await assert.rejects(ClusterHub.open(store, config(), { onQuorum: () => {} }, { prefix, quorumCheckMs: 0 }), naming('clusterHubOptions.quorumCheckMs'));
    });
  });
});
