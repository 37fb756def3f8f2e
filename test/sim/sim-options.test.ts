import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFleethubError } from '../../src/errors.js';
import { deviceId, resolveSimOptions, DEFAULT_SIM_DEVICES, DEFAULT_SIM_URL } from '../../firmware-sim/sim-options.js';
import { batchIds } from '../../src/pki/batch-issue.js';

test('defaults resolve to a complete, frozen object', () => {
  const o = resolveSimOptions({}, {});
  assert.equal(o.url, DEFAULT_SIM_URL);
  assert.equal(o.devices, DEFAULT_SIM_DEVICES);
  assert.equal(o.pkiDir, './certs');
  assert.match(o.caFile, /certs[/\\]ca\.crt$/);
  assert.equal(o.behavior, 'normal');
  assert.equal(o.tls, '1.2');
  assert.equal(o.durationMs, 30_000);
  assert.ok(Object.isFrozen(o));
  assert.equal(resolveSimOptions({}, { FLEETHUB_PKI: '/x/pki' }).pkiDir, '/x/pki');
});

test('command-line strings are parsed', () => {
  const o = resolveSimOptions({ devices: '250', rate: '0.5', duration: '2m', drainTimeout: '500ms', payloadBytes: '512', tls: '1.3', behavior: 'flood', localAddresses: '127.0.0.2, 127.0.0.3' }, {});
  assert.deepEqual(
    [o.devices, o.rate, o.durationMs, o.drainTimeoutMs, o.payloadBytes, o.tls, o.behavior, o.localAddresses],
    [250, 0.5, 120_000, 500, 512, '1.3', 'flood', ['127.0.0.2', '127.0.0.3']],
  );
  assert.equal(resolveSimOptions({ duration: '30' }, {}).durationMs, 30_000);
  const more = resolveSimOptions({ connectTimeout: '90s', tlsResume: true, stormEvery: '2', outbox: '16', seed: '42' }, {});
  assert.deepEqual([more.connectTimeoutMs, more.tlsResume, more.stormEveryMs, more.outbox, more.seed], [90_000, true, 2_000, 16, 42]);
  assert.equal(resolveSimOptions({ duration: 1.5 }, {}).durationMs, 1500);
});

test('a bad flag fails with one line naming it', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ devices: '0' }, /--devices must be an integer from 1/],
    [{ devices: 'ten' }, /--devices/],
    [{ rate: '-1' }, /--rate/],
    [{ duration: 'soon' }, /--duration must be a duration/],
    [{ behavior: 'chaos' }, /--behavior must be "normal", "flood", .* or "reconnect-storm", got "chaos"$/],
    [{ tls: '1.1' }, /--tls must be "1.2" or "1.3", got "1.1"$/],
    [{ url: 'ws://localhost:8443/v1/device' }, /--url must be a wss:\/\/ URL/],
    [{ prefix: '-bad' }, /--prefix/],
    [{ prefix: 'p'.repeat(57) }, /--prefix/],
    [{ prefix: 'a/b' }, /--prefix/],
    [{ outbox: '5000' }, /--outbox/],
    [{ localAddresses: 'host.example' }, /--local-addresses/],
    [{ localAddresses: '127.0.0.300' }, /--local-addresses must be a comma-separated list of IP addresses/],
    [{ localAddresses: ' , ' }, /--local-addresses/],
    [{ url: 'wss://127.0.0.1:8443/v1/device', localAddresses: '127.0.0.2,::1' }, /--local-addresses must be IPv4 addresses[^]*"::1"/],
    [{ url: 'wss://[::1]:8443/v1/device', localAddresses: '127.0.0.2' }, /--local-addresses must be IPv6 addresses/],
    [{ connectTimeout: '-1' }, /--connect-timeout/],
    [{ stormEvery: '10ms' }, /--storm-every must be at least 100ms/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => resolveSimOptions(input, {}), (err: unknown) => isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT') && message.test(err.message) && !err.message.includes('\n'));
  }
});

test('a prefix of 56 characters is the longest (every id it makes is a device id)', () => {
  assert.equal(resolveSimOptions({ prefix: 'p'.repeat(56) }, {}).prefix, 'p'.repeat(56));
});

test('device ids match the ones `device add --count N --prefix P` issues', () => {
  for (const count of [1, 50, 9999, 12_000]) {
    const ids = batchIds('sim', count);
    assert.equal(deviceId('sim', 0, count), ids[0]);
    assert.equal(deviceId('sim', count - 1, count), ids[count - 1]);
  }
});
