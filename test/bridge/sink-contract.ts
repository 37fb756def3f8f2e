/**
 * The contract every sink passes (STYLE: one contract suite per interface):
 * order per device, redelivery after a failure, resume from the saved
 * position after a restart, a reading the destination refuses for good set
 * aside without stopping the sink, idempotent close. Each sink's test file runs it
 * against a real destination through a {@link SinkFixture}.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger, SILENT_LOGGER } from '../../src/log.js';
import type { Reading } from '../../src/store/types.js';
import { RejectedReadingsFile, type RejectedReadingLine } from '../../src/bridge/rejected-readings.js';
import { DEFAULT_RUNNER_SETTINGS, type RunnerSettings } from '../../src/bridge/sink-settings.js';
import { cursorName, SinkRunner } from '../../src/bridge/sink-runner.js';
import { isSinkRefused, type Sink } from '../../src/bridge/sink.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/log-store.js';
import type { Store } from '../../src/store/types.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { waitUntil } from '../helpers/wait.js';

/** What a destination received: device and seq of each reading, in arrival order. */
export interface Arrival {
  readonly device: string;
  readonly seq: number;
}

/** A real destination and a way to make it fail. */
export interface SinkFixture {
  /** A new sink writing to the destination; `tag` isolates what this test's sink writes. */
  create(tag: string): Promise<Sink>;
  /** Everything that arrived for `tag`, in arrival order. */
  arrivals(tag: string): Promise<readonly Arrival[]>;
  /**
   * A reading of `device` (or of a device whose id starts with it) that the
   * destination refuses for good: malformed for it, not a passing outage.
   */
  poison(device: string, seq: number): Reading;
  /** Makes deliveries fail (e.g. stops the server), until {@link SinkFixture.restore}. */
  breakDestination(): Promise<void>;
  restore(): Promise<void>;
  /** Stops everything the fixture started. */
  close(): Promise<void>;
}

/** Runner settings for tests: small batches, short backoff. */
export const TEST_RUNNER_SETTINGS: RunnerSettings = { ...DEFAULT_RUNNER_SETTINGS, batchSize: 7, flushIntervalMs: 0, backoffInitialMs: 50, backoffMaxMs: 500 };

/** Readings of `devices` devices, `count` each, interleaved, seq from `firstSeq`. */
export function readings(devices: readonly string[], count: number, firstSeq = 1): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < count; i += 1) {
    for (const [d, device] of devices.entries()) {
      out.push({ device, seq: firstSeq + i, ts: 1_700_000_000_000 + (firstSeq + i) * 1000 + d, data: { temp: 20.5 + i, count: i, ok: i % 2 === 0, label: `r${i}` } });
    }
  }
  return out;
}

/**
 * Checks at-least-once, in order per device: after dropping repeats (a seq at
 * or below the highest seen), each device's seqs are exactly `from..to`.
 */
export function assertInOrderPerDevice(arrivals: readonly Arrival[], expected: ReadonlyMap<string, readonly [number, number]>): void {
  const highest = new Map<string, number>();
  const firsts = new Map<string, number[]>();
  for (const { device, seq } of arrivals) {
    if (seq <= (highest.get(device) ?? 0)) continue;
    highest.set(device, seq);
    firsts.set(device, [...(firsts.get(device) ?? []), seq]);
  }
  for (const [device, [from, to]] of expected) {
    const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    assert.deepEqual(firsts.get(device) ?? [], want, `device ${device}: readings missing or out of order`);
  }
}

