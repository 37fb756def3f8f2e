/**
 * End to end: a real hub (both listeners), a real device client with its
 * own certificate sending telemetry over mutual TLS, and the dashboard in
 * Chromium showing the device go online, its values and its chart move, a
 * hostile string as text, and the device go offline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { runCli } from '../helpers/cli.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { launchBrowser, screenshot, type TestBrowser } from './browser.js';

const XSS = '<img src=x onerror=alert(1)>';

describe('web dashboard against a real hub', () => {
  let hub: TestHub;
  let browser: TestBrowser;
  let device: DeviceClient | undefined;
  before(async () => {
    hub = await startHub();
    browser = await launchBrowser();
  });
  after(async () => {
    await device?.close();
    await browser.close();
    await hub.stop();
  });

  it('shows a device going online and its live values and chart as it sends telemetry', async () => {
    const creds = await hub.pki.addDevice('boiler-room-1');
    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'boiler-*', ttlMs: 600_000 }).token;

    const w = await browser.page();
    await w.page.goto(`${hub.consoleUrl}/`);
    await w.page.fill('#token', token);
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });

    device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key });
    await device.hello();
    await w.page.waitForSelector('tr[data-id="boiler-room-1"] .dot.online', { timeout: 15_000 });

    let seq = 0;
    const send = async (temp: number, extra: Record<string, unknown> = {}): Promise<void> => {
      seq++;
      device?.ws.send(JSON.stringify({ seq, data: { temp, pressure: 1.2 + seq / 100, ...extra } }));
      await device?.waitForAck(seq);
    };
    await send(60.5, { status: XSS });
    await w.page.click('tr[data-id="boiler-room-1"]');
    await w.page.waitForSelector(`#device-fields-body td:text("${XSS}")`, { timeout: 15_000 });
    const before = await w.page.evaluate<string>('document.querySelector("canvas").toDataURL()');
    for (const temp of [61, 62.5, 64, 63.2, 65.8]) {
      await send(temp, { status: 'heating' });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await w.page.waitForSelector('.chart:has(.field:text("temp")) .latest:text("65.8")', { timeout: 15_000 });
    await w.page.waitForSelector('tr[data-id="boiler-room-1"] .c-values:has-text("temp 65.8")');
    await waitUntil(async () => (await w.page.evaluate<string>('document.querySelector("canvas").toDataURL()')) !== before, 'the chart is redrawn');
    await screenshot(w.page, 'dashboard-real-hub');

    await device.close();
    device = undefined;
    await w.page.waitForSelector('tr[data-id="boiler-room-1"] .dot.offline', { timeout: 15_000 });

    assert.equal(await w.page.locator('img[src="x"]').count(), 0);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it('shows the simulated fleet of `fleethub sim` live', async () => {
    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'greenhouse-*', ttlMs: 3_600_000 }).token;
    const w = await browser.page();
    await w.page.goto(`${hub.consoleUrl}/`);
    await w.page.fill('#token', token);
    await w.page.click('button[type=submit]');
    await w.page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });

    const sim = runCli([
      'sim', '--url', hub.deviceUrl.replace('127.0.0.1', 'localhost'), '--pki', hub.pki.dir, '--provision', '--devices', '12',
      '--prefix', 'greenhouse-', '--rate', '2', '--duration', '12s', '--drain-timeout', '5s',
    ]);
    await waitUntil(async () => (await w.page.textContent('#stat-online')) === '12', 'the page counts 12 online', 60_000);
    await w.page.click('tr[data-id="greenhouse-0003"]');
    await w.page.waitForSelector('.chart canvas');
    await w.page.waitForTimeout(8_000);
    await screenshot(w.page, 'dashboard-simulated-fleet');
    const result = await sim;
    assert.equal(result.code, 0, result.stderr);
    await waitUntil(async () => (await w.page.textContent('#stat-online')) === '0', 'the page counts 0 online', 30_000);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });
});
