/**
 * The JetStream store against a real three-node nats-server cluster with
 * replicas 3: acks, duplicates, per-device state taken over by another hub,
 * readers and cursors, retention, the stream leader killed mid-stream, and
 * health while a quorum is lost.
 * Each test names its own stream and bucket (a prefix), so they share one
 * cluster without sharing data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { isFleethubError } from '../../src/errors.js';
import type { ClusterConfig } from '../../src/store/cluster-config.js';
import { openJetStreamStore, type JetStreamStore, type OpenJetStreamStoreOptions } from '../../src/store/jetstream-store.js';
import { natsNames } from '../../src/store/jetstream/nats-names.js';
import { AckInbox } from '../../src/store/jetstream/ack-inbox.js';
import { publishUntilAcked } from '../../src/store/jetstream/publish-retry.js';
import { readingHeaders, readingMsgId, stateAfter } from '../../src/store/jetstream/reading-message.js';
import { DeviceState } from '../../src/store/device-state.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../../src/store/store-config.js';
import type { Reading, StoredReading } from '../../src/store/types.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { freePort } from '../helpers/service-process.js';
import { waitUntil } from '../helpers/wait.js';
import { readAll, reading } from './store-fixtures.js';

/** No retention. */
const NO_RETENTION: StoreConfig = Object.freeze({ ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 });

