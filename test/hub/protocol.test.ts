import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackMessage, helloMessage, MAX_TS_SKEW_MS, MIN_TS, nackMessage, parseFrame, withinCodePoints } from '../../src/hub/protocol.js';
import { wsErrorCloseCode } from '../../src/hub/ws-close-codes.js';
import { DEFAULT_LIMITS } from '../../src/hub/config.js';

const now = Date.UTC(2026, 10, 22, 12);
const ctx = { maxFields: 3, now };

test('a telemetry message is accepted, ts defaults to the receive time', () => {
  assert.deepEqual(parseFrame('{"seq":1,"data":{"temp":21.5,"on":true,"mode":"eco"}}', ctx), [
    { ok: true, message: { seq: 1, ts: now, data: { temp: 21.5, on: true, mode: 'eco' } } },
  ]);
  const [item] = parseFrame(`{"seq":2,"ts":${now - 1000},"data":{"t":1}}`, ctx);
  assert.equal(item?.ok && item.message.ts, now - 1000);
});

test('not JSON or not an object is invalid_json with seq null', () => {
  for (const frame of ['{', 'null', '[1]', '"x"', '42']) {
    const [item] = parseFrame(frame, ctx);
    assert.deepEqual(item && !item.ok && [item.seq, item.error], [null, 'invalid_json'], frame);
  }
});

test('seq must be a safe integer >= 1, else nack null', () => {
  for (const seq of ['0', '-1', '1.5', '"1"', 'null', String(Number.MAX_SAFE_INTEGER + 1)]) {
    const [item] = parseFrame(`{"seq":${seq},"data":{"t":1}}`, ctx);
    assert.deepEqual(item && !item.ok && [item.seq, item.error], [null, 'invalid_message'], seq);
  }
  const [max] = parseFrame(`{"seq":${Number.MAX_SAFE_INTEGER},"data":{"t":1}}`, ctx);
  assert.equal(max?.ok, true);
});

test('bad data is invalid_message nacked with its seq', () => {
  const bad = [
    '{"seq":7,"data":{"1x":1}}',
    '{"seq":7,"data":{"a-b":1}}',
    `{"seq":7,"data":{"${'a'.repeat(65)}":1}}`,
    '{"seq":7,"data":{"a":null}}',
    '{"seq":7,"data":{"a":{"b":1}}}',
    '{"seq":7,"data":{"a":[1]}}',
    `{"seq":7,"data":{"a":"${'x'.repeat(257)}"}}`,
    '{"seq":7,"data":{"a":1,"b":2,"c":3,"d":4}}',
    '{"seq":7,"data":{}}',
    '{"seq":7,"data":[]}',
    '{"seq":7}',
    '{"seq":7,"data":{"a":1},"extra":1}',
    '{"seq":7,"ts":"now","data":{"a":1}}',
    `{"seq":7,"ts":${MIN_TS - 1},"data":{"a":1}}`,
    `{"seq":7,"ts":${now + MAX_TS_SKEW_MS + 1},"data":{"a":1}}`,
  ];
  for (const frame of bad) {
    const [item] = parseFrame(frame, ctx);
    assert.deepEqual(item && !item.ok && [item.seq, item.error], [7, 'invalid_message'], frame);
  }
  const ok = [`{"seq":7,"data":{"_a9":1,"${'a'.repeat(64)}":"${'x'.repeat(256)}","c":false}}`, `{"seq":7,"ts":${MIN_TS},"data":{"a":1}}`];
  for (const frame of ok) assert.equal(parseFrame(frame, ctx)[0]?.ok, true, frame);
});

test('values that JSON cannot carry as finite numbers are refused', () => {
  // 1e400 parses to Infinity.
  const [item] = parseFrame('{"seq":3,"data":{"a":1e400}}', ctx);
  assert.equal(item?.ok, false);
});

