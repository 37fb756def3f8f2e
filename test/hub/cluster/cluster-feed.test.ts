/**
 * The cluster live feed against a real three-node nats-server cluster: two
 * "hubs" (a JetStream store, which writes the hub's heartbeat, and a feed each, on their own
 * NATS connection) sharing one prefix, as two hub processes share a
 * cluster. A dashboard on hub B must see what hub A stores and who is
 * connected to A.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFleethubError } from '../../../src/errors.js';
import { clusterNames, openClusterBucket } from '../../../src/hub/cluster/cluster-bucket.js';
import { ClusterFeed, type ClusterFeedOptions } from '../../../src/hub/cluster/cluster-feed.js';
import { DeviceOwnership } from '../../../src/hub/cluster/device-ownership.js';
import { DeviceRegistry } from '../../../src/hub/device-registry.js';
import type { FeedEvent } from '../../../src/hub/live-feed.js';
import { openJetStreamStore, type JetStreamStore } from '../../../src/store/jetstream-store.js';
import { HubHeartbeat, openHeartbeatBucket } from '../../../src/store/jetstream/hub-heartbeat.js';
import { encodeToken, natsNames } from '../../../src/store/jetstream/nats-names.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../../../src/store/store-config.js';
import type { StoredReading } from '../../../src/store/types.js';
import { waitUntil } from '../../helpers/wait.js';
import { reading } from '../../store/store-fixtures.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

const NO_RETENTION: StoreConfig = Object.freeze({ ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 });

/** One hub's cluster parts, and what its dashboards were sent. */
interface TestHub {
  readonly store: JetStreamStore;
  readonly feed: ClusterFeed;
  readonly events: FeedEvent[];
}

