/**
 * `GET /v1/devices/<id>/readings` (SPEC: History) on a real hub over real
 * TLS: readings stored by the hub's own store (one of them sent by a real
 * device over mutual TLS), pages with `next`, the bearer token and its
 * device scope, and every refusal with its status, counted in
 * `fleethub_dashboard_refused_total`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { DEFAULT_HISTORY_LIMIT } from '../../src/hub/console/history-route.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import type { Reading } from '../../src/store/types.js';
import { connectDevice } from '../helpers/device-client.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { httpsGet } from '../helpers/https-get.js';
import { startConsole, type ConsoleFixture } from './console-fixture.js';

const T = 1_700_000_000_000;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly json: Record<string, unknown>;
}

/** A GET whose answer is a JSON object. */
async function getJson(url: string, ca: string, headers: Record<string, string>): Promise<Answer> {
  const { status, headers: answerHeaders, body } = await httpsGet(url, ca, { headers });
  return { status, headers: answerHeaders, json: JSON.parse(body) as Record<string, unknown> };
}

describe('history route on a real hub', () => {
  let hub: TestHub;
  let key: Buffer;
  before(async () => {
    hub = await startHub({ console: { historyMaxLimit: 50 } });
    key = loadOrCreateTokenKey(hub.pki.dir);
    const batch: Reading[] = [];
    for (let seq = 1; seq <= 120; seq += 1) {
      batch.push({ device: 'pump-1', seq, ts: T + seq * 1000, data: { temp: seq } });
      batch.push({ device: 'valve-1', seq, ts: T + seq * 1000, data: { open: seq % 2 === 0 } });
    }
    await hub.hub.store.append(batch);
  });
  after(() => hub.stop());

  const token = (devices: string, ttlMs?: number, now?: number): string =>
    signToken(key, { devices, ...(ttlMs === undefined ? {} : { ttlMs }), ...(now === undefined ? {} : { now }) }).token;

  const get = (path: string, headers: Record<string, string> = {}): Promise<Answer> => getJson(`${hub.consoleUrl}${path}`, hub.pki.ca, headers);
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  const refused = (reason: string): number => metricValue(hub.hub, `fleethub_dashboard_refused_total{reason="${reason}"}`);

  it('answers a device\'s readings in [from, to), oldest first, with the SPEC\'s shape', async () => {
    const res = await get(`/v1/devices/pump-1/readings?from=${T + 10_000}&to=${T + 13_000}`, bearer(token('pump-*')));
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS: a foreign page cannot read it');
    assert.deepEqual(res.json, {
      device: 'pump-1',
      readings: [10, 11, 12].map((seq) => ({ seq, ts: T + seq * 1000, data: { temp: seq } })),
      next: null,
    });
  });

  it('pages with limit and cursor: every reading once, across pages of any limit', async () => {
    const auth = bearer(token('pump-1'));
    const first = await get(`/v1/devices/pump-1/readings?from=${T}&to=${T + 1_000_000}&limit=7`, auth);
    assert.equal(first.status, 200);
    assert.equal((first.json.readings as unknown[]).length, 7);
    const seqs: number[] = (first.json.readings as Array<{ seq: number }>).map((r) => r.seq);
    let next = first.json.next as string | null;
    // Bounded: 120 readings in pages of at least 7.
    for (let page = 0; page < 30 && next !== null; page += 1) {
      const res = await get(`/v1/devices/pump-1/readings?cursor=${encodeURIComponent(next)}&limit=${page % 2 === 0 ? 50 : 9}`, auth);
      assert.equal(res.status, 200);
      seqs.push(...(res.json.readings as Array<{ seq: number }>).map((r) => r.seq));
      next = res.json.next as string | null;
    }
    assert.equal(next, null);
    assert.deepEqual(seqs, Array.from({ length: 120 }, (_, k) => k + 1));
  });

  it('without from, to or limit: everything, in pages of the default limit (capped by historyMaxLimit)', async () => {
    const res = await get('/v1/devices/valve-1/readings', bearer(token('*')));
    assert.equal(res.status, 200);
    assert.equal((res.json.readings as unknown[]).length, Math.min(DEFAULT_HISTORY_LIMIT, 50));
    assert.equal(typeof res.json.next, 'string');
  });

  it('a device the token covers but that stored nothing is an empty page', async () => {
    const res = await get('/v1/devices/pump-99/readings', bearer(token('pump-*')));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { device: 'pump-99', readings: [], next: null });
  });

  it('shows what a real device sent over mutual TLS', async () => {
    const creds = await hub.pki.addDevice('pump-live');
    const device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
    try {
      await device.hello();
      device.send({ seq: 1, ts: T + 5, data: { temp: 21.5 } });
      await device.waitForAck(1);
    } finally {
      await device.close();
    }
    const res = await get('/v1/devices/pump-live/readings', bearer(token('pump-live')));
    assert.deepEqual(res.json.readings, [{ seq: 1, ts: T + 5, data: { temp: 21.5 } }]);
  });

  it('401 without a bearer token, with a bad, tampered or expired one, or one in a cookie or the URL', async () => {
    const good = token('pump-*');
    const before401 = refused('history_unauthorized');
    const cases: Array<[string, Record<string, string>]> = [
      ['/v1/devices/pump-1/readings', {}],
      ['/v1/devices/pump-1/readings', { cookie: `token=${good}; auth=${good}` }],
      [`/v1/devices/pump-1/readings?token=${good}`, {}],
      ['/v1/devices/pump-1/readings', { authorization: good }],
      ['/v1/devices/pump-1/readings', { authorization: `Basic ${Buffer.from(`x:${good}`).toString('base64')}` }],
      ['/v1/devices/pump-1/readings', bearer(`${good.slice(0, -2)}xx`)],
      ['/v1/devices/pump-1/readings', bearer('fh1.garbage.garbage')],
      ['/v1/devices/pump-1/readings', bearer(token('pump-*', 1000, Date.now() - 10_000))],
    ];
    for (const [path, headers] of cases) {
      const res = await get(path, headers);
      assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(res.json.error, 'unauthorized');
      assert.match(String(res.headers['www-authenticate']), /^Bearer /);
      assert.equal(res.json.readings, undefined, 'no reading leaks');
    }
    assert.equal(refused('history_unauthorized') - before401, cases.length);
  });

  it('403 for a device outside the token\'s glob, also through a cursor of another device', async () => {
    const before403 = refused('history_forbidden');
    const res = await get('/v1/devices/valve-1/readings', bearer(token('pump-*')));
    assert.equal(res.status, 403);
    assert.equal(res.json.error, 'forbidden');
    assert.equal(res.json.readings, undefined);
    assert.equal(refused('history_forbidden') - before403, 1);
    // A cursor names its device: a pump-* token cannot use a valve-1 cursor on a pump path either.
    const valvePage = await get('/v1/devices/valve-1/readings?limit=1', bearer(token('valve-*')));
    const crossed = await get(`/v1/devices/pump-1/readings?cursor=${encodeURIComponent(valvePage.json.next as string)}`, bearer(token('pump-*')));
    assert.equal(crossed.status, 400);
  });

  it('400 for a bad range, a limit of 0 or over historyMaxLimit, a bad cursor or parameter, a bad device id', async () => {
    const auth = bearer(token('*'));
    const before400 = refused('history_bad_request');
    const bad = [
      `from=${T + 10}&to=${T}`,
      'from=-5',
      'from=abc',
      'to=1e12',
      'from=99999999999999999',
      'limit=0',
      'limit=51',
      'limit=1000000000000',
      'limit=2.5',
      'cursor=nope',
      'limit=5&limit=6',
      'device=pump-2',
    ];
    for (const query of bad) {
      const res = await get(`/v1/devices/pump-1/readings?${query}`, auth);
      assert.equal(res.status, 400, query);
      assert.equal(res.json.error, 'bad_request');
      assert.equal(typeof res.json.message, 'string');
    }
    for (const path of ['/v1/devices/-bad/readings', `/v1/devices/${'x'.repeat(65)}/readings`, '/v1/devices/a%2Fb/readings', '/v1/devices/%E0%A4%A/readings']) {
      assert.equal((await get(path, auth)).status, 400, path);
    }
    assert.equal((await get('/v1/devices/pump-1/readings?limit=50', auth)).status, 200, 'historyMaxLimit itself is allowed');
    assert.equal(refused('history_bad_request') - before400, bad.length + 4);
  });

});

