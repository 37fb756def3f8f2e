import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/hub/token-bucket.js';
import { ConnectionGate } from '../../src/hub/connection-gate.js';
import { limitsForPlan, quotaAllows } from '../../src/hub/device-limits.js';
import { DEFAULT_LIMITS } from '../../src/hub/config.js';

test('token bucket: burst at once, then msgsPerSec, with retryAfterMs', () => {
  let t = 0;
  const bucket = new TokenBucket({ ratePerSec: 10, burst: 3, now: () => t });
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0]);
  assert.equal(bucket.take(), 100);
  t = 50;
  assert.equal(bucket.take(), 50);
  t = 100;
  assert.equal(bucket.take(), 0);
  t = 100_000;
  assert.equal(bucket.tokens, 3, 'never more than burst');
});

test('connection gate: global, per-IP concurrent and per-IP new per second', () => {
  let t = 0;
  const gate = new ConnectionGate({ maxConnections: 4, maxConnectionsPerIp: 2, newConnectionsPerIpPerSec: 3, now: () => t });
  assert.equal(gate.admit('a'), null);
  assert.equal(gate.admit('a'), null);
  assert.equal(gate.admit('a'), 'max_connections_per_ip');
  gate.release('a');
  assert.equal(gate.admit('a'), null);
  gate.release('a');
  assert.equal(gate.admit('a'), 'new_connections_per_ip');
  t = 1000;
  assert.equal(gate.admit('a'), null);
  assert.equal(gate.admit('b'), null);
  assert.equal(gate.admit('c'), null);
  assert.equal(gate.open, 4);
  assert.equal(gate.admit('d'), 'max_connections');
  gate.release('c');
  gate.release('c');
  assert.equal(gate.open, 3, 'a double release is ignored');
});

test('limits come from the plan, unknown plans fall back to the defaults', () => {
  const gold = { ...DEFAULT_LIMITS, msgsPerSec: 100 };
  const config = { limits: DEFAULT_LIMITS, plans: { gold } };
  assert.deepEqual(limitsForPlan(config, 'gold'), { limits: gold, known: true });
  assert.deepEqual(limitsForPlan(config, undefined), { limits: DEFAULT_LIMITS, known: true });
  assert.deepEqual(limitsForPlan(config, 'toString'), { limits: DEFAULT_LIMITS, known: false });
});

test('daily quota counts stored and in-flight readings', () => {
  assert.equal(quotaAllows(9, 0, 10), true);
  assert.equal(quotaAllows(9, 1, 10), false);
});
