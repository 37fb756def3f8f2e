/**
 * The store as the hub uses it: appends acked after the fsync, positions,
 * dedupe, per-device state across restarts, listeners, lifecycle.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { createMemoryLogger } from '../../src/log.js';
import { openStore, type EmbeddedStore, type StoreOptions } from '../../src/store/log-store.js';
import { DEDUPE_WINDOW } from '../../src/store/seq-window.js';
import { MAX_COMMIT_INTERVAL_MS } from '../../src/store/store-config.js';
import type { StoredReading } from '../../src/store/types.js';
import { readAll, reading, SMALL_CONFIG, storePerTest } from './store-fixtures.js';

describe('log store', () => {
  const fixture = storePerTest();
  const open = (options: StoreOptions = {}): Promise<EmbeddedStore> => fixture.open(SMALL_CONFIG, options);


  it('creates its folder 0700 and acks appends with dense positions from 0', async () => {
    const store = await open();
    assert.equal((await stat(fixture.tmp.dir)).mode & 0o777, 0o700);
    assert.deepEqual(await store.append([reading('a', 1), reading('b', 1)]), ['stored', 'stored']);
    assert.deepEqual(await store.append([reading('a', 2)]), ['stored']);
    assert.equal(store.nextPosition(), 3);
    const all = await readAll(store);
    assert.deepEqual(all.map((r) => [r.position, r.device, r.seq]), [[0, 'a', 1], [1, 'b', 1], [2, 'a', 2]]);
    assert.deepEqual(all[0]?.data, reading('a', 1).data);
    assert.equal((await stat(`${fixture.tmp.dir}/00000000000000000000.log`)).mode & 0o777, 0o600, 'segments are private');
  });

  it('shares one fsync among appends that arrive together (group commit)', async () => {
    const store = await open();
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append([reading(`d${i % 20}`, Math.floor(i / 20) + 1)])));
    assert.ok(outcomes.every((o) => o[0] === 'stored'));
    const { fsyncs, readings } = store.stats();
    assert.equal(readings, 200);
    assert.ok(fsyncs < 20, `200 concurrent appends took ${fsyncs} fsyncs`);
  });

  it('commits at most once per commitIntervalMs: readings arriving meanwhile share the next fsync', async () => {
    const store = await fixture.open({ ...SMALL_CONFIG, commitIntervalMs: 1000 });
    await store.append([reading('a', 1)]); // an idle store commits at once
    assert.equal(store.stats().fsyncs, 1);
    // Three appends in three separate turns of the event loop, well inside the interval.
    const later: Promise<unknown>[] = [];
    for (let seq = 2; seq <= 4; seq += 1) {
      later.push(store.append([reading('a', seq)]));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(store.nextPosition(), 1, 'nothing more is committed before the interval is up');
    await Promise.all(later);
    assert.equal(store.stats().fsyncs, 2, 'the three shared one fsync');
    assert.equal(store.nextPosition(), 4);
  });

  it('after an idle spell longer than commitIntervalMs, an append is committed without waiting', { timeout: 60_000 }, async (t) => {
    let clock = 0;
    const store = await fixture.open({ ...SMALL_CONFIG, commitIntervalMs: MAX_COMMIT_INTERVAL_MS }, { monotonic: () => clock });
    // The longest interval on a clock the test drives, and timers that never fire by themselves: an append that waited would time the test out.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    await store.append([reading('a', 1)]);
    clock += MAX_COMMIT_INTERVAL_MS + 1;
    assert.deepEqual(await store.append([reading('a', 2)]), ['stored']);
    assert.equal(store.stats().fsyncs, 2);
  });

  it('close does not wait out commitIntervalMs: what is pending is committed at once', { timeout: 60_000 }, async (t) => {
    const clock = 0;
    const store = await fixture.open({ ...SMALL_CONFIG, commitIntervalMs: MAX_COMMIT_INTERVAL_MS }, { monotonic: () => clock });
    // Timers never fire by themselves: a close that waited out the interval would time the test out.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    await store.append([reading('a', 1)]);
    const pending = store.append([reading('a', 2)]); // the clock stands still: the interval is never up
    await store.close();
    assert.deepEqual(await pending, ['stored']);
  });

  it('resolves an append only once its readings are committed and visible to readers', async () => {
    const store = await open();
    const seen: number[] = [];
    store.onCommit((group) => seen.push(...group.map((r) => r.position)));
    const pending = store.append([reading('a', 1)]);
    assert.equal(store.nextPosition(), 0, 'nothing is visible before the fsync');
    await pending;
    assert.equal(store.nextPosition(), 1);
    assert.deepEqual(seen, [0]);
  });

  it('stores a repeat once and acks it again: in the window, in flight, in one batch', async () => {
    const store = await open();
    const [first, inflight] = await Promise.all([store.append([reading('a', 1), reading('a', 1)]), store.append([reading('a', 1)])]);
    assert.deepEqual(first, ['stored', 'duplicate']);
    assert.deepEqual(inflight, ['duplicate']);
    assert.deepEqual(await store.append([reading('a', 1), reading('a', 2)]), ['duplicate', 'stored']);
    assert.equal(store.nextPosition(), 2);
    assert.equal(store.stats().duplicates, 3);
  });

  it('finds a repeat among several readings in flight, out of order, and stores a new seq below them', async () => {
    const store = await open();
    const appended = await Promise.all([
      store.append([reading('a', 5), reading('a', 9), reading('a', 7)]),
      store.append([reading('a', 7), reading('a', 6), reading('a', 9)]),
    ]);
    assert.deepEqual(appended, [['stored', 'stored', 'stored'], ['duplicate', 'stored', 'duplicate']]);
    // All committed: a seq below every earlier one is new, not taken for one still in flight.
    assert.deepEqual(await store.append([reading('a', 3)]), ['stored']);
    assert.deepEqual(await store.append([reading('a', 3)]), ['duplicate']);
    assert.equal(store.nextPosition(), 5);
  });

  it('an in-flight repeat resolves only after the original is durable', async () => {
    const store = await open();
    const order: string[] = [];
    const original = store.append([reading('a', 7)]).then(() => order.push('original'));
    const repeat = store.append([reading('a', 7)]).then((o) => {
      order.push('repeat');
      assert.equal(store.nextPosition(), 1, 'the original is committed when the repeat resolves');
      return o;
    });
    await Promise.all([original, repeat]);
    assert.deepEqual(await repeat, ['duplicate']);
  });

  it('refuses a seq below the dedupe window as stale: neither stored nor a duplicate to ack', async () => {
    const store = await open();
    await store.append([reading('a', 1)]);
    await store.append([reading('a', DEDUPE_WINDOW + 10)]);
    // SPEC: an ack never covers a reading that is not stored; below the window a repeat and a new one look alike.
    assert.deepEqual(await store.append([reading('a', 1)]), ['stale']);
    assert.deepEqual(await store.append([reading('a', 5), reading('a', DEDUPE_WINDOW + 9)]), ['stale', 'stored']);
    assert.equal(store.stats().staleDuplicates, 2);
    assert.deepEqual((await readAll(store)).map((r) => r.seq), [1, DEDUPE_WINDOW + 10, DEDUPE_WINDOW + 9]);
  });

  it('resetSeq lets a device start again from seq 1, across restarts with and without a checkpoint', async () => {
    let store = await open();
    await store.append([reading('a', 5_000_000), reading('b', 7)]);
    await store.resetSeq('a');
    assert.equal(store.lastSeq('a'), null);
    assert.equal(store.lastSeq('b'), 7, 'other devices keep theirs');
    assert.deepEqual(await store.append([reading('a', 2), reading('a', 3)]), ['stored', 'stored']);
    assert.equal(store.countToday('a'), 3, 'the day count keeps what was stored before the reset');
    await store.close();
    store = await open();
    assert.equal(store.lastSeq('a'), 3);
    assert.deepEqual(await store.append([reading('a', 3), reading('a', 4)]), ['duplicate', 'stored']);
    await store.close();
    const { unlink } = await import('node:fs/promises');
    await unlink(`${fixture.tmp.dir}/checkpoint.json`);
    store = await open();
    assert.equal(store.lastSeq('a'), 4, 'a full replay leaves the readings before the reset out of the window');
    assert.equal(store.lastSeq('b'), 7);
  });

  it('keeps lastSeq, the dedupe window, countToday and latest across a restart', async () => {
    let now = Date.UTC(2026, 10, 22, 23, 0);
    let store = await open({ now: () => now });
    await store.append([reading('a', 1), reading('a', 2), reading('a', 5), reading('b', 3)]);
    assert.equal(store.countToday('a'), 3);
    await store.close();

    store = await open({ now: () => now });
    assert.equal(store.lastSeq('a'), 5);
    assert.equal(store.lastSeq('b'), 3);
    assert.equal(store.lastSeq('nobody'), null);
    assert.equal(store.countToday('a'), 3);
    assert.deepEqual([...store.devices()].sort(), ['a', 'b']);
    assert.equal(store.latest('a')?.seq, 5);
    assert.equal(store.latest('a')?.position, 2);
    assert.deepEqual(await store.append([reading('a', 2), reading('a', 4), reading('a', 5)]), ['duplicate', 'stored', 'duplicate']);
    now += 2 * 3_600_000; // past UTC midnight
    assert.equal(store.countToday('a'), 0, 'the day count resets at UTC midnight');
    await store.append([reading('a', 6)]);
    assert.equal(store.countToday('a'), 1);
    assert.equal(store.countToday('a', now - 2 * 3_600_000), 0, 'only one day is kept: the current one');
  });

  it('rebuilds the same state without a checkpoint (replaying the log)', async () => {
    let store = await open();
    await store.append([reading('a', 1), reading('a', 3), reading('b', 9)]);
    await store.close();
    const { unlink } = await import('node:fs/promises');
    await unlink(`${fixture.tmp.dir}/checkpoint.json`);
    store = await open();
    assert.equal(store.lastSeq('a'), 3);
    assert.deepEqual(store.latest('a'), { ...reading('a', 3), position: 1 });
    assert.deepEqual(store.latest('b'), { ...reading('b', 9), position: 2 });
    assert.deepEqual(await store.append([reading('a', 2), reading('a', 3)]), ['stored', 'duplicate']);
  });

  it('keeps committing when an onCommit listener throws, and unsubscribes', async () => {
    const log = createMemoryLogger();
    const store = await open({ log });
    const seen: StoredReading[] = [];
    const off = store.onCommit(() => {
      throw new Error('listener bug');
    });
    const offSeen = store.onCommit((group) => seen.push(...group));
    await store.append([reading('a', 1)]);
    off();
    offSeen();
    await store.append([reading('a', 2)]);
    assert.equal(seen.length, 1);
    assert.ok(log.lines.some((l) => l.includes('store.listener_failed')));
  });

  it('stores the caller\'s own JSON text of data when given (no second serialisation)', async () => {
    const store = await open();
    const data = { temp: 21.5, note: 'as sent' };
    await store.append([{ device: 'a', seq: 1, ts: 1_700_000_000_000, data, dataJson: '{ "temp" : 21.5 , "note" : "as sent" }' }]);
    const [stored] = await readAll(store);
    assert.deepEqual(stored?.data, data);
    const segment = await readFile(`${fixture.tmp.dir}/00000000000000000000.log`, 'utf8');
    assert.ok(segment.includes('{ "temp" : 21.5 , "note" : "as sent" }'), 'the text is kept byte for byte');
  });

  it('refuses readings the file format cannot hold', async () => {
    const store = await open();
    for (const bad of [{ ...reading('a', 1), seq: 0 }, { ...reading('a', 1), seq: 1.5 }, { ...reading('', 1) }, { ...reading('a', 1), ts: Number.NaN }]) {
      await assert.rejects(store.append([bad]), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
    }
    const tooBig = reading('a', 2, { s: 'x'.repeat(5 * 1024 * 1024) });
    await assert.rejects(store.append([reading('a', 1), tooBig]), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
    assert.deepEqual(await store.append([reading('a', 1)]), ['stored'], 'a refused batch stores nothing');
    assert.equal(store.nextPosition(), 1);
  });

  it('close flushes pending appends, is idempotent, and refuses appends afterwards', async () => {
    const store = await open();
    const pending = store.append([reading('a', 1)]);
    await Promise.all([store.close(), store.close()]);
    assert.deepEqual(await pending, ['stored']);
    await store.close();
    await assert.rejects(store.append([reading('a', 2)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
    const again = await open();
    assert.equal(again.lastSeq('a'), 1);
  });

  it('refuses a second store on the same folder while the first is open', async () => {
    await open();
    await assert.rejects(openStore(fixture.tmp.dir, SMALL_CONFIG), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
  });

  it('refuses a folder locked by another live process, takes over a lock whose owner is gone', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(fixture.tmp.dir, { recursive: true });
    await writeFile(`${fixture.tmp.dir}/LOCK`, `${process.ppid}\n`); // the test runner: alive
    await assert.rejects(openStore(fixture.tmp.dir, SMALL_CONFIG), (err) => isFleethubError(err, 'FH_ERR_STORE_IO') && err.message.includes(String(process.ppid)));
    await writeFile(`${fixture.tmp.dir}/LOCK`, `${process.ppid} 1\n`); // same pid, another start time: a recycled pid
    await open();
  });

  it('rejects a bad config value naming the key', async () => {
    await assert.rejects(openStore(fixture.tmp.dir, { ...SMALL_CONFIG, segmentBytes: 0 }), (err) => {
      return isFleethubError(err, 'FH_ERR_CONFIG') && err.message.includes('store.segmentBytes');
    });
  });
});
