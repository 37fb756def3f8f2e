/**
 * The console's own gates, crossed on real sockets: sockets per IP and in
 * all (before any TLS work), the TLS handshake and idle timeouts, and the
 * per-IP throttle of refused dashboard auths with its summary log line.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { connectDevice } from '../helpers/device-client.js';
import { metricValue, startHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { closeCode, httpsGet, startConsole, type ConsoleFixture, type TestClient } from './console-fixture.js';

function metric(c: ConsoleFixture, line: string): number {
  const found = c.metrics.render().split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** A raw TCP connection to `port` from `localAddress`. */
async function rawSocket(port: number, localAddress: string): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves true once `socket` is closed, false if it is still open after `timeoutMs` (a generous wait, not a timing assertion). */
async function closedWithin(socket: Socket, timeoutMs: number): Promise<boolean> {
  if (socket.closed) return true;
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  return result;
}

describe('console gates: sockets before TLS', () => {
  it('maxSocketsPerIp: unauthenticated sockets from one IP cannot take the slots a real dashboard needs', async () => {
    // The reproduction: a flood of unauthenticated WebSockets from one IP used to make the next dashboard get 503.
    const c = await startConsole({ maxSocketsPerIp: 3, maxConnections: 4 });
    const flood: TestClient[] = [];
    try {
      let refused = 0;
      for (let i = 0; i < 8; i++) {
        try {
          flood.push(await c.connect({ localAddress: '127.0.0.2' }));
        } catch {
          refused += 1;
        }
      }
      assert.equal(flood.length, 3, 'one IP holds at most maxSocketsPerIp sockets');
      assert.equal(refused, 5);
      assert.equal(metric(c, 'fleethub_dashboard_refused_total{reason="max_sockets_per_ip"}'), 5);
      assert.equal(metric(c, 'fleethub_dashboard_refused_total{reason="capacity"}'), 0);
      // A real dashboard from elsewhere gets in, authenticates and streams.
      const real = await c.connect({ localAddress: '127.0.0.3' });
      real.send({ auth: c.token('*') });
      assert.ok('authed' in (await real.next()));
      real.send({ subscribe: 'd*' });
      await real.next((m) => 'subscribed' in m);
      c.feed.reading('d1', { t: 1 });
      assert.deepEqual((await real.next((m) => m.device === 'd1')).data, { t: 1 });
    } finally {
      await c.stop();
    }
  });

  it('newSocketsPerIpPerSec: a burst of new sockets from one IP is cut off before TLS', async () => {
    const c = await startConsole({ newSocketsPerIpPerSec: 2 });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) sockets.push(await rawSocket(c.port, '127.0.0.9'));
      await waitUntil(() => metric(c, 'fleethub_dashboard_refused_total{reason="new_sockets_per_ip"}') >= 1, 'a refusal for new_sockets_per_ip is counted');
    } finally {
      for (const s of sockets) s.destroy();
      await c.stop();
    }
  });

  it('maxSockets: the console\'s descriptor budget is capped in all, and devices still connect', async () => {
    const hub = await startHub({ console: { maxSockets: 2 } });
    const held: Socket[] = [];
    try {
      held.push(await rawSocket(hub.consolePort, '127.0.0.4'), await rawSocket(hub.consolePort, '127.0.0.5'));
      await waitUntil(() => metricValue(hub.hub, 'fleethub_console_sockets') === 2, 'both idle sockets are admitted');
      const third = await rawSocket(hub.consolePort, '127.0.0.6');
      held.push(third);
      assert.ok(await closedWithin(third, 5_000), 'the socket over maxSockets is closed');
      assert.equal(metricValue(hub.hub, 'fleethub_dashboard_refused_total{reason="max_sockets"}'), 1);
      assert.equal(metricValue(hub.hub, 'fleethub_console_sockets'), 2);
      // The device listener has its own budget: a device connects and stores while the console is full.
      const creds = await hub.pki.addDevice('gate-dev');
      const device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
      device.sendSeqs([1]);
      await device.waitForAck(1);
      await device.close();
      // A slot freed is a slot usable again.
      held[0]?.destroy();
      await waitUntil(() => metricValue(hub.hub, 'fleethub_console_sockets') === 1, 'the console saw the close');
      const health = await httpsGet(`${hub.consoleUrl}/healthz`, hub.pki.ca);
      assert.equal(health.status, 200);
    } finally {
      for (const s of held) s.destroy();
      await hub.stop();
    }
  });
});

