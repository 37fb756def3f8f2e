/**
 * The history index's rows in memory (src/store/history/segment-columns.ts)
 * and the index file written from them: the chunks of a segment whose index
 * file is written go back to a pool and the next segment fills them again,
 * without a row of the old segment ever showing through; a segment's index
 * file asked for twice at once (maintenance and a query's rebuild) is written
 * once, whole, and its rows go back once.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CopyBuffers } from '../../src/store/history/frame-copy.js';
import { readPicked } from '../../src/store/history/history-frames.js';
import { HistoryScan } from '../../src/store/history/history-index.js';
import { RowPool, SegmentColumns } from '../../src/store/history/segment-columns.js';
import { SegmentHistory } from '../../src/store/history/segment-history.js';
import { parseSegmentFileName, scanSegmentFile } from '../../src/store/segment.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import { SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const T = 1_700_000_000_000;
/** Rows per chunk of SegmentColumns (16,384). */
const CHUNK_ROWS = 16_384;
/** Segments of 64 KiB: a few hundred readings each. */
const SMALL_SEGMENTS: StoreConfig = { ...SMALL_CONFIG, segmentBytes: 64 * 1024 };

describe('history index rows', () => {
  const fixture = storePerTest();

  it('reuses the chunks of a segment whose index is written, and never shows an old row', () => {
    const pool = new RowPool();
    const old = new SegmentColumns(pool);
    // Two chunks and a bit, every row of device 0.
    for (let i = 0; i < 2 * CHUNK_ROWS + 10; i += 1) old.add(0, T + i, i * 100, 100);
    old.release();
    assert.equal(pool.size, 3);
    const next = new SegmentColumns(pool);
    for (let i = 0; i < 5; i += 1) next.add(i % 2, T + 1_000_000 + i, 7 + i * 50, 50);
    assert.equal(pool.size, 2, 'the next segment took a chunk from the pool');
    const zero = next.gather(0, 3);
    assert.deepEqual([...zero.ts.subarray(0, zero.count)], [T + 1_000_000, T + 1_000_002, T + 1_000_004]);
    assert.deepEqual([...zero.ordinals.subarray(0, zero.count)], [0, 2, 4]);
    assert.equal(next.gather(1, 2).count, 2);
    // Laid out as index-file blocks: device 0 then device 1, each block's four arrays in turn.
    const file = Buffer.alloc(5 * 24);
    next.layOut(file, [0, 3 * 24], [3, 2], [1000, 2000]);
    const ts = new Float64Array(file.buffer, file.byteOffset, 3);
    const offsets = new Float64Array(file.buffer, file.byteOffset + 24, 3);
    const ordinals = new Uint32Array(file.buffer, file.byteOffset + 48, 3);
    const lengths = new Uint32Array(file.buffer, file.byteOffset + 60, 3);
    assert.deepEqual([...ts], [T + 1_000_000, T + 1_000_002, T + 1_000_004]);
    assert.deepEqual([...offsets], [1000, 1050, 1100]);
    assert.deepEqual([...ordinals], [0, 2, 4]);
    assert.deepEqual([...lengths], [50, 50, 50]);
    assert.deepEqual([...new Float64Array(file.buffer, file.byteOffset + 72, 2)], [T + 1_000_001, T + 1_000_003]);
    assert.deepEqual([...new Float64Array(file.buffer, file.byteOffset + 88, 2)], [2000, 2050]);
  });

  it('writes an index file asked for twice at once only once, whole, and gives its rows back once', async () => {
    const store = await fixture.open(SMALL_SEGMENTS, { historyIndex: false });
    const devices = ['a', 'b', 'c'];
    for (let seq = 1; seq <= 400; seq += 1) {
      await store.append(devices.map((device) => ({ device, seq, ts: T + seq * 1000, data: { v: seq, pad: 'p'.repeat(40) } })));
    }
    await store.close();
    const dir = fixture.tmp.dir;
    const logs = (await readdir(dir)).filter((name) => parseSegmentFileName(name) !== null).sort();
    assert.ok(logs.length >= 2, 'the store rolled over');
    const first = logs[0] as string;
    const base = parseSegmentFileName(first) as number;
    const path = join(dir, first);

    const pool = new RowPool();
    const scan = new HistoryScan(dir, pool);
    const { records } = await scanSegmentFile(path, Number.POSITIVE_INFINITY, scan.visitor(base));
    const history = scan.built.get(base) as SegmentHistory;
    assert.equal(history.readings, records);
    // As maintenance and a query's rebuild would. The second, through a window of 64 bytes, would still be
    // copying long after the first gave the rows back (and it renames its file last).
    await Promise.all([history.write(path, 1 << 20, new CopyBuffers()), history.write(path, 64, new CopyBuffers())]);
    assert.equal(pool.size, 1, 'one chunk of rows given back, once');
    // The pool's chunk filled by the next segment, as the store does meanwhile.
    const next = new SegmentColumns(pool);
    for (let i = 0; i < 1000; i += 1) next.add(9, 0, 0, 1);

    const loaded = await SegmentHistory.load(dir, base, records);
    assert.ok(loaded !== null, 'the index file loads');
    let total = 0;
    for (const device of devices) {
      const found = await loaded.entries(device, path);
      assert.ok(found !== null && found.inIndex);
      const picks = Array.from({ length: found.entries.count }, (_, i) => i);
      const readings = await readPicked(found, base, device, picks);
      assert.deepEqual(readings.map((r) => r.seq), Array.from({ length: readings.length }, (_, i) => i + 1));
      total += readings.length;
    }
    assert.equal(total, records);
  });
});
