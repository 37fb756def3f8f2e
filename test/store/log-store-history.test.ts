/**
 * The embedded log's history index (src/store/history/): sealed segments
 * get an index file holding each device's frames as one run, so a query
 * reads a sealed segment's readings from its index file alone; a query reads
 * only the segments whose time span overlaps it; a missing, damaged, stale
 * or old-version index is rebuilt from the log; an index file larger than
 * `historyWriteWindowBytes` is written in several passes; a store opened
 * with `historyIndex: false` keeps none; retention takes the index with its
 * segment; a torn tail leaves no entry.
 */
import assert from 'node:assert/strict';
import { appendFile, open, readdir, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { createMemoryLogger } from '../../src/log.js';
import { encodeRecord } from '../../src/store/record-codec.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Reading, Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait.js';
import { historyAll, timed } from './history-contract.js';
import { SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const T = 1_700_000_000_000;
/** Segments of about 4 KiB: 30 or so readings each. */
const TINY: StoreConfig = { ...SMALL_CONFIG, segmentBytes: 4096 };
const padded = (device: string, seq: number): Reading => timed(device, seq, T + seq * 1000, { pad: 'p'.repeat(80) });
const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000 };

describe('log store history index', () => {
  const fixture = storePerTest();
  const files = async (ext: string): Promise<string[]> => (await readdir(fixture.tmp.dir)).filter((f) => f.endsWith(ext)).sort();

  /** Fills a store with `n` readings each of a and b, and waits for every sealed segment's index file. */
  async function filled(n: number, config = TINY): Promise<Store> {
    const store = await fixture.open(config, { retentionCheckMs: 20 });
    for (let seq = 1; seq <= n; seq += 1) await store.append([padded('a', seq), padded('b', seq)]);
    await waitUntil(async () => (await files('.idx')).length === (await files('.log')).length - 1, 'every sealed segment has its index file', 30_000);
    return store;
  }

  it('writes an index file beside each sealed segment, and answers from it after a reopen', async () => {
    let store = await filled(100);
    const before = await historyAll(store, { device: 'a', ...ALL, limit: 9 });
    assert.equal(before.readings.length, 100);
    await store.close();
    store = await fixture.open(TINY);
    const after = await historyAll(store, { device: 'a', ...ALL, limit: 9 });
    assert.deepEqual(after.readings, before.readings);
  });

  it('reads only the segments whose time span overlaps the query: old segments damaged on disk are never touched', async () => {
    const store = await filled(100);
    await store.close();
    // Every sealed segment but the last two loses its bytes (a query that scanned the log would fail or miss readings).
    const logs = await files('.log');
    for (const name of logs.slice(0, -3)) await writeFile(join(fixture.tmp.dir, name), Buffer.alloc((await stat(join(fixture.tmp.dir, name))).size, 0xee));
    const reopened = await fixture.open(TINY);
    const recent = await reopened.history({ device: 'b', from: T + 95_000, to: T + 1_000_000, limit: 100 });
    assert.deepEqual(recent.readings.map((r) => r.seq), [95, 96, 97, 98, 99, 100]);
  });

  for (const [name, damage] of [
    ['missing (a crash before it was written)', (path: string) => unlink(path)],
    ['damaged', (path: string) => writeFile(path, 'not an index')],
    ['cut short', (path: string) => truncate(path, 30)],
    ['of the previous version (entries pointing into the segment)', async (path: string) => {
      const handle = await open(path, 'r+');
      await handle.write(Buffer.from([1]), 0, 1, 4);
      await handle.close();
    }],
    ['damaged in an entry block (found by a query)', async (path: string) => {
      const handle = await open(path, 'r+');
      const header = Buffer.alloc(24);
      await handle.read(header, 0, 24, 0);
      // The blocks start after the header and the directory (whose size is in the header).
      await handle.write(Buffer.from([0xde, 0xad]), 0, 2, 24 + header.readUInt32LE(16) + 2);
      await handle.close();
    }],
    // Index files are not fsynced: a crash may leave the name renamed into place with none, part or none of its bytes.
    ['empty (a crash after its rename, before any of its bytes reached the disk)', (path: string) => truncate(path, 0)],
    ['zero-filled (a crash after its rename, before its bytes reached the disk)', async (path: string) => {
      await writeFile(path, Buffer.alloc((await stat(path)).size));
    }],
    ['zero-filled after its header and directory (found by a query)', async (path: string) => {
      const size = (await stat(path)).size;
      const handle = await open(path, 'r+');
      const header = Buffer.alloc(24);
      await handle.read(header, 0, 24, 0);
      const from = 24 + header.readUInt32LE(16);
      await handle.write(Buffer.alloc(size - from), 0, size - from, from);
      await handle.close();
    }],
    ['zero-filled in its frames only (found by a query)', async (path: string) => {
      const size = (await stat(path)).size;
      const handle = await open(path, 'r+');
      const half = Math.floor(size / 2);
      await handle.write(Buffer.alloc(size - half), 0, size - half, half);
      await handle.close();
    }],
    ['cut short within its frames (found by a query)', async (path: string) => truncate(path, Math.floor((await stat(path)).size * 0.75))],
    ['damaged in a copied frame (found by a query)', async (path: string) => {
      const size = (await stat(path)).size;
      const handle = await open(path, 'r+');
      await handle.write(Buffer.from([0xde, 0xad]), 0, 2, size - 4);
      await handle.close();
    }],
  ] as const) {
    it(`rebuilds an index file that is ${name}, from the segment`, async () => {
      let store = await filled(100);
      const expected = [...(await historyAll(store, { device: 'a', ...ALL })).readings, ...(await historyAll(store, { device: 'b', ...ALL })).readings];
      assert.equal(expected.length, 200);
      await store.close();
      for (const idx of await files('.idx')) await damage(join(fixture.tmp.dir, idx));
      const log = createMemoryLogger();
      store = await fixture.open(TINY, { log, retentionCheckMs: 20 });
      const got = [...(await historyAll(store, { device: 'a', ...ALL, limit: 13 })).readings, ...(await historyAll(store, { device: 'b', ...ALL, limit: 13 })).readings];
      assert.deepEqual(got, expected);
      await waitUntil(async () => (await files('.idx')).length === (await files('.log')).length - 1, 'the index files are written again', 30_000);
      assert.ok(log.lines.some((l) => l.includes('store.history_index_rebuilt')));
    });
  }

  it('answers a sealed segment from its index file alone: the segment\'s own bytes are not read', async () => {
    const store = await filled(100);
    const expected = (await historyAll(store, { device: 'a', ...ALL })).readings;
    // Overwritten in place while the store is open: a query that read frames from a sealed segment would fail its CRCs.
    for (const name of (await files('.log')).slice(0, -1)) {
      const path = join(fixture.tmp.dir, name);
      await writeFile(path, Buffer.alloc((await stat(path)).size, 0xee));
    }
    const got = await historyAll(store, { device: 'a', ...ALL, limit: 7 });
    assert.deepEqual(got.readings, expected);
    assert.equal(got.readings.length, 100);
  });

  it('writes an index file larger than historyWriteWindowBytes in several passes, with the same answers', async () => {
    await assert.rejects(fixture.open(TINY, { historyWriteWindowBytes: 0 }), (err) => isFleethubError(err, 'FH_ERR_CONFIG'));
    // 100 bytes: every index file (over 4 KiB) takes dozens of passes, and frames straddle two windows.
    let store = await fixture.open(TINY, { retentionCheckMs: 20, historyWriteWindowBytes: 100 });
    for (let seq = 1; seq <= 100; seq += 1) await store.append([padded('a', seq), padded('b', seq)]);
    await waitUntil(async () => (await files('.idx')).length === (await files('.log')).length - 1, 'every sealed segment has its index file', 30_000);
    await store.close();
    store = await fixture.open(TINY);
    for (const device of ['a', 'b']) {
      const { readings } = await historyAll(store, { device, ...ALL, limit: 11 });
      assert.deepEqual(readings.map((r) => [r.device, r.seq, r.data.pad]), Array.from({ length: 100 }, (_, k) => [device, k + 1, 'p'.repeat(80)]));
    }
  });

  it('with historyIndex false keeps no index and refuses history; opened again with it, the index is rebuilt', async () => {
    let store = await fixture.open(TINY, { historyIndex: false, retentionCheckMs: 20 });
    for (let seq = 1; seq <= 100; seq += 1) await store.append([padded('a', seq)]);
    await assert.rejects(store.history({ device: 'a', ...ALL }), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
    await store.close();
    assert.ok((await files('.log')).length > 3, 'segments rolled over');
    assert.deepEqual(await files('.idx'), []);
    store = await fixture.open(TINY, { retentionCheckMs: 20 });
    const { readings } = await historyAll(store, { device: 'a', ...ALL });
    assert.deepEqual(readings.map((r) => r.seq), Array.from({ length: 100 }, (_, k) => k + 1));
    await waitUntil(async () => (await files('.idx')).length === (await files('.log')).length - 1, 'the index files are written', 30_000);
  });

  it('deletes at open the temp file of an index file a crash left unrenamed, and answers from the log', async () => {
    let store = await filled(100);
    const expected = (await historyAll(store, { device: 'a', ...ALL })).readings;
    await store.close();
    const [first] = await files('.idx');
    assert.ok(first !== undefined);
    const temp = join(fixture.tmp.dir, `.${first}.0123456789ab.tmp`);
    await writeFile(temp, Buffer.alloc(1000));
    await unlink(join(fixture.tmp.dir, first));
    store = await fixture.open(TINY, { retentionCheckMs: 20 });
    assert.ok(!(await readdir(fixture.tmp.dir)).includes(`.${first}.0123456789ab.tmp`), 'the temp file is removed');
    assert.deepEqual((await historyAll(store, { device: 'a', ...ALL, limit: 7 })).readings, expected);
    await waitUntil(async () => (await files('.idx')).includes(first), 'the index file is written again', 30_000);
  });

  it('retention deletes a segment\'s index file with it, and a leftover index of a deleted segment goes at open', async () => {
    const store = await fixture.open({ ...TINY, retentionBytes: 16 * 1024 }, { retentionCheckMs: 20 });
    for (let seq = 1; seq <= 300; seq += 1) await store.append([padded('a', seq)]);
    await waitUntil(() => store.firstPosition() > 100, 'retention deleted old segments', 30_000);
    await waitUntil(async () => {
      const logs = new Set((await files('.log')).map((f) => f.slice(0, 20)));
      return (await files('.idx')).every((f) => logs.has(f.slice(0, 20)));
    }, 'no index file without its segment', 30_000);
    await store.close();
    const orphan = join(fixture.tmp.dir, `${'0'.repeat(20)}.idx`);
    await writeFile(orphan, 'left behind by a crash');
    await fixture.open(TINY);
    assert.ok(!(await files('.idx')).includes(`${'0'.repeat(20)}.idx`), 'the leftover is removed');
  });

  it('a torn tail cut at open leaves no history entry behind, and new readings are found after it', async () => {
    let store = await fixture.open(SMALL_CONFIG);
    for (let seq = 1; seq <= 10; seq += 1) await store.append([timed('a', seq, T + seq)]);
    await store.close();
    const [active] = (await files('.log')).slice(-1);
    await appendFile(join(fixture.tmp.dir, active as string), encodeRecord('a', 11, T + 11, T, { v: 11 }).subarray(0, 30));
    store = await fixture.open(SMALL_CONFIG);
    await store.append([timed('a', 11, T + 11), timed('a', 12, T + 12)]);
    const { readings } = await historyAll(store, { device: 'a', ...ALL });
    assert.deepEqual(readings.map((r) => r.seq), Array.from({ length: 12 }, (_, k) => k + 1));
  });
});
