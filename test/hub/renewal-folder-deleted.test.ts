/**
 * The PKI folder deleted while the hub commits a renewal (the device's first
 * handshake with its renewed certificate): the commit fails with a logged
 * error, `close()` still resolves, and what the hub acked stays stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
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
