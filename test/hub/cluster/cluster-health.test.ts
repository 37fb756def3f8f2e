/**
 * The cluster health monitor against a real three-node nats-server cluster
 * losing two of its servers (no quorum left) and getting them back. Its own
 * cluster: the test kills servers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFleethubError } from '../../../src/errors.js';
import { ClusterHealth, type ClusterHealthState } from '../../../src/hub/cluster/cluster-health.js';
import { waitUntil } from '../../helpers/wait.js';
import { startClusterFixture, type ClusterFixture } from './cluster-fixtures.js';

describe('cluster health (3 nats-servers, replicas 3)', () => {
  let fixture: ClusterFixture;
  const started: ClusterHealth[] = [];

  before(async () => {
    fixture = await startClusterFixture();
  });
  after(async () => {
    for (const health of started) await health.close();
    await fixture?.stop();
  });

  it('reports down after the grace once two of three servers are gone, and up when they are back', async () => {
    const changes: ClusterHealthState[] = [];
    const nc = await fixture.connect('hub-a');
    const health = await ClusterHealth.start({
      connection: nc, node: 'hub-a', replicas: 3, prefix: fixture.newPrefix(), onChange: (state) => changes.push(state),
    });
    started.push(health);
    assert.equal(health.state, 'up');
    assert.equal(health.lastError, null);

    await fixture.cluster.kill(1);
    await fixture.cluster.kill(2);
    // SPEC: 503 within 5 s; the deadline leaves room for a loaded machine.
    await waitUntil(() => health.state === 'down', 'the health is down', 5_000 + 1_000 + 2_000 + 10_000);
    assert.deepEqual(changes, ['down']);
    assert.ok(health.lastError !== null);

    await fixture.cluster.restart(1);
    await fixture.cluster.restart(2);
    await waitUntil(() => health.state === 'up', 'the health is up again', 60_000);
    assert.deepEqual(changes, ['down', 'up']);
    assert.equal(health.lastError, null);
  });

  it('refuses a bad timing option with FH_ERR_CONFIG', async () => {
    const nc = await fixture.connect('hub-b');
    await assert.rejects(ClusterHealth.start({ connection: nc, node: 'hub-b', replicas: 3, graceMs: 0 }), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG'));
  });
});
