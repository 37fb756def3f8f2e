/**
 * The store option `historyTiming` (src/store/history/write-timing.ts),
 * which the store benchmark's history-share scenario reads: a store given
 * one counts every reading it notes and every index file it writes, and
 * answers history exactly as a store without one; `maintained()` resolves
 * once the background work queued so far, index files included, has ended.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EmbeddedLog } from '../../src/store/embedded-log.js';
import { HistoryWriteTiming } from '../../src/store/history/write-timing.js';
import { openStore } from '../../src/store/log-store.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Reading, StoredReading } from '../../src/store/types.js';
import { historyAll, timed } from './history-contract.js';
import { SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const T = 1_700_000_000_000;
/** Segments of about 4 KiB: 30 or so readings each. */
const TINY: StoreConfig = { ...SMALL_CONFIG, segmentBytes: 4096 };
const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000 };
const DEVICES = ['a', 'b', 'c'];

/** Group commits of 1 to 3 readings of each device: 60 readings each. */
function batches(): Reading[][] {
  const out: Reading[][] = [];
  let seq = 0;
  for (let size = 1; seq < 60; size = (size % 3) + 1) {
    const batch: Reading[] = [];
    for (let k = 0; k < size && seq < 60; k += 1) {
      seq += 1;
      for (const device of DEVICES) batch.push(timed(device, seq, T + seq * 1000, { pad: 'p'.repeat(60) }));
    }
    out.push(batch);
  }
  return out;
}

describe('history index write timing', () => {
  const fixture = storePerTest();
  const files = async (dir: string, ext: string): Promise<string[]> => (await readdir(dir)).filter((f) => f.endsWith(ext));

  /** Fills a store in `name` with `options`, waiting for its maintenance after each append; its answers for every device. */
  async function fill(name: string, timing: HistoryWriteTiming | null): Promise<{ dir: string; answers: StoredReading[][] }> {
    const dir = join(fixture.tmp.dir, name);
    const store = await openStore(dir, TINY, { historyTiming: timing });
    try {
      assert.ok(store instanceof EmbeddedLog);
      for (const batch of batches()) {
        await store.append(batch);
        await store.maintained();
        // Nothing left in the background: every sealed segment has its index file already.
        assert.equal((await files(dir, '.idx')).length, (await files(dir, '.log')).length - 1);
      }
      const answers: StoredReading[][] = [];
      for (const device of DEVICES) answers.push((await historyAll(store, { device, ...ALL, limit: 7 })).readings);
      return { dir, answers };
    } finally {
      await store.close();
    }
  }

  it('counts every reading noted and every index file written, and answers history as a store without it', async () => {
    const timing = new HistoryWriteTiming();
    const untimed = await fill('untimed', null);
    const withTiming = await fill('timed', timing);
    assert.deepEqual(withTiming.answers, untimed.answers);
    assert.deepEqual(withTiming.answers.map((a) => a.length), [60, 60, 60]);
    const sealed = (await files(withTiming.dir, '.log')).length - 1;
    assert.ok(sealed >= 3, `segments rolled over (${sealed} sealed)`);
    assert.equal(timing.readings, 180);
    assert.equal(timing.files, sealed);
    for (const value of [timing.noteCpuUs, timing.noteWallMs, timing.persistCpuUs, timing.persistWallMs]) assert.ok(Number.isFinite(value) && value >= 0);
    assert.ok(timing.persistWallMs > 0, 'writing index files took time');
    assert.equal(timing.cpuUs, timing.noteCpuUs + timing.persistCpuUs);
    // The index files written through the timed path answer after a reopen, from the files alone.
    const again = await openStore(withTiming.dir, TINY);
    try {
      for (const [i, device] of DEVICES.entries()) assert.deepEqual((await historyAll(again, { device, ...ALL })).readings, untimed.answers[i]);
    } finally {
      await again.close();
    }
  });

  it('counts nothing for a store without the index', async () => {
    const timing = new HistoryWriteTiming();
    const dir = join(fixture.tmp.dir, 'off');
    const store = await openStore(dir, TINY, { historyIndex: false, historyTiming: timing });
    try {
      for (const batch of batches()) await store.append(batch);
    } finally {
      await store.close();
    }
    assert.deepEqual([timing.readings, timing.files, timing.cpuUs], [0, 0, 0]);
    assert.deepEqual(await files(dir, '.idx'), []);
  });
});
