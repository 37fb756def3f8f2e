/**
 * Subscriptions on `/v1/stream`: scope, the subscribe snapshot (presence and
 * latest reading), live readings (each once), presence and rejections,
 * unsubscribe, and the dashboard figures in /metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsole, type ConsoleFixture, type Json, type TestClient } from './console-fixture.js';
import { waitUntil } from '../helpers/wait.js';

/** Emits a marker reading and collects every message up to it: proves what did NOT arrive. */
async function drainUntilMarker(c: ConsoleFixture, client: TestClient, device: string): Promise<Json[]> {
  const marker = c.feed.reading(device, { marker: true });
  const seen: Json[] = [];
  for (;;) {
    const m = await client.next();
    if (m.device === device && m.seq === marker.seq) return seen;
    seen.push(m);
  }
}

describe('dashboard stream: subscriptions', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole();
    c.feed.presence('site-a-1', true);
    c.feed.reading('site-a-1', { temp: 21.5, door: 'open' });
    c.feed.reading('site-a-2', { temp: 19 });
    c.feed.reading('site-b-1', { temp: 30 });
  });
  after(() => c.stop());

  it('refuses subscriptions outside the token scope with forbidden', async () => {
    const client = await c.authed('site-a-*');
    for (const glob of ['site-b-*', '*', 'site-*', 'site-a?1']) {
      client.send({ subscribe: glob });
      assert.deepEqual(await client.next(), { error: 'forbidden' }, glob);
    }
    client.send({ subscribe: 'site-a-1' });
    assert.deepEqual(await client.next(), { subscribed: 'site-a-1' });
    client.ws.close();
  });

  it('sends subscribed, then presence and the latest reading of each matching device', async () => {
    const client = await c.authed('site-a-*');
    client.send({ subscribe: 'site-a-*' });
    assert.deepEqual(await client.next(), { subscribed: 'site-a-*' });
    const snapshot = [await client.next(), await client.next(), await client.next(), await client.next()];
    assert.deepEqual(snapshot, [
      { presence: { device: 'site-a-1', online: true } },
      { device: 'site-a-1', seq: 1, ts: (c.feed.latest('site-a-1')?.ts), data: { temp: 21.5, door: 'open' } },
      { presence: { device: 'site-a-2', online: false } },
      { device: 'site-a-2', seq: 1, ts: (c.feed.latest('site-a-2')?.ts), data: { temp: 19 } },
    ]);
    client.ws.close();
  });

  it('streams live readings, presence and rejections of matching devices only, each once', async () => {
    const client = await c.authed('*');
    client.send({ subscribe: 'site-a-*' });
    client.send({ subscribe: 'site-a-1' }); // overlaps: a reading still arrives once
    await client.next((m) => m.subscribed === 'site-a-1');
    await drainUntilMarker(c, client, 'site-a-1'); // skip both snapshots

    c.feed.reading('site-a-1', { temp: 22 });
    c.feed.reading('site-b-1', { temp: 31 });
    c.feed.presence('site-a-2', true);
    c.feed.presence('site-b-1', true);
    c.feed.rejected('site-a-2', 'rate_limited');
    const seen = await drainUntilMarker(c, client, 'site-a-2');
    assert.deepEqual(seen.map((m) => ({ ...m, ts: undefined })), [
      { device: 'site-a-1', seq: 3, ts: undefined, data: { temp: 22 } },
      { presence: { device: 'site-a-2', online: true }, ts: undefined },
      { rejected: { device: 'site-a-2', code: 'rate_limited', count: 1, codes: { rate_limited: 1 }, at: (seen[2]?.rejected as Json | undefined)?.at }, ts: undefined },
    ]);
    client.ws.close();
  });

  it('stops a device\'s stream after unsubscribe, keeps overlapping subscriptions', async () => {
    const client = await c.authed('*');
    client.send({ subscribe: 'site-a-*' });
    client.send({ subscribe: 'site-b-1' });
    await client.next((m) => m.subscribed === 'site-b-1');
    await drainUntilMarker(c, client, 'site-b-1');
    client.send({ unsubscribe: 'site-a-*' });
    assert.deepEqual(await client.next(), { unsubscribed: 'site-a-*' });
    c.feed.reading('site-a-1', { temp: 1 });
    assert.deepEqual(await drainUntilMarker(c, client, 'site-b-1'), []);
    client.ws.close();
  });

  it('answers invalid messages with an error and keeps the connection', async () => {
    const client = await c.authed('*');
    const cases: [unknown, string][] = [
      ['not json', 'invalid_json'],
      [[1, 2], 'invalid_json'],
      [{ subscribe: 'bad glob!' }, 'invalid_message'],
      [{ subscribe: 5 }, 'invalid_message'],
      [{ hello: 1 }, 'invalid_message'],
      [{ subscribe: '*', unsubscribe: '*' }, 'invalid_message'],
      [{ auth: c.token('*') }, 'invalid_message'],
    ];
    for (const [message, error] of cases) {
      client.send(message);
      assert.deepEqual(await client.next(), { error }, JSON.stringify(message));
    }
    client.send({ subscribe: 'site-b-1' });
    assert.deepEqual(await client.next(), { subscribed: 'site-b-1' });
    client.ws.close();
  });

  it('reports connections and subscriptions in /metrics', async () => {
    const client = await c.authed('*');
    client.send({ subscribe: 'site-a-*' });
    client.send({ subscribe: 'site-b-*' });
    await client.next((m) => m.subscribed === 'site-b-*');
    await waitUntil(() => {
      const text = c.metrics.render();
      return /fleethub_dashboard_subscriptions 2\n/.test(text) && /fleethub_dashboard_connections 1\n/.test(text);
    }, 'the metrics show 2 subscriptions on 1 connection');
    client.ws.close();
    await client.closed;
  });
});
