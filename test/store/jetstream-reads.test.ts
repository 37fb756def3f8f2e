/**
 * Sequential reads of the JetStream store against a real three-node
 * nats-server cluster: a sink reading the stream batch after batch costs a
 * pull per batch, not a request per reading (nats-server 2.9 has no batched
 * get), and reads stay right across jumps, interleaved readers and the
 * `readConsumers` limit. The JetStream API requests are counted by
 * subscribing to their subjects, as any NATS client may, on the server the
 * store is connected to: that server hands each request to the watcher
 * before it answers the watcher's next ping, so a flush settles the count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { openJetStreamStore, type JetStreamStore, type JetStreamStoreOptions } from '../../src/store/jetstream-store.js';
import { natsNames } from '../../src/store/jetstream/nats-names.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import type { Reading, StoredReading } from '../../src/store/types.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { reading } from './store-fixtures.js';

const DEVICES = 50;
const PER_DEVICE = 30;
const TOTAL = DEVICES * PER_DEVICE;
const BATCH = 100;

/** JetStream API requests seen on the stream's subjects while a test runs. */
interface RequestCount {
  /** Gets by sequence ($JS.API.STREAM.MSG.GET). */
  gets: number;
  /** Pulls of a consumer ($JS.API.CONSUMER.MSG.NEXT). */
  pulls: number;
  /** Consumers made ($JS.API.CONSUMER.CREATE). */
  creates: number;
}

