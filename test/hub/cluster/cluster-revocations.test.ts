/**
 * The pure parts of cluster revocation and cluster records: the CRL a hub
 * or the CLI publishes is the union of every source, numbered above every
 * number seen (the CRL watcher refuses an older one); the inventory a
 * cluster hub decides from keeps what only its PKI folder lists, and a batch
 * revoked in either copy stays revoked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeInventories } from '../../../src/hub/cluster/cluster-pki-records.js';
import { mergedCrl, type ClusterRevocation } from '../../../src/hub/cluster/cluster-revocations.js';
import { parseCrl } from '../../../src/pki/crl.js';
import { emptyInventory, type InventoryFile, type StoredBatch, type StoredDevice } from '../../../src/pki/inventory.js';
import { initIssuingCa } from '../../../src/pki/issuing-ca.js';
import { loadIssuingCa } from '../../../src/pki/loaded-ca.js';
import { makeTestPki } from '../../helpers/pki.js';

function device(id: string, serial: string, revokedAt: string | null): StoredDevice {
  return {
    id, serial, keyType: 'ec', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2036-01-01T00:00:00.000Z', plan: null,
    revokedAt, reason: revokedAt === null ? null : 'keyCompromise', hasKey: false, issuer: 'issuing',
  };
}

function batch(name: string, serial: string, revokedAt: string | null): StoredBatch {
  return { name, serial, createdAt: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', allow: ['a-1'], max: null, revokedAt };
}

test('the published CRL is the union of the inventories and the cluster\'s records, numbered above every number seen', async () => {
  const pki = await makeTestPki();
  try {
    await initIssuingCa(pki.dir);
    const ca = await loadIssuingCa(pki.dir, null);
    assert.ok(ca);
    const cli: InventoryFile = { ...emptyInventory(), devices: [device('d-1', '0A01', '2026-02-01T00:00:00.000Z'), device('d-2', '0A02', null)] };
    const hubCopy: InventoryFile = { ...emptyInventory(), history: [device('d-3', '0A03', '2026-02-02T00:00:00.000Z')] };
    const revocations: ClusterRevocation[] = [
      { serial: '0B01', role: 'issuing', device: 'd-2', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'superseded' },
      { serial: '0C01', role: 'root', device: 'd-4', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'superseded' },
    ];
    const crl = mergedCrl({ role: 'issuing', ca, inventories: [cli, null, hubCopy], revocations, numbers: [7, 12, 3], now: new Date() });
    const parsed = parseCrl(crl.pem);
    assert.equal(parsed.number, 13, 'above the highest number seen');
    assert.deepEqual([...parsed.serials].sort(), ['0A01', '0A03', '0B01'], 'every revoked serial of the issuing CA, none of the root\'s, no active one');
  } finally {
    await pki.cleanup();
  }
});

test('a cluster hub decides from the published inventory, plus what only its folder lists; a batch revoked in either copy is revoked', () => {
  const published: InventoryFile = { ...emptyInventory(), devices: [device('d-1', '0A01', null)], batches: [batch('line-1', '0F01', null), batch('line-2', '0F02', null)] };
  const local: InventoryFile = {
    ...emptyInventory(),
    devices: [device('d-1', '09FF', null), device('d-9', '0A09', null)],
    batches: [batch('line-1', '0F01', '2026-04-01T00:00:00.000Z'), batch('line-3', '0F03', null)],
  };
  const merged = mergeInventories(published, local);
  assert.equal(merged.devices.find((d) => d.id === 'd-1')?.serial, '0A01', 'the published record wins');
  assert.ok(merged.devices.some((d) => d.id === 'd-9'), 'a device only the folder lists counts');
  assert.equal(merged.batches.find((b) => b.name === 'line-1')?.revokedAt, '2026-04-01T00:00:00.000Z', 'revoked in the folder: revoked');
  assert.deepEqual(merged.batches.map((b) => b.name).sort(), ['line-1', 'line-2', 'line-3'], 'a batch added and copied, not yet published, counts');
  assert.equal(mergeInventories(null, local), local);
  assert.deepEqual(mergeInventories(null, null), emptyInventory());
});
