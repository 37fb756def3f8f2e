/**
 * The contract every store passes (aedes-persistence's abstract.js is the
 * model): the embedded log runs it from log-store-contract.test.ts, a second
 * backend (the JetStream store) by calling {@link storeContract} with its own
 * factory. The reader part ({@link storeReaderContract}) is all a bridge may
 * rely on; the test helper MemoryStoreReader runs it too.
 *
 * History queries are in history-contract.ts, registered from here.
 *
 * Only what the interface in src/store/types.ts promises is asserted, never
 * how a backend does it: retention may delete in whole segments or in
 * messages, so the tests say "some old readings went, none a cursor holds".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { DEDUPE_WINDOW } from '../../src/store/seq-window.js';
import type { Reading, Store, StoreReader } from '../../src/store/types.js';
import { readAll, reading } from './store-fixtures.js';
import { waitUntil } from '../helpers/wait.js';
import { historyReaderContract, historyStoreContract } from './history-contract.js';

/** What a contract test asks of the store it opens. */
export interface ContractOptions {
  /** The wall clock (ms since epoch): daily counts and age retention. @defaultValue Date.now */
  readonly now?: () => number;
  /** Delete old readings past about this many bytes (the backend's smallest practical unit applies). */
  readonly retentionBytes?: number;
  /** Delete readings older than this, by `now`. */
  readonly retentionHours?: number;
}

/** One place a store lives (a folder, a stream), opened as often as a test wants: durability is reopening it. */
export interface StorePlace {
  /** Opens the store at this place; the test closes it. Only one store is open on a place at a time. */
  open(options?: ContractOptions): Promise<Store>;
  /** Deletes the place; every store opened on it is closed by then. */
  remove(): Promise<void>;
}

/**
 * What a backend cannot do by design, said explicitly: a test that needs it
 * is skipped for that backend (with the reason in its name), never weakened
 * for the others. Every capability defaults to true.
 */
export interface StoreCapabilities {
  /**
   * A saved cursor holds back retention until it passes the readings
   * (StoreStats.retentionBlockedBytes). False for JetStream: the stream's
   * max_bytes deletes the oldest messages whatever the cursors say.
   */
  readonly retentionHeldByCursors?: boolean;
  /**
   * Age retention follows the store's `now` option. False for JetStream:
   * max_age is enforced by the NATS servers on their own clocks.
   */
  readonly retentionFollowsStoreClock?: boolean;
}

/** A reading with about 100 bytes of data. */
const padded = (device: string, seq: number): Reading => reading(device, seq, { pad: 'p'.repeat(80) });

/**
 * Registers the store contract under `describe(name)`. `newPlace` makes a
 * fresh, empty place for each test.
 */
