/**
 * The cluster's CRL and inventory against a real three-node nats-server
 * cluster: published on one connection (the CLI), followed on another (a
 * hub).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFleethubError } from '../../../src/errors.js';
import { ClusterPki, type ClusterPkiOptions } from '../../../src/hub/cluster/cluster-crl.js';
import { waitUntil } from '../../helpers/wait.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

/** A stand-in CRL: the source carries any text; the CRL watcher is what parses it. */
const crlText = (n: number): string => `-----BEGIN X509 CRL-----\nnumber ${n}\n-----END X509 CRL-----\n`;

/** The CRLs of a PKI folder with only a root CA. */
const rootCrl = (root: string) => ({ root, issuing: null, claim: null });

describe('cluster CRL and inventory (3 nats-servers, replicas 3)', () => {
  let fixture: ClusterFixture;
  const opened: ClusterPki[] = [];

  before(async () => {
    fixture = await startClusterFixture();
  });
  after(async () => {
    for (const pki of opened) await pki.close();
    await fixture?.stop();
  });

  const open = async (node: string, prefix: string, options: Partial<ClusterPkiOptions> = {}): Promise<ClusterPki> => {
    const pki = await ClusterPki.open({ connection: await fixture.connect(node), replicas: 3, prefix, ...options });
    opened.push(pki);
    return pki;
  };

  it('brings each CRL the CLI publishes to a hub on another connection through the watch, in order, once per change', async () => {
    const prefix = fixture.newPrefix();
    // A check period far beyond the wait: only the watch can bring the news in time.
    const hub = await open('hub-a', prefix, { checkMs: 600_000 });
    const cli = await open('cli', prefix);
    const crl = hub.source('crl');
    const inventory = hub.source('inventory');
    assert.equal(await crl.read(), null);
    const seen: (string | null)[] = [];
    const seenInventory: (string | null)[] = [];
    crl.watch((text) => seen.push(text));
    inventory.watch((text) => seenInventory.push(text));

    await cli.publish(rootCrl(crlText(1)), 'dev-1\n');
    await waitUntil(() => seen.length === 1, 'the hub sees CRL 1', 5_000);
    assert.deepEqual(seen, [crlText(1)]);
    await waitUntil(() => seenInventory.length === 1, 'the hub sees the inventory', 5_000);
    assert.deepEqual(seenInventory, ['dev-1\n']);

    // The same CRL again (only the inventory changed) is not news; the next one is.
    await cli.publish(rootCrl(crlText(1)), 'dev-1\ndev-2\n');
    await cli.publish(rootCrl(crlText(2)), 'dev-1\ndev-2\n');
    await waitUntil(() => seen.length >= 2, 'the hub sees CRL 2', 5_000);
    assert.deepEqual(seen, [crlText(1), crlText(2)]);
    assert.equal(await crl.read(), crlText(2));
    assert.equal(await inventory.read(), 'dev-1\ndev-2\n');
  });

  it('reads the current text at start, and check() brings a change at once', async () => {
    const prefix = fixture.newPrefix();
    const cli = await open('cli', prefix);
    await cli.publish(rootCrl(crlText(5)), 'inv\n');
    const hub = await open('hub-b', prefix, { checkMs: 600_000 });
    const crl = hub.source('crl');
    assert.equal(await crl.read(), crlText(5));
    const seen: (string | null)[] = [];
    crl.watch((text) => seen.push(text));
    await cli.publish(rootCrl(crlText(6)), 'inv\n');
    await crl.check();
    // check() resolved after the listener ran; the watch delivering it too changes nothing (same revision).
    assert.deepEqual(seen, [crlText(6)]);
    await crl.close();
    await crl.close();
  });

  it('publishes each CA\'s CRL under its own key, and only those the PKI folder has', async () => {
    const prefix = fixture.newPrefix();
    const cli = await open('cli', prefix);
    const published = await cli.publish({ root: crlText(3), issuing: crlText(4), claim: null }, 'inv\n');
    assert.ok(published.issuingCrl !== null && published.claimCrl === null);
    const hub = await open('hub-d', prefix);
    assert.equal(await hub.source('crl').read(), crlText(3));
    assert.equal(await hub.source('issuing-crl').read(), crlText(4));
    assert.equal(await hub.source('claim-crl').read(), null);
  });

  it('refuses a text larger than NATS carries in one message, publishing nothing', async () => {
    const prefix = fixture.newPrefix();
    const cli = await open('cli', prefix);
    const hub = await open('hub-c', prefix);
    await assert.rejects(cli.publish(rootCrl(crlText(9)), 'x'.repeat(2 * 1024 * 1024)), (err: unknown) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT'));
    assert.equal(await hub.source('crl').read(), null);
    assert.equal(await hub.source('inventory').read(), null);
    await assert.rejects(ClusterPki.open({ connection: await fixture.connect('x'), replicas: 3, prefix, checkMs: 0 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
  });
});
