/**
 * The web dashboard in a real Chromium against a real console listener fed
 * by a {@link TestFeed}: loads without console errors under its CSP, takes a
 * token once (sessionStorage, never the URL), shows devices going online with
 * live values and a chart that moves, shows hostile strings as text, lists
 * rejections, stays usable with 1,000 devices, and a page from another origin
 * cannot open the stream.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startConsole, type ConsoleFixture } from '../console/console-fixture.js';
import { waitUntil } from '../helpers/wait.js';
import { launchBrowser, screenshot, type TestBrowser, type WatchedPage } from './browser.js';

const XSS = '<img src=x onerror=alert(1)>';

/** Realistic readings for a greenhouse sensor at time `ts`. */
function sample(i: number, ts: number): Record<string, number | string | boolean> {
  const t = ts / 60_000;
  return {
    temp: Math.round((21 + 3 * Math.sin(t + i) + Math.random() * 0.3) * 100) / 100,
    humidity: Math.round((55 + 10 * Math.cos(t / 2 + i) + Math.random()) * 10) / 10,
    battery: Math.round((3.9 - (i % 5) * 0.05 - (t % 60) * 0.002) * 1000) / 1000,
    rssi: -60 - (i % 7) * 3 - Math.round(Math.random() * 3),
    door: i % 4 === 0 ? 'open' : 'closed',
    fan: i % 3 === 0,
  };
}

/** Streams five minutes of back-dated history for `id`, so charts have a shape at once. */
function history(c: ConsoleFixture, id: string, i: number, points = 60): void {
  const now = Date.now();
  for (let k = points; k >= 1; k--) {
    const ts = now - k * 5_000;
    c.feed.reading(id, sample(i, ts), undefined, ts);
  }
}

async function login(w: WatchedPage, c: ConsoleFixture, token: string): Promise<void> {
  await w.page.goto(`${c.baseUrl}/`);
  await w.page.fill('#token', token);
  await w.page.click('button[type=submit]');
  await w.page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
}

