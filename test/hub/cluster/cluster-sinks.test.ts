/**
 * Sinks once per cluster, with real processes: three nats-servers, two
 * "hubs" (each its own NATS connection, JetStream store, sink leases and
 * bridge) sharing one MQTT sink that publishes to a real Mosquitto, and a
 * third connection appending readings as devices' hubs would. Only the hub
 * holding the sink's lease delivers; when its NATS connection drops (its
 * lease not released, as a dead hub) the other takes over within the lease
 * time from the saved position, and every reading reaches Mosquitto with at
 * most one batch repeated; a clean close hands over at once, repeating none.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { createBridge, type Bridge } from '../../../src/bridge/index.js';
import { MqttSink } from '../../../src/bridge/mqtt-sink.js';
import type { Sink } from '../../../src/bridge/sink.js';
import { SinkLeases, type SinkLeaseOptions } from '../../../src/hub/cluster/sink-lease.js';
import { SILENT_LOGGER } from '../../../src/log.js';
import { openJetStreamStore, type JetStreamStore } from '../../../src/store/jetstream-store.js';
import { DEFAULT_STORE_CONFIG } from '../../../src/store/store-config.js';
import type { Reading, StoredReading } from '../../../src/store/types.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { waitUntil } from '../../helpers/wait.js';
import { arrivalsOf, mqttConfig, subscribe, type Subscriber } from '../../bridge/mqtt-subscriber.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

const SINK = 'cluster-mqtt';
const BATCH = 50;
const DEVICES = 8;

/** One delivery attempt of one hub, as its sink saw it. */
interface Delivery {
  readonly hub: string;
  readonly start: number;
  end: number;
  readonly first: number;
  readonly last: number;
}

