/**
 * The runner's own duties, with a recording sink whose failures the test
 * controls: persisted position (against the real log store), retention loss
 * made loud, per-sink metrics, prompt close while retrying.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createBridge } from '../../src/bridge/index.js';
import type { RunnerSettings } from '../../src/bridge/sink-settings.js';
import { cursorName, SinkRunner } from '../../src/bridge/sink-runner.js';
import type { Sink } from '../../src/bridge/sink.js';
import { openStore } from '../../src/store/log-store.js';
import type { StoredReading } from '../../src/store/types.js';
import { createMemoryLogger, SILENT_LOGGER } from '../../src/log.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { readings, TEST_RUNNER_SETTINGS } from './sink-contract.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { waitUntil } from '../helpers/wait.js';

/** A sink that records batches and fails while `failing` is set. */
class RecordingSink implements Sink {
  readonly type = 'recording';
  settings: Partial<RunnerSettings> = {};
  readonly batches: StoredReading[][] = [];
  failing = false;
  closed = 0;
  constructor(readonly name: string) {}
  async deliver(batch: readonly StoredReading[]): Promise<void> {
    if (this.failing) throw new Error('destination down');
    this.batches.push([...batch]);
  }
  async close(): Promise<void> {
    this.closed += 1;
  }
  get positions(): number[] {
    return this.batches.flat().map((r) => r.position);
  }
}

describe('sink runner', () => {
  it('persists its position in the real store and resumes there after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleethub-runner-'));
    const config = { ...DEFAULT_STORE_CONFIG, segmentBytes: 64 * 1024, retentionBytes: 0, retentionHours: 0 };
    try {
      let store = await openStore(dir, config, { log: SILENT_LOGGER });
      await store.append(readings(['s-a', 's-b'], 50));
      const first = new RecordingSink('s1');
      const runner = new SinkRunner({ sink: first, store, settings: { ...TEST_RUNNER_SETTINGS, batchSize: 30 }, log: SILENT_LOGGER });
      runner.start();
      await waitUntil(() => runner.stats().delivered === 100, 'runner.stats().delivered === 100', 20_000);
      await runner.close();
      await store.append(readings(['s-a', 's-b'], 10, 51));
      await store.close();

      store = await openStore(dir, config, { log: SILENT_LOGGER });
      assert.equal(await store.cursor(cursorName('s1')), 100);
      const second = new RecordingSink('s1');
      const again = new SinkRunner({ sink: second, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
      again.start();
      await waitUntil(() => again.stats().delivered === 20, 'again.stats().delivered === 20', 20_000);
      await again.close();
      await store.close();
      assert.deepEqual(second.positions, Array.from({ length: 20 }, (_, i) => 100 + i));
      assert.equal(first.closed, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports readings deleted by retention before delivery: a log line and a metric', async () => {
    const store = new MemoryStoreReader();
    store.append(readings(['r'], 10));
    store.retain(4);
    const log = createMemoryLogger();
    const sink = new RecordingSink('ret');
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log });
    runner.start();
    await waitUntil(() => runner.stats().delivered === 6, 'runner.stats().delivered === 6', 20_000);
    await runner.close();
    assert.equal(runner.stats().skipped, 4);
    assert.deepEqual(sink.positions, [4, 5, 6, 7, 8, 9]);
    assert.ok(log.lines.some((l) => l.includes('error sink.readings_lost_to_retention sink=ret count=4')));
  });

  it('retries a failing sink with backoff, shows it in the metrics, and delivers in order afterwards', async () => {
    const store = new MemoryStoreReader();
    const sink = new RecordingSink('flaky');
    sink.settings = { batchSize: 4, backoffInitialMs: 10, backoffMaxMs: 50 };
    const bridge = createBridge({ store, sinks: [sink], dataDir: null, log: SILENT_LOGGER });
    bridge.start();
    bridge.start();
    try {
      sink.failing = true;
      store.append(readings(['f'], 10));
      await waitUntil(() => (bridge.stats()[0]?.failures ?? 0) >= 3, '(bridge.stats()[0]?.failures ?? 0) >= 3', 20_000);
      const down = bridge.metrics();
      assert.match(down, /fleethub_sink_up\{sink="flaky",type="recording"\} 0/);
      assert.match(down, /fleethub_sink_lag_messages\{sink="flaky",type="recording"\} 10/);
      assert.match(down, /fleethub_sink_lag_seconds\{sink="flaky",type="recording"\} [1-9]/);
      sink.failing = false;
      await waitUntil(() => bridge.stats()[0]?.delivered === 10, 'bridge.stats()[0]?.delivered === 10', 20_000);
      const up = bridge.metrics();
      assert.match(up, /fleethub_sink_up\{sink="flaky",type="recording"\} 1/);
      assert.match(up, /fleethub_sink_delivered_total\{sink="flaky",type="recording"\} 10/);
      assert.match(up, /fleethub_sink_lag_messages\{sink="flaky",type="recording"\} 0/);
      assert.match(up, /fleethub_sink_dropped_total\{sink="flaky",type="recording",reason="retention"\} 0/);
      assert.deepEqual(sink.positions, Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await bridge.close();
      await bridge.close();
    }
    assert.equal(sink.closed, 1);
  });

  it('a slow or dead sink does not hold up another sink', async () => {
    const store = new MemoryStoreReader();
    const dead = new RecordingSink('dead');
    const alive = new RecordingSink('alive');
    dead.failing = true;
    dead.settings = { backoffInitialMs: 10, backoffMaxMs: 20 };
    const bridge = createBridge({ store, sinks: [dead, alive], dataDir: null, log: SILENT_LOGGER });
    bridge.start();
    store.append(readings(['x'], 25));
    await waitUntil(() => alive.positions.length === 25, 'alive.positions.length === 25', 20_000);
    await bridge.close();
    assert.equal(dead.batches.length, 0);
  });

  it('when caught up, lingers flushIntervalMs so that a trickle becomes one batch', async () => {
    const store = new MemoryStoreReader();
    const sink = new RecordingSink('linger');
    const runner = new SinkRunner({ sink, store, settings: { ...TEST_RUNNER_SETTINGS, batchSize: 100, flushIntervalMs: 2_000 }, log: SILENT_LOGGER });
    runner.start();
    // Let it find the store empty and wait for the first commit.
    await new Promise((r) => setTimeout(r, 200));
    store.append(readings(['l'], 1));
    await new Promise((r) => setTimeout(r, 100));
    store.append(readings(['l'], 4, 2));
    await waitUntil(() => runner.stats().delivered === 5, 'runner.stats().delivered === 5', 20_000);
    await runner.close();
    assert.deepEqual(sink.batches.map((b) => b.length), [5]);
  });

  it('close while retrying returns promptly and keeps the undelivered position', async () => {
    const store = new MemoryStoreReader();
    const sink = new RecordingSink('stuck');
    sink.failing = true;
    store.append(readings(['c'], 3));
    const runner = new SinkRunner({ sink, store, settings: { ...TEST_RUNNER_SETTINGS, backoffInitialMs: 60_000, backoffMaxMs: 60_000 }, log: SILENT_LOGGER });
    runner.start();
    await waitUntil(() => runner.stats().failures >= 1, 'runner.stats().failures >= 1', 20_000);
    await runner.close();
    assert.equal(await store.cursor(cursorName('stuck')), 0);
  });
});
