/**
 * A hub cut off from NATS (SPEC: Cluster mode): within 5 s of no JetStream
 * quorum it answers /healthz 503 and closes its devices with 1013, and they
 * come back through HAProxy on the hub that can still store; that hub's own
 * devices never notice. The cut: hub A talks to nats-1 only, and nats-1 is
 * frozen (SIGSTOP: its sockets stay open and nothing answers, as with a
 * hung machine or a network cut), after every stream's leader was moved
 * off it, so the rest of the cluster keeps its quorum.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { CLOSE } from '../../../src/errors.js';
import { tryConnectDevice, type DeviceClient } from '../../helpers/device-client.js';
import { startHaproxy, type Haproxy } from '../../helpers/haproxy.js';
import { startHub, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/wait.js';

const WAIT_MS = 30_000;
const DEVICES = 6;
/** Stepdowns tried per stream before giving up (each picks a random new leader). */
const MAX_STEPDOWNS = 20;

function healthz(hub: TestHub): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${hub.consoleUrl}/healthz`, { ca: hub.pki.ca, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Moves the leader of every stream (readings and buckets) off the node named `name`. */
async function leadersOff(servers: readonly string[], name: string): Promise<void> {
  const nc = await natsConnect({ servers: [...servers] });
  try {
    const jsm = await jetstreamManager(nc);
    const streams: string[] = [];
    for await (const info of jsm.streams.list()) streams.push(info.config.name);
    for (const stream of streams) {
      for (let attempt = 0; ; attempt += 1) {
        const leader = (await jsm.streams.info(stream)).cluster?.leader;
        if (leader !== undefined && leader !== name) break;
        if (attempt >= MAX_STEPDOWNS) throw new Error(`${stream}: leader still ${leader ?? 'none'}`);
        if (leader === name) await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, '', { timeout: 5_000 }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await nc.close();
  }
}

describe('cluster mode: a hub cut off from NATS', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  let a: TestHub;
  let b: TestHub;
  let haproxy: Haproxy;
  const creds: DeviceCredentials[] = [];

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeTestPki();
    for (let i = 0; i < DEVICES; i += 1) creds.push(await pki.addDevice(`cut-${i}`));
    const proxied = { proxyProtocol: { trusted: ['127.0.0.1/32'] } };
    a = await startHub({ device: proxied, cluster: { node: 'hub-a', nats: { servers: [nats.urls[0]!] } } }, pki);
    b = await startHub({ device: proxied, cluster: { node: 'hub-b', nats: { servers: [nats.urls[1]!, nats.urls[2]!] } } }, pki);
    haproxy = await startHaproxy([a, b]);
  });

  after(async () => {
    nats?.freeze(0, false);
    await haproxy?.stop();
    await b?.stop();
    await a?.stop();
    await nats?.stop();
    await pki?.cleanup();
  });

  /** Connects through HAProxy until a hub says hello (a hub that cannot store closes with 1013 first). */
  const connectThroughHaproxy = async (device: DeviceCredentials): Promise<DeviceClient> => {
    let client: DeviceClient | null = null;
    await waitUntil(async () => {
      const attempt = await tryConnectDevice({ url: haproxy.deviceUrl, ca: pki.ca, cert: device.cert, key: device.key });
      if (!('ws' in attempt)) return false;
      const hello = await Promise.race([attempt.hello().then(() => true), attempt.closed.then(() => false)]);
      if (hello) client = attempt;
      return hello;
    }, `${device.id} connected through HAProxy`, WAIT_MS);
    return client!;
  };

  it('answers 503 and closes its devices with 1013; they come back on the other hub, whose devices stay', async () => {
    const clients = await Promise.all(creds.map(connectThroughHaproxy));
    await waitUntil(() => a.hub.onlineDevices().length > 0 && b.hub.onlineDevices().length > 0, 'devices on both hubs (leastconn)', WAIT_MS);
    const onA = clients.filter((c, i) => a.hub.onlineDevices().includes(creds[i]!.id));
    const onB = clients.filter((c) => !onA.includes(c));
    assert.equal(await healthz(a), 200);

    await leadersOff(nats.urls, nats.names[0]!);
    nats.freeze(0, true);
    try {
      const codes = await Promise.all(onA.map((c) => c.waitForClose(WAIT_MS)));
      assert.deepEqual(new Set(codes), new Set([CLOSE.TRY_AGAIN_LATER]));
      await waitUntil(async () => (await healthz(a)) === 503, 'hub A answers /healthz 503', WAIT_MS);
      const back = await Promise.all(creds.filter((d) => !b.hub.onlineDevices().includes(d.id)).map(connectThroughHaproxy));
      await waitUntil(() => b.hub.onlineDevices().length === DEVICES, 'every device on hub B', WAIT_MS);
      assert.ok(onB.every((c) => c.closeCode === null), "hub B's own devices were never closed");
      await Promise.all(back.map((c) => c.close()));
    } finally {
      nats.freeze(0, false);
    }
    await waitUntil(async () => (await healthz(a)) === 200, 'hub A healthy again once it reaches NATS', 60_000);
    await Promise.all(onB.map((c) => c.close()));
  });
});