export function storeContract(name: string, newPlace: () => Promise<StorePlace>, capabilities: StoreCapabilities = {}): void {
  const heldByCursors = capabilities.retentionHeldByCursors ?? true;
  const followsClock = capabilities.retentionFollowsStoreClock ?? true;
  describe(`store contract: ${name}`, () => {
    /** Runs `body` with a fresh place; closes what it opened and removes the place after. */
    const withPlace = (body: (open: (options?: ContractOptions) => Promise<Store>) => Promise<void>) => async () => {
      const place = await newPlace();
      const opened: Store[] = [];
      try {
        await body(async (options) => {
          const store = await place.open(options);
          opened.push(store);
          return store;
        });
      } finally {
        for (const store of opened) await store.close();
        await place.remove();
      }
    };

    it('append resolves once committed: dense positions, visible to readers, durable across a reopen', withPlace(async (open) => {
      let store = await open();
      const seen: number[] = [];
      store.onCommit((group) => seen.push(...group.map((r) => r.position)));
      assert.deepEqual(await store.append([reading('a', 1), reading('b', 1)]), ['stored', 'stored']);
      assert.deepEqual(await store.append([reading('a', 2)]), ['stored']);
      assert.equal(store.nextPosition() - store.firstPosition(), 3);
      assert.deepEqual(seen, [0, 1, 2]);
      await store.close();
      store = await open();
      const all = await readAll(store);
      assert.deepEqual(all.map((r) => r.position), [0, 1, 2]);
      // Devices of one batch may take their positions in either order (see Store.append); each device's order holds.
      assert.deepEqual(all.slice(0, 2).map((r) => `${r.device}:${r.seq}`).sort(), ['a:1', 'b:1']);
      assert.deepEqual([all[2]?.device, all[2]?.seq], ['a', 2]);
      assert.deepEqual(all.find((r) => r.device === 'a')?.data, reading('a', 1).data);
    }));

    it('a repeat is acked as duplicate, not stored twice: committed, in flight, and in one batch', withPlace(async (open) => {
      const store = await open();
      const [first, inflight] = await Promise.all([store.append([reading('a', 1), reading('a', 1)]), store.append([reading('a', 1)])]);
      assert.deepEqual(first, ['stored', 'duplicate']);
      assert.deepEqual(inflight, ['duplicate']);
      assert.deepEqual(await store.append([reading('a', 1), reading('a', 2)]), ['duplicate', 'stored']);
      assert.deepEqual((await readAll(store)).map((r) => r.seq), [1, 2]);
    }));

    it('a seq below the dedupe window is stale: neither stored nor a duplicate', withPlace(async (open) => {
      const store = await open();
      await store.append([reading('a', DEDUPE_WINDOW + 10)]);
      assert.deepEqual(await store.append([reading('a', 2), reading('a', 11)]), ['stale', 'stored']);
      assert.deepEqual((await readAll(store)).map((r) => r.seq), [DEDUPE_WINDOW + 10, 11]);
    }));

    it('keeps lastSeq, the dedupe window, countToday and latest per device across a reopen', withPlace(async (open) => {
      let now = Date.UTC(2026, 10, 22, 23, 0);
      let store = await open({ now: () => now });
      await store.append([reading('a', 1), reading('a', 2), reading('a', 5)]);
      await store.append([reading('b', 3)]);
      assert.equal(store.countToday('a'), 3);
      await store.close();
      store = await open({ now: () => now });
      await Promise.all([store.openDevice('a'), store.openDevice('b')]); // as the hub does before serving a device
      assert.equal(store.lastSeq('a'), 5);
      assert.equal(store.lastSeq('b'), 3);
      assert.equal(store.lastSeq('nobody'), null);
      assert.equal(store.countToday('a'), 3);
      assert.deepEqual([...store.devices()].sort(), ['a', 'b']);
      assert.deepEqual(store.latest('a'), { ...reading('a', 5), position: 2 });
      assert.equal(store.latest('nobody'), undefined);
      assert.deepEqual(await store.append([reading('a', 2), reading('a', 4), reading('a', 5)]), ['duplicate', 'stored', 'duplicate']);
      now += 2 * 3_600_000; // past UTC midnight
      assert.equal(store.countToday('a'), 0, 'the day count resets at UTC midnight');
      await store.append([reading('a', 6)]);
      assert.equal(store.countToday('a'), 1);
      store.releaseDevice('a');
      store.releaseDevice('a'); // one more than opened: ignored
    }));

    it('openDevice is ready (now or once resolved) before a device is served, releaseDevice never throws', withPlace(async (open) => {
      const store = await open();
      await store.append([reading('a', 7)]);
      await store.openDevice('a');
      await store.openDevice('a'); // a takeover on the same hub opens it twice
      assert.equal(store.lastSeq('a'), 7);
      store.releaseDevice('a');
      assert.deepEqual(await store.append([reading('a', 7), reading('a', 8)]), ['duplicate', 'stored']);
      store.releaseDevice('a');
      assert.equal(store.lastSeq('a'), 8);
      assert.deepEqual(await store.append([reading('a', 8), reading('a', 9)]), ['duplicate', 'stored'], 'a released device is served again');
      store.releaseDevice('never-opened');
    }));

    it('resetSeq lets a device start again from seq 1, and the reset survives a reopen', withPlace(async (open) => {
      let store = await open();
      await store.append([reading('a', 5_000_000), reading('b', 7)]);
      await store.resetSeq('a');
      assert.equal(store.lastSeq('a'), null);
      assert.equal(store.lastSeq('b'), 7);
      await store.close();
      store = await open();
      await Promise.all([store.openDevice('a'), store.openDevice('b')]);
      assert.equal(store.lastSeq('a'), null, 'a reset with nothing stored after it survives a reopen');
      assert.equal(store.lastSeq('b'), 7, 'only the device reset forgets its seqs');
      assert.equal(store.latest('a')?.seq, 5_000_000, 'the latest reading stays');
      assert.deepEqual(await store.append([reading('a', 2)]), ['stored']);
      await store.close();
      store = await open();
      await store.openDevice('a');
      assert.equal(store.lastSeq('a'), 2);
      assert.deepEqual(await store.append([reading('a', 2), reading('a', 3)]), ['duplicate', 'stored']);
    }));

    it(`retention by size deletes old readings, but none a saved cursor has not passed${heldByCursors ? '' : ` (skipped for ${name}: retention does not wait for cursors)`}`, { skip: !heldByCursors }, withPlace(async (open) => {
      const store = await open({ retentionBytes: 4096 });
      await store.saveCursor('sink:held', 10);
      for (let i = 1; i <= 200; i += 1) await store.append([padded('a', i)]);
      await waitUntil(() => store.stats().retentionBlockedBytes > 0, 'retention is held back by the cursor', 30_000);
      assert.ok(store.firstPosition() <= 10, 'nothing the cursor has not passed is deleted');
      assert.equal((await store.read(10, 1)).readings[0]?.position, 10);
      await store.saveCursor('sink:held', 200);
      await store.append([padded('a', 201)]);
      await waitUntil(() => store.firstPosition() > 10, 'retention ran once the cursor moved', 30_000);
      const page = await store.read(0, 1);
      assert.ok(page.skipped > 10 && page.readings[0]?.position === page.skipped, 'a read from a deleted position says what it skipped');
      assert.equal(store.lastSeq('a'), 201, 'per-device state does not depend on retained readings');
      assert.deepEqual(await store.append([padded('a', 150)]), ['duplicate']);
    }));

    it('retention by size deletes the oldest readings, keeps the newest and per-device state', withPlace(async (open) => {
      const store = await open({ retentionBytes: 4096 });
      for (let i = 1; i <= 200; i += 1) await store.append([padded('a', i)]);
      await waitUntil(() => store.firstPosition() > 0, 'size retention removed the oldest readings', 30_000);
      const page = await store.read(0, 1);
      assert.ok(page.skipped > 0 && page.readings[0]?.position === page.skipped, 'a read from a deleted position says what it skipped');
      assert.equal(store.nextPosition(), 200);
      assert.equal((await readAll(store)).at(-1)?.seq, 200, 'the newest readings stay');
      assert.equal(store.lastSeq('a'), 200);
      assert.deepEqual(await store.append([padded('a', 150)]), ['duplicate']);
    }));

    it(`retention by age follows the store's clock, not the test's sleep${followsClock ? '' : ` (skipped for ${name}: age retention is on the servers' clocks)`}`, { skip: !followsClock }, withPlace(async (open) => {
      let now = Date.now();
      const store = await open({ now: () => now, retentionHours: 1 });
      for (let i = 1; i <= 60; i += 1) await store.append([padded('a', i)]);
      now += 2 * 3_600_000;
      await store.append([padded('a', 61)]);
      await waitUntil(() => store.firstPosition() > 0, 'age retention removed the oldest readings', 30_000);
      assert.equal(store.nextPosition(), 61);
      assert.equal((await readAll(store)).at(-1)?.seq, 61, 'the newest readings stay');
    }));

    it('reports health: ok with a time on a working store', withPlace(async (open) => {
      const store = await open();
      const health = store.health();
      assert.equal(health.ok, true);
      assert.equal(health.error, undefined);
      assert.equal(typeof health.since, 'number');
    }));

    it('close flushes what is pending, is idempotent, and refuses appends after', withPlace(async (open) => {
      let store = await open();
      const pending = store.append([reading('a', 1)]);
      await Promise.all([store.close(), store.close()]);
      assert.deepEqual(await pending, ['stored']);
      await store.close();
      await assert.rejects(store.append([reading('a', 2)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
      store = await open();
      await store.openDevice('a');
      assert.equal(store.lastSeq('a'), 1);
    }));

    historyStoreContract(withPlace);

    storeReaderContract(`${name} (reader)`, async () => {
      const place = await newPlace();
      const store = await place.open();
      return {
        reader: store,
        append: async (readings) => void (await store.append(readings)),
        dispose: async () => {
          await store.close();
          await place.remove();
        },
      };
    });
  });
}

/** A reader under test with a way to add readings. */
export interface ReaderHarness {
  readonly reader: StoreReader;
  /** Adds committed readings (the store's append, or the memory reader's). */
  append(readings: readonly Reading[]): Promise<void>;
  dispose(): Promise<void>;
}

/** Registers the reader contract (positions, waiting, cursors) under `describe(name)`. */
export function storeReaderContract(name: string, newReader: () => Promise<ReaderHarness>): void {
  describe(`store reader contract: ${name}`, () => {
    const withReader = (body: (h: ReaderHarness) => Promise<void>) => async () => {
      const h = await newReader();
      try {
        await body(h);
      } finally {
        await h.dispose();
      }
    };

    it('reads from any position in order, in pages of at most max, and says where to go on', withReader(async ({ reader, append }) => {
      assert.deepEqual(await reader.read(0, 10), { readings: [], next: 0, skipped: 0 });
      for (let i = 1; i <= 30; i += 1) await append([reading(`d${i % 3}`, i)]);
      assert.equal(reader.nextPosition(), 30);
      assert.equal(reader.firstPosition(), 0);
      const page = await reader.read(7, 5);
      assert.deepEqual(page.readings.map((r) => r.position), [7, 8, 9, 10, 11]);
      assert.deepEqual(page.readings.map((r) => r.seq), [8, 9, 10, 11, 12]);
      assert.equal(page.next, 12);
      assert.equal(page.skipped, 0);
      assert.deepEqual((await readAll(reader, 0, 4)).map((r) => r.position), Array.from({ length: 30 }, (_, k) => k));
      assert.deepEqual(await reader.read(30, 10), { readings: [], next: 30, skipped: 0 });
    }));

    it('waitFor resolves on the commit of the awaited position and on abort', withReader(async ({ reader, append }) => {
      await append([reading('a', 1)]);
      await reader.waitFor(0);
      let woke = false;
      const waiting = reader.waitFor(1).then(() => {
        woke = true;
      });
      await new Promise((r) => setImmediate(r));
      assert.equal(woke, false);
      await append([reading('a', 2)]);
      await waiting;
      const controller = new AbortController();
      const aborted = reader.waitFor(50, controller.signal);
      controller.abort();
      await aborted;
    }));

    it('keeps named cursors: 0 for a new one, the last saved, forgotten once deleted', withReader(async ({ reader }) => {
      assert.equal(await reader.cursor('sink:mqtt'), 0);
      await Promise.all([reader.saveCursor('sink:mqtt', 5), reader.saveCursor('sink:influx', 2)]);
      await reader.saveCursor('sink:mqtt', 7);
      assert.equal(await reader.cursor('sink:mqtt'), 7);
      assert.equal(await reader.cursor('sink:influx'), 2);
      await reader.deleteCursor('sink:influx');
      assert.equal(await reader.cursor('sink:influx'), 0);
      assert.equal(await reader.cursor('__proto__'), 0, 'a name is data, not a property');
      await reader.saveCursor('__proto__', 3);
      assert.equal(await reader.cursor('__proto__'), 3);
    }));

    historyReaderContract(withReader);
  });
}
