/**
 * Readers (the bridges' sinks, dashboard history): reading from positions,
 * waiting for new readings, persisted cursors.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import type { StoreOptions } from '../../src/store/log-store.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Store } from '../../src/store/types.js';
import { readAll, reading, SMALL_CONFIG, storePerTest } from './store-fixtures.js';

describe('store readers', () => {
  const fixture = storePerTest();
  const open = (config: StoreConfig = SMALL_CONFIG, options: StoreOptions = {}): Promise<Store> => fixture.open(config, options);


  it('reads from any position, across segments, in pages bounded by count and bytes', async () => {
    // 2 KiB segments and 1 KiB reads: many segments, many index strides.
    const store = await open({ ...SMALL_CONFIG, segmentBytes: 2048 }, { readMaxBytes: 1024 });
    for (let i = 1; i <= 300; i += 1) await store.append([reading(`d${i % 3}`, Math.ceil(i / 3), { i })]);
    assert.ok(store.stats().segments > 5, `expected several segments, got ${store.stats().segments}`);
    for (const from of [0, 1, 63, 64, 65, 127, 128, 150, 299]) {
      const page = await store.read(from, 10);
      assert.ok(page.readings.length >= 1 && page.readings.length <= 10);
      assert.deepEqual(page.readings.map((r) => r.position), page.readings.map((_, k) => from + k));
      assert.equal(page.readings[0]?.data.i, from + 1);
      assert.equal(page.next, from + page.readings.length);
      assert.equal(page.skipped, 0);
    }
    const big = await store.read(0, 10_000);
    assert.ok(big.readings.length < 300, 'one call reads about readMaxBytes, not the whole log');
    const all = await readAll(store, 0, 7);
    assert.deepEqual(all.map((r) => r.position), Array.from({ length: 300 }, (_, k) => k));
    assert.deepEqual(await store.read(300, 10), { readings: [], next: 300, skipped: 0 });
  });

  it('reads a reading larger than readMaxBytes', async () => {
    const store = await open(SMALL_CONFIG, { readMaxBytes: 64 });
    await store.append([reading('a', 1, { s: 'x'.repeat(256) }), reading('a', 2)]);
    const page = await store.read(0, 5);
    assert.equal(page.readings[0]?.data.s, 'x'.repeat(256));
  });

  it('reads after a restart, including segments recovery did not scan', async () => {
    let store = await open({ ...SMALL_CONFIG, segmentBytes: 1024 });
    for (let i = 1; i <= 100; i += 1) await store.append([reading('a', i)]);
    await store.close();
    store = await open({ ...SMALL_CONFIG, segmentBytes: 1024 });
    const all = await readAll(store, 0, 13);
    assert.deepEqual(all.map((r) => r.seq), Array.from({ length: 100 }, (_, k) => k + 1));
  });

  it('waitFor resolves on the commit of the awaited position, on abort, and on close', async () => {
    const store = await open();
    await store.append([reading('a', 1)]);
    await store.waitFor(0); // already there
    let woke = false;
    const waiting = store.waitFor(1).then(() => {
      woke = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(woke, false);
    await store.append([reading('a', 2)]);
    await waiting;
    assert.equal(woke, true);

    const controller = new AbortController();
    const aborted = store.waitFor(50, controller.signal);
    controller.abort();
    await aborted;

    const onClose = store.waitFor(50);
    await store.close();
    await onClose;
  });

  it('keeps cursors across restarts in a 0600 file, 0 for a new one', async () => {
    let store = await open();
    assert.equal(await store.cursor('mqtt'), 0);
    await Promise.all([store.saveCursor('mqtt', 5), store.saveCursor('influx', 2), store.saveCursor('mqtt', 7)]);
    await store.close();
    store = await open();
    assert.equal(await store.cursor('mqtt'), 7);
    assert.equal(await store.cursor('influx'), 2);
    assert.equal((await stat(join(fixture.tmp.dir, 'cursors.json'))).mode & 0o777, 0o600);
    await store.deleteCursor('influx');
    assert.equal(await store.cursor('influx'), 0);
    assert.doesNotMatch(await readFile(join(fixture.tmp.dir, 'cursors.json'), 'utf8'), /influx/);
    await assert.rejects(store.saveCursor('mqtt', -1), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
  });

  it('reading never waits for appends in flight', async () => {
    const store = await open();
    await store.append([reading('a', 1)]);
    const writes = Array.from({ length: 50 }, (_, i) => store.append([reading('b', i + 1)]));
    const page = await store.read(0, 100);
    assert.ok(page.readings.length >= 1);
    await Promise.all(writes);
  });
});
