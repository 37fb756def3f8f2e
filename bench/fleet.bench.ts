/**
 * The fleet benchmark (`npm run bench -- fleet`): the simulator against a
 * real hub child process (`fleethub serve`), both on this machine.
 *
 * - steady: 1,000 devices at 1 msg/s each: throughput, ack latency
 *   p50/p99, handshake p50/p99, hub memory (RSS);
 * - ramp to saturation: 200 devices, the per-device rate doubled each step
 *   until the acked throughput falls below 90 % of the offered load;
 * - reconnect storm: 1,000 devices all dropped at once, twice: time from
 *   the drop to the next hello (p50/p99), handshake p50/p99, hub memory;
 *   then again with TLS session resumption (`--tls-resume`).
 *
 * The hub's per-IP new-connection limit is raised (every simulated device
 * shares 127.0.0.1, where a real fleet has one IP each) and, for the ramp,
 * its per-device rate limit, so what is measured is the hub's capacity.
 * The simulator shares the two cores with the hub, so the saturation point
 * is a floor for the hub alone. Writes bench/results/fleet.json.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { initCa, issueServerCert } from '../src/pki/index.js';
import { provisionFleet } from '../firmware-sim/device-credentials.js';
import { runSim } from '../firmware-sim/sim-run.js';
import type { SimReport } from '../firmware-sim/report.js';
import type { SimOptionsInput } from '../firmware-sim/sim-options.js';
import { freePort } from '../test/helpers/service-process.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { startHub, stopHub, type HubProcess } from './hub-process.js';

const ROOT = REPO_ROOT;
const DEVICES = Number(process.env.FLEET_BENCH_DEVICES ?? 1000);
const STEADY_S = Number(process.env.FLEET_BENCH_SECONDS ?? 20);
const RAMP_DEVICES = Math.min(200, DEVICES);
const RAMP_STEP_S = 5;
const RAMP_RATES = [5, 10, 20, 40, 80, 160];
const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;

/** Resident memory of a process in MiB (Linux /proc). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Samples the hub's RSS once a second while `work` runs; returns the work's result and the peak. */
async function withRssPeak<T>(pid: number, work: Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peak = await rssMiB(pid);
  const timer = setInterval(() => {
    rssMiB(pid).then((v) => (peak = Math.max(peak, v)), () => undefined);
  }, 1000);
  try {
    return { result: await work, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  // The machine may be shared: the load average says how much of it the run had.
  const loadBefore = loadavg()[0] ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-fleet-bench-'));
  const pkiDir = join(dir, 'certs');
  let hub: HubProcess | null = null;
  try {
    await initCa(pkiDir, {});
    await issueServerCert(pkiDir, { hosts: ['localhost'], ips: ['127.0.0.1'] });
    let t = performance.now();
    await provisionFleet(pkiDir, 'bench', DEVICES);
    const provisionMs = performance.now() - t;

    const port = await freePort();
    const config = {
      device: { host: '127.0.0.1', port, newConnectionsPerIpPerSec: 20_000, maxConnectionsPerIp: 50_000 },
      console: { host: '127.0.0.1', port: 0 },
      pkiDir,
      dataDir: join(dir, 'data'),
      limits: { msgsPerSec: 1_000, burst: 2_000, msgsPerDay: 100_000_000 },
    };
    await writeFile(join(dir, 'hub.json'), JSON.stringify(config));
    hub = await startHub('fleethub serve', join(dir, 'hub.json'), [port]);
    const pid = hub.pid;
    const idleMiB = await rssMiB(pid);
    const base: SimOptionsInput = { url: `wss://127.0.0.1:${port}/v1/device`, pkiDir, prefix: 'bench', progress: false, connectRate: 1_000, drainTimeout: '20s' };
    const sim = (input: SimOptionsInput): Promise<SimReport> => runSim({ ...base, ...input }, { out: QUIET, err: QUIET }).then((r) => r.report);

    process.stderr.write(`fleet bench: steady, ${DEVICES} devices × 1 msg/s for ${STEADY_S} s\n`);
    // 200 new connections per second: the hub's default per-IP pace, so the handshake figures are not queueing.
    const steady = await withRssPeak(pid, sim({ devices: DEVICES, rate: 1, duration: `${STEADY_S}s`, connectRate: 200 }));

    const ramp: Array<{ ratePerDevice: number; offered: number; ackedPerSec: number; ackP50: number; ackP99: number; lost: number }> = [];
    for (const rate of RAMP_RATES) {
      process.stderr.write(`fleet bench: ramp, ${RAMP_DEVICES} devices × ${rate} msg/s\n`);
      const r = await sim({ devices: RAMP_DEVICES, rate, duration: `${RAMP_STEP_S}s`, outbox: 4096 });
      const ackedPerSec = Math.round(r.throughput.ackedPerSec);
      ramp.push({ ratePerDevice: rate, offered: rate * RAMP_DEVICES, ackedPerSec, ackP50: r.ackLatencyMs.p50, ackP99: r.ackLatencyMs.p99, lost: r.messages.lost });
      // Saturated: the hub no longer keeps up with what is offered.
      if (ackedPerSec < 0.9 * rate * RAMP_DEVICES) break;
    }

    process.stderr.write(`fleet bench: reconnect storm, ${DEVICES} devices dropped at once every 8 s\n`);
    t = performance.now();
    const storm = await withRssPeak(pid, sim({ devices: DEVICES, rate: 1, duration: '18s', behavior: 'reconnect-storm', stormEvery: '8s', drainTimeout: '60s' }));
    const stormMs = performance.now() - t;

    const s = steady.result;
    process.stderr.write(`fleet bench: reconnect storm with TLS session resumption\n`);
    const resumed = await withRssPeak(pid, sim({ devices: DEVICES, rate: 1, duration: '18s', behavior: 'reconnect-storm', stormEvery: '8s', tlsResume: true, drainTimeout: '60s' }));
    const st = storm.result;
    const rs = resumed.result;
    const results = {
      machine: {
        cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version,
        loadAverageBefore: Math.round(loadBefore * 10) / 10, loadAverageAfter: Math.round((loadavg()[0] ?? 0) * 10) / 10,
      },
      provision: { devices: DEVICES, ms: Math.round(provisionMs) },
      steady: {
        devices: DEVICES, connected: s.devices.connected, startupMs: s.run.startupMs, ackedPerSec: s.throughput.ackedPerSec, acked: s.messages.acked, lost: s.messages.lost,
        ackMs: s.ackLatencyMs, handshakeMs: s.handshakeMs, hubIdleMiB: idleMiB, hubPeakMiB: steady.peakMiB,
      },
      ramp,
      storm: {
        devices: DEVICES, reconnects: st.devices.reconnects, reconnectMs: st.reconnectMs, handshakeMs: st.handshakeMs, lost: st.messages.lost,
        closes: st.closes, hubPeakMiB: storm.peakMiB, wallMs: Math.round(stormMs),
      },
      stormResumed: {
        devices: DEVICES, reconnects: rs.devices.reconnects, resumedHandshakes: rs.devices.resumedHandshakes, reconnectMs: rs.reconnectMs,
        handshakeMs: rs.handshakeMs, lost: rs.messages.lost, closes: rs.closes, hubPeakMiB: resumed.peakMiB,
      },
    };
    await writeFile(join(ROOT, 'bench/results/fleet.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows: Array<[string, string]> = [
      ['machine', `${results.machine.cpus} cores (${results.machine.model}), Node ${results.machine.node}, load average ${results.machine.loadAverageBefore} → ${results.machine.loadAverageAfter}`],
      ['provision', `${DEVICES} device certificates in ${(provisionMs / 1000).toFixed(1)} s`],
      ['steady: connected', `${s.devices.connected} / ${DEVICES} in ${(s.run.startupMs / 1000).toFixed(1)} s, lost ${s.messages.lost}`],
      ['steady: throughput', `${s.throughput.ackedPerSec} acked msg/s`],
      ['steady: ack p50 / p99', `${s.ackLatencyMs.p50} / ${s.ackLatencyMs.p99} ms`],
      ['steady: handshake p50 / p99', `${s.handshakeMs.p50} / ${s.handshakeMs.p99} ms`],
      ['hub RSS idle / 1,000 devices', `${idleMiB} / ${steady.peakMiB} MiB`],
      ...ramp.map((r): [string, string] => [`ramp: ${r.offered} msg/s offered`, `${r.ackedPerSec} acked/s, ack p50 ${r.ackP50} ms, p99 ${r.ackP99} ms, lost ${r.lost}`]),
      ['storm: reconnect p50 / p99', `${st.reconnectMs.p50} / ${st.reconnectMs.p99} ms (${st.devices.reconnects} reconnects)`],
      ['storm: handshake p50 / p99', `${st.handshakeMs.p50} / ${st.handshakeMs.p99} ms, lost ${st.messages.lost}`],
      ['storm: hub RSS peak', `${storm.peakMiB} MiB`],
      ['storm, resumed: reconnect p50 / p99', `${rs.reconnectMs.p50} / ${rs.reconnectMs.p99} ms (${rs.devices.resumedHandshakes} of ${rs.devices.connectAttempts} handshakes resumed)`],
      ['storm, resumed: handshake p50 / p99', `${rs.handshakeMs.p50} / ${rs.handshakeMs.p99} ms, lost ${rs.messages.lost}`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
  } finally {
    if (hub !== null) await stopHub(hub);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
