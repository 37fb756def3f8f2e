/**
 * Helpers for the store tests: a temp folder per test, readings to append,
 * tiny store configs so that rolling and retention happen with a few KiB.
 */
import { afterEach, beforeEach } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreConfig } from '../../src/store/store-config.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { openStore, type EmbeddedStore, type StoreOptions } from '../../src/store/log-store.js';
import type { Reading, StoreReader, StoredReading } from '../../src/store/types.js';

/** No retention, 1 MiB segments. */
export const SMALL_CONFIG: StoreConfig = Object.freeze({ ...DEFAULT_STORE_CONFIG, segmentBytes: 1024 * 1024, retentionBytes: 0, retentionHours: 0 });

/** A temp folder and the store folder inside it. */
export interface TempStoreDir {
  readonly root: string;
  /** The store folder (not created yet). */
  readonly dir: string;
  remove(): Promise<void>;
}

/** A temp folder; `dir` is the store folder inside it (not created yet). Call `remove()` when done. */
export async function tempStoreDir(): Promise<TempStoreDir> {
  const root = await mkdtemp(join(tmpdir(), 'fleethub-store-'));
  return { root, dir: join(root, 'data'), remove: () => rm(root, { recursive: true, force: true }) };
}

/** What {@link storePerTest} gives a test. */
export interface StorePerTest {
  /** This test's temp folder. */
  readonly tmp: TempStoreDir;
  /** Opens a store in it; closed after the test. */
  open(config?: StoreConfig, options?: StoreOptions): Promise<EmbeddedStore>;
}

/**
 * A fresh temp store folder for each test of the enclosing `describe`, and
 * every store opened through it closed after the test, so no test leaves a
 * file handle or timer behind.
 */
export function storePerTest(): StorePerTest {
  let current: TempStoreDir | undefined;
  let stores: EmbeddedStore[] = [];
  beforeEach(async () => {
    current = await tempStoreDir();
    stores = [];
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
    await current?.remove();
  });
  const tmp = (): TempStoreDir => {
    if (current === undefined) throw new Error('storePerTest() is for use inside a test');
    return current;
  };
  return {
    get tmp() {
      return tmp();
    },
    async open(config = SMALL_CONFIG, options = {}) {
      const store = await openStore(tmp().dir, config, options);
      stores.push(store);
      return store;
    },
  };
}

/** A reading of `device` with `seq`. */
export function reading(device: string, seq: number, extra: Record<string, number | string | boolean> = {}): Reading {
  return { device, seq, ts: 1_700_000_000_000 + seq, data: { temp: 20 + (seq % 10), ...extra } };
}

/** Every committed reading, read page by page through the public reader API. */
export async function readAll(store: StoreReader, from = 0, page = 1000): Promise<StoredReading[]> {
  const all: StoredReading[] = [];
  let next = from;
  for (let i = 0; i < 100_000 && next < store.nextPosition(); i += 1) {
    const result = await store.read(next, page);
    all.push(...result.readings);
    next = result.next;
  }
  return all;
}