describe('cluster live feed (3 nats-servers, replicas 3)', () => {
  let fixture: ClusterFixture;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    fixture = await startClusterFixture();
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await fixture?.stop();
  });

  /** Hub `node` on `prefix`: its store (which writes the heartbeat presence relies on) and its feed with a subscriber. */
  const hub = async (node: string, prefix: string, options: Partial<ClusterFeedOptions> = {}): Promise<TestHub> => {
    const nc = await fixture.connect(node);
    const store = await openJetStreamStore({ node, nats: { servers: fixture.cluster.urls, tls: null, creds: null }, replicas: 3 }, NO_RETENTION, { prefix, connection: nc });
    closers.push(() => store.close());
    const feed = await ClusterFeed.open({ connection: nc, node, replicas: 3, store, registry: new DeviceRegistry(), rejectedSummaryMs: 1_000, prefix, ...options });
    closers.push(() => feed.close());
    const events: FeedEvent[] = [];
    feed.subscribe((event) => events.push(event));
    return { store, feed, events };
  };
  const readingsOf = (events: FeedEvent[], device: string): StoredReading[] =>
    events.flatMap((e) => (e.type === 'reading' && e.reading.device === device ? [e.reading] : []));
  const presenceOf = (events: FeedEvent[], device: string): boolean[] =>
    events.flatMap((e) => (e.type === 'presence' && e.device === device ? [e.online] : []));

  it('sends a reading stored through hub A to the dashboards of hub B, once, as committed', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    const committed: StoredReading[] = [];
    a.store.onCommit((readings) => committed.push(...readings));
    assert.deepEqual(await a.store.append([reading('dev.1', 1), reading('dev.1', 2, { note: 'x' })]), ['stored', 'stored']);

    await waitUntil(() => readingsOf(b.events, 'dev.1').length === 2, 'hub B got both readings');
    const got = readingsOf(b.events, 'dev.1');
    const plain = (r: StoredReading): StoredReading => ({ device: r.device, seq: r.seq, ts: r.ts, data: r.data, position: r.position });
    assert.deepEqual(got.map(plain), committed.map(plain));
    assert.deepEqual(b.feed.latest('dev.1'), got[1]);
    assert.ok([...b.feed.knownDevices()].includes('dev.1'));
    // Hub A's own dashboards see it the same way, through the same subject.
    await waitUntil(() => readingsOf(a.events, 'dev.1').length === 2, 'hub A got both readings');
    // A repeat is acked, not stored again: no second event.
    assert.deepEqual(await a.store.append([reading('dev.1', 2)]), ['duplicate']);
    assert.deepEqual(await a.store.append([reading('dev.1', 3)]), ['stored']);
    await waitUntil(() => readingsOf(b.events, 'dev.1').length === 3, 'hub B got the third reading');
    assert.deepEqual(readingsOf(b.events, 'dev.1').map((r) => r.seq), [1, 2, 3]);
  });

  it('shows a device claimed on hub A online on hub B, and offline once released', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    const ownership = await DeviceOwnership.open({ connection: await fixture.connect('hub-a'), node: 'hub-a', replicas: 3, prefix, onTakeover: () => {} });
    closers.push(() => ownership.close());

    await ownership.claim('dev-p', 'conn-1');
    await waitUntil(() => [...b.feed.onlineDevices()].includes('dev-p'), 'hub B sees dev-p online');
    assert.deepEqual(presenceOf(b.events, 'dev-p'), [true]);
    assert.ok([...a.feed.onlineDevices()].includes('dev-p'));

    assert.equal(await ownership.release('dev-p', 'conn-1'), true);
    await waitUntil(() => presenceOf(b.events, 'dev-p').length === 2, 'hub B saw dev-p go offline');
    assert.deepEqual(presenceOf(b.events, 'dev-p'), [true, false]);
    assert.ok(![...b.feed.onlineDevices()].includes('dev-p'));
  });

  it('starts hub B with every device of the stream and its latest reading, including devices only hub A has seen', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    await a.store.append([reading('only-a.1', 1), reading('only-a.2', 1), reading('only-a.1', 2)]);
    await a.store.append([reading('only-a.1', 3)]);
    const b = await hub('hub-b', prefix);
    await b.feed.loaded();
    assert.deepEqual([...b.feed.knownDevices()].sort(), ['only-a.1', 'only-a.2']);
    assert.equal(b.feed.latest('only-a.1')?.seq, 3);
    assert.equal(b.feed.latest('only-a.1')?.position, 3);
    assert.deepEqual(b.feed.latest('only-a.2')?.data, reading('only-a.2', 1).data);
    assert.equal(b.feed.latest('never'), undefined);
  });

  it('keeps at most maxDevices latest readings, forgetting the least recently updated', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    await a.store.append([reading('m1', 1), reading('m2', 1), reading('m3', 1)]);
    const b = await hub('hub-b', prefix, { maxDevices: 2 });
    await b.feed.loaded();
    assert.equal([...b.feed.knownDevices()].length, 2);
    await a.store.append([reading('m4', 1)]);
    await waitUntil(() => b.feed.latest('m4') !== undefined, 'hub B has m4');
    assert.equal([...b.feed.knownDevices()].length, 2);
  });

  it('turns the devices of a hub that stopped writing its heartbeat offline, and online again when it is back', async () => {
    const prefix = fixture.newPrefix();
    const b = await hub('hub-b', prefix, { presence: { hubSilenceMs: 2_000 } });
    // A hub that claimed a device and then died: its heartbeat and its owner record stay behind.
    const nc = await fixture.connect('hub-dead');
    const heartbeat = await HubHeartbeat.open(nc, natsNames(prefix).hubBucket, 'hub-dead', 3, 5_000);
    const owners = await openClusterBucket(nc, clusterNames(prefix).ownerBucket, 3, 5_000);
    await heartbeat.beat(Date.now());
    await owners.put(encodeToken('dev-d'), JSON.stringify({ node: 'hub-dead', connId: 'c1', since: Date.now() }));
    await waitUntil(() => [...b.feed.onlineDevices()].includes('dev-d'), 'hub B sees dev-d online');

    // No more heartbeats: offline after the silence, though the record is still there.
    await waitUntil(() => presenceOf(b.events, 'dev-d').at(-1) === false, 'hub B sees dev-d offline', 20_000);
    assert.ok(![...b.feed.onlineDevices()].includes('dev-d'));
    assert.notEqual(await owners.get(encodeToken('dev-d')), null);

    await heartbeat.beat(Date.now());
    await waitUntil(() => presenceOf(b.events, 'dev-d').at(-1) === true, 'hub B sees dev-d online again');
  });

  it('counts a record of a hub whose last heartbeat is old as offline from the start', async () => {
    const prefix = fixture.newPrefix();
    const nc = await fixture.connect('hub-gone');
    const beats = await openHeartbeatBucket(nc, natsNames(prefix).hubBucket, 3, 5_000);
    const owners = await openClusterBucket(nc, clusterNames(prefix).ownerBucket, 3, 5_000);
    await beats.put(encodeToken('hub-gone'), String(Date.now()));
    await owners.put(encodeToken('dev-g'), JSON.stringify({ node: 'hub-gone', connId: 'c1', since: Date.now() }));
    const silenceMs = 1_000;
    // Wait out the silence on the bucket's own timestamps, then start a hub.
    await waitUntil(async () => Date.now() - ((await beats.get(encodeToken('hub-gone')))?.created.getTime() ?? Date.now()) > 2 * silenceMs, 'the heartbeat is old');
    const b = await hub('hub-b', prefix, { presence: { hubSilenceMs: silenceMs } });
    await waitUntil(() => [...b.feed.onlineDevices()].length === 0 && [...b.feed.knownDevices()].length === 0, 'hub B started');
    await owners.put(encodeToken('dev-h'), JSON.stringify({ node: 'hub-b', connId: 'c2', since: Date.now() }));
    await waitUntil(() => [...b.feed.onlineDevices()].includes('dev-h'), 'hub B sees its own device online');
    assert.deepEqual([...b.feed.onlineDevices()], ['dev-h']);
  });

  it('removes the owner records an earlier run of the same hub left, and keeps those of this run', async () => {
    const prefix = fixture.newPrefix();
    const owners = await openClusterBucket(await fixture.connect('hub-x'), clusterNames(prefix).ownerBucket, 3, 5_000);
    const earlier = Math.floor(performance.timeOrigin) - 60_000;
    await owners.put(encodeToken('dev-old'), JSON.stringify({ node: 'hub-b', connId: 'old', since: earlier }));
    await owners.put(encodeToken('dev-new'), JSON.stringify({ node: 'hub-b', connId: 'new', since: Date.now() }));
    await owners.put(encodeToken('dev-other'), JSON.stringify({ node: 'hub-c', connId: 'c', since: earlier }));
    const b = await hub('hub-b', prefix);
    await waitUntil(async () => (await owners.get(encodeToken('dev-old')))?.operation === 'DEL', 'the stale record is deleted');
    await waitUntil(() => [...b.feed.onlineDevices()].includes('dev-new'), 'hub B sees its device of this run online');
    assert.deepEqual([...b.feed.onlineDevices()], ['dev-new']);
    // Another hub's records are that hub's business (and judged by its heartbeat).
    assert.equal((await owners.get(encodeToken('dev-other')))?.operation, 'PUT');
    assert.equal((await owners.get(encodeToken('dev-new')))?.operation, 'PUT');
  });

  it('removes records of this hub naming connections it does not hold (a release it could not write)', async () => {
    const prefix = fixture.newPrefix();
    const held = new Set(['c-live']);
    const b = await hub('hub-b', prefix, { holds: (connId) => held.has(connId), presence: { hubSilenceMs: 1_000 } });
    const owners = await openClusterBucket(await fixture.connect('hub-x'), clusterNames(prefix).ownerBucket, 3, 5_000);
    await owners.put(encodeToken('dev-live'), JSON.stringify({ node: 'hub-b', connId: 'c-live', since: Date.now() }));
    await owners.put(encodeToken('dev-lost'), JSON.stringify({ node: 'hub-b', connId: 'c-lost', since: Date.now() }));
    await waitUntil(async () => (await owners.get(encodeToken('dev-lost')))?.operation === 'DEL', 'the record of the lost connection is deleted');
    await waitUntil(() => presenceOf(b.events, 'dev-lost').at(-1) === false, 'hub B saw dev-lost go offline');
    assert.deepEqual([...b.feed.onlineDevices()], ['dev-live']);
    assert.equal((await owners.get(encodeToken('dev-live')))?.operation, 'PUT');
  });

  it('follows at most maxOnlineDevices owner records', async () => {
    const prefix = fixture.newPrefix();
    const b = await hub('hub-b', prefix, { presence: { maxOnlineDevices: 2 } });
    const owners = await openClusterBucket(await fixture.connect('hub-x'), clusterNames(prefix).ownerBucket, 3, 5_000);
    for (const device of ['o1', 'o2', 'o3']) await owners.put(encodeToken(device), JSON.stringify({ node: 'hub-b', connId: device, since: Date.now() }));
    await waitUntil(() => [...b.feed.onlineDevices()].length === 2, 'hub B follows two devices');
    await owners.delete(encodeToken('o1'));
    await owners.put(encodeToken('o4'), JSON.stringify({ node: 'hub-b', connId: 'o4', since: Date.now() }));
    await waitUntil(() => [...b.feed.onlineDevices()].includes('o4'), 'a freed place is taken');
    assert.equal([...b.feed.onlineDevices()].length, 2);
  });

  it('refuses a bad limit with FH_ERR_CONFIG', async () => {
    const prefix = fixture.newPrefix();
    const nc = await fixture.connect('hub-c');
    const store = await openJetStreamStore({ node: 'hub-c', nats: { servers: fixture.cluster.urls, tls: null, creds: null }, replicas: 3 }, NO_RETENTION, { prefix, connection: nc });
    closers.push(() => store.close());
    const base = { connection: nc, node: 'hub-c', replicas: 3, store, registry: new DeviceRegistry(), rejectedSummaryMs: 1_000, prefix };
    await assert.rejects(ClusterFeed.open({ ...base, maxDevices: 0 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
    await assert.rejects(ClusterFeed.open({ ...base, presence: { hubSilenceMs: -1 } }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
    await assert.rejects(ClusterFeed.open({ ...base, batchMs: 0 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
    await assert.rejects(ClusterFeed.open({ ...base, batchBytes: 0 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
  });

  it('sends what a hub commits within batchMs as one live message, and splits a batch at batchBytes', async () => {
    const prefix = fixture.newPrefix();
    const watcher = await fixture.connect('watcher');
    const sizes: number[] = [];
    watcher.subscribe(`${prefix}.live.>`, { callback: (_err, msg) => void sizes.push(msg.data.length) });
    await watcher.flush();
    const a = await hub('hub-a', prefix, { batchMs: 1_000 });
    const b = await hub('hub-b', prefix);
    const devices = Array.from({ length: 20 }, (_, i) => `batch-${i}`);
    await a.store.append(devices.map((d) => reading(d, 1)));
    await waitUntil(() => devices.every((d) => readingsOf(b.events, d).length === 1), 'hub B got all 20 readings');
    assert.equal(sizes.length, 1, `20 readings committed together go out as one message, got ${sizes.length}`);

    // A hub with a small batchBytes splits the same commit into messages of at most that many bytes.
    const c = await hub('hub-c', prefix, { batchMs: 1_000, batchBytes: 200 });
    sizes.length = 0;
    await c.store.append(devices.map((d) => reading(d, 2)));
    await waitUntil(() => devices.every((d) => readingsOf(b.events, d).length === 2), 'hub B got the second 20');
    assert.ok(sizes.length > 1, `split into ${sizes.length} messages`);
    for (const size of sizes) assert.ok(size <= 200, `a message of ${size} bytes is over batchBytes`);
    assert.deepEqual(devices.map((d) => readingsOf(b.events, d).map((r) => r.seq)), devices.map(() => [1, 2]));
  });

  it('ignores a live message no hub wrote and goes on with the next', async () => {
    const prefix = fixture.newPrefix();
    const b = await hub('hub-b', prefix);
    const a = await hub('hub-a', prefix, { batchMs: 10 });
    const rogue = await fixture.connect('rogue');
    for (const body of ['not json', '{"device":"x"}', '[["x",0,1,2,{}]]', '[["x",1,1,2,[1]]]', '[["",1,1,2,{}]]']) rogue.publish(`${prefix}.live.rogue`, body);
    await rogue.flush();
    await a.store.append([reading('dev-after', 1)]);
    await waitUntil(() => readingsOf(b.events, 'dev-after').length === 1, 'hub B got the good reading');
    assert.deepEqual(b.events.filter((e) => e.type === 'reading').map((e) => e.type === 'reading' && e.reading.device), ['dev-after']);
  });

  it('keeps refusals on the hub the device is connected to', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    a.feed.rejected('dev-r', 'rate_limited');
    await a.store.append([reading('dev-r', 1)]);
    await waitUntil(() => readingsOf(b.events, 'dev-r').length === 1 && readingsOf(a.events, 'dev-r').length === 1, 'both hubs got the reading');
    assert.deepEqual(a.events.filter((e) => e.type === 'rejected').map((e) => e.type === 'rejected' && [e.device, e.code]), [['dev-r', 'rate_limited']]);
    assert.equal(b.events.filter((e) => e.type === 'rejected').length, 0);
  });
});
