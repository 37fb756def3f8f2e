/**
 * The JetStream store's group commit against a real three-node
 * nats-server cluster: readings of many devices handed over together leave
 * for NATS together (one departure of the publish window, counted in the
 * store's `publishBatches`), and readings handed over one turn apart within
 * `store.commitIntervalMs` gather into one departure instead of one each.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { openJetStreamStore, type JetStreamStore } from '../../src/store/jetstream-store.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../../src/store/store-config.js';
import type { AppendOutcome } from '../../src/store/types.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { reading } from './store-fixtures.js';

const DEVICES = 50;
/** Long enough that handing over 50 readings one turn apart fits in one interval even on a busy machine. */
const COMMIT_INTERVAL_MS = 200;
const CONFIG: StoreConfig = Object.freeze({ ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0, commitIntervalMs: COMMIT_INTERVAL_MS });

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('JetStream store group commit (3 nats-servers, replicas 3)', () => {
  let cluster: NatsCluster;
  let store: JetStreamStore | undefined;
  const ids = Array.from({ length: DEVICES }, (_, i) => `gc-${i}`);
  const batches = (): number => store?.stats().publishBatches ?? 0;

  before(async () => {
    cluster = await startNatsCluster({ nodes: 3 });
    store = await openJetStreamStore(
      { node: 'hub-a', nats: { servers: cluster.urls, tls: null, creds: null }, replicas: 3 },
      CONFIG,
      { prefix: `g${process.pid}` },
    );
    // Every device's state read first (as when it connects), so its readings go straight to the window.
    await Promise.all(ids.map((id) => store?.openDevice(id)));
  });
  after(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it(`publishes one append of ${DEVICES} devices' readings in one departure`, async () => {
    const s = store as JetStreamStore;
    const before = batches();
    const outcomes = await s.append(ids.map((id) => reading(id, 1)));
    assert.deepEqual(outcomes, ids.map((): AppendOutcome => 'stored'));
    assert.equal(batches() - before, 1);
  });

  it(`gathers ${DEVICES} devices' readings handed over one turn apart into few departures, not one each`, async () => {
    const s = store as JetStreamStore;
    const before = batches();
    const appends: Array<Promise<AppendOutcome[]>> = [];
    const startedAt = performance.now();
    for (const id of ids) {
      // One device's reading per turn of the event loop, as readings arrive one socket callback at a time.
      appends.push(s.append([reading(id, 2)]));
      await nextTurn();
    }
    const handedOverMs = performance.now() - startedAt;
    const outcomes = (await Promise.all(appends)).flat();
    assert.deepEqual(outcomes, ids.map((): AppendOutcome => 'stored'));
    assert.equal(s.stats().appended, 2 * DEVICES);
    // At most one departure per interval the handing over spanned, and the one that takes the last of them.
    const allowed = 1 + Math.ceil(handedOverMs / COMMIT_INTERVAL_MS);
    const departures = batches() - before;
    assert.ok(departures >= 1 && departures <= allowed, `${DEVICES} readings over ${handedOverMs.toFixed(0)} ms left in ${departures} departures (at most ${allowed})`);
  });
});