describe('JetStream store (3 nats-servers, replicas 3)', () => {
  let cluster: NatsCluster;
  let prefixCount = 0;
  const stores: JetStreamStore[] = [];
  const connections: NatsConnection[] = [];

  before(async () => {
    cluster = await startNatsCluster({ nodes: 3 });
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const nc of connections) await nc.close();
    await cluster?.stop();
  });

  const clusterConfig = (node: string): ClusterConfig => ({
    node,
    nats: { servers: cluster.urls, tls: null, creds: null },
    replicas: 3,
  });
  /** A fresh prefix: this test's own stream and bucket. */
  const newPrefix = (): string => `t${process.pid}x${(prefixCount += 1)}`;
  /** Opens a store as hub `node` (each store its own NATS connection, like a separate hub process). */
  const open = async (prefix: string, node = 'hub-a', config: StoreConfig = NO_RETENTION, options: OpenJetStreamStoreOptions = {}): Promise<JetStreamStore> => {
    const store = await openJetStreamStore(clusterConfig(node), config, { prefix, infoRefreshMs: 100, ...options });
    stores.push(store);
    return store;
  };
  const rawConnection = async (): Promise<NatsConnection> => {
    const nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    connections.push(nc);
    return nc;
  };

  it('acks after JetStream stored a reading on a quorum: another hub reads it back', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a');
    const committed: StoredReading[] = [];
    a.onCommit((readings) => committed.push(...readings));
    assert.deepEqual(await a.append([reading('dev.1', 1), reading('dev-2', 1), reading('dev.1', 2)]), ['stored', 'stored', 'stored']);
    assert.equal(a.nextPosition(), 3);
    await a.close();

    const b = await open(prefix, 'hub-b');
    assert.equal(b.nextPosition(), 3);
    const all = await readAll(b);
    // In order per device (devices' readings go to JetStream side by side, so dev-2's may come first).
    assert.deepEqual(all.map((r) => r.position), [0, 1, 2]);
    assert.deepEqual(all.filter((r) => r.device === 'dev.1').map((r) => r.seq), [1, 2]);
    assert.deepEqual(all.filter((r) => r.device === 'dev-2').map((r) => r.seq), [1]);
    const first = all.find((r) => r.device === 'dev.1' && r.seq === 1);
    assert.deepEqual(first?.data, reading('dev.1', 1).data);
    assert.equal(first?.ts, reading('dev.1', 1).ts);
    await waitUntil(() => committed.length === 3, 'onCommit was called three times', 20_000);
    assert.deepEqual(committed.map((r) => r.position).sort(), [0, 1, 2]);

    // The stream is replicated on every node, each in its own folder.
    const info = await (await jetstreamManager(await rawConnection())).streams.info(natsNames(prefix).stream);
    assert.equal(info.config.num_replicas, 3);
    assert.equal(info.config.storage, 'file');
    assert.equal((info.cluster?.replicas ?? []).length, 2);
  });

  it('gathering publishes for commitIntervalMs, stores the readings of devices sending in separate turns in order per device', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a', { ...NO_RETENTION, commitIntervalMs: 50 });
    const devices = ['w1', 'w2', 'w3', 'w4'];
    // Each reading handed over in its own turn of the event loop, as readings from separate sockets are.
    const outcomes = await Promise.all(devices.flatMap((device) => [1, 2, 3].map((seq) =>
      new Promise<unknown>((resolve, reject) => setImmediate(() => a.append([reading(device, seq)]).then(resolve, reject))))));
    assert.deepEqual(outcomes, devices.flatMap(() => [['stored'], ['stored'], ['stored']]));
    const all = await readAll(a);
    for (const device of devices) assert.deepEqual(all.filter((r) => r.device === device).map((r) => r.seq), [1, 2, 3]);
  });

  it('stores a publish resent with the same message id once (a timeout is not a refusal)', async () => {
    const prefix = newPrefix();
    const a = await open(prefix);
    const names = natsNames(prefix);
    const nc = await rawConnection();
    const inbox = new AckInbox(nc, 5_000);
    const publish = (subject: string, payload: Uint8Array | string, msgID: string, headers: MsgHdrs): Promise<PubAck> => inbox.publish(subject, payload, msgID, headers);
    const request = {
      subject: `${names.readingsPrefix}d7`,
      payload: '{"t":1}',
      msgID: readingMsgId('d7', 1),
      headers: readingHeaders(1, 1, stateAfter(new DeviceState(), 1, Date.now()), 0),
    };
    const limits = { ackTimeoutMs: 5_000, retryMs: 10_000, stopped: () => false };
    const first = await publishUntilAcked(publish, request, limits);
    // What a resend after a lost ack does: the same id again.
    const second = await publishUntilAcked(publish, request, limits);
    assert.equal(first.kind, 'acked');
    assert.equal(second.kind, 'acked');
    if (first.kind !== 'acked' || second.kind !== 'acked') return;
    assert.equal(first.ack.duplicate, false);
    assert.equal(second.ack.duplicate, true);
    assert.equal(second.ack.seq, first.ack.seq);
    const info = await (await jetstreamManager(nc)).streams.info(names.stream);
    assert.equal(info.state.messages, 1);
    // The duplicate window covers the whole retry horizon (publishRetryMs + one ack timeout).
    assert.ok(info.config.duplicate_window >= (60_000 + 2_000) * 1e6, `duplicate window ${info.config.duplicate_window} ns`);

    // The store sees that reading as the device's own: a repeat of seq 1 is a duplicate.
    await a.openDevice('d7');
    assert.equal(a.lastSeq('d7'), 1);
    assert.deepEqual(await a.append([reading('d7', 1), reading('d7', 2)]), ['duplicate', 'stored']);
  });

  it('acks a repeated (device, seq) as a duplicate without storing it, in one batch, later, and on another hub', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a');
    assert.deepEqual(await a.append([reading('d1', 1), reading('d1', 1), reading('d1', 2)]), ['stored', 'duplicate', 'stored']);
    assert.deepEqual(await a.append([reading('d1', 2), reading('d1', 1), reading('d1', 3)]), ['duplicate', 'duplicate', 'stored']);
    assert.equal(a.stats().duplicates, 3);
    await a.close();
    const b = await open(prefix, 'hub-b');
    assert.deepEqual(await b.append([reading('d1', 3), reading('d1', 4)]), ['duplicate', 'stored']);
    const all = await readAll(b);
    assert.deepEqual(all.map((r) => r.seq), [1, 2, 3, 4]);
  });

  it('lets the next hub recover lastSeq, the dedupe window, the daily count and the latest reading', async () => {
    const prefix = newPrefix();
    const day = Date.UTC(2026, 11, 7, 12);
    const a = await open(prefix, 'hub-a', NO_RETENTION, { now: () => day });
    // A gap: 3 and 4 are missing, and must stay storable on the next hub.
    await a.append([reading('gap', 1), reading('gap', 2), reading('gap', 5)]);
    await a.append([reading('x', 10)]);
    assert.equal(a.lastSeq('gap'), 5);
    assert.equal(a.countToday('gap', day), 3);
    await a.close();

    const b = await open(prefix, 'hub-b', NO_RETENTION, { now: () => day + 60_000 });
    assert.equal(b.lastSeq('gap'), null, 'nothing is known before openDevice');
    await b.openDevice('gap');
    await b.openDevice('new-device');
    assert.equal(b.lastSeq('gap'), 5);
    assert.equal(b.countToday('gap', day), 3);
    assert.equal(b.countToday('gap', day + 86_400_000), 0, 'the count is per UTC day');
    assert.equal(b.lastSeq('new-device'), null);
    const latest = b.latest('gap');
    assert.deepEqual(latest && [latest.seq, latest.position, latest.ts, latest.data], [5, 2, reading('gap', 5).ts, reading('gap', 5).data]);
    assert.deepEqual(await b.append([reading('gap', 2), reading('gap', 4), reading('gap', 5), reading('gap', 3), reading('gap', 6)]), [
      'duplicate', 'stored', 'duplicate', 'stored', 'stored',
    ]);
    assert.equal(b.countToday('gap', day + 60_000), 6);
    assert.deepEqual([...b.devices()].sort(), ['gap']);
  });

  it('refuses a stale hub\'s write and re-reads the device, so the device\'s last message carries its whole state', async () => {
    const prefix = newPrefix();
    const now = (): number => Date.UTC(2026, 11, 7, 12);
    const a = await open(prefix, 'hub-a', NO_RETENTION, { now });
    const b = await open(prefix, 'hub-b', NO_RETENTION, { now });
    await a.append([reading('m', 1)]);
    await b.openDevice('m');
    assert.deepEqual(await b.append([reading('m', 2), reading('m', 3)]), ['stored', 'stored']);
    // hub-a still believes lastSeq is 1 and one reading today: JetStream refuses its expectation, it reloads, then stores.
    assert.equal(a.lastSeq('m'), 1);
    assert.deepEqual(await a.append([reading('m', 4)]), ['stored']);
    assert.equal(a.lastSeq('m'), 4);
    assert.equal(a.countToday('m'), 4);
    assert.deepEqual(await a.append([reading('m', 3)]), ['duplicate']);
    // A third hub sees everything both wrote, from the last message alone.
    const c = await open(prefix, 'hub-c', NO_RETENTION, { now });
    await c.openDevice('m');
    assert.equal(c.lastSeq('m'), 4);
    assert.equal(c.countToday('m'), 4);
    assert.deepEqual((await readAll(c)).map((r) => r.seq), [1, 2, 3, 4]);
  });

  it('reads in order from any position, wakes readers on other hubs\' appends, and keeps cursors across hubs', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a', NO_RETENTION, { readBatch: 7 });
    const batch: Reading[] = [];
    for (let i = 1; i <= 40; i += 1) batch.push(reading(`r${i % 4}`, Math.ceil(i / 4), { i }));
    await a.append(batch);
    const all = await readAll(a, 0, 10);
    assert.deepEqual(all.map((r) => r.position), Array.from({ length: 40 }, (_, k) => k));
    for (const device of ['r0', 'r1', 'r2', 'r3']) {
      const seqs = all.filter((r) => r.device === device).map((r) => r.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `${device} in order`);
    }
    const page = await a.read(13, 100);
    assert.equal(page.readings.length, 7, 'a read is bounded by readBatch');
    assert.equal(page.readings[0]?.position, 13);
    assert.equal(page.next, 20);
    assert.deepEqual(await a.read(40, 10), { readings: [], next: 40, skipped: 0 });

    // A reader on hub-b waits for a reading that hub-a appends.
    const b = await open(prefix, 'hub-b');
    const waiting = b.waitFor(40);
    await a.append([reading('r9', 1)]);
    await waiting;
    assert.equal((await b.read(40, 10)).readings[0]?.device, 'r9');
    const aborted = new AbortController();
    const never = b.waitFor(1000, aborted.signal);
    aborted.abort();
    await never;

    assert.equal(await a.cursor('mqtt.main'), 0);
    await a.saveCursor('mqtt.main', 17);
    await a.saveCursor('influx', 3);
    await a.close();
    assert.equal(await b.cursor('mqtt.main'), 17);
    const c = await open(prefix, 'hub-c');
    assert.deepEqual(c.cursorNames().sort(), ['influx', 'mqtt.main']);
    await c.deleteCursor('influx');
    assert.equal(await c.cursor('influx'), 0);
    assert.deepEqual(c.cursorNames(), ['mqtt.main']);
    await assert.rejects(c.saveCursor('x', -1), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
  });

  it('retains by size: the stream\'s max_bytes drops the oldest readings and readers are told what they skipped', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a', { ...NO_RETENTION, retentionBytes: 4096, retentionHours: 24 });
    const info = await (await jetstreamManager(await rawConnection())).streams.info(natsNames(prefix).stream);
    assert.equal(info.config.max_bytes, 4096);
    assert.equal(info.config.max_age, 24 * 3600 * 1e9);
    for (let seq = 1; seq <= 60; seq += 1) await a.append([reading('big', seq, { pad: 'x'.repeat(100) })]);
    await waitUntil(async () => {
      await a.read(a.nextPosition(), 1); // refreshes the stream's first position
      return a.firstPosition() > 0;
    }, 'retention removed the oldest readings', 20_000);
    const page = await a.read(0, 5);
    assert.ok(page.skipped > 0);
    assert.equal(page.readings[0]?.position, page.skipped);
    assert.ok(a.stats().bytes <= 4096);
  });

  it('rejects a bad reading without storing anything of its batch', async () => {
    const a = await open(newPrefix());
    await assert.rejects(a.append([reading('ok', 1), { device: 'bad', seq: 0, ts: 1, data: {} }]), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
    assert.equal(a.nextPosition(), 0);
  });

  it('rides out kill -9 of the stream leader: appends pause, then go on, and every acked reading is stored exactly once', async (t) => {
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a');
    const names = natsNames(prefix);
    const jsm = await jetstreamManager(await rawConnection());
    const devices = ['k0', 'k1', 'k2', 'k3', 'k4'];
    const acked = new Map<string, number>(devices.map((d) => [d, 0]));
    let failures = 0;
    let stop = false;
    // Each device sends its next seq once the previous one is acked, resending after a failure, like the firmware.
    const run = async (device: string): Promise<void> => {
      for (let i = 0; i < 100_000 && !stop; i += 1) {
        const seq = (acked.get(device) ?? 0) + 1;
        try {
          await a.append([reading(device, seq)]);
          acked.set(device, seq);
          longestWaitMs = Math.max(longestWaitMs, Date.now() - lastAckAt);
          lastAckAt = Date.now();
        } catch {
          failures += 1;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    let longestWaitMs = 0;
    let lastAckAt = Date.now();
    const total = (): number => [...acked.values()].reduce((x, y) => x + y, 0);
    const runners = devices.map((d) => run(d));
    try {
      await waitUntil(() => total() >= 50, '50 appends before the kill', 60_000);
      const leader = (await jsm.streams.info(names.stream)).cluster?.leader ?? '';
      const victim = cluster.indexOf(leader);
      assert.ok(victim >= 0, `stream leader ${leader} is one of ${cluster.names.join(', ')}`);
      await cluster.kill(victim, 'SIGKILL');
      const atKill = total();
      await waitUntil(() => total() >= atKill + 100, '100 more appends after the kill', 120_000);
      const newLeader = (await jsm.streams.info(names.stream)).cluster?.leader;
      assert.notEqual(newLeader, leader);
    } finally {
      stop = true;
      await Promise.all(runners);
    }
    t.diagnostic(`acked ${total()} readings; ${failures} appends failed and were resent; longest gap between acks ${longestWaitMs} ms`);
    const all = await readAll(a);
    const seen = new Set<string>();
    for (const r of all) {
      const key = `${r.device}/${r.seq}`;
      assert.ok(!seen.has(key), `${key} stored twice`);
      seen.add(key);
    }
    for (const [device, last] of acked) {
      for (let seq = 1; seq <= last; seq += 1) assert.ok(seen.has(`${device}/${seq}`), `${device}/${seq} was acked but is not in the stream`);
      const seqs = all.filter((r) => r.device === device).map((r) => r.seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1), `${device} in order`);
    }
  });

  it('reports itself unhealthy while it cannot reach a JetStream quorum, and healthy again once it can', async () => {
    for (let i = 0; i < 3; i += 1) if (!cluster.running(i)) await cluster.restart(i);
    const prefix = newPrefix();
    const a = await open(prefix, 'hub-a');
    const b = await open(prefix, 'hub-b', NO_RETENTION, { publishRetryMs: 3_000 });
    await a.append([reading('h', 1)]);
    await b.openDevice('h');
    assert.equal(a.health().ok, true);
    // Two of three gone: no stream can elect a leader.
    await cluster.kill(1, 'SIGKILL');
    await cluster.kill(2, 'SIGKILL');
    await waitUntil(() => !a.health().ok, 'the store reports itself unhealthy', 60_000);
    // Never acked on a timeout: past publishRetryMs without an ack, the append fails.
    await assert.rejects(b.append([reading('h', 2)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
    await Promise.all([cluster.restart(1), cluster.restart(2)]);
    await waitUntil(() => a.health().ok, 'the store is healthy again', 60_000);
    // The device resends seq 2 (to whichever hub): stored once, whether or not the failed publish got in after all.
    const [outcome] = await a.append([reading('h', 2)]);
    assert.ok(outcome === 'stored' || outcome === 'duplicate');
    assert.deepEqual((await readAll(a)).map((r) => r.seq), [1, 2]);
  });
});

describe('JetStream store without NATS', () => {
  it('gives up opening after openTimeoutMs with FH_ERR_STORE_IO', async () => {
    const port = await freePort(); // nothing listens there
    const cluster: ClusterConfig = { node: 'hub-a', nats: { servers: [`nats://127.0.0.1:${port}`], tls: null, creds: null }, replicas: 1 };
    await assert.rejects(openJetStreamStore(cluster, NO_RETENTION, { openTimeoutMs: 1_000 }), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
  });
});