describe('JetStream store: sequential reads (3 nats-servers)', () => {
  let cluster: NatsCluster;
  let watcher: NatsConnection;
  let prefixes = 0;
  const stores: JetStreamStore[] = [];
  const subs: Subscription[] = [];

  before(async () => {
    cluster = await startNatsCluster({ nodes: 3 });
    watcher = await connect({ servers: [cluster.urls[0] as string] });
  });
  after(async () => {
    for (const store of stores) await store.close();
    for (const sub of subs) sub.unsubscribe();
    await watcher?.close();
    await cluster?.stop();
  });

  /** A store on a fresh stream holding TOTAL readings (positions 0..TOTAL-1), and a count of its API requests from now on. */
  const filled = async (options: JetStreamStoreOptions = {}): Promise<{ store: JetStreamStore; count: RequestCount }> => {
    const prefix = `r${process.pid}x${(prefixes += 1)}`;
    const store = await openJetStreamStore(
      { node: 'hub-a', nats: { servers: [cluster.urls[0] as string], tls: null, creds: null }, replicas: 3 },
      { ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 },
      { prefix, readBatch: BATCH, ...options },
    );
    stores.push(store);
    for (let seq = 1; seq <= PER_DEVICE; seq += 1) {
      const round: Reading[] = [];
      for (let d = 0; d < DEVICES; d += 1) round.push(reading(`seq-${d}`, seq, { d, seq }));
      await store.append(round);
    }
    assert.equal(store.nextPosition(), TOTAL);
    const stream = natsNames(prefix).stream;
    const count: RequestCount = { gets: 0, pulls: 0, creates: 0 };
    const watch = (subject: string, key: keyof RequestCount): void => {
      subs.push(watcher.subscribe(subject, { callback: () => void (count[key] += 1) }));
    };
    watch(`$JS.API.STREAM.MSG.GET.${stream}`, 'gets');
    watch(`$JS.API.CONSUMER.MSG.NEXT.${stream}.>`, 'pulls');
    watch(`$JS.API.CONSUMER.CREATE.${stream}`, 'creates');
    watch(`$JS.API.CONSUMER.CREATE.${stream}.>`, 'creates');
    await watcher.flush();
    return { store, count };
  };

  /** Reads from `from` to the end in pages, as a sink does; asserts each page goes on where the last ended. */
  const readOn = async (store: JetStreamStore, from: number, until = TOTAL): Promise<StoredReading[]> => {
    const all: StoredReading[] = [];
    let next = from;
    for (let i = 0; i < 1_000 && next < until; i += 1) {
      const page = await store.read(next, BATCH);
      assert.equal(page.skipped, 0);
      assert.equal(page.readings[0]?.position, next, `page at ${next} starts there`);
      assert.ok(page.readings.length > 0 && page.readings.length <= BATCH);
      all.push(...page.readings);
      next = page.next;
    }
    return all;
  };
  /** Every request the store sent so far has been counted. */
  const settled = (): Promise<void> => watcher.flush();
  const positions = (readings: readonly StoredReading[]): number[] => readings.map((r) => r.position);
  const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

  it('reads the stream in sequence with a pull per batch, not a request per reading, and stays right across a jump back', async () => {
    const { store, count } = await filled();
    const all = await readOn(store, 0);
    assert.deepEqual(positions(all), range(0, TOTAL));
    for (const r of all) assert.deepEqual([r.data.d, r.data.seq], [Number(r.device.slice(4)), r.seq]);
    // 15 batches: one pull each (a pull may be repeated once), one consumer, no gets.
    await settled();
    assert.equal(count.gets, 0, 'no get by sequence');
    assert.ok(count.pulls <= 2 * (TOTAL / BATCH), `pulls: ${count.pulls}`);
    assert.equal(count.creates, 1);

    // A jump back (a sink whose cursor was set back, or another hub's sink starting from its saved position).
    const again = await readOn(store, 250, 900);
    assert.deepEqual(positions(again).slice(0, 650), range(250, 900));
    // A jump forward from there, then on to the end.
    assert.deepEqual(positions(await readOn(store, 1_203)), range(1_203, TOTAL));
    await settled();
    assert.equal(count.gets, 0);
    assert.equal((await store.read(TOTAL, BATCH)).readings.length, 0);
    // A page in the middle of nowhere reads the same as through the readers.
    assert.deepEqual((await store.read(777, 3)).readings, all.slice(777, 780));
  });

  it('keeps interleaved readers (two sinks) each on its own consumer', async () => {
    const { store, count } = await filled();
    const a: StoredReading[] = [];
    const b: StoredReading[] = [];
    let nextA = 0;
    let nextB = 700;
    for (let i = 0; i < 200 && (nextA < TOTAL || nextB < TOTAL); i += 1) {
      const [pageA, pageB] = await Promise.all([
        nextA < TOTAL ? store.read(nextA, BATCH) : null,
        nextB < TOTAL ? store.read(nextB, BATCH) : null,
      ]);
      if (pageA !== null) {
        a.push(...pageA.readings);
        nextA = pageA.next;
      }
      if (pageB !== null) {
        b.push(...pageB.readings);
        nextB = pageB.next;
      }
    }
    assert.deepEqual(positions(a), range(0, TOTAL));
    assert.deepEqual(positions(b), range(700, TOTAL));
    await settled();
    assert.equal(count.gets, 0);
    assert.equal(count.creates, 2);
  });

  it('past readConsumers falls back to gets and moves the one reader, and still reads right; 0 reads by gets only', async () => {
    const { store, count } = await filled({ readConsumers: 1 });
    const a: StoredReading[] = [];
    const b: StoredReading[] = [];
    let nextA = 0;
    let nextB = 700;
    for (let i = 0; i < 200 && (nextA < 1_000 || nextB < TOTAL); i += 1) {
      // Side by side: one of them gets the reader, the other reads by gets.
      const [pageA, pageB] = await Promise.all([store.read(nextA, BATCH), store.read(nextB, BATCH)]);
      a.push(...pageA.readings);
      b.push(...pageB.readings);
      nextA = pageA.next;
      nextB = pageB.next;
      if (nextA >= 1_000) break;
    }
    assert.deepEqual(positions(a), range(0, nextA));
    assert.deepEqual(positions(b), range(700, nextB));
    await settled();
    assert.ok(count.gets > 0, 'the reader was busy: gets');
    assert.ok(count.pulls > 0, 'and pulls');

    const { store: plain, count: plainCount } = await filled({ readConsumers: 0 });
    assert.deepEqual(positions(await readOn(plain, 1_350)), range(1_350, TOTAL));
    await settled();
    assert.equal(plainCount.pulls, 0);
    assert.equal(plainCount.gets, TOTAL - 1_350);
  });
});
