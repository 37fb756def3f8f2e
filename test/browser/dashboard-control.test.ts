/**
 * The dashboard's history, range picker, command panel and desired
 * configuration in a real Chromium, under the page's CSP, against a real hub
 * (its own store, history route and command center) and a real protocol-2
 * device over mutual TLS that answers commands and acknowledges
 * configuration. Hostile strings from the device and the operator stay text;
 * a read-only token sees no control panels, a token without `read` no fleet.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken, type TokenScope } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import type { Reading } from '../../src/store/types.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { launchBrowser, screenshot, type TestBrowser, type WatchedPage } from './browser.js';

const XSS = '<img src=x onerror=alert(1)>';
const MIN = 60_000;
const HOUR = 60 * MIN;
/** CHART_POINTS of the page's history-loader.js. */
const CHART_POINTS = 360;
/**
 * Stored readings: one a minute over the last 23 hours but for none from 50 to
 * 70 minutes ago, and one every 10 minutes from 25 to 166 hours ago. No range
 * edge lies near a reading for the first 10 minutes of the test, so the
 * counts hold on a slow machine.
 */
const IN_LAST_HOUR = 50;
const GAP = 20;
const RECENT = 23 * 60 - GAP;
const OLDER = (166 - 25) * 6 + 1;

describe('web dashboard: history, ranges, commands and configuration', () => {
  let hub: TestHub;
  let browser: TestBrowser;
  let device: DeviceClient;
  let seq = 0;
  before(async () => {
    hub = await startHub({ commands: { ping: {}, set_interval: {}, fail: {} } });
    const t0 = Date.now() - 30_000;
    const stored: Reading[] = [];
    for (let k = OLDER - 1; k >= 0; k--) stored.push({ device: 'tank-1', seq: 0, ts: t0 - 25 * HOUR - k * 10 * MIN, data: { level: 1000 + k } });
    for (let k = RECENT + GAP - 1; k >= 0; k--) {
      if (k < IN_LAST_HOUR || k >= IN_LAST_HOUR + GAP) stored.push({ device: 'tank-1', seq: 0, ts: t0 - k * MIN, data: { level: k % 100, note: 'ok' } });
    }
    stored.forEach((r, i) => ((r as { seq: number }).seq = i + 1));
    await hub.hub.store.append(stored);
    const creds = await hub.pki.addDevice('tank-1');
    device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2' });
    seq = (await device.hello()).lastSeq ?? 0;
    browser = await launchBrowser();
  });
  after(async () => {
    await device.close();
    await browser.close();
    await hub.stop();
  });

  const token = (scopes: TokenScope[]): string => signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'tank-*', scopes, ttlMs: 600_000 }).token;

  async function open(scopes: TokenScope[]): Promise<WatchedPage> {
    const w = await browser.page();
    await w.page.goto(`${hub.consoleUrl}/`);
    await w.page.fill('#token', token(scopes));
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
    return w;
  }

  async function send(data: Record<string, unknown>): Promise<void> {
    seq++;
    device.send({ seq, data });
    await device.waitForAck(seq);
  }

  const attr = (w: WatchedPage, selector: string, name: string): Promise<string | null> => w.page.getAttribute(selector, name);
  const levelCanvas = '.chart:has(.field:text("level")) canvas';

  it('shows the last hour from history, then goes on live', async () => {
    const w = await open(['read']);
    await w.page.click('tr[data-id="tank-1"]');
    await w.page.waitForSelector('#charts[data-state="ready"][data-range="1h"]', { timeout: 15_000 });
    // The last hour's stored readings, each a point; the stream's snapshot (the newest) is not one more.
    assert.equal(await attr(w, '#charts', 'data-readings'), String(IN_LAST_HOUR));
    await waitUntil(async () => (await attr(w, levelCanvas, 'data-points')) === String(IN_LAST_HOUR), 'the chart draws the stored points');
    assert.match(await w.page.textContent('#history-note') ?? '', new RegExp(`${IN_LAST_HOUR} stored readings over the last hour, then live`));
    await send({ level: 77.5, note: 'live' });
    await w.page.waitForSelector('.chart:has(.field:text("level")) .latest:text("77.5")', { timeout: 15_000 });
    await waitUntil(async () => (await attr(w, levelCanvas, 'data-points')) === String(IN_LAST_HOUR + 1), 'the live reading joins the history');
    await w.page.waitForSelector('#device-fields-body td:text("live")');
    // A read-only token has neither control panel.
    assert.equal(await w.page.isVisible('#command-panel'), false);
    assert.equal(await w.page.isVisible('#config-panel'), false);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('switches ranges: 24 h and 7 d come back downsampled to at most CHART_POINTS points', async () => {
    const w = await open(['read']);
    await w.page.click('tr[data-id="tank-1"]');
    await w.page.waitForSelector('#charts[data-state="ready"][data-range="1h"]', { timeout: 15_000 });
    const live = seq - (RECENT + OLDER); // readings sent live by earlier tests, stored too
    for (const [range, readings] of [['24h', RECENT + live], ['7d', RECENT + OLDER + live], ['1h', IN_LAST_HOUR + live]] as const) {
      await w.page.click(`#ranges button[data-range="${range}"]`);
      await w.page.waitForSelector(`#charts[data-state="ready"][data-range="${range}"]`, { timeout: 30_000 });
      assert.equal(await attr(w, `#ranges button[data-range="${range}"]`, 'aria-pressed'), 'true');
      assert.equal(Number(await attr(w, '#charts', 'data-readings')), readings, `${range}: every stored reading read`);
      await waitUntil(async () => Number(await attr(w, levelCanvas, 'data-points')) > 0, `${range}: the chart is drawn`);
      const points = Number(await attr(w, levelCanvas, 'data-points'));
      if (range === '1h') assert.equal(points, readings, '1 h: few enough to draw each');
      else assert.ok(points <= CHART_POINTS && points >= CHART_POINTS * 0.9, `${range}: ${readings} readings drawn as ${points} points`);
      if (range === '7d') await screenshot(w.page, 'dashboard-history-7d');
    }
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('sends a command from the panel and shows its outcome as it changes; results stay text', async () => {
    const w = await open(['read', 'command']);
    await w.page.click('tr[data-id="tank-1"]');
    await w.page.waitForSelector('#command-panel:not([hidden])');
    assert.equal(await w.page.isVisible('#config-panel'), false, 'no config scope, no config panel');
    assert.deepEqual(await w.page.$$eval('#command-name option', (os) => os.map((o) => o.textContent)), ['ping', 'set_interval', 'fail']);

    await w.page.selectOption('#command-name', 'set_interval');
    await w.page.fill('#command-args', '{"interval_s": 5}');
    await w.page.click('#command-send');
    // The device holds its answer: the page shows the command sent.
    // Generous: the command is journalled (fsynced) before it is sent, on a machine that may be busy.
    const { cmd } = await device.waitFor((m) => (m as { cmd?: { name: string } }).cmd?.name === 'set_interval', 30_000) as { cmd?: { id: string; args: unknown } };
    assert.deepEqual(cmd?.args, { interval_s: 5 });
    await w.page.waitForSelector(`#command-list li[data-id="${cmd!.id}"][data-state="sent"]`, { timeout: 15_000 });
    device.send({ cmdResult: { id: cmd!.id, ok: true, result: { interval_s: 5, note: XSS } } });
    await w.page.waitForSelector(`#command-list li[data-id="${cmd!.id}"][data-state="succeeded"] .detail:has-text("${XSS}")`, { timeout: 15_000 });

    await w.page.selectOption('#command-name', 'fail');
    await w.page.fill('#command-args', '');
    await w.page.click('#command-send');
    const failed = await device.waitFor((m) => (m as { cmd?: { name: string } }).cmd?.name === 'fail', 30_000) as { cmd?: { id: string } };
    device.send({ cmdResult: { id: failed.cmd!.id, ok: false, error: XSS } });
    await w.page.waitForSelector(`#command-list li[data-id="${failed.cmd!.id}"][data-state="failed"] .detail:text("${XSS}")`, { timeout: 15_000 });

    // Bad arguments never leave the page.
    await w.page.fill('#command-args', '[1, 2]');
    await w.page.click('#command-send');
    await w.page.waitForSelector('#command-error:has-text("JSON object")');
    await screenshot(w.page, 'dashboard-commands');
    assert.equal(await w.page.locator('img[src="x"]').count(), 0);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('sets the desired configuration and shows it and the device\'s acknowledgement; strings stay text', async () => {
    const w = await open(['read', 'config']);
    await w.page.click('tr[data-id="tank-1"]');
    await w.page.waitForSelector('#config-panel:not([hidden])');
    assert.equal(await w.page.isVisible('#command-panel'), false, 'no command scope, no command panel');
    await w.page.waitForSelector('#config-acked:text("nothing acknowledged yet")', { timeout: 15_000 });
    assert.equal(await w.page.textContent('#config-version'), 'none set');

    await w.page.fill('#config-text', JSON.stringify({ interval_s: 30, label: XSS }));
    await w.page.click('#config-save');
    const first = await device.waitFor((m) => (m as { config?: unknown }).config !== undefined) as { config?: { version: number; desired: unknown } };
    assert.deepEqual(first.config?.desired, { interval_s: 30, label: XSS });
    await w.page.waitForSelector(`#config-version:text("v${first.config!.version}")`, { timeout: 15_000 });
    await w.page.waitForSelector(`#config-desired:has-text("${XSS}")`);
    await w.page.waitForSelector('#config-sync:text("pending")');

    // The device refuses it, with a hostile reason: text. Then a second version, applied.
    device.send({ configAck: { version: first.config!.version, ok: false, error: XSS } });
    await w.page.waitForSelector(`#config-acked:has-text("refused by the device: ${XSS}")`, { timeout: 20_000 });
    await w.page.fill('#config-text', '{"interval_s": 60}');
    await w.page.click('#config-save');
    const second = await device.waitFor((m) => (m as { config?: { desired: { interval_s?: number } } }).config?.desired.interval_s === 60) as { config?: { version: number } };
    device.send({ configAck: { version: second.config!.version, ok: true } });
    await w.page.waitForSelector(`#config-acked:has-text("v${second.config!.version} applied")`, { timeout: 20_000 });
    await w.page.waitForSelector('#config-sync:text("in sync")');
    await screenshot(w.page, 'dashboard-config');
    assert.equal(await w.page.locator('img[src="x"]').count(), 0);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('a token without read sees no fleet and never subscribes', async () => {
    const w = await open(['command']);
    await w.page.waitForSelector('#fleet-empty:text("no read scope")');
    assert.equal(await w.page.locator('#fleet-body tr').count(), 0);
    // Proving an absence needs a moment: a refused subscribe would be back from a local hub well within it.
    await w.page.waitForTimeout(1_000);
    assert.equal(await w.page.isVisible('#toast'), false, 'the page never subscribed, so the hub refused nothing');
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });
});

describe('web dashboard: a range with more readings than pages', () => {
  let hub: TestHub;
  let browser: TestBrowser;
  before(async () => {
    // Pages of 20 (historyMaxLimit), so an hour of 1,200 readings is far more than the page reads whole.
    hub = await startHub({ console: { historyMaxLimit: 20 } });
    const now = Date.now();
    await hub.hub.store.append(Array.from({ length: 1200 }, (_, i) => ({ device: 'dense-1', seq: i + 1, ts: now - 3_590_000 + i * 2_990, data: { v: i } })));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    await hub.stop();
  });

  it('samples it: the first page, then the first page of each slice, and says so', async () => {
    const w = await browser.page();
    await w.page.goto(`${hub.consoleUrl}/`);
    await w.page.fill('#token', signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'dense-*' }).token);
    await w.page.click('button[type=submit]');
    await w.page.click('tr[data-id="dense-1"]', { timeout: 15_000 });
    await w.page.waitForSelector('#charts[data-state="ready"]', { timeout: 30_000 });
    const readings = Number(await w.page.getAttribute('#charts', 'data-readings'));
    // At most 25 requests of 20: bounded, whatever the device stored.
    assert.ok(readings > 20 && readings <= 25 * 20, `${readings} readings read`);
    assert.match(await w.page.textContent('#history-note') ?? '', /sampled/);
    await waitUntil(async () => Number(await w.page.getAttribute('.chart canvas', 'data-points')) > 0, 'the chart is drawn');
    assert.ok(Number(await w.page.getAttribute('.chart canvas', 'data-points')) <= CHART_POINTS);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });
});
