/**
 * Retention: whole segments by size and by age, never the active one, and
 * never readings a saved cursor has not passed (the default policy).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { createMemoryLogger } from '../../src/log.js';
import type { StoreOptions } from '../../src/store/log-store.js';
import type { Store } from '../../src/store/types.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { waitUntil } from '../helpers/wait.js';
import { readAll, reading, SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const TINY: StoreConfig = { ...DEFAULT_STORE_CONFIG, segmentBytes: 1024, retentionBytes: 4096, retentionHours: 0 };

describe('store retention', () => {
  const fixture = storePerTest();
  const open = (config: StoreConfig = SMALL_CONFIG, options: StoreOptions = {}): Promise<Store> => fixture.open(config, options);
  const fill = async (store: Store, device: string, count: number): Promise<void> => {
    for (let i = 1; i <= count; i += 1) await store.append([reading(device, i, { pad: 'p'.repeat(40) })]);
  };
  const segmentFiles = async (): Promise<string[]> => (await readdir(fixture.tmp.dir)).filter((f) => f.endsWith('.log')).sort();

  it('deletes the oldest whole segments past retentionBytes and reads report what was skipped', async () => {
    const store = await open(TINY);
    await fill(store, 'a', 200); // about 20 KiB
    await waitUntil(() => store.stats().bytes <= TINY.retentionBytes + TINY.segmentBytes * 2, 'size retention');
    // Retention deletes in the background: the folder and the figures agree once a deletion has finished.
    await waitUntil(async () => (await segmentFiles()).length === store.stats().segments, 'the segment files match stats().segments');
    const stats = store.stats();
    assert.ok(stats.deletedSegments > 0);
    assert.ok(stats.firstPosition > 0);
    assert.equal(stats.nextPosition, 200);
    const page = await store.read(0, 5);
    // Retention may still be deleting in the background after the snapshot
    // above: whatever it deleted by the time of the read, the read says so.
    assert.ok(page.skipped >= stats.firstPosition);
    assert.equal(page.readings[0]?.position, page.skipped);
    // lastSeq and dedupe do not depend on deleted segments.
    assert.equal(store.lastSeq('a'), 200);
    assert.deepEqual(await store.append([reading('a', 150)]), ['duplicate']);
  });

  it('deletes segments older than retentionHours, never the one being written', async () => {
    let now = Date.now();
    const config = { ...TINY, retentionBytes: 0, retentionHours: 1 };
    const store = await open(config, { now: () => now, retentionCheckMs: 20 });
    await fill(store, 'a', 60);
    const before = store.stats().segments;
    assert.ok(before > 2);
    now += 2 * 3_600_000;
    await waitUntil(() => store.stats().segments === 1, 'age retention');
    assert.equal(store.stats().nextPosition, 60);
    assert.deepEqual(await store.append([reading('a', 61)]), ['stored']);
    assert.equal((await readAll(store)).at(-1)?.seq, 61);
  });

  it('applies retention to what it finds at open (age measured from the file times)', async () => {
    let store = await open({ ...TINY, retentionBytes: 0 });
    await fill(store, 'a', 60);
    await store.close();
    store = await open({ ...TINY, retentionBytes: 0, retentionHours: 1 }, { now: () => Date.now() + 2 * 3_600_000 });
    await waitUntil(() => store.stats().segments === 1, 'age retention at open');
    assert.equal(store.lastSeq('a'), 60);
  });

  it('keeps readings a saved cursor has not passed, reports them, and lets go once it moves', async () => {
    const log = createMemoryLogger();
    // Room for what is written after the cursor moves, with the index files of its segments (they count too).
    const config = { ...TINY, retentionBytes: 8192 };
    const store = await open(config, { log });
    await store.saveCursor('mqtt', 10);
    await fill(store, 'a', 200);
    await waitUntil(() => store.stats().retentionBlockedBytes > 0, 'blocked retention');
    assert.ok(store.stats().firstPosition <= 10, 'nothing the cursor has not passed is deleted');
    assert.ok(store.stats().bytes > config.retentionBytes * 2);
    assert.ok(log.lines.some((l) => l.includes('store.retention_blocked') && l.includes('cursor=mqtt')));
    const page = await store.read(10, 1);
    assert.equal(page.readings[0]?.position, 10);

    await store.saveCursor('mqtt', 200);
    await store.append([reading('a', 201, { pad: 'p'.repeat(40) })]); // the next segment roll re-checks retention
    await fill(store, 'b', 12);
    await waitUntil(() => store.stats().retentionBlockedBytes === 0 && store.stats().firstPosition > 10, 'retention after the cursor moved');
  });

  it('a deleted cursor no longer holds retention back', async () => {
    const store = await open(TINY, { retentionCheckMs: 20 });
    await store.saveCursor('gone', 0);
    await fill(store, 'a', 100);
    await waitUntil(() => store.stats().retentionBlockedBytes > 0, 'blocked retention');
    await store.deleteCursor('gone');
    await waitUntil(() => store.stats().firstPosition > 0 && store.stats().retentionBlockedBytes === 0, 'retention after delete');
  });
});
