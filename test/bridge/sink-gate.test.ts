/**
 * The bridge with a gate (cluster mode's sink leases, here a gate the test
 * opens and closes by hand): a runner runs only while its sink is held,
 * starts from the saved position each time, and on a loss stops at once
 * without saving, abandoning the batch in flight. The real leases on a
 * NATS cluster are in test/hub/cluster/cluster-sinks.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBridge, type SinkGate, type SinkGateEvents } from '../../src/bridge/index.js';
import { cursorName } from '../../src/bridge/sink-runner.js';
import type { Sink } from '../../src/bridge/sink.js';
import { SILENT_LOGGER, createMemoryLogger } from '../../src/log.js';
import type { StoredReading } from '../../src/store/types.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { waitUntil } from '../helpers/wait.js';
import { readings } from './sink-contract.js';

/** A gate the test drives: it says when each sink is held. */
class ManualGate implements SinkGate {
  readonly events = new Map<string, SinkGateEvents>();
  readonly released: string[] = [];
  hold(sink: string, events: SinkGateEvents) {
    this.events.set(sink, events);
    return { release: async () => void this.released.push(sink) };
  }
  acquire(sink: string): void {
    this.events.get(sink)?.onAcquired();
  }
  lose(sink: string): void {
    this.events.get(sink)?.onLost('taken');
  }
}

/** Records every batch; while `hold` is set, a delivery waits for it (ignoring the abort signal, like a publish awaiting its acks). */
class HoldingSink implements Sink {
  readonly type = 'holding';
  readonly settings = { batchSize: 10, flushIntervalMs: 0 };
  readonly batches: StoredReading[][] = [];
  hold: Promise<void> | null = null;
  waiting = 0;
  constructor(readonly name: string) {}
  async deliver(batch: readonly StoredReading[]): Promise<void> {
    if (this.hold !== null) {
      this.waiting += 1;
      await this.hold;
    }
    this.batches.push([...batch]);
  }
  async close(): Promise<void> {}
  get positions(): number[] {
    return this.batches.flat().map((r) => r.position);
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

describe('bridge with a sink gate', () => {
  it('runs a sink only while held: from the saved position, stopping at once on a loss without saving the batch in flight', async () => {
    const store = new MemoryStoreReader();
    store.append(readings(['g'], 30));
    const sink = new HoldingSink('gated');
    const gate = new ManualGate();
    const log = createMemoryLogger();
    const bridge = createBridge({ store, sinks: [sink], dataDir: null, log, gate });
    bridge.start();
    try {
      // Not held: nothing runs.
      assert.ok(gate.events.has('gated'));
      assert.equal(bridge.stats()[0]?.active, false);
      assert.match(bridge.metrics(), /fleethub_sink_active\{sink="gated",type="holding"\} 0/);

      gate.acquire('gated');
      await waitUntil(async () => (await store.cursor(cursorName('gated'))) === 30, 'cursor at 30', 20_000);
      assert.deepEqual(sink.positions, range(0, 30));
      assert.match(bridge.metrics(), /fleethub_sink_active\{sink="gated",type="holding"\} 1/);

      // A batch in flight when the lease is lost: abandoned, the cursor stays, nothing more is delivered.
      let finish = (): void => {};
      sink.hold = new Promise((resolve) => (finish = resolve));
      store.append(readings(['g'], 25, 31));
      await waitUntil(() => sink.waiting === 1, 'a delivery waits', 20_000);
      gate.lose('gated');
      assert.equal(bridge.stats()[0]?.active, false);
      finish();
      sink.hold = null;
      await waitUntil(() => sink.batches.length === 4, 'the held batch settled', 20_000);
      store.append(readings(['g'], 5, 56));
      assert.equal(await store.cursor(cursorName('gated')), 30, 'the abandoned batch is not saved');
      assert.equal(sink.batches.length, 4, 'nothing delivered after the loss');
      assert.ok(log.lines.some((l) => l.includes('sink.stop sink=gated')));

      // Another hub went on meanwhile and saved 42; held again, the runner starts there.
      await store.saveCursor(cursorName('gated'), 42);
      gate.acquire('gated');
      await waitUntil(async () => (await store.cursor(cursorName('gated'))) === 60, 'cursor at 60', 20_000);
      assert.deepEqual(sink.positions.slice(40), range(42, 60));
      assert.equal(bridge.stats()[0]?.active, true);
    } finally {
      await bridge.close();
    }
    // Closed: the runner saved its position, then the sink was released for another hub.
    assert.deepEqual(gate.released, ['gated']);
    assert.equal(bridge.stats()[0]?.active, false);
  });

  it('without a gate every runner runs from start to close, as before', async () => {
    const store = new MemoryStoreReader();
    store.append(readings(['n'], 12));
    const sink = new HoldingSink('plain');
    const bridge = createBridge({ store, sinks: [sink], dataDir: null, log: SILENT_LOGGER });
    bridge.start();
    await waitUntil(() => sink.positions.length === 12, 'all delivered', 20_000);
    assert.match(bridge.metrics(), /fleethub_sink_active\{sink="plain",type="holding"\} 1/);
    await bridge.close();
    assert.equal(await store.cursor(cursorName('plain')), 12);
  });
});
