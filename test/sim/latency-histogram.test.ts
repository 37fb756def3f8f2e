import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram, ThroughputSeries } from '../../firmware-sim/latency-histogram.js';

test('percentiles are within a bucket (~9 %) of the exact value', () => {
  const h = new LatencyHistogram();
  const samples: number[] = [];
  for (let i = 1; i <= 10_000; i++) samples.push(i / 10); // 0.1 .. 1000 ms
  for (const s of samples) h.record(s);
  const exact = (q: number): number => samples[Math.ceil(q * samples.length) - 1] as number;
  for (const q of [0.5, 0.9, 0.99]) {
    const got = h.quantile(q);
    assert.ok(Math.abs(got - exact(q)) / exact(q) < 0.1, `q${q}: ${got} vs ${exact(q)}`);
  }
  assert.equal(h.quantile(1), 1000, 'p100 is the true max');
  const s = h.summary();
  assert.equal(s.count, 10_000);
  assert.equal(s.max, 1000);
  assert.ok(Math.abs(s.mean - 500.05) < 0.01);
});

test('an empty histogram reports zeros; extreme values stay in range', () => {
  const h = new LatencyHistogram();
  assert.deepEqual(h.summary(), { count: 0, p50: 0, p99: 0, max: 0, mean: 0 });
  assert.deepEqual(h.buckets(), []);
  h.record(-5);
  h.record(0);
  h.record(10_000_000);
  assert.ok(h.quantile(0.5) <= 0.011, 'the first bucket holds everything under 0.01 ms');
  assert.equal(h.quantile(1), 10_000_000);
  const buckets = h.buckets();
  assert.equal(buckets.reduce((n, b) => n + b.count, 0), 3);
  assert.ok(buckets.length < 250, 'bounded number of buckets');
});

test('the throughput series merges neighbours instead of growing past maxPoints', () => {
  const series = new ThroughputSeries(1000, 10);
  for (let t = 0; t < 100_000; t += 100) series.add(t, 1, 1);
  const points = series.points();
  assert.ok(points.length <= 10, `${points.length} points`);
  assert.equal(points.reduce((n, p) => n + p.sent, 0), 1000);
  assert.equal(points.reduce((n, p) => n + p.acked, 0), 1000);
  assert.equal(points[0]?.widthMs, 16_000);
});

test('since(snapshot) holds only what was recorded after the snapshot: a steady phase without the ramp', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 1_000; i++) h.record(500); // the ramp: slow acks
  const before = h.snapshot();
  for (let i = 0; i < 10_000; i++) h.record(10 + (i % 10)); // steady: 10–19 ms
  const steady = h.since(before).summary();
  assert.equal(steady.count, 10_000);
  assert.ok(steady.p99 >= 19 && steady.p99 < 21, `p99 ${steady.p99}`);
  assert.ok(steady.max < 21, `max ${steady.max}: the ramp's 500 ms is not in it`);
  assert.ok(Math.abs(steady.mean - 14.5) < 0.01, `mean ${steady.mean}`);
  assert.ok(h.summary().p99 >= 500, 'the whole run still has the ramp');
  assert.deepEqual(h.since(h.snapshot()).summary(), { count: 0, p50: 0, p99: 0, max: 0, mean: 0 });
});
