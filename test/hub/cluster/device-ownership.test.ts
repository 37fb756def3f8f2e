/**
 * Device ownership against a real three-node nats-server cluster: two
 * "hubs" (two ownership instances with different node names, each on its
 * own NATS connection) claiming the same devices.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { isFleethubError } from '../../../src/errors.js';
import { clusterNames, openClusterBucket } from '../../../src/hub/cluster/cluster-bucket.js';
import { DeviceOwnership, type DeviceOwnershipOptions, type Takeover } from '../../../src/hub/cluster/device-ownership.js';
import { encodeToken } from '../../../src/store/jetstream/nats-names.js';
import { waitUntil } from '../../helpers/wait.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

/** A hub's ownership and the takeovers it was told of. */
interface TestHub {
  readonly ownership: DeviceOwnership;
  readonly told: Takeover[];
  readonly nc: NatsConnection;
}

describe('device ownership (3 nats-servers, replicas 3)', () => {
  let fixture: ClusterFixture;
  const opened: DeviceOwnership[] = [];

  before(async () => {
    fixture = await startClusterFixture();
  });
  after(async () => {
    for (const ownership of opened) await ownership.close();
    await fixture?.stop();
  });

  const hub = async (node: string, prefix: string, options: Partial<DeviceOwnershipOptions> = {}): Promise<TestHub> => {
    const nc = await fixture.connect(node);
    const told: Takeover[] = [];
    const ownership = await DeviceOwnership.open({ connection: nc, node, replicas: 3, prefix, onTakeover: (t) => void told.push(t), ...options });
    opened.push(ownership);
    return { ownership, told, nc };
  };

  it('closes the older connection on the other hub before the newer claim returns, and hands the device over', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    const first = await a.ownership.claim('dev.1', 'a1');
    assert.equal(first.previous, null);
    assert.equal(first.handover, 'none');

    const second = await b.ownership.claim('dev.1', 'b1');
    assert.equal(second.previous?.node, 'hub-a');
    assert.equal(second.previous?.connId, 'a1');
    assert.equal(second.handover, 'answered');
    assert.ok(second.revision > first.revision);
    // Closed before B's claim returned: A answered once its onTakeover settled (by the request, or the watch if it was quicker).
    assert.deepEqual(a.told.map((t) => [t.device, t.connId]), [['dev.1', 'a1']]);
    assert.deepEqual(b.told, []);
    const owner = await a.ownership.owner('dev.1');
    assert.equal(owner?.node, 'hub-b');
    assert.equal(owner?.connId, 'b1');
  });

  it('closes a connection whose claim another hub overwrote even when no request came (the watch)', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    await a.ownership.claim('dev-w', 'a1');
    // Another hub's claim whose takeover request was lost: only the bucket changes.
    const kv = await openClusterBucket(await fixture.connect('hub-x'), clusterNames(prefix).ownerBucket, 3, 5_000);
    const entry = await kv.get(encodeToken('dev-w'));
    assert.ok(entry !== null);
    await kv.update(encodeToken('dev-w'), JSON.stringify({ node: 'hub-x', connId: 'x1', since: Date.now() }), entry.revision);
    await waitUntil(() => a.told.length > 0, 'the watch closed a1', 5_000);
    assert.deepEqual(a.told, [{ device: 'dev-w', connId: 'a1', via: 'watch' }]);
  });

  it('leaves exactly one owner of each of 100 devices claimed by two hubs at once, and tells every loser once', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    // Names a device chooses: none may reach an object's prototype.
    const devices = ['__proto__', 'constructor', 'toString', ...Array.from({ length: 97 }, (_, i) => `dev.${i}`)];
    await Promise.all(devices.flatMap((device, i) => [a.ownership.claim(device, `a${i}`), b.ownership.claim(device, `b${i}`)]));

    const losers = new Set<string>();
    const winners = new Set<string>();
    for (const [i, device] of devices.entries()) {
      const owner = await a.ownership.owner(device);
      assert.ok(owner !== null, `${device} has an owner`);
      assert.ok((owner.node === 'hub-a' && owner.connId === `a${i}`) || (owner.node === 'hub-b' && owner.connId === `b${i}`), `${device}: ${JSON.stringify(owner)}`);
      winners.add(owner.connId);
      losers.add(owner.node === 'hub-a' ? `b${i}` : `a${i}`);
    }
    const told = (): string[] => [...a.told, ...b.told].map((t) => t.connId);
    await waitUntil(() => told().length >= losers.size, 'every loser is told', 10_000);
    assert.equal(told().length, losers.size, 'each loser told exactly once');
    assert.deepEqual(new Set(told()), losers);
    for (const connId of told()) assert.ok(!winners.has(connId), `winner ${connId} told`);
  });

  it('does not wait for a hub that is gone (its connection closed without releasing)', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix, { takeoverTimeoutMs: 60_000 });
    await a.ownership.claim('dev-dead', 'a1');
    await a.nc.close();
    // Nobody answers hub-a's subject: NATS says so at once, long before the 60 s timeout.
    const result = await b.ownership.claim('dev-dead', 'b1');
    assert.equal(result.handover, 'unanswered');
    assert.equal((await b.ownership.owner('dev-dead'))?.connId, 'b1');
  });

  it('passes over a hub that does not answer within takeoverTimeoutMs', async () => {
    const prefix = fixture.newPrefix();
    let release = (): void => {};
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const a = await hub('hub-a', prefix, { onTakeover: () => stuck });
    const b = await hub('hub-b', prefix, { takeoverTimeoutMs: 300 });
    await a.ownership.claim('dev-slow', 'a1');
    const result = await b.ownership.claim('dev-slow', 'b1');
    release();
    assert.equal(result.handover, 'unanswered');
    assert.equal((await b.ownership.owner('dev-slow'))?.connId, 'b1');
  });

  it('closes an older connection of the device on the same hub, and releases only its own claim', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    const b = await hub('hub-b', prefix);
    await a.ownership.claim('dev-r', 'a1');
    const again = await a.ownership.claim('dev-r', 'a2');
    assert.equal(again.handover, 'none');
    // Closed before the newer claim returned (by the claim itself, or by the watch if it saw the write first).
    assert.deepEqual(a.told.map((t) => [t.device, t.connId]), [['dev-r', 'a1']]);
    // a1 is no longer the owner: its release leaves a2's claim alone.
    assert.equal(await a.ownership.release('dev-r', 'a1'), false);
    assert.equal((await a.ownership.owner('dev-r'))?.connId, 'a2');

    await b.ownership.claim('dev-r', 'b1');
    assert.equal(await a.ownership.release('dev-r', 'a2'), false);
    assert.equal((await b.ownership.owner('dev-r'))?.connId, 'b1');
    assert.equal(await b.ownership.release('dev-r', 'b1'), true);
    assert.equal(await b.ownership.owner('dev-r'), null);
    // A released device is claimed afresh: nobody to tell.
    const fresh = await a.ownership.claim('dev-r', 'a3');
    assert.equal(fresh.previous, null);
  });

  it('keeps one of two connections of a device claiming at once on the same hub, and closes the other', async () => {
    const prefix = fixture.newPrefix();
    const a = await hub('hub-a', prefix);
    await Promise.all([a.ownership.claim('dev-twin', 'a1'), a.ownership.claim('dev-twin', 'a2')]);
    const owner = await a.ownership.owner('dev-twin');
    assert.ok(owner !== null);
    await waitUntil(() => a.told.length > 0, 'the other is told', 5_000);
    assert.deepEqual(a.told.map((t) => t.connId), [owner.connId === 'a1' ? 'a2' : 'a1']);
  });

  it('refuses a bad timing option with FH_ERR_CONFIG and a second claim of one connection', async () => {
    const prefix = fixture.newPrefix();
    const nc = await fixture.connect('hub-a');
    await assert.rejects(
      DeviceOwnership.open({ connection: nc, node: 'hub-a', replicas: 3, prefix, onTakeover: () => {}, takeoverTimeoutMs: 0 }),
      (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'),
    );
    const a = await hub('hub-a', prefix);
    await a.ownership.claim('dev-twice', 'a1');
    await assert.rejects(a.ownership.claim('dev-twice', 'a1'), (err: unknown) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
  });
});
