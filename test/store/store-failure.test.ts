/**
 * A store whose disk fills up (ENOSPC on a real, small tmpfs): what failed is
 * never acked, health says so, and the store takes writes again by itself
 * once there is room, with nothing lost or invented.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { createMemoryLogger } from '../../src/log.js';
import { openStore } from '../../src/store/log-store.js';
import { fillDisk, mountTmpfs } from '../helpers/tmpfs.js';
import { readAll, reading, SMALL_CONFIG } from './store-fixtures.js';
import { waitUntil } from '../helpers/wait.js';

/** A reading too large to fit in a page the segment already has. */
const big = (device: string, seq: number) => reading(device, seq, { pad: 'p'.repeat(16 * 1024) });

describe('store on a full disk', () => {
  it('refuses what it cannot write, reports it, and recovers by itself once there is room', async (t) => {
    const fs = await mountTmpfs(2 * 1024 * 1024);
    if (typeof fs === 'string') return t.skip(fs);
    const log = createMemoryLogger();
    const dir = `${fs.dir}/data`;
    let store = await openStore(dir, SMALL_CONFIG, { log, recoveryCheckMs: 20 }).catch(async (err: unknown) => {
      await fs.remove();
      throw err;
    });
    t.after(async () => {
      await store.close();
      await fs.remove();
    });
    assert.deepEqual(store.health(), { ok: true, since: store.health().since });
    assert.deepEqual(await store.append([big('a', 1)]), ['stored']);

    const filler = fillDisk(fs.dir);
    await assert.rejects(store.append([big('a', 2), big('b', 1)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO') && /ENOSPC/.test(err.message));
    const down = store.health();
    assert.equal(down.ok, false);
    assert.match(down.error ?? '', /ENOSPC/);
    assert.equal(log.lines.filter((l) => l.includes('store.failed')).length, 1, 'one line when it goes down');
    await assert.rejects(store.append([big('a', 2)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'), 'still full: a new append tries the disk and fails');
    assert.equal(store.nextPosition(), 1, 'nothing that failed is visible');
    assert.equal(store.lastSeq('b'), null);
    assert.equal(log.lines.filter((l) => l.includes('store.failed')).length, 1, 'no second line while it stays down');

    await filler.free();
    await waitUntil(() => store.health().ok, 'the store recovered', 20_000);
    assert.ok(log.lines.some((l) => l.includes('store.recovered')));
    assert.deepEqual(await store.append([big('a', 2), big('b', 1)]), ['stored', 'stored'], 'the readings refused before are stored when resent');
    await store.close();

    store = await openStore(dir, SMALL_CONFIG);
    assert.deepEqual((await readAll(store)).map((r) => [r.position, r.device, r.seq]), [[0, 'a', 1], [1, 'a', 2], [2, 'b', 1]]);
  });

  it('a new append retries the disk without waiting for the recovery check', async (t) => {
    const fs = await mountTmpfs(2 * 1024 * 1024);
    if (typeof fs === 'string') return t.skip(fs);
    const store = await openStore(`${fs.dir}/data`, SMALL_CONFIG, { recoveryCheckMs: 3_600_000 }).catch(async (err: unknown) => {
      await fs.remove();
      throw err;
    });
    t.after(async () => {
      await store.close();
      await fs.remove();
    });
    await store.append([big('a', 1)]);
    const filler = fillDisk(fs.dir);
    await assert.rejects(store.append([big('a', 2)]), (err) => isFleethubError(err, 'FH_ERR_STORE_IO'));
    await filler.free();
    assert.deepEqual(await store.append([big('a', 2)]), ['stored']);
    assert.equal(store.health().ok, true);
    assert.deepEqual((await readAll(store)).map((r) => r.seq), [1, 2]);
  });
});
