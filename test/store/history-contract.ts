/**
 * History queries in the store contract (test/store/store-contract.ts): every
 * store, and the bridges' MemoryStoreReader, answers `history()` the same
 * way. The reader part needs only readings; the store part reopens the
 * store, rolls segments over and lets retention delete old readings.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { MAX_HISTORY_READINGS } from '../../src/store/history-query.js';
import type { HistoryQuery, Reading, Store, StoreReader, StoredReading } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait.js';
import type { ContractOptions } from './store-contract.js';

/** Base of the test readings' times (2023, well before any server's clock). */
const T = 1_700_000_000_000;

/** A reading of `device` with `seq` taken at `ts`. */
export function timed(device: string, seq: number, ts: number, extra: Record<string, string> = {}): Reading {
  return { device, seq, ts, data: { v: seq, ...extra } };
}

/** Every page of a query, following `next` (bounded). */
export async function historyAll(reader: StoreReader, query: HistoryQuery): Promise<{ readings: StoredReading[]; pages: number[] }> {
  const readings: StoredReading[] = [];
  const pages: number[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i += 1) {
    const page = await reader.history({ ...query, cursor });
    assert.ok(page.readings.length <= query.limit, 'a page never holds more than its limit');
    readings.push(...page.readings);
    pages.push(page.readings.length);
    if (page.next === null) return { readings, pages };
    cursor = page.next;
  }
  throw new Error('history did not end');
}

const seqs = (readings: readonly StoredReading[]): string[] => readings.map((r) => `${r.device}:${r.seq}`);

