/**
 * Opening the embedded log reads only the header of each sealed segment's
 * history index file, never its directory (a summary per device): with a
 * fleet's devices in each of many segments, parsing every directory at open
 * took most of a hub's start-up (10,000 devices in 124 segments: 2.5 s of
 * CPU and 250 MiB of heap). The first query that needs a segment reads its
 * directory, once. Checked by counting directory reads, not by timing.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { directoryReads } from '../../src/store/history/segment-history.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Reading } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait.js';
import { historyAll, timed } from './history-contract.js';
import { SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const T = 1_700_000_000_000;
/** Segments of about 4 KiB: 30 or so readings each. */
const TINY: StoreConfig = { ...SMALL_CONFIG, segmentBytes: 4096 };
const DEVICES = ['a', 'b', 'c', 'd'];
const reading = (device: string, seq: number): Reading => timed(device, seq, T + seq * 1000, { pad: 'p'.repeat(40) });
const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000 };

describe('opening the log store', () => {
  const fixture = storePerTest();
  const files = async (ext: string): Promise<string[]> => (await readdir(fixture.tmp.dir)).filter((f) => f.endsWith(ext));

  it('reads no index directory until a query needs one, then each once', async () => {
    let store = await fixture.open(TINY, { retentionCheckMs: 20 });
    for (let seq = 1; seq <= 80; seq += 1) await store.append(DEVICES.map((d) => reading(d, seq)));
    await waitUntil(async () => (await files('.idx')).length === (await files('.log')).length - 1, 'every sealed segment has its index file', 30_000);
    const sealed = (await files('.idx')).length;
    assert.ok(sealed >= 3, `several sealed segments: ${sealed}`);
    const expected = (await historyAll(store, { device: 'a', ...ALL })).readings;
    await store.close();

    const before = directoryReads.count;
    store = await fixture.open(TINY, { retentionCheckMs: 20 });
    // A maintenance pass after the open (it persists index files) reads none either.
    await store.append([reading('e', 1)]);
    await waitUntil(() => store.stats().checkpoints > 0, 'a maintenance pass ran', 30_000);
    assert.equal(directoryReads.count - before, 0, 'opening read no directory');

    const got = await historyAll(store, { device: 'a', ...ALL, limit: 7 });
    assert.deepEqual(got.readings, expected);
    assert.equal(directoryReads.count - before, sealed, 'the query read each sealed segment\'s directory');
    await historyAll(store, { device: 'b', ...ALL, limit: 7 });
    assert.equal(directoryReads.count - before, sealed, 'and only once');
  });
});
