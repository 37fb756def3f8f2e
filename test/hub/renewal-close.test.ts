/**
 * Closing a hub while renewal commits (a device's first handshake with its
 * renewed certificate) are under way: with the PKI folder deleted, or with
 * the PKI lock held by a command, the commits fail with a logged error (and
 * are tried again at the device's next handshake), `close()` resolves, and
 * what the hub acked stays stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryLogger } from '../../src/log.js';
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { startHub } from '../helpers/hub.js';
import { storedSeqs } from '../firmware/stored-seqs.js';
import { certReply, connectV2, csrFor, currentSerial, deviceKeys, dueDevice, makeSigningPki } from './renewal-fixture.js';

test('the PKI folder deleted mid-commit: the commit fails with a logged error, close() resolves, acked readings are kept', async () => {
  const pki = await makeSigningPki();
  const log = createMemoryLogger();
  const hub = await startHub({ log }, pki);
  try {
    const old = await dueDevice(pki, 'rn-gone');
    const first = await connectV2(hub.deviceUrl, pki, old);
    const keys = deviceKeys();
    first.send({ csr: csrFor('rn-gone', keys) });
    const body = (await certReply(first)).cert as { pem: string; serial: string };
    first.sendSeqs([1]);
    await first.waitForAck(1);
    await first.close();

    // A command holds the PKI lock (a live process: this one), so the commit at the next handshake is under way and waiting.
    await writeFile(join(pki.dir, '.lock'), String(process.pid));
    const renewed = { cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const second = await connectV2(hub.deviceUrl, pki, renewed);
    second.sendSeqs([2]);
    await second.waitForAck(2);
    assert.notEqual(await currentSerial(pki, 'rn-gone'), body.serial, 'not committed while the lock is held');

    // The folder goes, its lock with it: the waiting commit finds no folder.
    await rm(pki.dir, { recursive: true, force: true });
    await hub.hub.close();
    await second.close();
    assert.ok(log.lines.some((l) => l.includes('renewal.commit_failed') && l.includes('rn-gone')), log.lines.join('\n'));

    const store = await openStore(hub.dataDir, DEFAULT_STORE_CONFIG);
    try {
      assert.deepEqual([...(await storedSeqs(store, 'rn-gone')).entries()].sort(), [[1, 1], [2, 1]]);
    } finally {
      await store.close();
    }
  } finally {
    await hub.stop();
  }
});

test('commits waiting for the PKI lock a command holds give up when the hub closes: close() does not wait the lock out once per commit', async () => {
  const pki = await makeSigningPki();
  const log = createMemoryLogger();
  const hub = await startHub({ log }, pki);
  const open: Array<{ close(): Promise<void> }> = [];
  try {
    // Seven commits in a row, each waiting up to LOCK_WAIT_MS (30 s) for the lock: longer than the test runner waits.
    const ids = Array.from({ length: 7 }, (_, i) => `rn-lock-${i}`);
    const renewed = [];
    for (const id of ids) {
      const old = await dueDevice(pki, id);
      const client = await connectV2(hub.deviceUrl, pki, old);
      const keys = deviceKeys();
      client.send({ csr: csrFor(id, keys) });
      const body = (await certReply(client)).cert as { pem: string; serial: string };
      await client.close();
      renewed.push({ id, serial: body.serial, cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    }
    const lock = join(pki.dir, '.lock');
    await writeFile(lock, String(process.pid));
    for (const creds of renewed) open.push(await connectV2(hub.deviceUrl, pki, creds));

    await hub.hub.close();
    for (const { id, serial } of renewed) assert.notEqual(await currentSerial(pki, id), serial, `${id}: still pending, committed at its next handshake`);
    assert.ok(log.lines.some((l) => l.includes('renewal.commit_failed')), log.lines.join('\n'));
    assert.equal(await readFile(lock, 'utf8'), String(process.pid), 'the command\'s lock is left alone');
  } finally {
    await Promise.all(open.map((c) => c.close()));
    await hub.stop();
  }
});
