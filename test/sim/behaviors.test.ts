/**
 * Each `--behavior` against a real hub (in-process, real TLS and sockets on
 * 127.0.0.1): the normal fleet loses nothing, and each misbehaviour meets
 * the hub's defence (SPEC: close codes, nacks, handshake refusal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDevice } from '../helpers/device-client.js';
import { startHub, type HubOverrides, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { createMemoryLogger } from '../../src/log.js';
import { runSim, type SimRunResult } from '../../firmware-sim/sim-run.js';
import { runFleet } from '../../firmware-sim/fleet.js';
import { fleetIds, makeBadCredentials, provisionFleet } from '../../firmware-sim/device-credentials.js';
import { resolveSimOptions, type SimOptionsInput } from '../../firmware-sim/sim-options.js';
import type { SimReport } from '../../firmware-sim/report.js';

/** Quick reconnects so short runs see several cycles. */
const FAST_BACKOFF = { initialMs: 100, maxMs: 1_000 };
const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;

async function withHub<T>(overrides: HubOverrides, fn: (hub: TestHub) => Promise<T>): Promise<T> {
  const hub = await startHub(overrides);
  try {
    return await fn(hub);
  } finally {
    await hub.stop();
  }
}

function sim(hub: TestHub, input: SimOptionsInput): Promise<SimRunResult> {
  return runSim(
    { url: hub.deviceUrl, pkiDir: hub.pki.dir, provision: true, progress: false, duration: '3s', drainTimeout: '10s', connectRate: 100, ...input },
    { out: QUIET, err: QUIET, backoff: FAST_BACKOFF },
  );
}

/** SPEC: every distinct message ends acked, refused, or lost; sent = acked + requeued + rejected + lost. */
function assertConsistent(report: SimReport): void {
  const m = report.messages;
  assert.equal(m.sent, m.acked + m.requeued + m.rejected + m.lost, JSON.stringify(m));
}

