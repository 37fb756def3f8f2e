/**
 * Rates that hold for the whole cluster (SPEC: Cluster mode; the lifecycle
 * issue's "a global rate" of renewals and "rate limits per batch"): two hubs
 * behind one load balancer issue at most `renewal.perMinute` renewed
 * certificates and `provisioning.perBatchPerMinute` provisioned ones of a
 * batch a minute between them, not twice as many; the rest are answered
 * `rate_limited` with a `retryAfterMs`. The counter itself (cluster-rate.ts):
 * its windows, and two connections taking at once from a real three-node
 * nats-server cluster count exactly the limit. Two real hubs,
 * each with its own copy of the PKI folder.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { clusterNames } from '../../../src/hub/cluster/cluster-bucket.js';
import { batchRateKey, ClusterRateCounter, RATE_WINDOW_MS, rateWindowOf } from '../../../src/hub/cluster/cluster-rate.js';
import { addBatch } from '../../../src/pki/claim-batches.js';
import { createCsr } from '../../../src/pki/csr-builder.js';
import { pkiPaths } from '../../../src/pki/index.js';
import { initIssuingCa } from '../../../src/pki/issuing-ca.js';
import { natsConnectOptions } from '../../../src/store/jetstream/jetstream-options.js';
import { startClusterHubs, type ClusterHubs } from '../../helpers/cluster-hubs.js';
import { connectDevice } from '../../helpers/device-client.js';
import type { TestHub } from '../../helpers/hub.js';
import type { DeviceCredentials, TestPki } from '../../helpers/pki.js';
import { certReply, connectV2, csrFor, deviceKeys, dueDevice, ESP32_TLS } from '../renewal-fixture.js';

/** The limit both hubs run with, for renewals and for each batch. */
const PER_MINUTE = 2;
/** Requests sent to each hub: one more than its own bucket lets through, so the hubs' buckets alone would issue 2 × PER_MINUTE. */
const PER_HUB = PER_MINUTE + 1;
/** A batch name with a dot: NATS reads dots in a key as separators, so the key must encode it. */
const BATCH = 'line.7';
/** The rate windows' clock of both hubs: held still. */
const WINDOW_CLOCK = Date.now();

interface Refusal { error: string; retryAfterMs?: number }

/** Checks every refusal is `rate_limited` with a retryAfterMs within a minute. */
function assertRateLimited(refusals: readonly Refusal[]): void {
  for (const r of refusals) {
    assert.equal(r.error, 'rate_limited', JSON.stringify(r));
    assert.ok(typeof r.retryAfterMs === 'number' && r.retryAfterMs > 0 && r.retryAfterMs <= RATE_WINDOW_MS, `retryAfterMs within the window: ${JSON.stringify(r)}`);
  }
}

describe('cluster rate windows (pure)', () => {
  it('a window is a calendar minute, and says how long until it ends', () => {
    const minute = 29_000_000;
    assert.deepEqual(rateWindowOf(minute * RATE_WINDOW_MS), { index: minute, endsInMs: RATE_WINDOW_MS });
    assert.deepEqual(rateWindowOf(minute * RATE_WINDOW_MS + 45_000), { index: minute, endsInMs: 15_000 });
    assert.deepEqual(rateWindowOf((minute + 1) * RATE_WINDOW_MS - 1), { index: minute, endsInMs: 1 });
  });

  it('batch names become one subject token, whatever the operator chose', () => {
    assert.equal(batchRateKey('line.7'), 'batch.line=2E7');
    for (const name of ['__proto__', 'constructor', 'toString', 'a-b_c', 'x*y>z']) assert.match(batchRateKey(name), /^batch\.[A-Za-z0-9_=-]+$/);
  });
});

