/**
 * The Prometheus text the console serves at /metrics: what a scraper parses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry } from '../../src/metrics.js';

test('counters and gauges render in the text format, label values escaped', () => {
  const registry = new MetricsRegistry();
  const closes = registry.counter('fleethub_test_closes_total', 'Closes by code.');
  const up = registry.gauge('fleethub_test_up', 'Up.');
  closes.inc({ code: '4029' });
  closes.inc({ code: '4029' }, 2);
  closes.inc({ code: 'a"b\\c\nd', kind: 'x' });
  up.set(1);
  assert.equal(closes.value({ code: '4029' }), 3);
  assert.equal(registry.render(), [
    '# HELP fleethub_test_closes_total Closes by code.',
    '# TYPE fleethub_test_closes_total counter',
    'fleethub_test_closes_total{code="4029"} 3',
    'fleethub_test_closes_total{code="a\\"b\\\\c\\nd",kind="x"} 1',
    '# HELP fleethub_test_up Up.',
    '# TYPE fleethub_test_up gauge',
    'fleethub_test_up 1',
    '',
  ].join('\n'));
});

test('a gauge never set renders 0; a counter never counted renders no sample', () => {
  const registry = new MetricsRegistry();
  registry.gauge('fleethub_test_idle', 'Idle.');
  registry.counter('fleethub_test_none_total', 'None.');
  assert.match(registry.render(), /^fleethub_test_idle 0$/m);
  assert.doesNotMatch(registry.render(), /^fleethub_test_none_total /m);
});

test('a bound counter adds to its labelled series; an observed gauge is read at each render', () => {
  const registry = new MetricsRegistry();
  const handshakes = registry.counter('fleethub_test_handshakes_total', 'Handshakes.');
  const full = handshakes.labels({ result: 'full' });
  full.inc();
  full.inc(2);
  handshakes.inc({ result: 'full' });
  let open = 3;
  registry.observedGauge('fleethub_test_open', 'Open.', () => open);
  assert.equal(handshakes.value({ result: 'full' }), 4);
  assert.match(registry.render(), /^fleethub_test_handshakes_total\{result="full"\} 4$/m);
  assert.match(registry.render(), /^fleethub_test_open 3$/m);
  open = 0;
  assert.match(registry.render(), /^fleethub_test_open 0$/m);
  assert.throws(() => registry.observedGauge('fleethub_test_open', 'Again.', () => 1), /registered twice/);
});