describe('history route limits (console with a test feed)', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole({ historyMaxInFlight: 2 });
    for (let seq = 1; seq <= 3; seq += 1) c.feed.reading('pump-1', { temp: seq }, seq, T + seq);
  });
  after(() => c.stop());

  const get = (path: string, t: string): Promise<Answer> => getJson(`${c.baseUrl}${path}`, c.ca, { authorization: `Bearer ${t}` });

  it('503 with Retry-After past historyMaxInFlight requests at once, answered again once they end', async () => {
    const t = c.token('pump-*');
    let release = (): void => {};
    c.feed.historyHold = new Promise((resolve) => (release = resolve));
    const calls = c.feed.historyCalls;
    const held = [get('/v1/devices/pump-1/readings', t), get('/v1/devices/pump-1/readings', t)];
    await waitUntil(() => c.feed.historyCalls === calls + 2, 'two requests reached the store');
    const busy = await get('/v1/devices/pump-1/readings', t);
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(busy.json.error, 'busy');
    assert.equal(c.feed.historyCalls, calls + 2, 'the refused request never reached the store');
    c.feed.historyHold = null;
    release();
    for (const answer of await Promise.all(held)) assert.equal((answer.json.readings as unknown[]).length, 3);
    assert.equal((await get('/v1/devices/pump-1/readings', t)).status, 200);
  });

  it('503 when the store cannot answer, with no internal detail', async () => {
    c.feed.historyError = new Error('EIO: /secret/path/segment.log');
    try {
      const res = await get('/v1/devices/pump-1/readings', c.token('pump-*'));
      assert.equal(res.status, 503);
      assert.equal(res.json.error, 'store_failed');
      assert.doesNotMatch(JSON.stringify(res.json), /secret|EIO/);
      assert.ok(c.log.lines.some((l) => l.includes('console.history_failed')), 'logged for the operator');
    } finally {
      c.feed.historyError = null;
    }
  });
});
