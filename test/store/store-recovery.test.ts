/**
 * Crash recovery: a torn or corrupt tail is cut, never misread; damage that
 * a crash cannot cause stops the store; and after kill -9 every acked
 * reading is there exactly once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { createMemoryLogger } from '../../src/log.js';
import { openStore, type StoreOptions } from '../../src/store/log-store.js';
import { encodeRecord } from '../../src/store/record-codec.js';
import type { StoreConfig } from '../../src/store/store-config.js';
import type { Store } from '../../src/store/types.js';
import { readAll, reading, SMALL_CONFIG, storePerTest } from './store-fixtures.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'append-loop.js'); // compiled beside this file

describe('store recovery', () => {
  const fixture = storePerTest();
  const open = (config: StoreConfig = SMALL_CONFIG, options: StoreOptions = {}): Promise<Store> => fixture.open(config, options);
  const lastSegment = async (): Promise<string> => join(fixture.tmp.dir, (await readdir(fixture.tmp.dir)).filter((f) => f.endsWith('.log')).sort().at(-1) ?? '');


  const tails: Array<[string, () => Buffer]> = [
    ['half a record', () => encodeRecord('x', 99, 1, 1, { big: 'y'.repeat(100) }).subarray(0, 60)],
    ['a record with a bad CRC', () => {
      const frame = encodeRecord('x', 99, 1, 1, { v: 1 });
      frame[frame.length - 2] = (frame[frame.length - 2] ?? 0) ^ 0xff;
      return frame;
    }],
    ['zeros the file system extended', () => Buffer.alloc(512)],
    ['random garbage', () => Buffer.from('\u00ff\u00fe garbage after a crash, not a frame at all', 'latin1')],
    ['a few header bytes', () => Buffer.from([0x20, 0, 0])],
  ];
  for (const [name, tail] of tails) {
    for (const withCheckpoint of [true, false]) {
      it(`cuts ${name} at the end of the newest segment (${withCheckpoint ? 'with' : 'without'} checkpoint)`, async () => {
        let store = await open();
        for (let i = 1; i <= 50; i += 1) await store.append([reading(`d${i % 2}`, i)]);
        await store.close();
        if (!withCheckpoint) await unlink(join(fixture.tmp.dir, 'checkpoint.json'));
        const file = await lastSegment();
        const goodSize = (await stat(file)).size;
        await appendFile(file, tail());

        const log = createMemoryLogger();
        store = await open(SMALL_CONFIG, { log });
        assert.equal((await stat(file)).size, goodSize, 'the tail is truncated');
        assert.ok(log.lines.some((l) => l.includes('store.torn_tail')), 'and logged');
        assert.equal(store.nextPosition(), 50);
        assert.equal(store.lastSeq('d1'), 49);
        assert.equal(store.lastSeq('x'), null, 'nothing of the tail is ever read');
        assert.deepEqual(await store.append([reading('d0', 51)]), ['stored']);
        const all = await readAll(store);
        assert.deepEqual(all.map((r) => r.seq), Array.from({ length: 51 }, (_, k) => k + 1));
      });
    }
  }

  it('refuses to open when a segment other than the newest is damaged', async () => {
    let store = await open({ ...SMALL_CONFIG, segmentBytes: 512 });
    for (let i = 1; i <= 40; i += 1) await store.append([reading('a', i)]);
    await store.close();
    await unlink(join(fixture.tmp.dir, 'checkpoint.json')); // force a scan of every segment
    const files = (await readdir(fixture.tmp.dir)).filter((f) => f.endsWith('.log')).sort();
    assert.ok(files.length >= 3);
    const victim = join(fixture.tmp.dir, files[1] ?? '');
    const bytes = await readFile(victim);
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    await writeFile(victim, bytes);
    await assert.rejects(openStore(fixture.tmp.dir, SMALL_CONFIG), (err) => isFleethubError(err, 'FH_ERR_STORE_IO') && err.message.includes(files[1] ?? '?'));
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    await writeFile(victim, bytes); // the operator restores the file
    store = await open(); // and the failed open left the folder unlocked
    assert.equal(store.lastSeq('a'), 40);
  });

  it('ignores an unreadable checkpoint and replays the log', async () => {
    let store = await open();
    await store.append([reading('a', 1), reading('a', 2)]);
    await store.close();
    await writeFile(join(fixture.tmp.dir, 'checkpoint.json'), '{"version":1,"position":');
    const log = createMemoryLogger();
    store = await open(SMALL_CONFIG, { log });
    assert.equal(store.lastSeq('a'), 2);
    assert.ok(log.lines.some((l) => l.includes('store.checkpoint_ignored')));
  });

  it('after kill -9 mid-stream, every acked reading is stored exactly once and lastSeq is right', async () => {
    for (let round = 0; round < 2; round += 1) {
      const acked = new Map<string, Set<number>>();
      const child = spawn(process.execPath, ['--enable-source-maps', FIXTURE, fixture.tmp.dir, '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      let count = 0;
      const lines = createInterface({ input: child.stdout });
      const enough = new Promise<void>((resolve) => {
        lines.on('line', (line) => {
          const [tag, device, seq] = line.split(' ');
          if (tag !== 'ACK' || device === undefined) return;
          let set = acked.get(device);
          if (set === undefined) acked.set(device, (set = new Set()));
          set.add(Number(seq));
          count += 1;
          if (count === 400 + round * 200) resolve();
        });
        child.on('exit', () => resolve());
      });
      await enough;
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', 'the child was killed mid-stream');
      await new Promise((r) => setImmediate(r)); // let readline deliver the lines already piped

      const log = createMemoryLogger();
      const store = await openStore(fixture.tmp.dir, SMALL_CONFIG, { log });
      try {
        const all = await readAll(store);
        const opened = log.lines.find((l) => l.includes('store.open')) ?? '';
        assert.match(opened, /checkpoint=true/, 'the child wrote checkpoints while running');
        const replayed = Number(/replayed=(\d+)/.exec(opened)?.[1]);
        assert.ok(replayed < all.length, `open replayed ${replayed} of ${all.length} readings, not the whole log`);
        const seen = new Set<string>();
        for (const r of all) {
          const key = `${r.device}/${r.seq}`;
          assert.ok(!seen.has(key), `${key} stored twice`);
          seen.add(key);
        }
        for (const [device, seqs] of acked) {
          for (const seq of seqs) assert.ok(seen.has(`${device}/${seq}`), `acked ${device}/${seq} is missing`);
          const stored = all.filter((r) => r.device === device).map((r) => r.seq);
          assert.equal(store.lastSeq(device), Math.max(...stored));
          assert.ok((store.lastSeq(device) ?? 0) >= Math.max(...seqs));
        }
        assert.deepEqual(all.map((r) => r.position), all.map((_, k) => k), 'positions stay dense');
        assert.ok(acked.size > 0);
      } finally {
        await store.close();
      }
    }
  });
});
