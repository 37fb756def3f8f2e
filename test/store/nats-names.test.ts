/**
 * Device ids and cursor names as NATS subject tokens and KV keys: `.` (a
 * token separator), wildcards and anything else outside [A-Za-z0-9_-] are
 * escaped, reversibly, and distinct names stay distinct.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeToken, encodeToken, natsNames } from '../../src/store/jetstream/nats-names.js';

describe('NATS names', () => {
  it('encodes a device id as one subject token and back', () => {
    assert.equal(encodeToken('esp32-a_1'), 'esp32-a_1');
    assert.equal(encodeToken('dev.1'), 'dev=2E1');
    const names = ['dev.1', 'dev=2E1', 'a.b.c', '*', '>', 'x y', 'é', '__proto__', 'constructor', '.', '..', '=', 'a=2E'];
    const tokens = names.map(encodeToken);
    assert.equal(new Set(tokens).size, names.length, 'distinct names, distinct tokens');
    for (const [i, token] of tokens.entries()) {
      assert.match(token, /^[A-Za-z0-9_=-]+$/, 'one token, no separator or wildcard, valid as a KV key');
      assert.equal(decodeToken(token), names[i]);
    }
    assert.throws(() => decodeToken('a.b'));
    assert.throws(() => decodeToken('=2'));
  });

  it('names a cluster\'s stream, subjects and bucket from one prefix', () => {
    assert.deepEqual(natsNames(), {
      stream: 'fleethub-readings', readingsPrefix: 'fleethub.readings.', readingsFilter: 'fleethub.readings.>', cursorBucket: 'fleethub-cursors', hubBucket: 'fleethub-hubs', seqResetBucket: 'fleethub-seq-resets',
    });
    assert.throws(() => natsNames('a.b'));
    assert.throws(() => natsNames(''));
  });
});
