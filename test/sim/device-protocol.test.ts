import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHubMessage } from '../../firmware-sim/hub-messages.js';
import { SendPacer } from '../../firmware-sim/send-pacer.js';
import { garbageFrame, oversizeFrame } from '../../firmware-sim/behaviors.js';
import { classifyConnectError } from '../../firmware-sim/connect-errors.js';
import { seededRandom } from '../../firmware-sim/sensor-model.js';

test('hub messages parse: hello, ack, nack; anything else is ignored', () => {
  const hello = parseHubMessage('{"hello":{"device":"d1","lastSeq":41,"limits":{"maxPayloadBytes":16384,"msgsPerSec":10,"burst":50,"msgsPerDay":200000,"maxFields":32}}}');
  assert.equal(hello.type, 'hello');
  if (hello.type === 'hello') {
    assert.equal(hello.lastSeq, 41);
    assert.equal(hello.limits.msgsPerSec, 10);
  }
  const fresh = parseHubMessage('{"hello":{"device":"d1","lastSeq":null,"limits":{"maxPayloadBytes":1,"msgsPerSec":1,"burst":1}}}');
  assert.equal(fresh.type === 'hello' && fresh.lastSeq, null);
  assert.deepEqual(parseHubMessage('{"ack":7}'), { type: 'ack', seq: 7 });
  assert.deepEqual(parseHubMessage('{"nack":3,"error":"rate_limited","retryAfterMs":250}'), { type: 'nack', seq: 3, error: 'rate_limited', retryAfterMs: 250 });
  assert.deepEqual(parseHubMessage('{"nack":null,"error":"invalid_json"}'), { type: 'nack', seq: null, error: 'invalid_json', retryAfterMs: null });
  for (const text of ['nope', '[]', '{"ack":"7"}', '{"hello":{"device":"d1"}}', '{}']) assert.equal(parseHubMessage(text).type, 'unknown', text);
});

test('the pacer keeps under hello.limits and honours retryAfterMs', () => {
  const pacer = new SendPacer(10, 5, 0);
  let sent = 0;
  // Burst minus one at once, then about 9 per second (90 % of the rate).
  while (pacer.tryTake(0)) sent++;
  assert.equal(sent, 4);
  for (let t = 0; t <= 10_000; t += 10) if (pacer.tryTake(t)) sent++;
  assert.ok(sent >= 4 + 85 && sent <= 4 + 91, `${sent}`);
  assert.ok(pacer.waitMs(10_000) > 0);
  pacer.pause(2_000, 20_000);
  assert.equal(pacer.tryTake(21_000), false);
  assert.equal(pacer.waitMs(21_000), 1_000);
  assert.equal(pacer.tryTake(22_200), true);
});

test('garbage frames are invalid JSON and invalid messages in turn', () => {
  const random = seededRandom(3);
  for (let i = 0; i < 40; i++) {
    const frame = garbageFrame(i, random);
    let parsed: unknown;
    let json = true;
    try {
      parsed = JSON.parse(frame);
    } catch {
      json = false;
    }
    if (i % 2 === 0) assert.equal(json, false, frame);
    else {
      assert.equal(json, true, frame);
      const ok = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'seq' in parsed && 'data' in parsed
        && Number.isInteger((parsed as { seq: unknown }).seq) && ((parsed as { seq: number }).seq) >= 1
        && Object.entries((parsed as { data: Record<string, unknown> }).data).every(([k, v]) => /^[A-Za-z_]\w{0,63}$/.test(k) && (typeof v === 'number' || (typeof v === 'string' && v.length <= 256)));
      assert.equal(ok, false, `valid telemetry slipped in: ${frame}`);
    }
  }
});

test('the oversize frame is one byte over the limit', () => {
  assert.equal(Buffer.byteLength(oversizeFrame(12, 16_384)), 16_385);
  assert.doesNotThrow(() => JSON.parse(oversizeFrame(1, 100)));
});

test('connect errors are named for the closes table', () => {
  const withCode = (code: string, message = ''): Error => Object.assign(new Error(message), { code });
  assert.equal(classifyConnectError(withCode('ECONNREFUSED')), 'connect_error');
  assert.equal(classifyConnectError(withCode('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')), 'handshake_refused:unknown_ca');
  assert.equal(classifyConnectError(withCode('ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED')), 'handshake_refused:certificate_revoked');
  assert.equal(classifyConnectError(withCode('ECONNRESET', 'socket hang up')), 'handshake_refused');
  assert.equal(classifyConnectError(withCode('DEPTH_ZERO_SELF_SIGNED_CERT')), 'server_cert_rejected');
  assert.equal(classifyConnectError(new Error('Unexpected server response: 503')), 'http_503');
  assert.equal(classifyConnectError(new Error('Opening handshake has timed out')), 'connect_timeout');
  assert.equal(classifyConnectError(null), 'handshake_refused');
});
