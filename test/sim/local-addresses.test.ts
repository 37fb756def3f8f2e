/**
 * `fleethub sim --local-addresses` as a user runs it (a child process)
 * against a real hub whose per-IP limit admits two connections: a fleet of
 * four spread over two source addresses comes up whole, and the hub's own
 * `device.connect` lines show both addresses; the same fleet from one
 * address is refused in part. Bad values end in one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, startHub } from '../helpers/hub.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { createMemoryLogger } from '../../src/log.js';
import { EXIT } from '../../src/errors.js';

function fleethub(args: readonly string[]): Promise<CliResult> {
  return runCli(args, { cwd: REPO_ROOT });
}

/** Source address of each device the hub logged a `device.connect` for, by device id prefix. */
function connectIps(lines: readonly string[], prefix: string): Map<string, string> {
  const ips = new Map<string, string>();
  for (const line of lines) {
    const m = / device\.connect id=(\S+) ip=(\S+)/.exec(line);
    if (m && m[1]!.startsWith(prefix)) ips.set(m[1]!, m[2]!);
  }
  return ips;
}

/** How many devices connected from each address. */
function perIp(ips: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ip of ips.values()) out[ip] = (out[ip] ?? 0) + 1;
  return out;
}

const PER_IP_REFUSED = 'fleethub_device_connections_refused_total{reason="max_connections_per_ip"}';

test('--local-addresses spreads the fleet over source IPs: a per-IP limit that stops one address admits two', async () => {
  const log = createMemoryLogger();
  const hub = await startHub({ log, device: { maxConnectionsPerIp: 2 } });
  try {
    const common = ['sim', '--url', hub.deviceUrl, '--pki', hub.pki.dir, '--devices', '4', '--rate', '2', '--duration', '1', '--provision', '--no-progress'];
    const spread = await fleethub([...common, '--prefix', 'two', '--local-addresses', '127.0.0.2,127.0.0.3']);
    assert.equal(spread.code, 0, `${spread.stdout}\n${spread.stderr}`);
    assert.match(spread.stdout, /^devices connected\s+4 \/ 4/m);
    assert.match(spread.stdout, /PASS: zero lost/);
    const twoIps = connectIps(log.lines, 'two');
    assert.equal(twoIps.size, 4, log.lines.join('\n'));
    assert.deepEqual(perIp(twoIps), { '127.0.0.2': 2, '127.0.0.3': 2 });
    assert.equal(metricValue(hub.hub, PER_IP_REFUSED), 0);

    // The same fleet from one address: the limit keeps two of the four out.
    const single = await fleethub([...common, '--prefix', 'one', '--local-addresses', '127.0.0.4', '--connect-timeout', '2', '--drain-timeout', '0']);
    assert.equal(single.code, EXIT.LOST_MESSAGES, `${single.stdout}\n${single.stderr}`);
    assert.match(single.stderr, /2 devices never connected/);
    assert.deepEqual(perIp(connectIps(log.lines, 'one')), { '127.0.0.4': 2 });
    assert.ok(metricValue(hub.hub, PER_IP_REFUSED) > 0);
  } finally {
    await hub.stop();
  }
});

test('a bad --local-addresses is one line and exit 2, before anything is read or provisioned', async () => {
  const cases: Array<[string, RegExp]> = [
    ['127.0.0.2,127.0.0.300', /^fleethub: sim: --local-addresses must be a comma-separated list of IP addresses[^\n]*"127\.0\.0\.300"\n$/],
    // TEST-NET-1 (RFC 5737): never an address of this machine.
    ['127.0.0.2,192.0.2.7', /^fleethub: sim: --local-addresses 192\.0\.2\.7 is not an address of this machine\n$/],
  ];
  await Promise.all(cases.map(async ([value, message]) => {
    const res = await fleethub(['sim', '--url', 'wss://127.0.0.1:1/v1/device', '--pki', '/nonexistent', '--provision', '--local-addresses', value]);
    assert.equal(res.code, EXIT.USAGE, res.stderr);
    assert.match(res.stderr, message);
    assert.equal(res.stdout, '');
  }));
});
