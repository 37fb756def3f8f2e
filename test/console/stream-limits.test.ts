/**
 * Every dashboard limit, crossed: subscriptions, connections per token and
 * in all, frame size, message rate, invalid messages in a row, the bounded
 * buffer of a slow dashboard ({"dropped":N}), the stalled-reader close, the
 * ping that drops a dashboard which stopped answering, and shutdown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeCode, startConsole, type ConsoleFixture, type TestClient } from './console-fixture.js';
import { waitUntil } from '../helpers/wait.js';

function metric(c: ConsoleFixture, pattern: RegExp): number {
  return Number(c.metrics.render().match(pattern)?.[1] ?? 0);
}

/** 32 fields of 250 characters: about 8 KB per reading. */
const BIG_DATA = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`f${i}`, 'x'.repeat(250)]));

/** Emits readings in chunks, letting the hub's sockets fill, until `stop()` says so or `max` is reached. */
async function flood(c: ConsoleFixture, max: number, stop: () => boolean, pauseMs = 0): Promise<number> {
  let sent = 0;
  while (sent < max && !stop()) {
    for (let i = 0; i < 50 && sent < max; i++, sent++) c.feed.reading('d1', BIG_DATA);
    await new Promise((resolve) => (pauseMs > 0 ? setTimeout(resolve, pauseMs) : setImmediate(resolve)));
  }
  return sent;
}