describe('console gates: timeouts', () => {
  it('handshakeTimeoutMs: a socket that never starts TLS is closed and counted', async () => {
    const c = await startConsole({ handshakeTimeoutMs: 300 });
    const socket = await rawSocket(c.port, '127.0.0.1');
    try {
      assert.ok(await closedWithin(socket, 5_000), 'the hub still holds the socket 5 s later');
      assert.equal(metric(c, 'fleethub_dashboard_refused_total{reason="tls"}'), 1);
      await waitUntil(() => metric(c, 'fleethub_console_sockets') === 0, 'the console holds no socket');
    } finally {
      socket.destroy();
      await c.stop();
    }
  });

  it('idleTimeoutMs: a socket past TLS that sends no request, or only part of one, is closed', async () => {
    const c = await startConsole({ idleTimeoutMs: 300 });
    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: c.port, ca: c.ca }, () => resolve(socket));
        socket.once('error', reject);
      });
    const silent = await open();
    const partial = await open();
    try {
      partial.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'); // the head never ends (slowloris)
      assert.ok(await closedWithin(silent, 5_000), 'a silent socket is still open 5 s later');
      assert.ok(await closedWithin(partial, 5_000), 'a socket with half a request head is still open 5 s later');
      assert.equal(metric(c, 'fleethub_dashboard_refused_total{reason="idle"}'), 2);
      // A dashboard that sends its upgrade in time is not affected, however long it stays.
      const client = await c.authed('*');
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(client.ws.readyState, client.ws.OPEN);
      client.ws.close();
    } finally {
      silent.destroy();
      partial.destroy();
      await c.stop();
    }
  });
});

describe('console gates: refused auths', () => {
  it('authFailuresPerIp: past N refusals an IP\'s auth is refused at once (4401), others are not; one summary line, not one per refusal', async () => {
    // The summary interval is long: the one line comes when the console closes (each close logs what is pending).
    const c = await startConsole({ authFailuresPerIp: 3, authFailureLogIntervalMs: 3_600_000 });
    try {
      for (let i = 0; i < 3; i++) {
        const bad = await c.connect({ localAddress: '127.0.0.7' });
        bad.send({ auth: 'not-a-token' });
        assert.equal(await closeCode(bad), 4401);
      }
      // Now even a good token from that IP is refused without being read.
      const throttled = await c.connect({ localAddress: '127.0.0.7' });
      throttled.send({ auth: c.token('*') });
      assert.equal(await closeCode(throttled), 4401);
      assert.deepEqual(throttled.pending, [], 'nothing about devices');
      assert.equal(metric(c, 'fleethub_dashboard_closed_total{reason="token_invalid"}'), 3);
      assert.equal(metric(c, 'fleethub_dashboard_closed_total{reason="auth_throttled"}'), 1);
      // Another IP is not affected.
      const other = await c.connect({ localAddress: '127.0.0.8' });
      other.send({ auth: c.token('*') });
      assert.ok('authed' in (await other.next()));
      other.ws.close();
      assert.equal(c.log.lines.filter((l) => l.includes('dashboard.close') && l.includes('127.0.0.7')).length, 0, 'no line per refused auth');
      await c.closeListener();
      const summary = c.log.lines.filter((l) => l.includes('dashboard.auth_refused'));
      assert.equal(summary.length, 1, summary.join('\n'));
      assert.match(summary[0] as string, /refused=3 throttled=1 ips=1 .*127\.0\.0\.7 ×4/);
    } finally {
      await c.stop();
    }
  });

  it('authFailureWindowMs: a throttled IP may try again once its window has passed; authFailureLogIntervalMs: the summary comes by itself', async () => {
    const c = await startConsole({ authFailuresPerIp: 1, authFailureWindowMs: 300, authFailureLogIntervalMs: 100 });
    try {
      const bad = await c.connect({ localAddress: '127.0.0.10' });
      bad.send({ auth: 'not-a-token' });
      assert.equal(await closeCode(bad), 4401);
      await waitUntil(async () => {
        const client = await c.connect({ localAddress: '127.0.0.10' });
        client.send({ auth: c.token('*') });
        const first = await Promise.race([client.next(), client.closed.then(({ code }) => ({ closed: code }))]);
        client.ws.terminate();
        assert.ok('authed' in first, JSON.stringify(first));
        return true;
      }, 'a dashboard from another address is authed', 10_000);
      // The periodic summary names the refusals without waiting for a close.
      await waitUntil(() => c.log.lines.some((l) => /dashboard\.auth_refused refused=1 /.test(l)), 'the log summary names the auth refusal');
    } finally {
      await c.stop();
    }
  });
});
