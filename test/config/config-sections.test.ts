/**
 * One config reader: every area's section refuses an unknown key, a wrong
 * type and an out-of-range value with one line naming the full key, and the
 * rules that two validators used to disagree on are now one rule.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { resolveSimOptions } from '../../firmware-sim/sim-options.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import { readIntOptions } from '../../src/config/config-reader.js';
import { FleethubError } from '../../src/errors.js';
import { hubConfigOf, resolveHubConfig } from '../../src/hub/config.js';
import { createHub } from '../../src/hub/hub.js';
import { DEFAULT_PKI_DIR, defaultPkiDir } from '../../src/pki/index.js';
import { resolveClusterConfig } from '../../src/store/cluster-config.js';
import { resolveJetStreamStoreOptions } from '../../src/store/jetstream/jetstream-options.js';
import { DEFAULT_STORE_CONFIG, type StoreConfig } from '../../src/store/store-config.js';
import { resolveStoreOptions } from '../../src/store/store-options.js';
import { makeTestPki } from '../helpers/pki.js';

/** The one line `run` throws, after checking its code and that it is one line. */
function refusal(run: () => unknown, code: 'FH_ERR_CONFIG' | 'FH_ERR_INVALID_ARGUMENT' = 'FH_ERR_CONFIG'): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof FleethubError, `expected a FleethubError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected a refusal');
}

const hub = (raw: unknown) => () => resolveHubConfig(raw, { baseDir: '/etc/fleethub' });
const sinks = (raw: unknown) => () => resolveSinkConfigs(raw);
const cluster = (raw: unknown) => () => resolveClusterConfig(raw, '/etc/fleethub');
const storeInCode = (config: Record<string, unknown>) => () => resolveStoreOptions({ ...DEFAULT_STORE_CONFIG, ...config } as StoreConfig, {});
const sim = (input: Record<string, unknown>) => () => resolveSimOptions(input, {});
const CLUSTER = { node: 'hub-a', nats: { servers: ['nats://127.0.0.1:4222'] } };

interface SectionCase {
  readonly area: string;
  readonly unknownKey: [() => unknown, RegExp];
  readonly wrongType: [() => unknown, string];
  readonly outOfRange: [() => unknown, string];
  readonly code?: 'FH_ERR_INVALID_ARGUMENT';
}

const SECTIONS: readonly SectionCase[] = [
  {
    area: 'top level',
    unknownKey: [hub({ devcie: {} }), /^config: unknown key devcie \(known: device, console, pkiDir, dataDir, /],
    wrongType: [hub({ pkiDir: 5 }), 'config: pkiDir must be a non-empty string, got 5'],
    outOfRange: [hub({ dataDir: '   ' }), 'config: dataDir must be a non-empty string, got "   "'],
  },
  {
    area: 'device',
    unknownKey: [hub({ device: { prot: 1 } }), /^config: unknown key device\.prot \(known: host, port, /],
    wrongType: [hub({ device: { port: '8443' } }), 'config: device.port must be an integer from 0 to 65535, got "8443"'],
    outOfRange: [hub({ device: { maxConnections: 0 } }), 'config: device.maxConnections must be a positive integer, got 0'],
  },
  {
    area: 'device.proxyProtocol',
    unknownKey: [hub({ device: { proxyProtocol: { tursted: [] } } }), /^config: unknown key device\.proxyProtocol\.tursted \(known: trusted, /],
    wrongType: [hub({ device: { proxyProtocol: { trusted: '10.0.0.2' } } }), 'config: device.proxyProtocol.trusted must be an array of addresses or CIDRs like "10.0.0.2/32", got "10.0.0.2"'],
    outOfRange: [hub({ device: { proxyProtocol: { maxHeaderBytes: 100 } } }), 'config: device.proxyProtocol.maxHeaderBytes must be an integer from 232 to 65551, got 100'],
  },
  {
    area: 'console',
    unknownKey: [hub({ console: { pingIntervalMS: 1000 } }), /^config: unknown key console\.pingIntervalMS \(known: host, port, origins, /],
    wrongType: [hub({ console: { maxSockets: true } }), 'config: console.maxSockets must be an integer from 1 to 1000000, got true'],
    outOfRange: [hub({ console: { tokenKeyCheckMs: 49 } }), 'config: console.tokenKeyCheckMs must be an integer from 50 to 60000, got 49'],
  },
  {
    area: 'limits',
    unknownKey: [hub({ limits: { msgPerSec: 1 } }), /^config: unknown key limits\.msgPerSec \(known: maxPayloadBytes, msgsPerSec, /],
    wrongType: [hub({ limits: { burst: 2.5 } }), 'config: limits.burst must be an integer from 1 to 1000000, got 2.5'],
    outOfRange: [hub({ limits: { msgsPerSec: -5 } }), 'config: limits.msgsPerSec must be an integer from 1 to 100000, got -5'],
  },
  {
    area: 'plans',
    unknownKey: [hub({ plans: { premium: { brust: 1 } } }), /^config: unknown key plans\.premium\.brust \(known: /],
    wrongType: [hub({ plans: { premium: 'fast' } }), 'config: plans.premium must be an object, got "fast"'],
    outOfRange: [hub({ plans: { premium: { maxFields: 1001 } } }), 'config: plans.premium.maxFields must be an integer from 1 to 1000, got 1001'],
  },
  {
    area: 'store',
    unknownKey: [hub({ store: { segmentByte: 4096 } }), /^config: unknown key store\.segmentByte \(known: segmentBytes, /],
    wrongType: [hub({ store: { retentionHours: '168' } }), 'config: store.retentionHours must be a number from 0 to 876000, got "168"'],
    outOfRange: [hub({ store: { segmentBytes: 511 } }), 'config: store.segmentBytes must be an integer from 512 to 4294967296, got 511'],
  },
  {
    area: 'store (openStore)',
    unknownKey: [storeInCode({ segmentByte: 4096 }), /^config: unknown key store\.segmentByte \(known: segmentBytes, /],
    wrongType: [storeInCode({ retentionHours: '168' }), 'config: store.retentionHours must be a number from 0 to 876000, got "168"'],
    outOfRange: [storeInCode({ segmentBytes: 511 }), 'config: store.segmentBytes must be an integer from 512 to 4294967296, got 511'],
  },
  {
    area: 'cluster',
    unknownKey: [cluster({ ...CLUSTER, replica: 3 }), /^config: unknown key cluster\.replica \(known: node, nats, replicas\)$/],
    wrongType: [cluster({ ...CLUSTER, replicas: '3' }), 'config: cluster.replicas must be an integer from 1 to 5, got "3"'],
    outOfRange: [cluster({ ...CLUSTER, replicas: 6 }), 'config: cluster.replicas must be an integer from 1 to 5, got 6'],
  },
  {
    area: 'cluster.nats.tls',
    unknownKey: [cluster({ ...CLUSTER, nats: { ...CLUSTER.nats, tls: { pem: 'x' } } }), /^config: unknown key cluster\.nats\.tls\.pem \(known: ca, cert, key\)$/],
    wrongType: [cluster({ ...CLUSTER, nats: { ...CLUSTER.nats, tls: { ca: 5 } } }), 'config: cluster.nats.tls.ca must be a non-empty string, got 5'],
    outOfRange: [cluster({ ...CLUSTER, nats: { servers: ['http://x:1'] } }), 'config: cluster.nats.servers[0] must be nats://host:port or tls://host:port, got "http://x:1"'],
  },
  {
    area: 'sinks[i]',
    unknownKey: [sinks([{ type: 'mqtt', name: 'a', url: 'mqtt://h', qso: 1 }]), /^config: unknown key sinks\[0\]\.qso \(known: type, name, /],
    wrongType: [sinks([{ type: 'mqtt', name: 'a', url: 'mqtt://h', retain: 'yes' }]), 'config: sinks[0].retain must be true or false, got "yes"'],
    outOfRange: [sinks([{ type: 'mqtt', name: 'a', url: 'mqtt://h', qos: 3 }]), 'config: sinks[0].qos must be 0, 1 or 2, got 3'],
  },
  {
    area: 'sim flags',
    code: 'FH_ERR_INVALID_ARGUMENT',
    unknownKey: [sim({ devise: 10 }), /^sim: unknown key --devise \(known: --url, --prefix, --pki, --ca, --devices, /],
    wrongType: [sim({ devices: 'ten' }), 'sim: --devices must be an integer from 1 to 50000, got "ten"'],
    outOfRange: [sim({ stormEvery: '10ms' }), 'sim: --storm-every must be at least 100ms, got "10ms"'],
  },
];

describe('every section, one reader', () => {
  for (const section of SECTIONS) {
    it(`${section.area}: refuses an unknown key, a wrong type and an out-of-range value, naming the full key`, () => {
      assert.match(refusal(section.unknownKey[0], section.code), section.unknownKey[1]);
      assert.equal(refusal(section.wrongType[0], section.code), section.wrongType[1]);
      assert.equal(refusal(section.outOfRange[0], section.code), section.outOfRange[1]);
    });
  }

  it('JetStream store options (code, not a file) meet the same integer rule', () => {
    assert.equal(refusal(() => resolveJetStreamStoreOptions({ ackTimeoutMs: 99 })), 'config: jetStreamStoreOptions.ackTimeoutMs must be an integer ≥ 100, got 99');
    assert.equal(refusal(() => resolveJetStreamStoreOptions({ readBatch: '8' as unknown as number })), 'config: jetStreamStoreOptions.readBatch must be a positive integer, got "8"');
  });

  it('integer options given in code (the cluster parts\') take their defaults and meet the same rule', () => {
    const rules = { claimAttempts: [1, 5], checkMs: [10, 5_000] } as const;
    assert.deepEqual(readIntOptions({ connection: {}, checkMs: undefined }, 'partOptions', rules), { claimAttempts: 5, checkMs: 5_000 });
    assert.deepEqual(readIntOptions({ claimAttempts: 2, checkMs: 10 }, 'partOptions', rules), { claimAttempts: 2, checkMs: 10 });
    assert.equal(refusal(() => readIntOptions({ checkMs: 9 }, 'partOptions', rules)), 'config: partOptions.checkMs must be an integer ≥ 10, got 9');
    assert.equal(refusal(() => readIntOptions({ claimAttempts: 1.5 }, 'partOptions', rules)), 'config: partOptions.claimAttempts must be a positive integer, got 1.5');
  });
});

describe('rules that used to disagree', () => {
  const both = (store: Partial<StoreConfig>): [string | null, string | null] => {
    const verdict = (run: () => unknown): string | null => {
      try {
        run();
        return null;
      } catch (err) {
        return err instanceof FleethubError ? err.message : String(err);
      }
    };
    return [verdict(hub({ store })), verdict(storeInCode(store))];
  };

  it('the config file and openStore give every store value the same verdict', () => {
    const cases: Array<[Partial<StoreConfig>, string | null]> = [
      [{ segmentBytes: 512 }, null],
      [{ segmentBytes: 511 }, 'config: store.segmentBytes must be an integer from 512 to 4294967296, got 511'],
      [{ segmentBytes: 1 }, 'config: store.segmentBytes must be an integer from 512 to 4294967296, got 1'],
      [{ retentionHours: 0.5 }, null],
      [{ retentionHours: 876_001 }, 'config: store.retentionHours must be a number from 0 to 876000, got 876001'],
      [{ retentionHours: -1 }, 'config: store.retentionHours must be a number from 0 to 876000, got -1'],
      [{ commitIntervalMs: 1000 }, null],
      [{ commitIntervalMs: 1001 }, 'config: store.commitIntervalMs must be an integer from 0 to 1000, got 1001'],
      [{ retentionBytes: 1.5 }, 'config: store.retentionBytes must be an integer ≥ 0, got 1.5'],
    ];
    for (const [store, message] of cases) assert.deepEqual(both(store), [message, message], JSON.stringify(store));
    assert.equal(resolveHubConfig({ store: { retentionHours: 0.5 } }, { baseDir: '/' }).hub.store.retentionHours, 0.5);
  });

  it('a string is refused the same way everywhere: empty, only spaces, or with control characters', () => {
    assert.equal(refusal(hub({ device: { host: 'a\nb' } })), 'config: device.host must be a non-empty string, got "a\\nb"');
    assert.equal(refusal(sinks([{ type: 'mqtt', name: 'a', url: 'mqtt://h', username: '  ' }])), 'config: sinks[0].username must be a non-empty string, got "  "');
    assert.equal(refusal(sim({ pkiDir: '' }), 'FH_ERR_INVALID_ARGUMENT'), 'sim: --pki must be a non-empty string, got ""');
  });

  it('./certs and FLEETHUB_PKI: one default, one lookup, for the hub, the simulator and the PKI commands', () => {
    assert.equal(DEFAULT_PKI_DIR, './certs');
    assert.equal(defaultPkiDir({}), './certs');
    assert.equal(defaultPkiDir({ FLEETHUB_PKI: '/srv/pki' }), '/srv/pki');
    assert.equal(resolveSimOptions({}, {}).pkiDir, defaultPkiDir({}));
    assert.equal(resolveSimOptions({}, { FLEETHUB_PKI: '/srv/pki' }).pkiDir, '/srv/pki');
    assert.equal(resolveHubConfig({}, { baseDir: '/etc/fleethub' }).hub.pkiDir, resolve(DEFAULT_PKI_DIR));
  });
});

describe('createHub(input) runs the resolver itself', () => {
  it('takes the config file\'s object: a bad key stops it at once, naming the key', () => {
    assert.match(refusal(() => createHub({ device: { port: 70_000 } })), /^config: device\.port must be an integer from 0 to 65535, got 70000$/);
    assert.match(refusal(() => createHub({ devcie: {} } as never)), /^config: unknown key devcie /);
    assert.match(refusal(() => createHub({ sinks: [{ type: 'mqtt' }] })), /^config: sinks must be given to createBridge/);
  });

  it('a resolved config, or a copy of one with values replaced, is used as it is', () => {
    const { hub: resolved } = resolveHubConfig({ device: { crlCheckMs: 50 } }, { baseDir: '/' });
    assert.equal(hubConfigOf(resolved), resolved);
    const copy = { ...resolved, device: { ...resolved.device, crlCheckMs: 20 } };
    assert.equal(hubConfigOf(copy), copy, 'below the file\'s minimum, as tests do: not resolved again');
    const raw = hubConfigOf({ device: { port: 0 }, pkiDir: 'pki' });
    assert.equal(raw.device.port, 0);
    assert.equal(raw.pkiDir, resolve('pki'), 'relative to the working directory');
  });

  it('a hub made from a raw object listens and closes', { timeout: 60_000 }, async () => {
    const pki = await makeTestPki();
    const dataDir = await mkdtemp(join(tmpdir(), 'fleethub-config-'));
    try {
      const created = createHub({ device: { host: '127.0.0.1', port: 0 }, console: { host: '127.0.0.1', port: 0 }, pkiDir: pki.dir, dataDir });
      try {
        const ports = await created.listen();
        assert.ok(ports.devicePort > 0 && ports.consolePort > 0);
      } finally {
        await created.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await pki.cleanup();
    }
  });
});