/** The MQTT sink, recording which hub delivered what and when. */
class TracingSink implements Sink {
  readonly name = SINK;
  readonly type = 'mqtt';
  readonly settings = { batchSize: BATCH, flushIntervalMs: 0, backoffInitialMs: 50, backoffMaxMs: 500 };
  constructor(readonly hub: string, readonly inner: MqttSink, readonly log: Delivery[]) {}
  async deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void> {
    const entry: Delivery = { hub: this.hub, start: performance.now(), end: Infinity, first: batch[0]?.position ?? -1, last: batch[batch.length - 1]?.position ?? -1 };
    this.log.push(entry);
    try {
      await this.inner.deliver(batch, signal);
    } finally {
      entry.end = performance.now();
    }
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A hub as far as sinks go. */
interface Hub {
  readonly node: string;
  readonly nc: NatsConnection;
  readonly store: JetStreamStore;
  readonly leases: SinkLeases;
  readonly bridge: Bridge;
}

describe('sinks once per cluster (3 nats-servers, 2 hubs, Mosquitto)', () => {
  let fixture: ClusterFixture;
  let broker: Mosquitto;
  let subscriber: Subscriber;
  const hubs: Hub[] = [];
  const writers: JetStreamStore[] = [];

  before(async () => {
    [fixture, broker] = await Promise.all([startClusterFixture(), startMosquitto()]);
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
  });
  after(async () => {
    for (const hub of hubs) {
      await hub.bridge.close();
      await hub.leases.close();
      await hub.store.close();
    }
    for (const writer of writers) await writer.close();
    await subscriber?.close();
    await Promise.all([fixture?.stop(), broker?.stop()]);
  });

  const clusterConfig = (node: string) => ({ node, nats: { servers: fixture.cluster.urls, tls: null, creds: null }, replicas: 3 });
  const openStore = async (node: string, nc: NatsConnection, prefix: string): Promise<JetStreamStore> =>
    openJetStreamStore(clusterConfig(node), { ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 }, { connection: nc, prefix, infoRefreshMs: 200 });

  /** A hub running the shared MQTT sink under its lease; its bridge is started. */
  const startHub = async (node: string, prefix: string, deliveries: Delivery[], lease: Partial<SinkLeaseOptions>): Promise<Hub> => {
    const nc = await fixture.connect(node);
    const store = await openStore(node, nc, prefix);
    const leases = await SinkLeases.open({ connection: nc, node, replicas: 3, prefix, ...lease });
    const sink = new TracingSink(node, new MqttSink(mqttConfig({ name: SINK, url: broker.url })), deliveries);
    const bridge = createBridge({ store, sinks: [sink], dataDir: null, log: SILENT_LOGGER, gate: leases });
    const hub = { node, nc, store, leases, bridge };
    hubs.push(hub);
    bridge.start();
    return hub;
  };

  /** Appends `rounds` readings of each device from another connection, one round after another (devices' hubs at work). */
  const appendRounds = async (prefix: string, devicePrefix: string, rounds: number): Promise<void> => {
    const writer = await openStore('hub-w', await fixture.connect('hub-w'), prefix);
    writers.push(writer);
    for (let seq = 1; seq <= rounds; seq += 1) {
      const round: Reading[] = [];
      for (let d = 0; d < DEVICES; d += 1) round.push({ device: `${devicePrefix}-${d}`, seq, ts: Date.now(), data: { seq, d } });
      await writer.append(round);
    }
  };

  /** Arrivals at Mosquitto of `devicePrefix`'s readings: distinct and repeated. */
  const arrived = (devicePrefix: string): { unique: number; repeats: number } => {
    const all = arrivalsOf(subscriber, devicePrefix);
    const unique = new Set(all.map((a) => `${a.device}/${a.seq}`)).size;
    return { unique, repeats: all.length - unique };
  };

  /** Every delivery of `earlier` ended before the first of `later` began: never both at once. */
  const assertOneAtATime = (deliveries: readonly Delivery[], earlier: string, later: string): void => {
    const lastEnd = Math.max(...deliveries.filter((d) => d.hub === earlier).map((d) => d.end));
    const firstStart = Math.min(...deliveries.filter((d) => d.hub === later).map((d) => d.start));
    assert.ok(Number.isFinite(lastEnd) && lastEnd <= firstStart, `${earlier} delivered until ${lastEnd}, ${later} from ${firstStart}`);
  };

  it('a dead hub\'s sink moves to another hub within the lease time, from the saved position, every reading delivered, at most one batch twice', async (t) => {
    const prefix = fixture.newPrefix();
    const deliveries: Delivery[] = [];
    const lease = { ttlMs: 3_000, clockSkewMs: 1_000 };
    const a = await startHub('hub-a', prefix, deliveries, lease);
    await waitUntil(() => a.bridge.stats()[0]?.active === true, 'hub-a runs the sink', 20_000);
    const b = await startHub('hub-b', prefix, deliveries, lease);
    const rounds = 150;
    const appending = appendRounds(prefix, 'dead', rounds);
    await waitUntil(() => (a.bridge.stats()[0]?.delivered ?? 0) >= 300, 'hub-a delivered 300', 60_000);
    assert.equal(b.bridge.stats()[0]?.active, false, 'hub-b waits while hub-a holds the lease');
    assert.equal(deliveries.filter((d) => d.hub === 'hub-b').length, 0);

    await a.nc.close(); // hub-a is gone for NATS: no renew, no release, no cursor save
    const timings = b.leases.timings;
    await waitUntil(() => b.bridge.stats()[0]?.active === true, 'hub-b takes the sink over', timings.ttlMs + timings.acquireMs + 10_000);
    assert.equal(a.bridge.stats()[0]?.active, false, 'hub-a stopped when its lease ran out');
    await appending;
    const total = rounds * DEVICES;
    await waitUntil(() => arrived('dead').unique === total, `all ${total} readings at Mosquitto`, 60_000);

    const { repeats } = arrived('dead');
    assert.ok(repeats <= BATCH, `${repeats} readings delivered twice, at most one batch (${BATCH})`);
    assertOneAtATime(deliveries, 'hub-a', 'hub-b');
    // hub-b went on from the saved position: not from 0, and not past what hub-a delivered.
    const aLast = Math.max(...deliveries.filter((d) => d.hub === 'hub-a').map((d) => d.last));
    const bFirst = Math.min(...deliveries.filter((d) => d.hub === 'hub-b').map((d) => d.first));
    t.diagnostic(`hub-a delivered up to ${aLast}, hub-b began at ${bFirst}, ${repeats} repeated`);
    assert.ok(bFirst > 0 && bFirst <= aLast + 1 && aLast + 1 - bFirst <= BATCH, `hub-a delivered up to ${aLast}, hub-b began at ${bFirst}`);
  });

  it('a clean close saves the position and hands the sink over at once, repeating nothing', async () => {
    const prefix = fixture.newPrefix();
    const deliveries: Delivery[] = [];
    // A minute-long lease: only the release on close lets hub-b in within the wait below.
    const a = await startHub('hub-a', prefix, deliveries, { ttlMs: 60_000 });
    await waitUntil(() => a.bridge.stats()[0]?.active === true, 'hub-a runs the sink', 20_000);
    const b = await startHub('hub-b', prefix, deliveries, { ttlMs: 60_000, acquireMs: 200 });
    const rounds = 100;
    const appending = appendRounds(prefix, 'clean', rounds);
    await waitUntil(() => (a.bridge.stats()[0]?.delivered ?? 0) >= 200, 'hub-a delivered 200', 60_000);

    await a.bridge.close();
    await waitUntil(() => b.bridge.stats()[0]?.active === true, 'hub-b takes the sink over', 20_000);
    await appending;
    const total = rounds * DEVICES;
    await waitUntil(() => arrived('clean').unique === total, `all ${total} readings at Mosquitto`, 60_000);
    assert.equal(arrived('clean').repeats, 0);
    assertOneAtATime(deliveries, 'hub-a', 'hub-b');
  });
});
