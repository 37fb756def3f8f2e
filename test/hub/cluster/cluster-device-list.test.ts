/**
 * The cluster's view of the devices (`device list --config`), pure: a
 * certificate a hub renewed replaces the inventory's, a device only the
 * cluster provisioned is listed, and a revocation a hub recorded on a
 * current certificate shows it revoked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterDeviceView } from '../../../src/hub/cluster/cluster-device-list.js';
import { emptyInventory, type StoredDevice } from '../../../src/pki/inventory.js';

const NOW = new Date('2030-01-01T00:00:00Z');

function device(id: string, serial: string, notAfter: string): StoredDevice {
  return { id, serial, keyType: 'ec', notBefore: '2029-01-01T00:00:00.000Z', notAfter, plan: null, revokedAt: null, reason: null, hasKey: false, issuer: 'issuing' };
}

test('the cluster\'s view: renewed, provisioned by a hub, revoked by a hub', () => {
  const inventory = { ...emptyInventory(), devices: [device('d-1', 'A1', '2030-01-10T00:00:00.000Z'), device('d-2', 'B1', '2030-01-10T00:00:00.000Z')] };
  const renewals = new Map([
    ['d-1', { base: 'A1', current: device('d-1', 'A2', '2031-01-01T00:00:00.000Z'), pending: null }],
    ['p-1', { base: null, current: device('p-1', 'C1', '2031-02-01T00:00:00.000Z'), pending: null }],
  ]);
  const provisioned = new Map([['p-1', { id: 'p-1', batch: 'line', serial: 'C1', keySha256: 'x', at: '2029-12-01T00:00:00.000Z', pem: '', notAfter: '2031-02-01T00:00:00.000Z' }]]);
  const revocations = [{ serial: 'B1', role: 'issuing' as const, device: 'd-2', revokedAt: '2029-12-31T00:00:00.000Z', reason: 'keyCompromise' as const }];
  const view = clusterDeviceView({ inventory, renewals, provisioned, revocations }, NOW);
  assert.deepEqual(view.map((d) => [d.id, d.serial, d.notAfter.slice(0, 10), d.status]), [
    ['d-1', 'A2', '2031-01-01', 'active'],
    ['d-2', 'B1', '2030-01-10', 'revoked'],
    ['p-1', 'C1', '2031-02-01', 'active'],
  ]);
});
