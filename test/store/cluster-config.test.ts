/**
 * The `cluster` config section, the JetStream store's options and the NATS
 * client options built from them: defaults, and one clear error per bad key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { DEFAULT_CLUSTER_REPLICAS, resolveClusterConfig } from '../../src/store/cluster-config.js';
import {
  DEFAULT_ACK_TIMEOUT_MS, DEFAULT_DUPLICATE_WINDOW_MS, DEFAULT_NATS_PING_INTERVAL_MS, DEFAULT_PUBLISH_RETRY_MS,
  natsConnectOptions, resolveJetStreamStoreOptions,
} from '../../src/store/jetstream/jetstream-options.js';

const configError = (key: string) => (err: unknown): boolean => {
  assert.ok(isFleethubError(err, 'FH_ERR_CONFIG'), String(err));
  assert.match(err.message, new RegExp(key.replace(/\./g, '\\.')));
  return true;
};

describe('cluster config', () => {
  it('is absent without a cluster section, and fills in replicas 3', () => {
    assert.equal(resolveClusterConfig(undefined, '/etc/fleethub'), null);
    const c = resolveClusterConfig({ node: 'hub-a', nats: { servers: ['nats://10.0.0.5:4222', 'tls://n2:4222'] } }, '/etc/fleethub');
    assert.deepEqual(c, { node: 'hub-a', nats: { servers: ['nats://10.0.0.5:4222', 'tls://n2:4222'], tls: null, creds: null }, replicas: DEFAULT_CLUSTER_REPLICAS });
    assert.equal(DEFAULT_CLUSTER_REPLICAS, 3);
  });

  it('takes TLS and creds files relative to the config file\'s folder', () => {
    const c = resolveClusterConfig({ node: 'b', nats: { servers: ['nats://x:1'], tls: { ca: 'ca.pem', cert: '/abs/c.pem', key: 'k.pem' }, creds: 'hub.creds' }, replicas: 1 }, '/etc/fh');
    assert.deepEqual(c?.nats.tls, { ca: '/etc/fh/ca.pem', cert: '/abs/c.pem', key: '/etc/fh/k.pem' });
    assert.equal(c?.nats.creds, '/etc/fh/hub.creds');
    assert.equal(c?.replicas, 1);
  });

  it('refuses bad values with the key in the message', () => {
    const ok = { node: 'a', nats: { servers: ['nats://x:1'] } };
    const cases: Array<[unknown, string]> = [
      ['yes', 'cluster'],
      [{ ...ok, node: undefined }, 'cluster.node'],
      [{ ...ok, node: 'a b' }, 'cluster.node'],
      [{ ...ok, nats: undefined }, 'cluster.nats'],
      [{ ...ok, nats: { servers: [] } }, 'cluster.nats.servers'],
      [{ ...ok, nats: { servers: ['http://x:1'] } }, 'cluster.nats.servers'],
      [{ ...ok, nats: { servers: ['nats://x:1'], tls: { cert: 'c.pem' } } }, 'cluster.nats.tls'],
      [{ ...ok, nats: { servers: ['nats://x:1'], tls: { ca: 'a', pem: 'b' } } }, 'cluster.nats.tls.pem'],
      [{ ...ok, nats: { servers: ['nats://x:1'], creds: '' } }, 'cluster.nats.creds'],
      [{ ...ok, replicas: 0 }, 'cluster.replicas'],
      [{ ...ok, replicas: 6 }, 'cluster.replicas'],
      [{ ...ok, replicas: 2.5 }, 'cluster.replicas'],
      [{ ...ok, replica: 3 }, 'cluster.replica'],
      [{ ...ok, __proto__: { node: 'x' }, nodes: 1 }, 'cluster.nodes'],
    ];
    for (const [raw, key] of cases) assert.throws(() => resolveClusterConfig(raw, '/'), configError(key), JSON.stringify(raw));
  });
});

describe('JetStream store options', () => {
  it('fills in defaults whose duplicate window covers the retry horizon', () => {
    const o = resolveJetStreamStoreOptions({});
    assert.equal(o.ackTimeoutMs, DEFAULT_ACK_TIMEOUT_MS);
    assert.equal(o.publishRetryMs, DEFAULT_PUBLISH_RETRY_MS);
    assert.equal(o.duplicateWindowMs, DEFAULT_DUPLICATE_WINDOW_MS);
    assert.ok(o.duplicateWindowMs > o.publishRetryMs + o.ackTimeoutMs);
  });

  it('refuses a duplicate window that a resend could outlive (it would store a reading twice)', () => {
    assert.throws(() => resolveJetStreamStoreOptions({ publishRetryMs: 60_000, ackTimeoutMs: 2_000, duplicateWindowMs: 62_000 }), configError('duplicateWindowMs'));
    assert.doesNotThrow(() => resolveJetStreamStoreOptions({ publishRetryMs: 60_000, ackTimeoutMs: 2_000, duplicateWindowMs: 62_001 }));
    assert.throws(() => resolveJetStreamStoreOptions({ ackTimeoutMs: 0 }), configError('ackTimeoutMs'));
    assert.throws(() => resolveJetStreamStoreOptions({ readBatch: 0 }), configError('readBatch'));
  });

  it('builds NATS client options that reconnect forever and ping every few seconds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleethub-cluster-config-'));
    try {
      await writeFile(join(dir, 'ca.pem'), 'CA PEM');
      const c = resolveClusterConfig({ node: 'hub-a', nats: { servers: ['tls://n1:4222'], tls: { ca: 'ca.pem' } } }, dir);
      assert.ok(c !== null);
      const o = natsConnectOptions(c);
      assert.equal(o.maxReconnectAttempts, -1);
      assert.equal(o.pingInterval, DEFAULT_NATS_PING_INTERVAL_MS);
      assert.ok(DEFAULT_NATS_PING_INTERVAL_MS <= 10_000);
      assert.deepEqual(o.servers, ['tls://n1:4222']);
      assert.equal(o.tls?.ca, 'CA PEM');
      const missing = resolveClusterConfig({ node: 'hub-a', nats: { servers: ['nats://n1:4222'], creds: 'nope.creds' } }, dir);
      assert.ok(missing !== null);
      assert.throws(() => natsConnectOptions(missing), configError('cluster.nats.creds'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