test('a batch is judged message by message, up to 100', () => {
  const items = parseFrame('{"batch":[{"seq":1,"data":{"a":1}},{"seq":2,"data":{}},{"data":{"a":1}}]}', ctx);
  assert.deepEqual(
    items.map((i) => (i.ok ? i.message.seq : [i.seq, i.error])),
    [1, [2, 'invalid_message'], [null, 'invalid_message']],
  );
  const hundred = JSON.stringify({ batch: Array.from({ length: 100 }, (_, i) => ({ seq: i + 1, data: { a: i } })) });
  assert.equal(parseFrame(hundred, ctx).filter((i) => i.ok).length, 100);
  const over = JSON.stringify({ batch: Array.from({ length: 101 }, (_, i) => ({ seq: i + 1, data: { a: i } })) });
  assert.deepEqual(parseFrame(over, ctx).map((i) => !i.ok && [i.seq, i.error]), [[null, 'invalid_message']]);
  for (const frame of ['{"batch":[]}', '{"batch":{}}', '{"batch":[{"seq":1,"data":{"a":1}}],"seq":1}']) {
    assert.deepEqual(parseFrame(frame, ctx).map((i) => !i.ok && i.seq), [null], frame);
  }
});

test('hub messages follow the SPEC shapes', () => {
  assert.deepEqual(JSON.parse(helloMessage('d1', null, DEFAULT_LIMITS)), {
    hello: { device: 'd1', lastSeq: null, limits: { maxPayloadBytes: 16384, msgsPerSec: 10, burst: 50, msgsPerDay: 200000, maxFields: 32 } },
  });
  // Each limits object's JSON is kept; another plan's limits give their own.
  assert.deepEqual(JSON.parse(helloMessage('d2', 7, DEFAULT_LIMITS)).hello, { device: 'd2', lastSeq: 7, limits: JSON.parse(helloMessage('d1', null, DEFAULT_LIMITS)).hello.limits });
  const plan = { ...DEFAULT_LIMITS, msgsPerSec: 1, burst: 2 };
  assert.deepEqual(JSON.parse(helloMessage('d3', 9, plan)).hello, { device: 'd3', lastSeq: 9, limits: { maxPayloadBytes: 16384, msgsPerSec: 1, burst: 2, msgsPerDay: 200000, maxFields: 32 } });
  assert.deepEqual(JSON.parse(ackMessage(42)), { ack: 42 });
  assert.deepEqual(JSON.parse(nackMessage(5, 'rate_limited', 100)), { nack: 5, error: 'rate_limited', retryAfterMs: 100 });
  assert.deepEqual(JSON.parse(nackMessage(null, 'invalid_json')), { nack: null, error: 'invalid_json' });
});

test('string lengths are code points: a pair of surrogates is one character, a lone one counts as one', () => {
  assert.equal(withinCodePoints('😀'.repeat(256), 256), true);
  assert.equal(withinCodePoints('😀'.repeat(257), 256), false);
  assert.equal(withinCodePoints(`${'😀'.repeat(254)}ab`, 256), true);
  assert.equal(withinCodePoints('\ud800'.repeat(256), 256), true);
  assert.equal(withinCodePoints(`${'\ud800'.repeat(256)}x`, 256), false);
  assert.equal(withinCodePoints('x'.repeat(513), 256), false);
  const [emoji] = parseFrame(`{"seq":1,"data":{"e":"${'😀'.repeat(256)}"}}`, ctx);
  assert.equal(emoji?.ok, true);
});

test('ws errors map to the close code ws sent; socket errors to none', () => {
  assert.equal(wsErrorCloseCode({ code: 'WS_ERR_INVALID_UTF8' }), 1007);
  assert.equal(wsErrorCloseCode({ code: 'WS_ERR_EXPECTED_MASK' }), 1002);
  assert.equal(wsErrorCloseCode({ code: 'WS_ERR_INVALID_OPCODE' }), 1002);
  assert.equal(wsErrorCloseCode({ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }), 1009);
  assert.equal(wsErrorCloseCode({ code: 'ECONNRESET' }), null);
  assert.equal(wsErrorCloseCode({}), null);
});
