/**
 * Sink leases against a real three-node nats-server cluster: two "hubs"
 * (each its own NATS connection) compete for one sink; the holder's
 * connection dies; another hub writes the key; the holder releases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { isFleethubError } from '../../../src/errors.js';
import { clusterNames, openClusterBucket } from '../../../src/hub/cluster/cluster-bucket.js';
import { SinkLeases, type SinkLease, type SinkLeaseOptions } from '../../../src/hub/cluster/sink-lease.js';
import { encodeToken } from '../../../src/store/jetstream/nats-names.js';
import { waitUntil } from '../../helpers/wait.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

/** Short leases, so a takeover takes seconds. */
const TTL_MS = 2_000;

/** A hub competing for one sink, and what its lease told it. */
interface Contender {
  readonly node: string;
  readonly nc: NatsConnection;
  readonly leases: SinkLeases;
  lease: SinkLease | null;
  readonly events: string[];
}

describe('sink leases (3 nats-servers, replicas 3)', () => {
  let fixture: ClusterFixture;
  const opened: SinkLeases[] = [];

  before(async () => {
    fixture = await startClusterFixture();
  });
  after(async () => {
    for (const leases of opened) await leases.close();
    await fixture?.stop();
  });

  const contender = async (node: string, prefix: string, options: Partial<SinkLeaseOptions> = {}): Promise<Contender> => {
    const nc = await fixture.connect(node);
    const leases = await SinkLeases.open({ connection: nc, node, replicas: 3, prefix, ttlMs: TTL_MS, ...options });
    opened.push(leases);
    return { node, nc, leases, lease: null, events: [] };
  };
  /** Starts `c` competing for `sink`; `onAcquired` runs first thing when it gets the lease. */
  const compete = (c: Contender, sink: string, onAcquired: () => void = () => {}): SinkLease => {
    c.lease = c.leases.hold(sink, {
      onAcquired: () => {
        onAcquired();
        c.events.push('acquired');
      },
      onLost: (reason) => c.events.push(`lost:${reason}`),
    });
    return c.lease;
  };
  const bucket = async (prefix: string) => openClusterBucket(await fixture.connect('hub-x'), clusterNames(prefix).leaseBucket, 3, 5_000);

  it('lets one hub hold a sink while another waits, renewing on the revision it wrote', async () => {
    const prefix = fixture.newPrefix();
    const a = await contender('hub-a', prefix);
    const b = await contender('hub-b', prefix);
    const leaseA = compete(a, 'mqtt');
    await waitUntil(() => leaseA.held, 'A holds the lease', 20_000);
    const leaseB = compete(b, 'mqtt');
    const first = leaseA.revision ?? 0;
    // Three renews later (each a compare-and-set on the last revision), B still waits.
    await waitUntil(() => (leaseA.revision ?? 0) >= first + 3, 'A renewed three times', 20_000);
    assert.equal(leaseB.held, false);
    assert.deepEqual(b.events, []);
    assert.deepEqual(a.events, ['acquired']);
    const before = leaseA.revision;
    const entry = await (await bucket(prefix)).get(encodeToken('mqtt'));
    const afterRead = leaseA.revision;
    assert.ok(entry !== null && (entry.revision === before || entry.revision === afterRead), `record at ${entry?.revision}, A at ${before}/${afterRead}`);
    assert.equal(JSON.parse(entry.string()).node, 'hub-a');
  });

  it('moves the sink to another hub within the lease time when the holder dies, never held by both', async () => {
    const prefix = fixture.newPrefix();
    const a = await contender('hub-a', prefix);
    const b = await contender('hub-b', prefix);
    const leaseA = compete(a, 'influx');
    await waitUntil(() => leaseA.held, 'A holds the lease', 20_000);
    let aHeldWhenBAcquired: boolean | null = null;
    const leaseB = compete(b, 'influx', () => (aHeldWhenBAcquired = leaseA.held));
    const bTimings = b.leases.timings;

    await a.nc.close(); // the hub is gone: no renew, no release
    await waitUntil(() => leaseB.held, 'B takes the lease over', bTimings.ttlMs + bTimings.acquireMs + 10_000);
    assert.equal(aHeldWhenBAcquired, false, 'A still believed it held the lease when B acquired it');
    assert.deepEqual(a.events, ['acquired', 'lost:expired']);
    assert.deepEqual(b.events, ['acquired']);
    const entry = await (await bucket(prefix)).get(encodeToken('influx'));
    assert.equal(JSON.parse(entry?.string() ?? '{}').node, 'hub-b');
  });

  it('loses the lease at the next renew when another hub wrote the key', async () => {
    const prefix = fixture.newPrefix();
    const a = await contender('hub-a', prefix);
    const leaseA = compete(a, 'thingspeak');
    await waitUntil(() => leaseA.held, 'A holds the lease', 20_000);
    const kv = await bucket(prefix);
    await kv.put(encodeToken('thingspeak'), JSON.stringify({ node: 'hub-x', expiresAt: Date.now() + 60_000 }));
    await waitUntil(() => !leaseA.held, 'A loses the lease', 10_000);
    assert.deepEqual(a.events, ['acquired', 'lost:taken']);
  });

  it('deletes the key on release, so a waiting hub takes the sink without waiting for the lease to expire', async () => {
    const prefix = fixture.newPrefix();
    // A's lease would last a minute: only the deleted key lets B in sooner.
    const a = await contender('hub-a', prefix, { ttlMs: 60_000 });
    const b = await contender('hub-b', prefix, { acquireMs: 200 });
    const leaseA = compete(a, 'sink.__proto__');
    await waitUntil(() => leaseA.held, 'A holds the lease', 20_000);
    const leaseB = compete(b, 'sink.__proto__');
    await leaseA.release();
    assert.equal(leaseA.held, false);
    await waitUntil(() => leaseB.held, 'B holds the lease', 20_000);
    assert.deepEqual(a.events, ['acquired']);
  });

  it('refuses timings where a renew could not land before the lease ends, naming the key', async () => {
    const nc = await fixture.connect('hub-a');
    await assert.rejects(SinkLeases.open({ connection: nc, node: 'hub-a', replicas: 3, ttlMs: 1_000, renewMs: 950, clockSkewMs: 100 }), (err: unknown) => {
      assert.ok(isFleethubError(err, 'FH_ERR_CONFIG'));
      assert.match(err.message, /renewMs/);
      return true;
    });
    await assert.rejects(SinkLeases.open({ connection: nc, node: 'hub-a', replicas: 3, ttlMs: -5 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
  });
});
