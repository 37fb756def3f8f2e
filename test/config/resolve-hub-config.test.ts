import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import {
  DEFAULT_LIMITS,
  DEFAULT_DEVICE_PORT,
  DEFAULT_CONSOLE_PORT,
  DEFAULT_DASHBOARD_PING_INTERVAL_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_TOKEN_KEY_CHECK_MS,
  DEFAULT_MAX_REFUSALS_PER_MINUTE,
  DEFAULT_MAX_UNREAD_REPLY_BYTES,
  DEFAULT_DEVICE_BACKLOG,
  resolveHubConfig,
} from '../../src/hub/config.js';
import { FleethubError } from '../../src/errors.js';
import { DEFAULT_CLUSTER_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_INTERVAL_MS } from '../../src/store/store-config.js';

const ctx = { baseDir: '/etc/fleethub' };

function configError(raw: unknown): string {
  try {
    resolveHubConfig(raw, ctx);
  } catch (err) {
    assert.ok(err instanceof FleethubError, `expected a FleethubError, got ${String(err)}`);
    assert.equal(err.code, 'FH_ERR_CONFIG');
    assert.equal(err.exitCode, 7);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected the config to be refused');
}

test('an empty config is the embedded defaults, frozen', () => {
  const { hub, sinks } = resolveHubConfig({}, { baseDir: '/somewhere' });
  assert.equal(hub.device.port, DEFAULT_DEVICE_PORT);
  assert.equal(hub.device.host, '0.0.0.0');
  assert.equal(hub.console.port, DEFAULT_CONSOLE_PORT);
  assert.equal(hub.console.origins, null);
  assert.deepEqual(hub.limits, DEFAULT_LIMITS);
  assert.equal(hub.device.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS);
  assert.equal(hub.console.tokenKeyCheckMs, DEFAULT_TOKEN_KEY_CHECK_MS);
  assert.equal(hub.console.pingIntervalMs, DEFAULT_DASHBOARD_PING_INTERVAL_MS);
  // Defaults are relative to the working directory, not to the config's folder.
  assert.equal(hub.pkiDir, resolve('certs'));
  assert.equal(hub.dataDir, resolve('data'));
  assert.deepEqual(sinks, []);
  assert.ok(Object.isFrozen(hub) && Object.isFrozen(hub.device) && Object.isFrozen(hub.limits));
});

test('paths written in a config file are relative to its folder; FLEETHUB_PKI is the default pkiDir', () => {
  const { hub } = resolveHubConfig({ pkiDir: 'pki', dataDir: '/var/lib/fleethub' }, ctx);
  assert.equal(hub.pkiDir, '/etc/fleethub/pki');
  assert.equal(hub.dataDir, '/var/lib/fleethub');
  const fromEnv = resolveHubConfig({}, { baseDir: '/etc/fleethub', envPki: '/srv/pki' });
  assert.equal(fromEnv.hub.pkiDir, '/srv/pki');
});

test('limits override the defaults and plans override the limits', () => {
  const { hub } = resolveHubConfig(
    { limits: { msgsPerSec: 5, burst: 10 }, plans: { premium: { msgsPerSec: 50 }, tiny: { maxFields: 2 } } },
    ctx,
  );
  assert.equal(hub.limits.msgsPerSec, 5);
  assert.equal(hub.limits.burst, 10);
  assert.equal(hub.limits.maxPayloadBytes, DEFAULT_LIMITS.maxPayloadBytes);
  assert.deepEqual(hub.plans.premium, { ...hub.limits, msgsPerSec: 50 });
  assert.deepEqual(hub.plans.tiny, { ...hub.limits, maxFields: 2 });
});

test('plan names are data: constructor is a plan like any other, toString is none', () => {
  const { hub } = resolveHubConfig(JSON.parse('{"plans":{"constructor":{"msgsPerSec":3}}}'), ctx);
  assert.deepEqual({ ...hub.plans.constructor }, { ...hub.limits, msgsPerSec: 3 });
  assert.equal('toString' in hub.plans, false);
  assert.equal('hasOwnProperty' in resolveHubConfig({}, ctx).hub.plans, false);
});

test('port 0 is allowed (the hub picks a free port)', () => {
  const { hub } = resolveHubConfig({ device: { port: 0, host: '127.0.0.1' }, console: { port: 0 } }, ctx);
  assert.equal(hub.device.port, 0);
  assert.equal(hub.console.port, 0);
});

test('console.origins are normalised origins', () => {
  const { hub } = resolveHubConfig({ console: { origins: ['https://dash.example.com', 'http://localhost:3000/'] } }, ctx);
  assert.deepEqual(hub.console.origins, ['https://dash.example.com', 'http://localhost:3000']);
});

test('console timings are taken from the config, at their bounds too', () => {
  const { hub } = resolveHubConfig({ console: { tokenKeyCheckMs: 500, pingIntervalMs: 10_000 } }, ctx);
  assert.equal(hub.console.tokenKeyCheckMs, 500);
  assert.equal(hub.console.pingIntervalMs, 10_000);
  const low = resolveHubConfig({ console: { tokenKeyCheckMs: 50, pingIntervalMs: 100 } }, ctx).hub.console;
  assert.deepEqual([low.tokenKeyCheckMs, low.pingIntervalMs], [50, 100]);
  const high = resolveHubConfig({ console: { tokenKeyCheckMs: 60_000, pingIntervalMs: 3_600_000 } }, ctx).hub.console;
  assert.deepEqual([high.tokenKeyCheckMs, high.pingIntervalMs], [60_000, 3_600_000]);
});

test('every bad value stops start-up with one line naming the key', () => {
  assert.equal(configError({ limits: { msgsPerSec: -5 } }), 'config: limits.msgsPerSec must be an integer from 1 to 100000, got -5');
  assert.match(configError({ limits: { maxPayloadBytes: 200 * 1024 * 1024 } }), /^config: limits\.maxPayloadBytes must be an integer from 256 to 1048576/);
  assert.match(configError({ device: { port: 70000 } }), /^config: device\.port /);
  assert.match(configError({ device: { port: '8443' } }), /^config: device\.port .*got "8443"$/);
  assert.match(configError({ console: { origins: 'https://x' } }), /^config: console\.origins must be an array/);
  assert.match(configError({ console: { origins: ['https://x.example/path'] } }), /^config: console\.origins\[0\] must be an origin/);
  assert.equal(configError({ console: { tokenKeyCheckMs: 49 } }), 'config: console.tokenKeyCheckMs must be an integer from 50 to 60000, got 49');
  assert.equal(configError({ console: { tokenKeyCheckMs: 60_001 } }), 'config: console.tokenKeyCheckMs must be an integer from 50 to 60000, got 60001');
  assert.equal(configError({ console: { tokenKeyCheckMs: '2s' } }), 'config: console.tokenKeyCheckMs must be an integer from 50 to 60000, got "2s"');
  assert.equal(configError({ console: { pingIntervalMs: 0 } }), 'config: console.pingIntervalMs must be an integer from 100 to 3600000, got 0');
  assert.equal(configError({ console: { pingIntervalMs: 1500.5 } }), 'config: console.pingIntervalMs must be an integer from 100 to 3600000, got 1500.5');
  assert.equal(configError({ console: { pingIntervalMs: 3_600_001 } }), 'config: console.pingIntervalMs must be an integer from 100 to 3600000, got 3600001');
  assert.match(configError({ plans: { premium: { burst: 0 } } }), /^config: plans\.premium\.burst /);
  assert.match(configError({ plans: { 'bad name': {} } }), /^config: plans\.bad name /);
  assert.match(configError({ store: { segmentBytes: 10 } }), /^config: store\.segmentBytes /);
  assert.equal(configError({ store: { commitIntervalMs: 1001 } }), 'config: store.commitIntervalMs must be an integer from 0 to 1000, got 1001');
  assert.match(configError({ pkiDir: '' }), /^config: pkiDir must be a non-empty string/);
  assert.match(configError({ sinks: {} }), /^config: sinks must be an array/);
  assert.match(configError([]), /^config: \(top level\) must be a JSON object/);
});

test('store.commitIntervalMs defaults to 10 ms, and to 50 ms in cluster mode, where a group commit is a Raft round', () => {
  const cluster = { node: 'hub-a', nats: { servers: ['nats://127.0.0.1:4222'] } };
  assert.equal(resolveHubConfig({}, ctx).hub.store.commitIntervalMs, DEFAULT_COMMIT_INTERVAL_MS);
  assert.equal(DEFAULT_COMMIT_INTERVAL_MS, 10);
  assert.equal(resolveHubConfig({ cluster }, ctx).hub.store.commitIntervalMs, DEFAULT_CLUSTER_COMMIT_INTERVAL_MS);
  assert.equal(DEFAULT_CLUSTER_COMMIT_INTERVAL_MS, 50);
  // Set, it is the operator's in either mode.
  assert.equal(resolveHubConfig({ cluster, store: { commitIntervalMs: 10 } }, ctx).hub.store.commitIntervalMs, 10);
  assert.equal(resolveHubConfig({ store: { commitIntervalMs: 50 } }, ctx).hub.store.commitIntervalMs, 50);
  assert.equal(configError({ cluster, store: { commitIntervalMs: 1001 } }), 'config: store.commitIntervalMs must be an integer from 0 to 1000, got 1001');
});

test('an unknown key stops start-up, naming it', () => {
  assert.match(configError({ devices: {} }), /^config: unknown key devices /);
  assert.match(configError({ device: { prot: 1 } }), /^config: unknown key device\.prot /);
  assert.match(configError({ limits: { msgPerSec: 1 } }), /^config: unknown key limits\.msgPerSec /);
  assert.match(configError({ console: { pingIntervalMS: 1000 } }), /^config: unknown key console\.pingIntervalMS \(known: .*\btokenKeyCheckMs, pingIntervalMs\b/);
});

test('device.maxUnreadReplyBytes and device.maxRefusalsPerMinute: defaults, overrides and bounds', () => {
  const { hub } = resolveHubConfig({}, ctx);
  assert.equal(hub.device.maxUnreadReplyBytes, DEFAULT_MAX_UNREAD_REPLY_BYTES);
  assert.equal(hub.device.maxRefusalsPerMinute, DEFAULT_MAX_REFUSALS_PER_MINUTE);
  const set = resolveHubConfig({ device: { maxUnreadReplyBytes: 8192, maxRefusalsPerMinute: 30 } }, ctx).hub.device;
  assert.deepEqual([set.maxUnreadReplyBytes, set.maxRefusalsPerMinute], [8192, 30]);
  assert.match(configError({ device: { maxUnreadReplyBytes: 100 } }), /device\.maxUnreadReplyBytes must be an integer from 1024 to/);
  assert.match(configError({ device: { maxRefusalsPerMinute: 0 } }), /device\.maxRefusalsPerMinute must be an integer from 1 to/);
});

test('device.backlog: default, override and bounds', () => {
  assert.equal(resolveHubConfig({}, ctx).hub.device.backlog, DEFAULT_DEVICE_BACKLOG);
  assert.equal(resolveHubConfig({ device: { backlog: 1 } }, ctx).hub.device.backlog, 1);
  assert.equal(resolveHubConfig({ device: { backlog: 65_535 } }, ctx).hub.device.backlog, 65_535);
  assert.equal(configError({ device: { backlog: 0 } }), 'config: device.backlog must be an integer from 1 to 65535, got 0');
  assert.equal(configError({ device: { backlog: 65_536 } }), 'config: device.backlog must be an integer from 1 to 65535, got 65536');
  assert.equal(configError({ device: { backlog: '4096' } }), 'config: device.backlog must be an integer from 1 to 65535, got "4096"');
});
