/**
 * `/v1/stream` at the edge and at the first message: Origin (403 before any
 * WebSocket), auth within authTimeoutMs, bad / tampered / expired / foreign
 * tokens (4401), expiry and key rotation closing live dashboards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { closeCode, connectClient, startConsole, type ConsoleFixture, type TestClient } from './console-fixture.js';

/** What a user of an accepted connection relies on: the token is accepted with its scope, and readings arrive. */
async function streams(c: ConsoleFixture, client: TestClient): Promise<void> {
  client.send({ auth: c.token('d*') });
  const { authed } = (await client.next()) as { authed: { devices: string } };
  assert.equal(authed.devices, 'd*');
  client.send({ subscribe: 'd1' });
  assert.deepEqual(await client.next(), { subscribed: 'd1' });
  const reading = c.feed.reading('d1', { temp: 20 + Math.random() });
  const got = await client.next((m) => m.device === 'd1' && m.seq === reading.seq);
  assert.deepEqual(got.data, reading.data);
}

describe('dashboard stream: Origin', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole();
  });
  after(() => c.stop());

  it('accepts the console\'s own origin and clients without an Origin: both authenticate and stream', async () => {
    const own = await c.connect({ origin: `https://127.0.0.1:${c.port}` });
    const none = await c.connect();
    for (const client of [own, none]) await streams(c, client);
    own.ws.close();
    none.ws.close();
  });

  it('refuses a foreign origin with 403 before any WebSocket exists', async () => {
    await assert.rejects(c.connect({ origin: 'https://evil.example' }), /HTTP 403/);
    await assert.rejects(c.connect({ origin: `http://127.0.0.1:${c.port}` }), /HTTP 403/); // scheme matters
    await assert.rejects(c.connect({ origin: 'null' }), /HTTP 403/);
    assert.equal(c.metrics.render().match(/fleethub_dashboard_refused_total\{reason="origin"\} (\d+)/)?.[1], '3');
    assert.match(c.metrics.render(), /fleethub_dashboard_connections 0/);
  });

  it('refuses other paths with 404', async () => {
    await assert.rejects(connectClient(`wss://127.0.0.1:${c.port}/v1/device`, c.ca), /HTTP 404/);
  });
});

describe('dashboard stream: configured origins', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole({ origins: ['https://dash.example.com'] });
  });
  after(() => c.stop());

  it('accepts only the listed origins', async () => {
    const ok = await c.connect({ origin: 'https://dash.example.com' });
    await streams(c, ok);
    ok.ws.close();
    await assert.rejects(c.connect({ origin: `https://127.0.0.1:${c.port}` }), /HTTP 403/);
  });
});

describe('dashboard stream: authentication', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole({ authTimeoutMs: 300 });
    c.feed.presence('d1', true);
    c.feed.reading('d1', { temp: 20 });
  });
  after(() => c.stop());

  it('closes with 4401 when no auth arrives in time, having sent nothing', async () => {
    const client = await c.connect();
    const { code } = await client.closed;
    assert.equal(code, 4401);
    assert.deepEqual(client.pending, []);
  });

  it('answers a good token with authed: scope and expiry', async () => {
    const client = await c.connect();
    const token = c.token('d*', 60_000);
    client.send({ auth: token });
    const { authed } = (await client.next()) as { authed: { devices: string; expiresAt: number } };
    assert.equal(authed.devices, 'd*');
    assert.ok(authed.expiresAt > Date.now() && authed.expiresAt <= Date.now() + 60_000);
    client.ws.close();
  });

  const badTokens: [string, (c: ConsoleFixture) => unknown][] = [
    ['garbage', () => 'not-a-token'],
    ['a number', () => 42],
    ['tampered claims', (c) => {
      const [v, body, sig] = c.token('d1').split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
      claims.dev = '*';
      return `${v}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    }],
    ['tampered signature', (c) => {
      const token = c.token('*');
      return token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    }],
    ['expired', (c) => c.token('*', 1_000, Date.now() - 5_000)],
    ['signed by another key', () => signToken(randomBytes(32), { devices: '*' }).token],
  ];
  for (const [name, make] of badTokens) {
    it(`closes with 4401 on a bad token: ${name}`, async () => {
      const client = await c.connect();
      client.send({ auth: make(c) });
      assert.equal((await client.closed).code, 4401);
      assert.deepEqual(client.pending, [], 'nothing about devices before authentication');
    });
  }

  it('closes with 4401 when the first message is not auth', async () => {
    const client = await c.connect();
    client.send({ subscribe: '*' });
    assert.equal((await client.closed).code, 4401);
    assert.deepEqual(client.pending, []);
  });

  it('closes a dashboard with 4401 when its token expires', async () => {
    const client = await c.connect();
    client.send({ auth: c.token('*', 1_500) });
    await client.next((m) => 'authed' in m);
    assert.equal((await client.closed).code, 4401);
  });
});

describe('dashboard stream: rotating token.key', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole({ tokenKeyCheckMs: 100 });
  });
  after(() => c.stop());

  it('revokes every token, closing live dashboards, without a restart', async () => {
    const client = await c.authed('*');
    const oldToken = c.token('*');
    await rm(join(c.pkiDir, 'token.key'));
    // Noticed at the next check, tokenKeyCheckMs (100 ms) away; the wait is generous.
    assert.equal(await closeCode(client), 4401);
    assert.equal(c.metrics.render().match(/fleethub_dashboard_closed_total\{reason="token_revoked"\} (\d+)/)?.[1], '1');
    const again = await c.connect();
    again.send({ auth: oldToken });
    assert.equal((await again.closed).code, 4401);
    const fresh = await c.authed('*'); // a token signed with the new key works
    fresh.ws.close();
  });

  it('closes live dashboards even when a new dashboard authenticates before the next check', async () => {
    const slow = await startConsole({ tokenKeyCheckMs: 60_000 });
    try {
      const live = await slow.authed('*');
      await rm(join(slow.pkiDir, 'token.key'));
      // This auth reads the new key first; the live dashboard's old token must not survive that.
      const fresh = await slow.authed('*');
      assert.equal(await closeCode(live), 4401);
      fresh.ws.close();
    } finally {
      await slow.stop();
    }
  });

  it('checks token.key every tokenKeyCheckMs: the configured interval is the one used', async () => {
    // Started first and checking rarely: its first check is a minute away.
    const slow = await startConsole({ tokenKeyCheckMs: 60_000 });
    const fast = await startConsole({ tokenKeyCheckMs: 100 });
    try {
      const slowClient = await slow.authed('*');
      slowClient.send({ subscribe: '*' });
      await slowClient.next((m) => 'subscribed' in m);
      const fastClient = await fast.authed('*');
      await rm(join(slow.pkiDir, 'token.key'));
      await rm(join(fast.pkiDir, 'token.key'));
      assert.equal(await closeCode(fastClient), 4401);
      // The slow console has not checked yet, so its dashboard still streams.
      assert.equal(slowClient.ws.readyState, slowClient.ws.OPEN);
      slow.feed.reading('d1', { temp: 21 });
      const reading = await slowClient.next((m) => m.device === 'd1');
      assert.deepEqual(reading.data, { temp: 21 });
    } finally {
      await fast.stop();
      await slow.stop();
    }
  });
});
