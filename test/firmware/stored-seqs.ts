/** What a store holds for one device, checked as a device user relies on: each seq once, none missing. */
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/types.js';

/** How many times each seq of `device` is stored. */
export async function storedSeqs(store: Store, device: string): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  for (let from = 0; from < store.nextPosition(); ) {
    const page = await store.read(from, 10_000);
    for (const r of page.readings) if (r.device === device) seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
    from = page.next;
  }
  return seen;
}

/** Every seq from 1 to the highest stored exactly once (nothing lost, nothing twice), up to at least `atLeast`. */
export function assertContiguousOnce(seen: Map<number, number>, atLeast: number): number {
  const highest = Math.max(0, ...seen.keys());
  assert.ok(highest >= atLeast, `stored up to seq ${highest}, expected at least ${atLeast}`);
  for (let seq = 1; seq <= highest; seq += 1) assert.equal(seen.get(seq), 1, `seq ${seq} stored exactly once`);
  assert.equal(seen.size, highest, 'no seq outside 1..highest');
  return highest;
}