describe('web dashboard', () => {
  let c: ConsoleFixture;
  let browser: TestBrowser;
  before(async () => {
    c = await startConsole();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    await c.stop();
  });

  it('serves the page with a strict CSP and no console errors', async () => {
    const w = await browser.page();
    const response = await w.page.goto(`${c.baseUrl}/`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response?.headers()['x-content-type-options'], 'nosniff');
    assert.equal(response?.headers()['referrer-policy'], 'no-referrer');
    await w.page.waitForSelector('#login-form');
    await screenshot(w.page, 'login');
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('refuses a bad token and says so', async () => {
    const w = await browser.page();
    await w.page.goto(`${c.baseUrl}/`);
    await w.page.fill('#token', `${c.token('*')}x`.replace(/\.[^.]+$/, '.AAAA'));
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('#login:not([hidden]) #login-error:text("refused")', { timeout: 15_000 });
    assert.equal(await w.page.evaluate('sessionStorage.getItem("fleethub.token")'), null);
    await w.page.close();
  });

  it('shows devices going online, their live values and a moving chart; hostile strings stay text', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `greenhouse-${String(i + 1).padStart(2, '0')}`);
    ids.forEach((id, i) => {
      if (i !== 2 && i !== 10) c.feed.presence(id, true);
    });
    c.feed.reading('intruder', { label: XSS, temp: 1 });

    const w = await browser.page();
    const token = c.token('*');
    await login(w, c, token);
    assert.ok(!w.page.url().includes(token.slice(4, 20)), 'the token never appears in the URL');
    await w.page.waitForSelector('tr[data-id="greenhouse-12"]');
    ids.forEach((id, i) => history(c, id, i));

    // Rejections are live events: they show up as they happen.
    c.feed.rejected('greenhouse-07', 'rate_limited');
    c.feed.rejected('greenhouse-11', 'invalid_message');
    c.feed.rejected('greenhouse-07', 'quota_exceeded');

    // A device goes online: its dot turns green.
    c.feed.presence('greenhouse-03', true);
    await w.page.waitForSelector('tr[data-id="greenhouse-03"] .dot.online');

    // Hostile text shows as text, no element or script comes of it.
    await w.page.waitForSelector(`tr[data-id="intruder"] .c-values:has-text("${XSS}")`);
    assert.equal(await w.page.locator('img[src="x"]').count(), 0);

    // Pick a device: charts appear and move as readings arrive.
    await w.page.click('tr[data-id="greenhouse-05"]');
    await w.page.waitForSelector('.chart canvas');
    const before = await w.page.evaluate<string>('document.querySelector("canvas").toDataURL()');
    let latest = 0;
    for (let k = 0; k < 5; k++) {
      latest = 30 + k;
      c.feed.reading('greenhouse-05', { ...sample(5, Date.now()), temp: latest });
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await w.page.waitForSelector(`.chart:has(.field:text("temp")) .latest:text("${latest}")`);
    await waitUntil(async () => (await w.page.evaluate<string>('document.querySelector("canvas").toDataURL()')) !== before, 'the chart is redrawn');
    await w.page.waitForSelector('#device-fields-body td:text("open"), #device-fields-body td:text("closed")');
    await w.page.waitForSelector('#rejections li:has-text("rate_limited")');

    // The intruder's string in the device view is text too.
    await w.page.click('tr[data-id="intruder"]');
    await w.page.waitForSelector(`#device-fields-body td:text("${XSS}")`);
    assert.equal(await w.page.locator('img[src="x"]').count(), 0);

    await w.page.click('tr[data-id="greenhouse-05"]');
    await w.page.waitForTimeout(600);
    await screenshot(w.page, 'dashboard');

    // The token survives a reload of the tab (sessionStorage), with no login.
    await w.page.reload();
    await w.page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
    assert.equal(await w.page.isVisible('#login'), false);

    assert.deepEqual(w.dialogs, [], 'no script ran from device data');
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('stays usable with 1,000 streaming devices', async () => {
    for (let i = 0; i < 1000; i++) {
      const id = `field-${String(i).padStart(4, '0')}`;
      c.feed.presence(id, i % 10 !== 0);
      c.feed.reading(id, sample(i, Date.now()));
    }
    const w = await browser.page();
    await login(w, c, c.token('field-*'));
    await w.page.waitForSelector('tr[data-id="field-0999"]', { timeout: 30_000 });
    // A burst of live readings from every device, then the page must catch up.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1000; i++) c.feed.reading(`field-${String(i).padStart(4, '0')}`, sample(i, Date.now()));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitUntil(async () => (await w.page.textContent('#stat-online')) === '900', 'the page counts 900 online', 15_000);
    assert.equal(await w.page.locator('#fleet-body tr').count(), 1000);
    await w.page.fill('#filter', 'field-00?7');
    await waitUntil(async () => (await w.page.locator('#fleet-body tr:visible').count()) === 10, 'the filter shows 10 rows', 10_000);
    await w.page.fill('#filter', '');
    await w.page.click('tr[data-id="field-0042"]');
    await w.page.waitForSelector('.chart canvas');
    await screenshot(w.page, 'dashboard-1000-devices');
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });
});

describe('web dashboard: cross-site WebSocket hijacking', () => {
  let c: ConsoleFixture;
  let browser: TestBrowser;
  let attacker: Server;
  before(async () => {
    c = await startConsole();
    browser = await launchBrowser();
    // The attacker's page on another origin (plain http on another port) tries to open the stream.
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><script>
        window.result = new Promise((resolve) => {
          const ws = new WebSocket('wss://127.0.0.1:${c.port}/v1/stream');
          ws.onopen = () => resolve('open');
          ws.onclose = (e) => resolve('closed ' + e.code);
        });
      </script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await browser.close();
    await new Promise((resolve) => attacker.close(resolve));
    await c.stop();
  });

  it('a page from another origin cannot open the stream (403 before any WebSocket)', async () => {
    const w = await browser.page();
    await w.page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    const result = await w.page.evaluate<string>('window.result');
    assert.match(result, /^closed/);
    assert.match(c.metrics.render(), /fleethub_dashboard_refused_total\{reason="origin"\} 1/);
    await w.page.close();
  });
});
