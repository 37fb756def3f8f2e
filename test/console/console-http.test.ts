/** The console's plain HTTPS routes: the page with its security headers, /healthz, /metrics, and refusals. */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { httpsGet, startConsole, type ConsoleFixture } from './console-fixture.js';

describe('console HTTP routes', () => {
  let c: ConsoleFixture;
  before(async () => {
    c = await startConsole();
  });
  after(() => c.stop());

  it('serves the dashboard page with a strict CSP and no-sniff / no-referrer headers', async () => {
    const res = await httpsGet(`${c.baseUrl}/`, c.ca);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", `connect-src 'self' wss://127.0.0.1:${c.port}`]) {
      assert.ok(csp.includes(directive), directive);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.doesNotMatch(res.body, /<script>|\son\w+=|https?:\/\//, 'no inline script, handlers or external URLs');
  });

  it('serves the page assets with their types', async () => {
    const js = await httpsGet(`${c.baseUrl}/dashboard.js`, c.ca);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.doesNotMatch(js.body, /innerHTML|insertAdjacentHTML|document\.write/);
    const css = await httpsGet(`${c.baseUrl}/dashboard.css`, c.ca);
    assert.match(String(css.headers['content-type']), /^text\/css/);
  });

  it('answers /healthz with the hub\'s health as JSON', async () => {
    c.feed.presence('d1', true);
    const res = await httpsGet(`${c.baseUrl}/healthz`, c.ca);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', devicesOnline: 1 });
  });

  it('answers /metrics in Prometheus text format with the dashboard figures', async () => {
    const res = await httpsGet(`${c.baseUrl}/metrics`, c.ca);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    for (const name of ['fleethub_dashboard_connections', 'fleethub_dashboard_subscriptions', 'fleethub_dashboard_dropped_total']) {
      assert.match(res.body, new RegExp(`# TYPE ${name} `));
    }
  });

  it('refuses unknown paths (404), other methods (405) and a plain GET of the stream (426)', async () => {
    assert.equal((await httpsGet(`${c.baseUrl}/nope`, c.ca)).status, 404);
    assert.equal((await httpsGet(`${c.baseUrl}/../../etc/passwd`, c.ca)).status, 404);
    assert.equal((await httpsGet(`${c.baseUrl}/v1/stream`, c.ca)).status, 426);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${c.baseUrl}/`, { method: 'POST', ca: c.ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 405);
  });
});