/** Polls `arrivals` until `done` holds, for up to `timeoutMs`. */
export async function waitForArrivals(fixture: SinkFixture, tag: string, done: (a: readonly Arrival[]) => boolean, timeoutMs = 60_000): Promise<readonly Arrival[]> {
  const deadline = Date.now() + timeoutMs;
  let last: readonly Arrival[] = [];
  while (Date.now() < deadline) {
    last = await fixture.arrivals(tag);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** Distinct (device, seq) pairs. */
export function distinct(arrivals: readonly Arrival[]): number {
  return new Set(arrivals.map((a) => `${a.device}/${a.seq}`)).size;
}

/** Runs `fn` with a real log store in a temp dir, then closes and deletes it. */
export async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-contract-'));
  const store = await openStore(dir, { ...DEFAULT_STORE_CONFIG, segmentBytes: 1024 * 1024, retentionBytes: 0, retentionHours: 0 }, { log: SILENT_LOGGER });
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the contract against the fixture made by `setup`. */
export function runSinkContract(label: string, setup: () => Promise<SinkFixture>, settings: RunnerSettings = TEST_RUNNER_SETTINGS): void {
  describe(`sink contract: ${label}`, () => {
    let fixture: SinkFixture;
    before(async () => {
      fixture = await setup();
    });
    after(async () => {
      await fixture.close();
    });

    it('delivers every reading, in order per device', async () => {
      const tag = 'order';
      const devices = [`${tag}-a`, `${tag}-b`, `${tag}-c`];
      await withStore(async (store) => {
        await store.append(readings(devices, 20));
        const runner = new SinkRunner({ sink: await fixture.create(tag), store, settings, log: SILENT_LOGGER });
        runner.start();
        try {
          const got = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 60);
          assertInOrderPerDevice(got, new Map(devices.map((d) => [d, [1, 20] as const])));
          await store.append(readings(devices, 5, 21));
          const more = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 75);
          assertInOrderPerDevice(more, new Map(devices.map((d) => [d, [1, 25] as const])));
        } finally {
          await runner.close();
        }
        assert.equal(runner.stats().delivered, 75);
        assert.equal(runner.stats().lagMessages, 0);
      });
    });

    it('fails a delivery while the destination is down, then delivers the same batch again', async () => {
      const tag = 'redeliver';
      const sink = await fixture.create(tag);
      const batch = new MemoryStoreReader().append(readings([`${tag}-a`], 5));
      const signal = new AbortController().signal;
      await fixture.breakDestination();
      try {
        await assert.rejects(sink.deliver(batch, signal));
      } finally {
        await fixture.restore();
      }
      await sink.deliver(batch, signal);
      await sink.deliver(batch, signal);
      await sink.close();
      const got = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 5);
      assertInOrderPerDevice(got, new Map([[`${tag}-a`, [1, 5] as const]]));
    });

    it('a runner retries through an outage and loses nothing', async () => {
      const tag = 'outage';
      const devices = [`${tag}-a`, `${tag}-b`];
      await withStore(async (store) => {
        await store.append(readings(devices, 10));
        const runner = new SinkRunner({ sink: await fixture.create(tag), store, settings, log: SILENT_LOGGER });
        runner.start();
        try {
          await waitForArrivals(fixture, tag, (a) => distinct(a) >= 20);
          await fixture.breakDestination();
          await store.append(readings(devices, 10, 11));
          // Wait until the runner has seen a failure while the destination is down.
          await waitUntil(() => runner.stats().failures > 0, 'the runner saw a failure while the destination is down', 30_000);
          assert.equal(runner.stats().state, 'retrying');
          assert.ok(runner.stats().lagMessages > 0);
          await fixture.restore();
          const got = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 40);
          assertInOrderPerDevice(got, new Map(devices.map((d) => [d, [1, 20] as const])));
        } finally {
          await fixture.restore();
          await runner.close();
        }
        assert.equal(runner.stats().state, 'up');
      });
    });

    it('a new runner resumes from the saved position (a hub restart)', async () => {
      const tag = 'resume';
      const device = `${tag}-a`;
      await withStore(async (store) => {
        await store.append(readings([device], 10));
        const first = new SinkRunner({ sink: await fixture.create(tag), store, settings, log: SILENT_LOGGER });
        first.start();
        await waitForArrivals(fixture, tag, (a) => distinct(a) >= 10);
        await first.close();
        assert.equal(first.stats().position, 10);
        await store.append(readings([device], 10, 11));
        const second = new SinkRunner({ sink: await fixture.create(tag), store, settings, log: SILENT_LOGGER });
        second.start();
        try {
          const got = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 20);
          assertInOrderPerDevice(got, new Map([[device, [1, 20] as const]]));
        } finally {
          await second.close();
        }
        // Resumed, not replayed: the second runner delivered only what came after the saved position.
        assert.equal(second.stats().delivered, 10);
      });
    });

    it('sets a reading the destination refuses for good aside, keeps it for the operator, and goes on', async () => {
      const tag = 'poison';
      const device = `${tag}-a`;
      const dir = await mkdtemp(join(tmpdir(), 'fleethub-rejected-'));
      const file = new RejectedReadingsFile(join(dir, 'sinks', 'p.rejected.jsonl'), 1024 * 1024);
      const log = createMemoryLogger();
      const poison = fixture.poison(device, 4);
      try {
        await withStore(async (store) => {
          // One batch (TEST_RUNNER_SETTINGS.batchSize 7) with the poisoned reading in the middle.
          await store.append([...readings([device], 3), poison, ...readings([device], 3, 5)]);
          const runner = new SinkRunner({ sink: await fixture.create(tag), store, settings, log, rejected: file });
          runner.start();
          try {
            const got = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 6);
            assert.deepEqual(firstSeqs(got, device), [1, 2, 3, 5, 6, 7]);
            // One poisoned reading never stops a sink: later readings arrive too.
            await store.append(readings([device], 3, 8));
            const more = await waitForArrivals(fixture, tag, (a) => distinct(a) >= 9);
            assert.deepEqual(firstSeqs(more, device), [1, 2, 3, 5, 6, 7, 8, 9, 10]);
          } finally {
            await runner.close();
          }
          assert.equal(runner.stats().rejected, 1);
          assert.equal(runner.stats().delivered, 9);
          assert.equal(runner.stats().position, 10);
        });
        const lines = (await readFile(file.path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RejectedReadingLine);
        assert.deepEqual(lines.map((l) => [l.device, l.seq, l.position]), [[poison.device, 4, 3]]);
        assert.deepEqual(lines[0]?.data, poison.data);
        assert.equal(log.lines.filter((l) => l.includes('sink.reading_rejected')).length, 1, 'logged once');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('close is idempotent, for the sink and the runner, and a closed sink delivers nothing', async () => {
      const tag = 'close';
      const device = `${tag}-a`;
      const inner = await fixture.create(tag);
      let closes = 0;
      const sink: Sink = {
        name: inner.name,
        deliver: (batch, signal) => inner.deliver(batch, signal),
        close: async () => {
          closes += 1;
          await inner.close();
        },
      };
      await withStore(async (store) => {
        await store.append(readings([device], 3));
        const runner = new SinkRunner({ sink, store, settings, log: SILENT_LOGGER });
        runner.start();
        await waitForArrivals(fixture, tag, (a) => distinct(a) >= 3);
        const first = runner.close();
        assert.equal(runner.close(), first, 'a second close returns the first one');
        await first;
        await runner.close();
        assert.equal(closes, 1, 'the runner closes its sink once');
        assert.equal(await store.cursor(cursorName(sink.name)), 3, 'the position is saved on close');
        await inner.close();
        const later = new MemoryStoreReader().append(readings([device], 1, 4));
        await assert.rejects(inner.deliver(later, new AbortController().signal), (err: unknown) => !isSinkRefused(err));
      });
      const got = await fixture.arrivals(tag);
      assert.deepEqual(firstSeqs(got, device), [1, 2, 3]);
    });
  });
}

/** The seqs of `device` in arrival order, repeats dropped. */
function firstSeqs(arrivals: readonly Arrival[], device: string): number[] {
  const seen = new Set<number>();
  for (const a of arrivals) if (a.device === device) seen.add(a.seq);
  return [...seen];
}
