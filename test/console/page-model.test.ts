/**
 * The dashboard page's pure parts (plain browser modules without DOM access):
 * text formatting of untrusted values, the filter box, and the fleet model.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/paths.js';

interface FormatModule {
  formatAgo(ts: number, now: number): string;
  formatValue(value: unknown): string;
  formatValues(data: Record<string, unknown>): string;
  formatExpiry(expiresAt: number, now: number): string;
  deviceFilter(text: string): (id: string) => boolean;
}
interface Device { online: boolean; seq: number; data: Record<string, unknown>; history: Map<string, { t: number[]; v: number[] }>; rejected: number }
interface FleetModel {
  devices: Map<string, Device>;
  dirty: Set<string>;
  rejections: { device: string; code: string }[];
  rejectedTotal: number;
  presence(id: string, online: boolean): void;
  reading(m: Record<string, unknown>): void;
  rejected(e: Record<string, unknown>): void;
  deviceRate(d: Device, now?: number): number;
  onlineCount(): number;
}

// Loaded at run time: they are browser modules, outside the TypeScript build.
const format = (await import(pathToFileURL(join(REPO_ROOT, 'src/hub/console/page/format.js')).href)) as FormatModule;
const { FleetModel } = (await import(pathToFileURL(join(REPO_ROOT, 'src/hub/console/page/fleet-model.js')).href)) as { FleetModel: new () => FleetModel };

describe('page: formatting', () => {
  it('keeps hostile strings as their characters, shortened', () => {
    assert.equal(format.formatValue('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
    assert.equal(format.formatValue('x'.repeat(100)).length, 48);
    assert.equal(format.formatValues({ temp: 21.456789, door: 'open', fan: true }), 'temp 21.457 · door open · fan true');
  });
  it('says how long ago and how long left', () => {
    assert.equal(format.formatAgo(0, 1_000), 'never');
    assert.equal(format.formatAgo(1_000, 2_000), 'just now');
    assert.equal(format.formatAgo(0 + 1, 90_001), '1 min ago');
    assert.equal(format.formatExpiry(3_599_000, 0), 'expires in 60 min');
    assert.equal(format.formatExpiry(7_200_000, 0), 'expires in 2 h');
    assert.equal(format.formatExpiry(0, 1), 'expired');
  });
  it('filters by substring, or by glob with regex characters taken literally', () => {
    const byText = format.deviceFilter('HOUSE');
    assert.ok(byText('greenhouse-01'));
    const byGlob = format.deviceFilter('site.a-0?');
    assert.ok(byGlob('site.a-01'));
    assert.ok(!byGlob('siteXa-01'), 'a dot is a dot');
    assert.ok(format.deviceFilter('')('anything'));
  });
});

describe('page: fleet model', () => {
  it('takes the snapshot without counting it as traffic, then live readings, skipping repeats', () => {
    const model = new FleetModel();
    model.presence('d1', true);
    model.reading({ device: 'd1', seq: 5, ts: Date.now() - 1_000, data: { temp: 20, note: 'ok' } });
    const d1 = model.devices.get('d1') as Device;
    assert.equal(model.deviceRate(d1), 0);
    model.reading({ device: 'd1', seq: 6, ts: Date.now(), data: { temp: 21 } });
    model.reading({ device: 'd1', seq: 6, ts: Date.now(), data: { temp: 99 } }); // the snapshot again after a reconnect
    assert.equal(d1.seq, 6);
    assert.deepEqual(d1.history.get('temp')?.v, [20, 21]);
    assert.equal(d1.history.has('note'), false, 'only numbers are charted');
    assert.equal(model.deviceRate(d1), 0.1);
    assert.equal(model.onlineCount(), 1);
  });
  it('keeps the newest rejections first, bounded', () => {
    const model = new FleetModel();
    for (let i = 0; i < 150; i++) model.rejected({ device: `d${i}`, code: 'rate_limited', at: i });
    assert.equal(model.rejections.length, 100);
    assert.equal(model.rejections[0]?.device, 'd149');
  });
  it('counts every refusal a summarised rejected event stands for', () => {
    const model = new FleetModel();
    model.rejected({ device: 'd1', code: 'rate_limited', count: 1, codes: { rate_limited: 1 }, at: 1 });
    model.rejected({ device: 'd1', code: 'invalid_json', count: 844, codes: { invalid_json: 800, rate_limited: 44 }, at: 2 });
    model.rejected({ device: 'd2', code: 'invalid_json', at: 3 }); // an older hub: one event per refusal
    assert.equal(model.rejectedTotal, 846);
    assert.equal((model.devices.get('d1') as Device).rejected, 845);
    assert.equal(model.rejections.length, 3);
  });
});

interface HistoryLoaderModule {
  CHART_POINTS: number;
  RANGES: Map<string, number>;
  foldReadings(readings: unknown[], from: number, to: number, points?: number): Map<string, { t: number[]; v: number[] }>;
}
const loader = (await import(pathToFileURL(join(REPO_ROOT, 'src/hub/console/page/history-loader.js')).href)) as HistoryLoaderModule;

describe('page: history folding', () => {
  it('keeps few readings as they are, numbers only, fields in the order they appear', () => {
    const series = loader.foldReadings([
      { seq: 1, ts: 10, data: { temp: 1, note: '<b>', ok: true } },
      { seq: 2, ts: 20, data: { hum: 50, temp: 2 } },
      { seq: 3, ts: 30, data: { temp: Number.NaN } },
      null,
    ], 0, 100);
    assert.deepEqual([...series.keys()], ['temp', 'hum']);
    assert.deepEqual(series.get('temp'), { t: [10, 20], v: [1, 2] });
  });
  it('averages many readings per time bucket: at most CHART_POINTS points, spikes kept in their bucket\'s mean', () => {
    const readings = Array.from({ length: 10_000 }, (_, i) => ({ seq: i + 1, ts: i * 1000, data: { v: i % 2 === 0 ? 0 : 2 } }));
    const folded = loader.foldReadings(readings, 0, 10_000_000).get('v')!;
    assert.equal(folded.v.length, loader.CHART_POINTS);
    assert.ok(folded.v.every((v) => Math.abs(v - 1) < 0.1), 'each bucket is its readings\' mean');
    assert.ok(folded.t.every((t, i) => i === 0 || t > folded.t[i - 1]!), 'oldest first');
    assert.deepEqual([...loader.RANGES.keys()], ['1h', '24h', '7d']);
  });
});
