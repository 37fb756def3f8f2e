/**
 * The renewal run (`npm run bench -- renewal`): issue 18's "done means" at
 * full size, too long for `npm test`. A hub with online signing, a batch of
 * 1,000 allowed ids, then `fleethub sim --claim BATCH --renew`: every device
 * provisions itself through `/v1/provision`, streams, renews its certificate
 * while streaming (a new P-256 key and CSR over protocol 2), reconnects with
 * it, and the run must end with zero lost and every device renewed; every
 * provisioned certificate is then superseded and on the issuing CA's CRL.
 *
 * The hub runs in this process with the simulator (two cores shared), its
 * per-IP limits raised (every simulated device shares 127.0.0.1) and
 * `renewal.allowEarly` on (freshly provisioned certificates are not due).
 * `RENEWAL_BENCH_DEVICES` changes the size. Writes bench/results/renewal.json.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHub } from '../src/hub/hub.js';
import { initCa, issueServerCert, parseCrl, pkiPaths } from '../src/pki/index.js';
import { addBatch } from '../src/pki/claim-batches.js';
import { initIssuingCa } from '../src/pki/issuing-ca.js';
import { loadInventory } from '../src/pki/inventory.js';
import { fleetIds } from '../firmware-sim/device-credentials.js';
import { runSim } from '../firmware-sim/sim-run.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

const DEVICES = Number(process.env.RENEWAL_BENCH_DEVICES ?? 1000);
const SECONDS = Number(process.env.RENEWAL_BENCH_SECONDS ?? 60);
/** The longest the run waits after the simulator for every old certificate to be on the CRL. */
const SUPERSEDE_TIMEOUT_MS = 300_000;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-renewal-bench-'));
  const pki = join(dir, 'certs');
  await initCa(pki, { name: 'renewal bench CA' });
  await issueServerCert(pki, { hosts: ['localhost'], ips: ['127.0.0.1'] });
  await initIssuingCa(pki);
  const ids = fleetIds('line7-', DEVICES);
  await addBatch(pki, 'line-7', { ids });
  const hub = createHub({
    pkiDir: pki, dataDir: join(dir, 'data'),
    device: { host: '127.0.0.1', port: 0, newConnectionsPerIpPerSec: 20_000, maxConnectionsPerIp: 50_000 },
    console: { host: '127.0.0.1', port: 0 },
    provisioning: { perBatchPerMinute: 100_000, perIpPerMinute: 100_000 },
    renewal: { allowEarly: true },
  });
  const { devicePort } = await hub.listen();
  const started = performance.now();
  try {
    const result = await runSim({
      url: `wss://127.0.0.1:${devicePort}/v1/device`, pkiDir: pki, claim: 'line-7', prefix: 'line7-', devices: DEVICES,
      rate: 1, duration: `${SECONDS}s`, drainTimeout: '120s', renew: true, progress: true,
    });
    // The hub commits each renewal (inventory, then the old certificate on the CRL) one at a time under the PKI lock:
    // the figure is how long after the run the last one lands, bounded by SUPERSEDE_TIMEOUT_MS.
    const ended = performance.now();
    let superseded = 0;
    for (;;) {
      const inventory = await loadInventory(pki);
      const crl = parseCrl(await readFile(pkiPaths(pki).issuingCrl, 'utf8'));
      superseded = inventory.provisioned.filter((p) => crl.serials.has(p.serial)).length;
      if (superseded >= DEVICES || performance.now() - ended > SUPERSEDE_TIMEOUT_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const supersededAfterS = Math.round((performance.now() - ended) / 100) / 10;
    const figures = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg: loadavg() },
      devices: DEVICES, seconds: SECONDS, elapsedS: Math.round((performance.now() - started) / 100) / 10,
      renewals: result.report.renewals, lost: result.report.messages.lost, unsent: result.report.messages.unsent,
      acked: result.report.messages.acked, superseded, supersededAfterS, failure: result.failure,
    };
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    await writeFile(join(REPO_ROOT, 'bench/results/renewal.json'), `${JSON.stringify(figures, null, 2)}\n`);
    if (result.failure !== null || superseded !== DEVICES) process.exitCode = 1;
  } finally {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