/** The history tests of the reader contract; `append` adds committed readings. */
export function historyReaderContract(withReader: (body: (h: { reader: StoreReader; append(readings: readonly Reading[]): Promise<void> }) => Promise<void>) => () => Promise<void>): void {
  it('history: one device\'s readings with ts in [from, to), oldest stored first, whole readings', withReader(async ({ reader, append }) => {
    for (let seq = 1; seq <= 20; seq += 1) await append([timed('a', seq, T + seq * 1000), timed('b', seq, T + seq * 1000)]);
    const page = await reader.history({ device: 'a', from: T + 5000, to: T + 10_000, limit: 100 });
    assert.deepEqual(seqs(page.readings), ['a:5', 'a:6', 'a:7', 'a:8', 'a:9'], 'from is inclusive, to exclusive, no other device');
    assert.equal(page.next, null);
    const first = page.readings[0] as StoredReading;
    assert.deepEqual({ ...first, position: 0 }, { ...timed('a', 5, T + 5000), position: 0 });
    assert.ok(Number.isSafeInteger(first.position));
    const all = await reader.history({ device: 'b', from: 0, to: Number.MAX_SAFE_INTEGER, limit: 100 });
    assert.deepEqual(all.readings.map((r) => r.seq), Array.from({ length: 20 }, (_, k) => k + 1));
  }));

  it('history: limit and next page through a range, never repeating or skipping readings that share a ts', withReader(async ({ reader, append }) => {
    const expected: string[] = [];
    for (let seq = 1; seq <= 23; seq += 1) {
      const ts = seq <= 17 ? T : T + 1; // 17 readings on one millisecond
      await append([timed('a', seq, ts), timed('z', seq, ts)]);
      expected.push(`a:${seq}`);
    }
    const query = { device: 'a', from: T, to: T + 2, limit: 5 };
    const first = await reader.history(query);
    assert.equal(first.readings.length, 5, 'a full page while more follow');
    assert.equal(typeof first.next, 'string');
    const { readings, pages } = await historyAll(reader, query);
    assert.deepEqual(seqs(readings), expected);
    assert.equal(pages[0], 5);
    // A cursor goes with any limit.
    const rest = await reader.history({ ...query, limit: 100, cursor: first.next as string });
    assert.deepEqual(seqs(rest.readings), expected.slice(5));
    assert.equal(rest.next, null);
    const exact = await reader.history({ ...query, limit: 23 });
    assert.equal(exact.readings.length, 23);
    assert.equal(exact.next, null, 'a page that ends the range says so');
  }));

  it('history: an unknown device, an empty range or one outside the readings is an empty last page', withReader(async ({ reader, append }) => {
    await append([timed('a', 1, T), timed('a', 2, T + 10)]);
    for (const query of [
      { device: 'nobody', from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10 },
      { device: '__proto__', from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10 },
      { device: 'a', from: T + 5, to: T + 5, limit: 10 },
      { device: 'a', from: 0, to: T, limit: 10 },
      { device: 'a', from: T + 11, to: T + 1_000_000, limit: 10 },
    ]) {
      assert.deepEqual(await reader.history(query), { readings: [], next: null }, JSON.stringify(query));
    }
  }));

  it('history: a bad range, limit or cursor is refused (FH_ERR_INVALID_ARGUMENT)', withReader(async ({ reader, append }) => {
    await append([timed('a', 1, T), timed('a', 2, T + 1)]);
    const good = { device: 'a', from: T, to: T + 100, limit: 1 };
    const next = (await reader.history(good)).next as string;
    const bad: HistoryQuery[] = [
      { ...good, from: T + 200 },
      { ...good, from: Number.NaN },
      { ...good, to: Number.POSITIVE_INFINITY },
      { ...good, from: '5' as unknown as number },
      { ...good, limit: 0 },
      { ...good, limit: 1.5 },
      { ...good, limit: MAX_HISTORY_READINGS + 1 },
      { ...good, device: '' },
      { ...good, cursor: 'not-a-cursor' },
      { ...good, cursor: `${next}x` },
      { ...good, device: 'b', cursor: next },
      { ...good, to: T + 101, cursor: next },
    ];
    for (const query of bad) {
      await assert.rejects(reader.history(query), (err) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'), JSON.stringify(query));
    }
    assert.equal((await reader.history({ ...good, limit: MAX_HISTORY_READINGS })).readings.length, 2, 'the largest limit is allowed');
  }));
}

/** A reading with about 100 bytes of data (segments of the log roll over every few). */
const padded = (device: string, seq: number): Reading => timed(device, seq, T + seq * 1000, { pad: 'p'.repeat(80) });

/** The history tests of the store contract. */
export function historyStoreContract(withPlace: (body: (open: (options?: ContractOptions) => Promise<Store>) => Promise<void>) => () => Promise<void>): void {
  it('history survives a reopen, and a cursor from before it goes on after it', withPlace(async (open) => {
    let store = await open();
    for (let seq = 1; seq <= 30; seq += 1) await store.append([padded('a', seq), padded('b', seq)]);
    const query = { device: 'a', from: T, to: T + 1_000_000, limit: 10 };
    const first = await store.history(query);
    await store.close();
    store = await open();
    const rest = await store.history({ ...query, limit: 100, cursor: first.next as string });
    assert.deepEqual([...first.readings, ...rest.readings].map((r) => r.seq), Array.from({ length: 30 }, (_, k) => k + 1));
    await store.append([padded('a', 31)]);
    const after = await historyAll(store, { device: 'a', from: T + 25_000, to: T + 1_000_000, limit: 4 });
    assert.deepEqual(after.readings.map((r) => r.seq), [25, 26, 27, 28, 29, 30, 31], 'readings stored before and after the reopen');
  }));

  it('history across segment rollover: a range that spans many segments, and one inside a sealed one', withPlace(async (open) => {
    const store = await open();
    for (let seq = 1; seq <= 120; seq += 1) await store.append([padded('a', seq), padded('b', seq), padded('c', seq)]);
    const all = await historyAll(store, { device: 'b', from: 0, to: Number.MAX_SAFE_INTEGER, limit: 17 });
    assert.deepEqual(all.readings.map((r) => r.seq), Array.from({ length: 120 }, (_, k) => k + 1));
    const positions = all.readings.map((r) => r.position);
    assert.deepEqual(positions, [...positions].sort((x, y) => x - y), 'oldest stored first');
    const middle = await store.history({ device: 'c', from: T + 40_000, to: T + 44_000, limit: 100 });
    assert.deepEqual(middle.readings.map((r) => r.seq), [40, 41, 42, 43]);
    assert.ok(middle.readings.every((r) => r.device === 'c' && r.data.pad === 'p'.repeat(80)));
  }));

  it('history after retention deleted old readings: only what is kept, still in order', withPlace(async (open) => {
    const store = await open({ retentionBytes: 4096 });
    for (let seq = 1; seq <= 100; seq += 1) await store.append([padded('a', seq), padded('b', seq)]);
    await waitUntil(() => store.firstPosition() > 20, 'size retention removed the oldest readings', 30_000);
    const first = store.firstPosition();
    // One page: retention may still be deleting, and only ever from the oldest on.
    const { readings, next } = await store.history({ device: 'a', from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000 });
    assert.equal(next, null);
    assert.ok(readings.length > 0 && readings.length < 100, `some readings of a are gone, some kept (got ${readings.length})`);
    assert.ok(readings.every((r) => r.position >= first), 'none from before the first retained position');
    const got = readings.map((r) => r.seq);
    assert.deepEqual(got, [...got].sort((x, y) => x - y), 'in order');
    assert.equal(got.at(-1), 100, 'the newest reading is kept');
  }));
}
