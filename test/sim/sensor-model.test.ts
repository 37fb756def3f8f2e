import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SensorModel, buildTelemetryFrame, deviceSeed, seededRandom, MAX_STRING_VALUE } from '../../firmware-sim/sensor-model.js';

test('the same seed gives the same readings; another seed other readings', () => {
  const a = new SensorModel(7);
  const b = new SensorModel(7);
  const c = new SensorModel(8);
  const ra = Array.from({ length: 20 }, () => a.read());
  assert.deepEqual(ra, Array.from({ length: 20 }, () => b.read()));
  assert.notDeepEqual(ra, Array.from({ length: 20 }, () => c.read()));
  assert.notEqual(deviceSeed(1, 0), deviceSeed(1, 1));
});

test('readings stay physical: temp walks in small steps, battery only drains', () => {
  const model = new SensorModel(123);
  let last = model.read();
  for (let i = 0; i < 5000; i++) {
    const r = model.read();
    assert.ok(Math.abs(r.temp - last.temp) <= 0.21, 'random walk step');
    assert.ok(r.battery <= last.battery, 'battery drains');
    assert.ok(r.humidity >= 0 && r.humidity <= 100);
    assert.ok(Number.isInteger(r.rssi) && r.rssi < 0 && r.rssi > -100);
    last = r;
  }
});

test('seededRandom is uniform enough in [0, 1)', () => {
  const random = seededRandom(99);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) {
    const x = random();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02);
});

test('padding reaches the asked size with SPEC-valid fields', () => {
  const data = { temp: 21.5, humidity: 40, battery: 99, rssi: -60 };
  const bare = buildTelemetryFrame(1, 1700000000000, data);
  assert.deepEqual(JSON.parse(bare), { seq: 1, ts: 1700000000000, data });
  for (const target of [10, 200, 1000, 4000]) {
    const text = buildTelemetryFrame(5, 1, data, target);
    assert.ok(text.length >= target, `${text.length} >= ${target}`);
    assert.ok(text.length < Math.max(target, bare.length) + 300, 'not far past it');
    const parsed = JSON.parse(text) as { data: Record<string, unknown> };
    for (const [name, value] of Object.entries(parsed.data)) {
      assert.match(name, /^[A-Za-z_][A-Za-z0-9_]{0,63}$/);
      if (typeof value === 'string') assert.ok(value.length <= MAX_STRING_VALUE);
    }
    assert.ok(Object.keys(parsed.data).length <= 32);
  }
});
