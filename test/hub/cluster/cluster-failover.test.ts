/**
 * Cluster mode as an operator runs it (SPEC: Cluster mode): two `fleethub
 * serve` processes on the hub configs of deploy/hubs/ (ports, PKI and data
 * folders made for the test), a real three-node nats-server cluster, real
 * HAProxy on deploy/haproxy/haproxy.cfg (PROXY v2, health checks on
 * /healthz), and `fleethub sim` streaming through HAProxy. While it streams,
 * `kill -9` of a hub, then of the readings stream's leader. The simulator
 * must report zero lost, every reading it sent must be in the stream
 * exactly once, in order per device, and the MQTT sink both hubs configure
 * (run by one at a time, under its lease) must deliver every one of them to
 * a real Mosquitto.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { openJetStreamStore } from '../../../src/store/jetstream-store.js';
import { DEFAULT_STORE_CONFIG } from '../../../src/store/store-config.js';
import { runCli, spawnCli, startServe, type ServeProcess } from '../../helpers/cli.js';
import { startHaproxy, type Haproxy } from '../../helpers/haproxy.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { subscribe, type Subscriber } from '../../bridge/mqtt-subscriber.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { REPO_ROOT } from '../../helpers/paths.js';
import { waitUntil } from '../../helpers/wait.js';

const DEVICES = 20;
const ENV = { FLEETHUB_PKI: undefined, FLEETHUB_LOG_LEVEL: 'info' };

/** deploy/hubs/hub-<n>.json with the test's ports, folders and NATS servers; everything else as deployed. */
async function hubConfig(dir: string, name: 'a' | 'b', natsUrls: readonly string[], mqttUrl: string): Promise<string> {
  const deployed = JSON.parse(await readFile(join(REPO_ROOT, 'deploy', 'hubs', `hub-${name}.json`), 'utf8')) as {
    device: Record<string, unknown>; console: Record<string, unknown>; cluster: { nats: Record<string, unknown> };
  };
  const config = {
    ...deployed,
    device: { ...deployed.device, port: 0 },
    console: { ...deployed.console, port: 0 },
    pkiDir: join(dir, 'certs'),
    dataDir: join(dir, `data-${name}`),
    cluster: { ...deployed.cluster, nats: { ...deployed.cluster.nats, servers: natsUrls } },
    // Both hubs configure the sink; it runs on the one holding its lease.
    sinks: [{ type: 'mqtt', name: 'broker', url: mqttUrl, backoffInitialMs: 100, backoffMaxMs: 500, connectTimeoutMs: 2_000 }],
  };
  const path = join(dir, `hub-${name}.json`);
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** Ends a serve child for good. */
function reap(serve: ServeProcess): Promise<void> {
  if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  return serve.exited.then(() => {});
}

describe('cluster mode behind HAProxy: hubs and NATS servers die, nothing is lost', () => {
  let dir: string;
  let nats: NatsCluster;
  let haproxy: Haproxy | undefined;
  let broker: Mosquitto;
  let subscriber: Subscriber;
  const hubs: ServeProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleethub-failover-'));
    nats = await startNatsCluster();
    broker = await startMosquitto();
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
    const pki = join(dir, 'certs');
    for (const args of [['ca', 'init', '--pki', pki], ['ca', 'server-cert', '--pki', pki, '--host', 'localhost', '--ip', '127.0.0.1']]) {
      const result = await runCli(args, { env: ENV });
      assert.equal(result.code, 0, result.stderr);
    }
    // One hub first: it makes the stream and the buckets.
    for (const name of ['a', 'b'] as const) {
      const serve = startServe(['--config', await hubConfig(dir, name, nats.urls, broker.url)], { env: ENV });
      hubs.push(serve);
      await serve.ready;
    }
    const ports = await Promise.all(hubs.map((h) => h.ready));
    haproxy = await startHaproxy(ports.map((p) => ({ devicePort: p.devicePort, consolePort: p.consolePort })));
  });

  after(async () => {
    await Promise.all(hubs.map(reap));
    await haproxy?.stop();
    await subscriber?.close();
    await broker?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('kill -9 of a hub, then of the stream leader: the simulator loses nothing, the stream holds each reading once', async () => {
    const report = join(dir, 'sim.json');
    const sim = spawnCli([
      'sim', '--url', haproxy!.deviceUrl, '--pki', join(dir, 'certs'), '--devices', String(DEVICES), '--provision',
      '--rate', '2', '--duration', '30s', '--drain-timeout', '60s', '--report', report,
    ], { env: ENV });
    let simOutput = '';
    sim.stdout?.setEncoding('utf8').on('data', (s: string) => (simOutput += s));
    sim.stderr?.setEncoding('utf8').on('data', (s: string) => (simOutput += s));
    const simExit = new Promise<number | null>((resolve) => sim.once('close', (code) => resolve(code)));

    // Both hubs hold devices (leastconn), then hub A dies without a word.
    await waitUntil(() => /connected 20\/20/.test(simOutput), 'the whole fleet connected', 60_000);
    await waitUntil(() => (simOutput.match(/acked [1-9]\d{2,}/) ?? []).length > 0, 'readings acked', 60_000);
    const victim = hubs[0]!;
    victim.child.kill('SIGKILL');
    await victim.exited;

    // Then the node leading the readings stream.
    const nc = await connect({ servers: [...nats.urls] });
    let leader = -1;
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('fleethub-readings');
      leader = nats.indexOf(info.cluster?.leader ?? '');
    } finally {
      await nc.close();
    }
    assert.ok(leader >= 0, 'the stream has a leader');
    await new Promise((r) => setTimeout(r, 3_000));
    await nats.kill(leader);

    const code = await simExit;
    assert.equal(code, 0, `the simulator reports no loss:\n${simOutput.slice(-3_000)}`);
    const result = JSON.parse(await readFile(report, 'utf8')) as { messages: { sent: number; acked: number; lost: number } };
    assert.equal(result.messages.lost, 0);
    assert.equal(result.messages.acked, result.messages.sent);

    // Every reading in the stream once, seqs 1..n per device with no gap and no repeat.
    await nats.restart(leader);
    const store = await openJetStreamStore({ node: 'checker', nats: { servers: nats.urls, tls: null, creds: null }, replicas: 3 }, DEFAULT_STORE_CONFIG);
    try {
      const seqs = new Map<string, number[]>();
      for (let from = store.firstPosition(); from < store.nextPosition();) {
        const page = await store.read(from, 512);
        for (const r of page.readings) seqs.set(r.device, [...(seqs.get(r.device) ?? []), r.seq]);
        from = page.next;
      }
      assert.equal(seqs.size, DEVICES);
      let stored = 0;
      for (const [device, list] of seqs) {
        assert.deepEqual(list, list.map((_, i) => i + 1), `${device}: each seq once, in order`);
        stored += list.length;
      }
      assert.equal(stored, result.messages.sent, 'the stream holds exactly what was sent');
    } finally {
      await store.close();
    }

    // The MQTT sink ran on one hub at a time and went on from its position when its hub died: every reading arrived.
    const delivered = (): Set<string> => new Set(subscriber.messages.map((m) => {
      const { device, seq } = JSON.parse(m.payload) as { device: string; seq: number };
      return `${device}#${seq}`;
    }));
    await waitUntil(() => delivered().size === result.messages.sent, 'every reading delivered to Mosquitto', 60_000);
  });
});
