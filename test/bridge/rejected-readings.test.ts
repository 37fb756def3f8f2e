/** The rejected-readings file: one JSON line per refused reading, bounded by rejectedFileBytes (rotated to `.1`). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RejectedReadingsFile, rejectedReadingsPath, type RejectedReadingLine } from '../../src/bridge/rejected-readings.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import { DEFAULT_REJECTED_FILE_BYTES } from '../../src/bridge/sink-settings.js';
import { isFleethubError } from '../../src/errors.js';

describe('rejected readings file', () => {
  it('keeps at most rejectedFileBytes per file: past it the file is rotated to .1, the newest lines always kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleethub-rejected-'));
    try {
      const path = rejectedReadingsPath(dir, 'db');
      assert.equal(path, join(dir, 'sinks', 'db.rejected.jsonl'));
      const file = new RejectedReadingsFile(path, 1024);
      const count = 40;
      await Promise.all(
        Array.from({ length: count }, (_, i) => file.append('db', { device: 'd', seq: i + 1, ts: 1_000 + i, position: i, data: { v: 'x'.repeat(50) } }, 'refused')),
      );
      const current = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RejectedReadingLine);
      const previous = (await readFile(`${path}.1`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RejectedReadingLine);
      assert.ok((await stat(path)).size <= 1024);
      assert.ok((await stat(`${path}.1`)).size <= 1024);
      assert.equal(current.at(-1)?.seq, count, 'the newest line is kept');
      // Both files hold consecutive lines, in order: the older file ends where the newer one starts.
      const seqs = [...previous, ...current].map((l) => l.seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => count - seqs.length + 1 + i));
      assert.deepEqual(current.at(-1), { ...current.at(-1), sink: 'db', device: 'd', position: count - 1, data: { v: 'x'.repeat(50) }, error: 'refused' });
      assert.equal((await stat(join(dir, 'sinks'))).mode & 0o777, 0o700);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejectedFileBytes is a sink option with a default, at least 1024', () => {
    const [mqtt, influx] = resolveSinkConfigs([
      { type: 'mqtt', name: 'a', url: 'mqtt://h' },
      { type: 'influx', name: 'b', database: 'd', rejectedFileBytes: 4096 },
    ]);
    assert.equal(mqtt?.rejectedFileBytes, DEFAULT_REJECTED_FILE_BYTES);
    assert.equal(influx?.rejectedFileBytes, 4096);
    assert.throws(
      () => resolveSinkConfigs([{ type: 'mqtt', name: 'a', url: 'mqtt://h', rejectedFileBytes: 100 }]),
      (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG') && err.message === 'config: sinks[0].rejectedFileBytes must be an integer from 1024 to 1073741824, got 100',
    );
  });
});
