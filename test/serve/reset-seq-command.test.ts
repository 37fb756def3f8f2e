/**
 * `fleethub device reset-seq`: the way out for a device that sent seq
 * 2^53-1, run as a user runs it (a child process, a config file), with the
 * hub stopped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { runCli } from '../helpers/cli.js';

test('device reset-seq forgets a device\'s seqs so it starts again from 1; refused while a hub holds the store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-reset-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'fleethub.json'), JSON.stringify({ dataDir: 'data' }));
  const data = join(dir, 'data');
  let store = await openStore(data, DEFAULT_STORE_CONFIG);
  await store.append([{ device: 'esp-max', seq: Number.MAX_SAFE_INTEGER, ts: 1, data: { t: 1 } }, { device: 'esp-other', seq: 3, ts: 1, data: { t: 1 } }]);

  const busy = await runCli(['device', 'reset-seq', 'esp-max', '--config', 'fleethub.json'], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(busy.code, 6, busy.stderr);
  assert.match(busy.stderr, /^fleethub: store: .* is in use by process \d+/);
  await store.close();

  const unknown = await runCli(['device', 'reset-seq', 'esp-nobody', '--config', 'fleethub.json'], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(unknown.code, 3, unknown.stderr);

  const done = await runCli(['device', 'reset-seq', 'esp-max', '--config', 'fleethub.json'], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^esp-max: seqs forgotten \(lastSeq was 9007199254740991\)/);

  store = await openStore(data, DEFAULT_STORE_CONFIG);
  try {
    assert.equal(store.lastSeq('esp-max'), null);
    assert.equal(store.lastSeq('esp-other'), 3);
    assert.deepEqual(await store.append([{ device: 'esp-max', seq: 1, ts: 2, data: { t: 2 } }]), ['stored']);
    assert.equal(store.nextPosition(), 3, 'the stored readings stay');
  } finally {
    await store.close();
  }
});
