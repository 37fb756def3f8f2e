/**
 * Retention and the history index files: `retentionBytes` bounds what the
 * embedded log keeps on disk, its segments and their `<base>.idx` files
 * together (each about as large as its segment); stats count the same
 * bytes; history still answers for every segment kept.
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait.js';
import { historyAll, timed } from './history-contract.js';
import { readAll, SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const T = 1_700_000_000_000;
/** Segments of about 4 KiB: with their index files, three or so sealed ones fit the bound. */
const BOUNDED: StoreConfig = { ...SMALL_CONFIG, segmentBytes: 4096, retentionBytes: 32 * 1024 };
const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000 };

/** What the store folder holds: bytes of the segment files and of the index files, and which bases have which. */
interface OnDisk {
  readonly logBytes: number;
  readonly idxBytes: number;
  readonly logs: string[];
  readonly idxs: string[];
}

describe('store retention with history index files', () => {
  const fixture = storePerTest();

  async function onDisk(): Promise<OnDisk> {
    const names = (await readdir(fixture.tmp.dir)).sort();
    let logBytes = 0;
    let idxBytes = 0;
    const logs: string[] = [];
    const idxs: string[] = [];
    for (const name of names) {
      if (name.endsWith('.log')) {
        logs.push(name.slice(0, 20));
        logBytes += (await stat(join(fixture.tmp.dir, name))).size;
      } else if (name.endsWith('.idx')) {
        idxs.push(name.slice(0, 20));
        idxBytes += (await stat(join(fixture.tmp.dir, name))).size;
      }
    }
    return { logBytes, idxBytes, logs, idxs };
  }

  /** Every sealed segment has its index file and no index file is left without its segment: maintenance is done. */
  const indexed = (disk: OnDisk): boolean =>
    disk.idxs.length === disk.logs.length - 1 && disk.idxs.every((base, i) => disk.logs[i] === base);

  async function fill(store: Store, count: number): Promise<void> {
    for (let seq = 1; seq <= count; seq += 1) {
      await store.append([timed('a', seq, T + seq * 1000, { pad: 'p'.repeat(80) }), timed('b', seq, T + seq * 1000, { pad: 'q'.repeat(80) })]);
    }
  }

  it('keeps segments and their index files together at or under retentionBytes, and history answers for what is kept', async () => {
    const store = await fixture.open(BOUNDED, { retentionCheckMs: 20 });
    await fill(store, 300); // about 80 KiB of segments, as much again of index files
    // Checked until maintenance is done (a pass may be writing or deleting a file in between); the last failed assertion is reported.
    await waitUntil(async () => {
      const disk = await onDisk();
      assert.ok(indexed(disk), `every sealed segment has its index file: ${disk.logs.length} segments, ${disk.idxs.length} index files`);
      const total = disk.logBytes + disk.idxBytes;
      assert.ok(total <= BOUNDED.retentionBytes, `${disk.logBytes} B of segments + ${disk.idxBytes} B of index files on disk, retentionBytes ${BOUNDED.retentionBytes}`);
      // The figures count what is on disk, the index files included.
      const stats = store.stats();
      assert.equal(stats.bytes, total);
      assert.equal(stats.indexBytes, disk.idxBytes);
      return true;
    }, 'segments and index files fit retentionBytes', 30_000);
    const disk = await onDisk();
    assert.ok(disk.idxBytes > 0 && disk.logs.length > 2, 'several sealed segments and their index files are kept');
    assert.ok(store.stats().deletedSegments > 0);
    // History answers for every reading kept, from the index files of the sealed segments.
    const kept = await readAll(store);
    assert.equal(kept[kept.length - 1]?.seq, 300);
    for (const device of ['a', 'b']) {
      const { readings } = await historyAll(store, { device, ...ALL, limit: 25 });
      assert.ok(readings.length > 0);
      assert.deepEqual(readings.map((r) => r.position), kept.filter((r) => r.device === device).map((r) => r.position));
    }
  });

  it('reports as held for a cursor the index files with their segments, and lets both go once it moves', async () => {
    const store = await fixture.open(BOUNDED, { retentionCheckMs: 20 });
    await store.saveCursor('mqtt', 10);
    await fill(store, 250);
    await waitUntil(async () => {
      const disk = await onDisk();
      assert.ok(indexed(disk), 'every sealed segment has its index file');
      const total = disk.logBytes + disk.idxBytes;
      const stats = store.stats();
      assert.equal(stats.bytes, total);
      assert.ok(stats.retentionBlockedBytes > 0, 'retention is blocked');
      // Exactly what the cursor holds would go without it: what stays then fits the bound, index files included.
      assert.ok(total - stats.retentionBlockedBytes <= BOUNDED.retentionBytes, `${stats.retentionBlockedBytes} B held of ${total} B on disk`);
      return true;
    }, 'blocked retention counts the index files', 30_000);
    assert.ok(store.stats().firstPosition <= 10, 'nothing the cursor has not passed is deleted');
    await store.saveCursor('mqtt', store.stats().nextPosition);
    await waitUntil(async () => {
      const disk = await onDisk();
      return indexed(disk) && store.stats().retentionBlockedBytes === 0 && disk.logBytes + disk.idxBytes <= BOUNDED.retentionBytes;
    }, 'retention after the cursor moved', 30_000);
  });
});