describe('cluster mode: renewal and provisioning rates hold for the whole cluster', () => {
  let hubs: ClusterHubs;
  const devices: DeviceCredentials[] = [];
  const ids = Array.from({ length: 2 * PER_HUB }, (_, i) => `l7-${String(i).padStart(4, '0')}`);

  before(async () => {
    hubs = await startClusterHubs({
      prepare: async (pki) => {
        await initIssuingCa(pki.dir);
        for (let i = 0; i < 2 * PER_HUB; i += 1) devices.push(await dueDevice(pki, `rate-${i}`));
        await addBatch(pki.dir, BATCH, { ids });
      },
      // One rate window for the whole file (a minute boundary in the middle would rightly allow twice as many).
      overrides: { renewal: { perMinute: PER_MINUTE }, provisioning: { perBatchPerMinute: PER_MINUTE }, clusterOptions: { rateClock: () => WINDOW_CLOCK } },
    });
  });

  after(async () => {
    await hubs?.stop();
  });

  it(`renewals spread over two hubs: ${PER_MINUTE} issued in the minute in total, the rest rate_limited with retryAfterMs`, async () => {
    const { a, b, pki } = hubs;
    // Every device connected first, half on each hub, then every request at once.
    const clients = await Promise.all(devices.map((d, i) => connectV2((i % 2 === 0 ? a : b).deviceUrl, pki, d)));
    try {
      clients.forEach((client, i) => client.send({ csr: csrFor(devices[i]?.id ?? '', deviceKeys()) }));
      const replies = await Promise.all(clients.map((client) => certReply(client)));
      const issued = replies.filter((r) => 'cert' in r);
      const refused = replies.filter((r) => 'certError' in r).map((r) => r.certError as Refusal);
      assert.equal(issued.length, PER_MINUTE, `at most ${PER_MINUTE} for the whole cluster, got ${JSON.stringify(replies.map((r) => r.certError ?? 'cert'))}`);
      assert.equal(refused.length, 2 * PER_HUB - PER_MINUTE);
      assertRateLimited(refused);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it(`provisioning of one batch spread over two hubs: ${PER_MINUTE} issued in the minute in total, the rest rate_limited with retryAfterMs`, async () => {
    const { a, b, pki } = hubs;
    const results = await Promise.all(ids.map((id, i) => provision(i % 2 === 0 ? a : b, pki, BATCH, id)));
    const issued = results.filter((r) => r.reply?.provisioned !== undefined);
    const refused = results.filter((r) => r.reply?.provisionError !== undefined);
    assert.equal(issued.length, PER_MINUTE, `at most ${PER_MINUTE} for the whole cluster, got ${JSON.stringify(results)}`);
    for (const r of issued) assert.equal(r.code, 1000);
    assert.equal(refused.length, 2 * PER_HUB - PER_MINUTE);
    for (const r of refused) assert.equal(r.code, 4003);
    assertRateLimited(refused.map((r) => r.reply?.provisionError as Refusal));
  });

  it('two hubs taking from one counter at once count exactly the limit', async () => {
    const connectAs = (node: string) => connect(natsConnectOptions({ node, nats: { servers: hubs.nats.urls, tls: null, creds: null }, replicas: 3 }));
    const [ncA, ncB] = await Promise.all([connectAs('rate-a'), connectAs('rate-b')]);
    try {
      const names = clusterNames();
      // One window for the whole test: a minute boundary in the middle would rightly count twice.
      const now = Date.now();
      const counters = await Promise.all([ncA, ncB].map((connection) => ClusterRateCounter.open({
        connection, stream: names.rateStream, subjectPrefix: names.rateSubjectPrefix, replicas: 3, timeoutMs: 5_000, now: () => now,
      })));
      const limit = 3;
      const waits = await Promise.all(Array.from({ length: 10 }, (_, i) => (counters[i % 2] as ClusterRateCounter).take('test', limit)));
      assert.equal(waits.filter((w) => w === 0).length, limit, `counted: ${JSON.stringify(waits)}`);
      for (const w of waits.filter((x) => x !== 0)) assert.ok(w > 0 && w <= RATE_WINDOW_MS, `refused with the time left: ${w}`);
    } finally {
      await Promise.all([ncA.close(), ncB.close()]);
    }
  });
});

interface ProvisionReply {
  provisioned?: { device: string; serial: string };
  provisionError?: Refusal;
}

/** One provisioning exchange on `hub` with batch `batch`'s claim certificate: the reply and the close code. */
async function provision(hub: TestHub, pki: TestPki, batch: string, device: string): Promise<{ reply: ProvisionReply | null; code: number }> {
  const paths = pkiPaths(pki.dir);
  const [cert, key] = await Promise.all([readFile(paths.claimCert(batch), 'utf8'), readFile(paths.claimKey(batch), 'utf8')]);
  const keys = deviceKeys();
  const client = await connectDevice({ url: hub.deviceUrl.replace('/v1/device', '/v1/provision'), ca: pki.ca, cert, key, ...ESP32_TLS });
  client.ws.send(JSON.stringify({ provision: { device, csr: createCsr(device, keys.publicKey, keys.privateKey) } }));
  const code = await client.waitForClose();
  return { reply: (client.messages[0] as ProvisionReply | undefined) ?? null, code };
}