describe('dashboard stream: limits', () => {
  it('maxSubscriptions: one more is refused with too_many_subscriptions', async () => {
    const c = await startConsole({ maxSubscriptions: 2 });
    try {
      const client = await c.authed('*');
      client.send({ subscribe: 'a*' });
      client.send({ subscribe: 'b*' });
      client.send({ subscribe: 'a*' }); // already held: not a new one
      client.send({ subscribe: 'c*' });
      assert.deepEqual(await client.next((m) => 'error' in m), { error: 'too_many_subscriptions' });
    } finally {
      await c.stop();
    }
  });

  it('maxConnectionsPerToken: one more dashboard on the token closes with 4409', async () => {
    const c = await startConsole({ maxConnectionsPerToken: 1 });
    try {
      const token = c.token('*');
      const first = await c.connect();
      first.send({ auth: token });
      await first.next();
      const second = await c.connect();
      second.send({ auth: token });
      assert.equal((await second.closed).code, 4409);
      first.ws.close();
      await first.closed;
      await waitUntil(() => metric(c, /fleethub_dashboard_connections (\d+)/) === 0, 'no dashboard connection is left');
      const third = await c.connect(); // the slot is free again
      third.send({ auth: token });
      assert.ok('authed' in (await third.next()));
    } finally {
      await c.stop();
    }
  });

  it('maxConnections: one more upgrade is refused with 503', async () => {
    const c = await startConsole({ maxConnections: 2 });
    try {
      await c.connect();
      await c.connect();
      await assert.rejects(c.connect(), /HTTP 503/);
      assert.equal(metric(c, /fleethub_dashboard_refused_total\{reason="capacity"\} (\d+)/), 1);
    } finally {
      await c.stop();
    }
  });

  it('maxClientPayloadBytes: a bigger frame closes with 1009', async () => {
    const c = await startConsole({ maxClientPayloadBytes: 256 });
    try {
      const client = await c.authed('*');
      client.send({ subscribe: 'x'.repeat(100) + '*'.repeat(200) });
      assert.equal((await client.closed).code, 1009);
    } finally {
      await c.stop();
    }
  });

  it('maxClientMessagesPerSec: rate_limited errors, then 4029 for a dashboard that keeps flooding', async () => {
    const c = await startConsole({ maxClientMessagesPerSec: 5 });
    try {
      const client = await c.authed('*');
      for (let i = 0; i < 40; i++) client.send({ subscribe: 'd1' });
      assert.deepEqual(await client.next((m) => 'error' in m), { error: 'rate_limited' });
      assert.equal((await client.closed).code, 4029);
    } finally {
      await c.stop();
    }
  });

  it('ten invalid messages in a row close with 1008', async () => {
    const c = await startConsole();
    try {
      const client = await c.authed('a*');
      for (let i = 0; i < 10; i++) client.send(i % 2 ? '{' : { subscribe: 'b*' });
      assert.equal((await client.closed).code, 1008);
    } finally {
      await c.stop();
    }
  });

  it('a dashboard that stops reading loses messages, counted, and learns {"dropped":N}', async () => {
    const c = await startConsole({ maxBufferedBytes: 64 * 1024, maxBufferedMessages: 50 });
    let client: TestClient | undefined;
    try {
      client = await c.authed('*');
      client.send({ subscribe: 'd1' });
      await client.next((m) => m.subscribed === 'd1');
      client.ws.pause();
      const sent = await flood(c, 3_000, () => metric(c, /fleethub_dashboard_dropped_total (\d+)/) > 100);
      client.ws.resume();
      let readings = 0;
      let dropped = 0;
      let lastSeq = 0;
      while (readings + dropped < sent) {
        const m = await client.next(undefined, 10_000);
        if (typeof m.dropped === 'number') {
          dropped += m.dropped;
        } else {
          assert.ok((m.seq as number) > lastSeq, 'readings stay in order');
          lastSeq = m.seq as number;
          readings++;
        }
      }
      assert.ok(dropped > 0, 'some messages were dropped');
      assert.equal(readings + dropped, sent, 'every message was either delivered or counted as dropped');
      assert.equal(metric(c, /fleethub_dashboard_dropped_total (\d+)/), dropped);
    } finally {
      await c.stop();
    }
  });

  it('stalledCloseMs: a dashboard that reads nothing is closed', async () => {
    const c = await startConsole({ maxBufferedBytes: 16 * 1024, maxBufferedMessages: 10, stalledCloseMs: 500 });
    try {
      const client = await c.authed('*');
      client.send({ subscribe: 'd1' });
      await client.next((m) => m.subscribed === 'd1');
      client.ws.pause();
      // Keep readings coming until the socket buffers are full and the hub gives up on the reader.
      await flood(c, 8_000, () => metric(c, /fleethub_dashboard_closed_total\{reason="stalled"\} (\d+)/) > 0, 5);
      await waitUntil(() => metric(c, /fleethub_dashboard_closed_total\{reason="stalled"\} (\d+)/) === 1, 'one stalled close is counted', 10_000);
      await waitUntil(() => metric(c, /fleethub_dashboard_connections (\d+)/) === 0, 'no dashboard connection is left', 10_000);
      client.ws.resume();
      await client.closed;
    } finally {
      await c.stop();
    }
  });

  it('pingIntervalMs: a dashboard that stops answering pings is dropped, one that answers stays', async () => {
    const c = await startConsole({ pingIntervalMs: 250 });
    try {
      const answering = await c.authed('*');
      answering.send({ subscribe: 'd1' });
      await answering.next((m) => m.subscribed === 'd1');
      let answeringPings = 0;
      answering.ws.on('ping', () => answeringPings++);

      const mute = await c.connect({ autoPong: false });
      let mutePings = 0;
      mute.ws.on('ping', () => mutePings++);
      mute.send({ auth: c.token('*') });
      await mute.next((m) => 'authed' in m);
      assert.equal(await closeCode(mute), 1006, 'dropped without a close frame');
      assert.ok(mutePings >= 1, 'it was pinged before being dropped');
      assert.equal(metric(c, /fleethub_dashboard_closed_total\{reason="ping_timeout"\} (\d+)/), 1);

      // Several intervals on, the dashboard that answers is still connected and still streams.
      await waitUntil(() => answeringPings >= 5, 'the client answered 5 pings');
      assert.equal(answering.ws.readyState, answering.ws.OPEN);
      c.feed.reading('d1', { temp: 22 });
      assert.deepEqual((await answering.next((m) => m.device === 'd1')).data, { temp: 22 });
      assert.equal(metric(c, /fleethub_dashboard_closed_total\{reason="ping_timeout"\} (\d+)/), 1);
      assert.equal(metric(c, /fleethub_dashboard_connections (\d+)/), 1);
    } finally {
      await c.stop();
    }
  });

  it('closes dashboards with 1001 when the hub shuts down, and unsubscribes from the feed', async () => {
    const c = await startConsole();
    try {
      const client = await c.authed('*');
      assert.equal(c.feed.listenerCount, 1);
      await c.closeListener();
      assert.equal((await client.closed).code, 1001);
      assert.equal(c.feed.listenerCount, 0);
      await c.closeListener(); // idempotent
    } finally {
      await c.stop();
    }
  });
});