test('normal: 50 devices, zero lost, figures consistent, JSON and HTML reports written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-sim-'));
  try {
    await withHub({}, async (hub) => {
      const { report, failure } = await sim(hub, {
        devices: 50, rate: 2, prefix: 'n', reportFile: join(dir, 'r.json'), reportHtmlFile: join(dir, 'r.html'), payloadBytes: 200,
      });
      assert.equal(failure, null, JSON.stringify({ closes: report.closes, handshake: report.handshakeMs }));
      assert.equal(report.devices.connected, 50);
      assert.equal(report.devices.neverConnected, 0);
      assert.ok(report.messages.sent >= 50, `${report.messages.sent} sent`);
      assert.equal(report.messages.lost, 0);
      assert.equal(report.messages.unsent, 0);
      assert.equal(report.messages.dropped, 0);
      assert.equal(report.messages.acked, report.messages.sent);
      assert.deepEqual(report.messages.nacked, {});
      assertConsistent(report);
      assert.ok(report.ackLatencyMs.count === report.messages.acked && report.ackLatencyMs.p99 >= report.ackLatencyMs.p50);
      assert.ok(report.handshakeMs.count >= 50);
      const json = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as SimReport;
      assert.equal(json.messages.acked, report.messages.acked);
      const html = await readFile(join(dir, 'r.html'), 'utf8');
      assert.match(html, /<svg /);
      assert.match(html, /PASS: zero lost/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('normal over TLS 1.3, then a second run of the same devices resumes from hello.lastSeq', async () => {
  await withHub({}, async (hub) => {
    const lastSeq = async (): Promise<number> => {
      const cert = await readFile(join(hub.pki.dir, 'devices', 'r0001.crt'), 'utf8');
      const key = await readFile(join(hub.pki.dir, 'devices', 'r0001.key'), 'utf8');
      const client = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert, key });
      try {
        return (await client.hello()).lastSeq ?? 0;
      } finally {
        await client.close();
      }
    };
    const first = await sim(hub, { devices: 1, rate: 10, prefix: 'r', tls: '1.3', duration: '1500ms' });
    assert.equal(first.failure, null);
    const afterFirst = await lastSeq();
    assert.equal(afterFirst, first.report.messages.acked);
    const second = await sim(hub, { devices: 1, rate: 10, prefix: 'r', duration: '1500ms' });
    assert.equal(second.failure, null);
    // Restarting at seq 1 would only have produced repeats (acked, not stored): lastSeq would not move.
    assert.equal(await lastSeq(), afterFirst + second.report.messages.acked);
  });
});

test('flood: rate_limited nacks, then 4029; a normal fleet beside it is unaffected', async () => {
  await withHub({ limits: { msgsPerSec: 20, burst: 20 } }, async (hub) => {
    await provisionFleet(hub.pki.dir, 'flood', 3);
    await provisionFleet(hub.pki.dir, 'calm', 5);
    const [flood, calm] = await Promise.all([
      sim(hub, { devices: 3, prefix: 'flood', behavior: 'flood', provision: false, drainTimeout: '1s' }),
      sim(hub, { devices: 5, prefix: 'calm', rate: 5, provision: false }),
    ]);
    assert.ok((flood.report.messages.nacked.rate_limited ?? 0) > 0, JSON.stringify(flood.report.messages.nacked));
    assert.ok((flood.report.closes['4029'] ?? 0) >= 3, JSON.stringify(flood.report.closes));
    assert.equal(calm.failure, null);
    assert.deepEqual(calm.report.closes, {});
    assert.deepEqual(calm.report.messages.nacked, {});
    assert.equal(calm.report.messages.lost, 0);
  });
});

test('oversize: the hub closes with 1009', async () => {
  await withHub({ limits: { maxPayloadBytes: 1024 } }, async (hub) => {
    const { report } = await sim(hub, { devices: 2, rate: 10, prefix: 'big', behavior: 'oversize', drainTimeout: '500ms' });
    assert.ok((report.closes['1009'] ?? 0) >= 2, JSON.stringify(report.closes));
    assert.ok(report.messages.junk >= 2);
  });
});

test('garbage: invalid_json and invalid_message nacks, then 1008', async () => {
  await withHub({ device: { maxInvalidInRow: 5 } }, async (hub) => {
    const { report } = await sim(hub, { devices: 2, rate: 8, prefix: 'junk', behavior: 'garbage', drainTimeout: '500ms' });
    assert.ok((report.messages.nacked.invalid_json ?? 0) > 0, JSON.stringify(report.messages.nacked));
    assert.ok((report.messages.nacked.invalid_message ?? 0) > 0, JSON.stringify(report.messages.nacked));
    assert.ok((report.closes['1008'] ?? 0) >= 2, JSON.stringify(report.closes));
  });
});

test('slowloris: the hub drops the unfinished upgrade at its handshake timeout', async () => {
  await withHub({ device: { handshakeTimeoutMs: 500 } }, async (hub) => {
    const { report } = await sim(hub, { devices: 3, prefix: 'slow', behavior: 'slowloris', duration: '2s', drainTimeout: '0' });
    assert.ok((report.closes.handshake_timeout ?? 0) >= 3, JSON.stringify(report.closes));
    assert.equal(report.devices.connected, 0);
  });
});

test('badcert: other-CA, expired and revoked certificates are refused in the TLS handshake', async () => {
  const hub = await startHub({});
  try {
    const options = resolveSimOptions({
      url: hub.deviceUrl, pkiDir: hub.pki.dir, devices: 6, prefix: 'bad', behavior: 'badcert', duration: '2s', drainTimeout: '0', progress: false,
    });
    const bad = await makeBadCredentials(hub.pki.dir, fleetIds('bad', 6), true);
    assert.deepEqual(bad.kinds, ['other-ca', 'expired', 'revoked', 'other-ca', 'expired', 'revoked']);
    // The revocation above rewrote crl.pem: have the hub read it now rather than wait for its poll.
    await hub.hub.checkRevocation();
    const report = await runFleet({ options, ca: hub.pki.ca, credentials: bad.credentials, backoff: FAST_BACKOFF });
    assert.equal(report.devices.connected, 0, JSON.stringify(report.closes));
    const refused = Object.entries(report.closes).filter(([k]) => k.startsWith('handshake_refused')).reduce((n, [, v]) => n + v, 0);
    assert.ok(refused >= 6, JSON.stringify(report.closes));
    assert.deepEqual(Object.keys(report.closes).filter((k) => !k.startsWith('handshake_refused')), []);
  } finally {
    await hub.stop();
  }
});

test('reconnect-storm: every device comes back after each storm and nothing is lost', async () => {
  await withHub({}, async (hub) => {
    const { report, failure } = await sim(hub, { devices: 20, rate: 4, prefix: 'storm', behavior: 'reconnect-storm', stormEvery: '1s', duration: '3500ms' });
    assert.equal(failure, null);
    assert.ok(report.devices.reconnects >= 20, `${report.devices.reconnects} reconnects`);
    assert.ok(report.reconnectMs.count >= 20);
    assert.equal(report.devices.connected, 20);
    assert.equal(report.messages.lost, 0);
    assertConsistent(report);
  });
});

test('normal obeys hello.limits even when --rate asks for more: no nacks, the full outbox drops the oldest, and the run fails', async () => {
  await withHub({ limits: { msgsPerSec: 2, burst: 2 } }, async (hub) => {
    const memory = createMemoryLogger();
    const { report, failure } = await runSim(
      { url: hub.deviceUrl, pkiDir: hub.pki.dir, provision: true, progress: false, devices: 2, rate: 20, outbox: 5, duration: '2s', drainTimeout: '1s', prefix: 'fast' },
      { out: QUIET, err: QUIET, backoff: FAST_BACKOFF, logger: memory },
    );
    assert.deepEqual(report.messages.nacked, {}, 'the device paced itself');
    assert.ok(report.messages.dropped > 0);
    assert.match(failure ?? '', /readings dropped by full outboxes/);
    assert.equal(memory.lines.filter((l) => l.includes('sim.rate_above_limit')).length, 1);
  });
});

test('reconnect-storm with --tls-resume: reconnects resume the TLS session and still lose nothing', async () => {
  await withHub({}, async (hub) => {
    const { report, failure } = await sim(hub, { devices: 5, rate: 4, prefix: 'resume', behavior: 'reconnect-storm', stormEvery: '1s', duration: '2500ms', tlsResume: true });
    assert.equal(failure, null);
    assert.ok(report.devices.reconnects >= 5);
    assert.ok(report.devices.resumedHandshakes >= 5, `${report.devices.resumedHandshakes} resumed`);
    assert.equal(report.messages.lost, 0);
  });
});

test('--max-pending bounds the handshakes under way while the fleet starts', async () => {
  await withHub({}, async (hub) => {
    const { report, failure } = await sim(hub, { devices: 6, rate: 2, prefix: 'gate', maxPending: 1, connectRate: 1000, duration: '1s' });
    assert.equal(failure, null);
    assert.equal(report.devices.connected, 6);
    assert.equal(report.devices.peakPendingConnects, 1);
  });
});

test('normal: a hub that goes away mid-run fails the run with the readings it never got (SPEC: never sent is a failure)', async () => {
  const hub = await startHub();
  let stopped: Promise<void> | null = null;
  try {
    const run = runSim(
      { url: hub.deviceUrl, pkiDir: hub.pki.dir, provision: true, progress: false, devices: 2, rate: 10, duration: '3s', drainTimeout: '1s', prefix: 'dies' },
      { out: QUIET, err: QUIET, backoff: FAST_BACKOFF },
    );
    // Both devices up and storing, then the hub stops for good (acking what it stored, closing with 1001).
    await waitUntil(() => hub.hub.onlineDevices().length === 2 && hub.hub.store.stats().readings >= 4, 'both devices are storing readings', 30_000);
    stopped = hub.stop();
    const { report, failure } = await run;
    // A reading written just as the hub stopped reading stays unacked in the
    // outbox and counts as lost; the rest of the run's readings were never sent.
    assert.ok(report.messages.unsent > 0, JSON.stringify(report.messages));
    assert.equal(report.devices.connectedAtEnd, 0);
    assert.match(failure ?? '', /readings never sent \(0 \/ 2 devices connected at the end\)/);
  } finally {
    await (stopped ?? hub.stop());
  }
});
