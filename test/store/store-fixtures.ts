/**
 * Helpers for the store tests: a temp folder per test, readings to append,
 * tiny store configs so that rolling and retention happen with a few KiB.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreConfig } from '../../src/hub/config.js';
import type { Reading, StoreReader, StoredReading } from '../../src/hub/store/types.js';

/** No retention, 1 MiB segments. */
export const SMALL_CONFIG: StoreConfig = Object.freeze({ segmentBytes: 1024 * 1024, retentionBytes: 0, retentionHours: 0 });

/** A temp folder; `dir` is the store folder inside it (not created yet). Call `remove()` when done. */
export async function tempStoreDir(): Promise<{ root: string; dir: string; remove: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'fleethub-store-'));
  return { root, dir: join(root, 'data'), remove: () => rm(root, { recursive: true, force: true }) };
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
