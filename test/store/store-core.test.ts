/**
 * The store's pure core: the dedupe window, the record codec, the retention
 * decision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecord, encodeRecord, FRAME_BAD_CRC, FRAME_BAD_LENGTH, FRAME_HEADER_BYTES, FRAME_PARTIAL, frameEnd } from '../../src/store/record-codec.js';
import { decideRetention, type SegmentFacts } from '../../src/store/retention-policy.js';
import { DEDUPE_WINDOW, SeqWindow } from '../../src/store/seq-window.js';

describe('SeqWindow', () => {
  it('remembers a gap-free run without a bitmap', () => {
    const w = new SeqWindow();
    assert.equal(w.lastSeq, null);
    assert.equal(w.check(1), 'new');
    for (let s = 1; s <= 10_000; s += 1) w.add(s);
    assert.equal(w.lastSeq, 10_000);
    assert.equal(w.hasBitmap, false);
    assert.equal(w.check(10_000), 'stored');
    assert.equal(w.check(10_000 - DEDUPE_WINDOW + 1), 'stored');
    assert.equal(w.check(10_000 - DEDUPE_WINDOW), 'stale');
    assert.equal(w.check(10_001), 'new');
  });

  it('tracks gaps and late fills with a bitmap, and drops it after a full run', () => {
    const w = new SeqWindow();
    w.add(1);
    w.add(2);
    w.add(5); // 3 and 4 missing
    assert.equal(w.hasBitmap, true);
    assert.deepEqual([1, 2, 3, 4, 5].map((s) => w.check(s)), ['stored', 'stored', 'new', 'new', 'stored']);
    w.add(4);
    assert.equal(w.check(4), 'stored');
    assert.equal(w.check(3), 'new');
    for (let s = 6; s <= 5 + DEDUPE_WINDOW; s += 1) w.add(s);
    assert.equal(w.hasBitmap, false);
    assert.equal(w.check(5 + DEDUPE_WINDOW), 'stored');
    assert.equal(w.check(6), 'stored');
  });

  it('a first seq far above 1 does not claim the seqs below it', () => {
    const w = new SeqWindow();
    w.add(500);
    assert.equal(w.check(499), 'new');
    assert.equal(w.check(500), 'stored');
  });

  it('a jump of more than the window forgets everything below', () => {
    const w = new SeqWindow();
    w.add(1);
    w.add(3);
    w.add(3 + DEDUPE_WINDOW * 2);
    assert.equal(w.check(3 + DEDUPE_WINDOW * 2 - 1), 'new');
    assert.equal(w.check(3), 'stale');
  });

  it('round-trips through JSON with and without a bitmap', () => {
    for (const seqs of [[1, 2, 3], [1, 2, 7, 5]]) {
      const w = new SeqWindow();
      for (const s of seqs) w.add(s);
      const copy = SeqWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())));
      for (let s = 1; s <= 8; s += 1) assert.equal(copy.check(s), w.check(s), `seq ${s} of ${seqs.join(',')}`);
    }
    assert.throws(() => SeqWindow.fromJSON({ l: 5, f: 1, b: 'AAAA', r: 1 }));
  });
});

describe('record codec', () => {
  const frame = encodeRecord('dev-1', 42, 1_700_000_000_123, 1_700_000_000_456, { temp: 21.5, on: true, note: 'ünïcode' });

  it('decodes what it encodes', () => {
    assert.equal(frameEnd(frame, 0, frame.length, true), frame.length);
    const { reading, hubTime } = decodeRecord(frame, FRAME_HEADER_BYTES, frame.length, 7);
    assert.deepEqual(reading, { device: 'dev-1', seq: 42, ts: 1_700_000_000_123, data: { temp: 21.5, on: true, note: 'ünïcode' }, position: 7 });
    assert.equal(hubTime, 1_700_000_000_456);
  });

  it('sees a truncated frame as partial, a flipped bit as a CRC mismatch, zeros as a bad length', () => {
    for (let cut = 0; cut < frame.length; cut += 7) assert.equal(frameEnd(frame, 0, cut, true), FRAME_PARTIAL);
    const flipped = Buffer.from(frame);
    flipped[FRAME_HEADER_BYTES + 5] = (flipped[FRAME_HEADER_BYTES + 5] ?? 0) ^ 0x10;
    assert.equal(frameEnd(flipped, 0, flipped.length, true), FRAME_BAD_CRC);
    assert.equal(frameEnd(flipped, 0, flipped.length, false), flipped.length, 'without verify only the length is checked');
    assert.equal(frameEnd(Buffer.alloc(64), 0, 64, true), FRAME_BAD_LENGTH); // zero-filled tail
  });
});

describe('decideRetention', () => {
  const hour = 3_600_000;
  const segs: SegmentFacts[] = [0, 1, 2, 3].map((i) => ({ base: i * 100, end: (i + 1) * 100, bytes: 1000, sealedAt: i * hour }));
  const base = { sealed: segs, totalBytes: 5000, retentionBytes: 0, retentionHours: 0, now: 10 * hour, cursors: [], checkpointPosition: 500 };

  it('keeps everything without bounds', () => {
    assert.equal(decideRetention(base).deleteCount, 0);
  });

  it('deletes the oldest segments until under the size bound', () => {
    assert.equal(decideRetention({ ...base, retentionBytes: 3000 }).deleteCount, 2);
  });

  it('deletes segments sealed longer ago than the age bound', () => {
    assert.equal(decideRetention({ ...base, retentionHours: 8.5 }).deleteCount, 2); // sealed at 0 h and 1 h
  });

  it('never deletes past the last checkpoint', () => {
    assert.equal(decideRetention({ ...base, retentionBytes: 1, checkpointPosition: 150 }).deleteCount, 1);
  });

  it('keeps what a cursor has not passed and reports the bytes held back', () => {
    const d = decideRetention({ ...base, retentionBytes: 1000, cursors: [['mqtt', 150], ['influx', 400]] });
    assert.equal(d.deleteCount, 1);
    assert.equal(d.blockedBytes, 3000);
    assert.equal(d.blockedBy, 'mqtt');
    assert.equal(d.blockedAt, 150);
  });
});
