/**
 * The cluster benchmark (`npm run bench -- cluster`, issue 17): cluster mode
 * as deployed (`fleethub serve` children on the configs of deploy/hubs/, a
 * real three-node nats-server cluster, HAProxy on deploy/haproxy/haproxy.cfg)
 * against the single-node hub (embedded store) in the same run, every
 * process on this machine side by side, the simulator in this process.
 *
 * 1. CPU per acked reading, summed over the hubs and the nats-servers
 *    (/proc utime + stime over the sending phase), at N devices × 1 msg/s
 *    through HAProxy, against the single hub with the same load directly;
 *    rounds in the order single, cluster, cluster, single, … so a drift of
 *    the machine's load falls on both alike; the ratio per round and its
 *    spread. Ack latency p50/p99 in both.
 * 2. The ack gap when the readings stream's leader is killed (`kill -9`)
 *    while the fleet streams: the longest time without any ack.
 * 3. A hub killed (`kill -9`) while the fleet streams: the time until every
 *    device is back (on the other hubs), and the reconnect p50/p99.
 * 4. A restart storm: M devices on the single hub, the hub stopped (SIGTERM)
 *    and started again with the same PKI folder (so `ticket.keys` is kept),
 *    once with full handshakes and once with `--tls-resume`: the share of
 *    resumed handshakes and the time until all are back. The hub's start is
 *    timed by a probe process of its own (cluster-bench-tools.ts): this
 *    process runs the simulator, whose thousands of TLS handshakes hold its
 *    event loop for seconds at a time, so a port it probes opens here long
 *    after it did (`hubStartSeenByBenchMs` keeps that figure to compare).
 *
 *   npm run bench -- cluster
 *   CLUSTER_BENCH_DEVICES=100 CLUSTER_BENCH_STORM_DEVICES=500 CLUSTER_BENCH_SECONDS=10 npm run bench -- cluster
 *
 * Every device shares 127.0.0.1, so the hubs' per-IP limits are raised (as
 * in the fleet benchmark); behind HAProxy the hubs see 127.0.0.1 through
 * PROXY v2 as well. Writes bench/results/cluster.json.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { initCa, issueServerCert } from '../src/pki/index.js';
import { provisionFleet } from '../firmware-sim/device-credentials.js';
import { runSim } from '../firmware-sim/sim-run.js';
import type { SimReport } from '../firmware-sim/report.js';
import type { FleetStats } from '../firmware-sim/fleet-stats.js';
import type { LatencySnapshot } from '../firmware-sim/latency-histogram.js';
import type { SimOptionsInput } from '../firmware-sim/sim-options.js';
import { startHaproxy, type Haproxy } from '../test/helpers/haproxy.js';
import { startNatsCluster, type NatsCluster } from '../test/helpers/nats-cluster.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/service-process.js';
import { waitUntil } from '../test/helpers/wait.js';
import { childProcesses, cpuSeconds, quiesce, rssMiB, SimWatch, type SimTick } from './cluster-bench-tools.js';
import { startHub, stopHub, type HubProcess } from './hub-process.js';

const DEVICES = Number(process.env.CLUSTER_BENCH_DEVICES ?? 1_000);
const STORM_DEVICES = Number(process.env.CLUSTER_BENCH_STORM_DEVICES ?? 10_000);
/** Sending phase of each CPU round, in seconds. */
const SECONDS = Math.max(8, Number(process.env.CLUSTER_BENCH_SECONDS ?? 30));
/** CPU rounds: each one a single-node run and a cluster run. */
const ROUNDS = Math.max(1, Number(process.env.CLUSTER_BENCH_ROUNDS ?? 2));
/** Hubs in the cluster (deploy/ has three; two leave a core for NATS and the simulator). */
const HUBS = Math.min(3, Math.max(2, Number(process.env.CLUSTER_BENCH_HUBS ?? 2)));
/** Before each CPU round, the bench's processes must be back within this many cores of their idle CPU ... */
const QUIET_MARGIN_CORES = 0.05;
/** ... or this long must have passed (ms). */
const QUIET_MAX_MS = 30_000;
/** Progress ticks (seconds) of the sending phase left out of the CPU window: the fleet settles first. */
const WARMUP_TICKS = 3;
/** The longest a failure scenario waits for the fleet to come back before it gives up. */
const RECOVERY_TIMEOUT_MS = 180_000;
/** Readings per second per device in the restart storm: the 1,000,000-device fleet's one per 10 s. */
const STORM_RATE = 0.1;
/** How long the fleet is watched after the stream leader's kill at least (the target gap is under 10 s). */
const LEADER_OBSERVE_MS = 15_000;
/** Seconds over which the processes' idle CPU is measured, before the rounds. */
const IDLE_SECONDS = Number(process.env.CLUSTER_BENCH_IDLE_SECONDS ?? 10);
/** `cpu`: only the CPU rounds (printed, not written to results): for comparing a change side by side quickly. */
const ONLY_CPU = process.env.CLUSTER_BENCH_ONLY === 'cpu';
const envNumber = (name: string): number | null => (process.env[name] === undefined ? null : Number(process.env[name]));
/** `store.commitIntervalMs` of every hub, single and cluster alike (unset: each mode's default). */
const COMMIT_INTERVAL_MS = envNumber('CLUSTER_BENCH_COMMIT_INTERVAL_MS');
/** `store.commitIntervalMs` of the cluster's hubs only (unset: {@link COMMIT_INTERVAL_MS}, else cluster mode's default). */
const CLUSTER_COMMIT_INTERVAL_MS = envNumber('CLUSTER_BENCH_CLUSTER_COMMIT_INTERVAL_MS') ?? COMMIT_INTERVAL_MS;
const STREAM = 'fleethub-readings';
const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;
const HUB_NAMES = ['a', 'b', 'c'] as const;

interface HubSetup { readonly name: string; readonly configPath: string; readonly devicePort: number; readonly consolePort: number }
interface CpuRound {
  readonly kind: 'single' | 'cluster';
  readonly round: number;
  /** How long the bench waited before the round for every process to be idle again, and their cores in its last second. */
  readonly quietBefore?: { readonly waitedMs: number; readonly cores: number };
  readonly connected: number;
  readonly ackedInWindow: number;
  readonly windowS: number;
  /** CPU ms per acked reading, summed over the hub(s) and, for the cluster, the nats-servers. */
  readonly cpuMsPerReading: number;
  /** CPU seconds per process over the window. */
  readonly cpuSByProcess: Record<string, number>;
  /** HAProxy's CPU ms per acked reading (cluster only; not in the sum: a single hub has no balancer). */
  readonly haproxyCpuMsPerReading: number;
  /** The same net of what these processes use idle (their CPU with no device connected, over as long a window). */
  readonly cpuMsPerReadingNetOfIdle: number;
  readonly rssMiB: Record<string, number>;
  /** Ack latency over the measuring window (after the warm-up: no connection ramp in it). */
  readonly ackMs: SimReport['ackLatencyMs'];
  /** Ack latency over the whole run, ramp included. */
  readonly ackMsRun: SimReport['ackLatencyMs'];
  readonly lost: number;
}

interface StormFigures {
  readonly devices: number;
  readonly tlsResume: boolean;
  readonly connected: number;
  readonly reconnects: number;
  readonly resumedHandshakes: number;
  /** Resumed handshakes per reconnect. */
  readonly resumedShare: number;
  /** SIGTERM until the hub exited. */
  readonly hubStopMs: number;
  /** The new hub's spawn until its console port accepted, seen by a probe process of its own (hub-process.ts). */
  readonly hubStartMs: number;
  /**
   * The same start as this process saw it (ports probed from its event loop,
   * which the simulator's handshakes keep busy): how the figure was taken
   * before the probe, kept to compare.
   */
  readonly hubStartSeenByBenchMs: number;
  /** SIGTERM until every device had its hello again (1 s ticks); null when not within the timeout. */
  readonly allBackMs: number | null;
  readonly allBackAfterReadyMs: number | null;
  readonly reconnectMs: SimReport['reconnectMs'];
  readonly handshakeMs: SimReport['handshakeMs'];
  /** The restarted hub's CPU from ready to all back, per reconnect. */
  readonly hubCpuMsPerReconnect: number;
  readonly lost: number;
  readonly closes: SimReport['closes'];
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const closeCodes = (closes: Readonly<Record<string, number>>): string => Object.entries(closes).map(([code, n]) => `${code} ×${n}`).join(', ') || 'none';
const seconds = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

/** A hub config in `dir`: the deployed hub-<name>.json (cluster) or a bare single-node one, with this run's ports and folders. */
async function writeHubConfig(dir: string, name: string, natsUrls: readonly string[] | null): Promise<HubSetup> {
  const devicePort = await freePort();
  const consolePort = await freePort();
  // Every simulated device shares 127.0.0.1; daily counts would run out over repeated runs.
  const device = { host: '127.0.0.1', port: devicePort, newConnectionsPerIpPerSec: 20_000, maxConnectionsPerIp: 50_000, maxConnections: 50_000 };
  const common = { console: { host: '127.0.0.1', port: consolePort }, pkiDir: join(dir, 'certs'), dataDir: join(dir, `data-${name}`), limits: { msgsPerSec: 1_000, burst: 2_000, msgsPerDay: 100_000_000 } };
  let config: Record<string, unknown>;
  if (natsUrls === null) {
    config = { device, ...common };
  } else {
    const deployed = JSON.parse(await readFile(join(REPO_ROOT, 'deploy', 'hubs', `hub-${name}.json`), 'utf8')) as {
      device: Record<string, unknown>; cluster: { nats: Record<string, unknown> };
    };
    config = { ...deployed, device: { ...deployed.device, ...device }, ...common, cluster: { ...deployed.cluster, nats: { ...deployed.cluster.nats, servers: natsUrls } } };
  }
  const interval = natsUrls === null ? COMMIT_INTERVAL_MS : CLUSTER_COMMIT_INTERVAL_MS;
  if (interval !== null) config.store = { commitIntervalMs: interval };
  const configPath = join(dir, `hub-${name}.json`);
  await writeFile(configPath, JSON.stringify(config));
  return { name: `hub-${name}`, configPath, devicePort, consolePort };
}

// CLUSTER_BENCH_HUB_PROFILE=DIR: each hub writes a CPU profile to DIR when it stops (SIGTERM).
const HUB_PROFILE_DIR = process.env.CLUSTER_BENCH_HUB_PROFILE;
const HUB_NODE_ARGS = HUB_PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${HUB_PROFILE_DIR}`];
const launch = (setup: HubSetup): Promise<HubProcess> => startHub(setup.name, setup.configPath, [setup.devicePort, setup.consolePort], HUB_NODE_ARGS);
const directUrl = (setup: HubSetup): string => `wss://127.0.0.1:${setup.devicePort}/v1/device`;

/** The nats-servers this process started, by node index (nats-<i+1>.conf). */
function natsPids(): Map<number, number> {
  const pids = new Map<number, number>();
  for (const p of childProcesses('nats-server')) {
    const index = Number(/nats-(\d+)\.conf/.exec(p.cmdline)?.[1] ?? 0) - 1;
    if (index >= 0) pids.set(index, p.pid);
  }
  return pids;
}

/** The readings stream's leader (a node index) and its size. */
async function streamInfo(nats: NatsCluster): Promise<{ leader: number; messages: number; bytes: number }> {
  const nc = await connect({ servers: [...nats.urls], timeout: 10_000 });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(STREAM);
    return { leader: nats.indexOf(info.cluster?.leader ?? ''), messages: info.state.messages, bytes: info.state.bytes };
  } finally {
    await nc.close();
  }
}

/** Runs the simulator with its progress going to `watch`; `stop` ends the sending phase early. */
function simulate(pkiDir: string, input: SimOptionsInput, watch: SimWatch, stop?: AbortSignal, onStats?: (stats: FleetStats) => void): Promise<SimReport> {
  const options: SimOptionsInput = { pkiDir, prefix: 'bench', progress: true, drainTimeout: '30s', ...input };
  return runSim(options, { out: QUIET, err: watch, ...(stop === undefined ? {} : { signal: stop }), ...(onStats === undefined ? {} : { onStats }) }).then((r) => r.report);
}

/** Resolves once the fleet has streamed past the warm-up. */
function settled(watch: SimWatch): Promise<void> {
  return waitUntil(() => watch.ticks.filter((t) => t.phase === 'sending').length > WARMUP_TICKS, 'the fleet streams', RECOVERY_TIMEOUT_MS);
}

/** CPU cores these processes use with no device connected (timers, NATS heartbeats and Raft), over {@link IDLE_SECONDS}. */
async function idleCores(pids: Record<string, number>): Promise<number> {
  const entries = Object.entries(pids);
  const before = entries.map(([, pid]) => cpuSeconds(pid));
  const at = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const seconds = (performance.now() - at) / 1000;
  const cores = entries.map(([name, pid], i) => [name, (cpuSeconds(pid) - (before[i] ?? 0)) / seconds] as const);
  process.stderr.write(`  idle cores: ${cores.map(([name, c]) => `${name} ${round3(c)}`).join(', ')}\n`);
  return cores.reduce((total, [, c]) => total + c, 0);
}

/** The ack latencies recorded since `before`, or null without a snapshot. */
function windowLatency(stats: FleetStats | null, before: LatencySnapshot | null): SimReport['ackLatencyMs'] | null {
  return stats === null || before === null ? null : stats.ackLatency.since(before).summary();
}

/** One CPU round: N devices × 1 msg/s; CPU of `pids` between the warm-up and the end of the sending phase. */
async function cpuRound(
  kind: CpuRound['kind'], round: number, url: string, pkiDir: string, pids: Record<string, number>, idle: number, haproxyPid: number | null,
): Promise<CpuRound> {
  type Sample = { at: number; acked: number; cpu: Record<string, number>; haproxy: number };
  let start: Sample | null = null;
  let end: Sample | null = null;
  let sending = 0;
  const rss: Record<string, number> = {};
  let stats: FleetStats | null = null;
  let latencyBefore: LatencySnapshot | null = null;
  const watch = new SimWatch(`${kind} ${round + 1}/${ROUNDS}`, (tick) => {
    if (tick.phase !== 'sending') return;
    sending += 1;
    const cpu: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      cpu[name] = cpuSeconds(pid);
      rss[name] = Math.max(rss[name] ?? 0, rssMiB(pid));
    }
    const sample = { at: tick.at, acked: tick.acked, cpu, haproxy: haproxyPid === null ? 0 : cpuSeconds(haproxyPid) };
    if (sending === WARMUP_TICKS) {
      start = sample;
      latencyBefore = (stats as FleetStats | null)?.ackLatency.snapshot() ?? null;
    }
    if (sending >= WARMUP_TICKS) end = sample;
  });
  process.stderr.write(`cluster bench: CPU round ${round + 1}/${ROUNDS}, ${kind}, ${DEVICES} devices × 1 msg/s for ${SECONDS} s\n`);
  const report = await simulate(pkiDir, { url, devices: DEVICES, rate: 1, duration: `${SECONDS}s`, connectRate: 200 }, watch, undefined, (s) => (stats = s));
  const a = start as Sample | null;
  const b = end as Sample | null;
  if (a === null || b === null || b.acked <= a.acked) throw new Error(`${kind} round ${round + 1}: no acks in the measuring window (connected ${report.devices.connected}/${DEVICES})`);
  const acked = b.acked - a.acked;
  const cpuSByProcess = Object.fromEntries(Object.keys(pids).map((name) => [name, round3((b.cpu[name] ?? 0) - (a.cpu[name] ?? 0))]));
  const total = Object.values(cpuSByProcess).reduce((sum, v) => sum + v, 0);
  return {
    kind, round, connected: report.devices.connected, ackedInWindow: acked, windowS: round1((b.at - a.at) / 1000),
    cpuMsPerReading: round3((total * 1000) / acked), cpuMsPerReadingNetOfIdle: round3(((total - idle * ((b.at - a.at) / 1000)) * 1000) / acked), cpuSByProcess, haproxyCpuMsPerReading: round3(((b.haproxy - a.haproxy) * 1000) / acked),
    rssMiB: rss, ackMs: windowLatency(stats, latencyBefore) ?? report.ackLatencyMs, ackMsRun: report.ackLatencyMs, lost: report.messages.lost,
  };
}

/** The fleet streams through HAProxy; `act` breaks something; the run ends `settleMs` after `done` says the fleet recovered. */
async function failureRun(
  label: string, url: string, pkiDir: string,
  act: () => Promise<void>, done: (watch: SimWatch, actedAt: number) => boolean, settleMs: number,
): Promise<{ report: SimReport; watch: SimWatch; actedAt: number; recovered: boolean }> {
  const stop = new AbortController();
  const watch = new SimWatch(label);
  // Bounded by the recovery timeout: the run is aborted as soon as the fleet is back.
  const run = simulate(pkiDir, { url, devices: DEVICES, rate: 1, duration: `${Math.round(RECOVERY_TIMEOUT_MS / 1000) + 60}s`, connectRate: 200 }, watch, stop.signal);
  let actedAt = 0;
  let recovered = false;
  try {
    await Promise.race([settled(watch), run]);
    actedAt = performance.now();
    await act();
    await waitUntil(() => done(watch, actedAt), `${label}: the fleet recovered`, RECOVERY_TIMEOUT_MS).then(() => (recovered = true), () => undefined);
    await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    stop.abort();
  }
  return { report: await run, watch, actedAt, recovered };
}

/** A restart storm on the single hub: SIGTERM, start again, until every device is back. */
async function restartStorm(setup: HubSetup, hub: HubProcess, pkiDir: string, tlsResume: boolean): Promise<{ hub: HubProcess; figures: StormFigures }> {
  const label = `storm${tlsResume ? ', resumed' : ''}`;
  process.stderr.write(`cluster bench: restart storm, ${STORM_DEVICES} devices on one hub, ${tlsResume ? 'TLS session resumption' : 'full handshakes'}\n`);
  const stop = new AbortController();
  const watch = new SimWatch(label);
  const run = simulate(pkiDir, {
    url: directUrl(setup), prefix: 'storm', devices: STORM_DEVICES, rate: STORM_RATE, tlsResume, connectRate: 1_000, connectTimeout: '120s',
    duration: `${Math.round(RECOVERY_TIMEOUT_MS / 1000) + 60}s`,
  }, watch, stop.signal);
  let current = hub;
  let stoppedMs = 0;
  let restartMs = 0;
  let seenMs = 0;
  let allBackMs: number | null = null;
  let hubCpuS = 0;
  try {
    await Promise.race([settled(watch), run]);
    const t0 = performance.now();
    await stopHub(current, 'SIGTERM');
    stoppedMs = performance.now() - t0;
    current = await launch(setup);
    seenMs = performance.now() - t0 - stoppedMs;
    restartMs = current.startMs ?? seenMs;
    const cpuAtReady = cpuSeconds(current.pid);
    await waitUntil(() => watch.allBackMs(t0, STORM_DEVICES) !== null, `${label}: every device back`, RECOVERY_TIMEOUT_MS).catch(() => undefined);
    allBackMs = watch.allBackMs(t0, STORM_DEVICES);
    hubCpuS = cpuSeconds(current.pid) - cpuAtReady;
    await new Promise((r) => setTimeout(r, 2_000));
  } finally {
    stop.abort();
  }
  const report = await run;
  const reconnects = report.devices.reconnects;
  return {
    hub: current,
    figures: {
      devices: STORM_DEVICES, tlsResume, connected: report.devices.connected, reconnects, resumedHandshakes: report.devices.resumedHandshakes,
      resumedShare: reconnects === 0 ? 0 : round3(Math.min(1, report.devices.resumedHandshakes / reconnects)),
      hubStopMs: Math.round(stoppedMs), hubStartMs: Math.round(restartMs), hubStartSeenByBenchMs: Math.round(seenMs), allBackMs, allBackAfterReadyMs: allBackMs === null ? null : Math.round(allBackMs - stoppedMs - restartMs),
      reconnectMs: report.reconnectMs, handshakeMs: report.handshakeMs,
      hubCpuMsPerReconnect: reconnects === 0 ? 0 : round3((hubCpuS * 1000) / reconnects), lost: report.messages.lost, closes: report.closes,
    },
  };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-cluster-bench-'));
  const pkiDir = join(dir, 'certs');
  let single: HubProcess | null = null;
  const hubs: HubProcess[] = [];
  let nats: NatsCluster | null = null;
  let haproxy: Haproxy | null = null;
  try {
    await initCa(pkiDir, {});
    await issueServerCert(pkiDir, { hosts: ['localhost'], ips: ['127.0.0.1'] });
    // A fleet's ids are padded to the width of its size (bench0001, storm00001): one fleet per size.
    process.stderr.write(`cluster bench: provisioning ${DEVICES + (ONLY_CPU ? 0 : STORM_DEVICES)} device certificates\n`);
    await provisionFleet(pkiDir, 'bench', DEVICES);
    if (!ONLY_CPU) await provisionFleet(pkiDir, 'storm', STORM_DEVICES);

    const singleSetup = await writeHubConfig(dir, 'single', null);
    single = await launch(singleSetup);
    process.stderr.write(`cluster bench: starting 3 nats-servers, ${HUBS} hubs, HAProxy\n`);
    nats = await startNatsCluster({ nodes: 3 });
    const setups: HubSetup[] = [];
    // One at a time: the first makes the stream and the buckets.
    for (const name of HUB_NAMES.slice(0, HUBS)) {
      const setup = await writeHubConfig(dir, name, nats.urls);
      setups.push(setup);
      hubs.push(await launch(setup));
    }
    haproxy = await startHaproxy(setups.map((s) => ({ devicePort: s.devicePort, consolePort: s.consolePort })));
    const haproxyPid = childProcesses('haproxy')[0]?.pid ?? null;

    // 1. CPU and ack latency, rounds in the order S C, C S, S C, …; first what the processes use idle.
    const singlePids = { [singleSetup.name]: single.pid };
    const clusterPids: Record<string, number> = Object.fromEntries(hubs.map((h) => [h.name, h.pid]));
    for (const [i, pid] of natsPids()) clusterPids[nats.names[i] ?? `nats-${i + 1}`] = pid;
    process.stderr.write(`cluster bench: idle CPU, ${IDLE_SECONDS} s\n`);
    const idle = { single: round3(await idleCores(singlePids)), cluster: round3(await idleCores(clusterPids)) };
    const rounds: CpuRound[] = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      const kinds: Array<CpuRound['kind']> = r % 2 === 0 ? ['single', 'cluster'] : ['cluster', 'single'];
      for (const kind of kinds) {
        // Every process of both setups back to idle first: what one round leaves behind is not billed to the next.
        const quiet = await quiesce([...Object.values(singlePids), ...Object.values(clusterPids)], idle.single + idle.cluster + QUIET_MARGIN_CORES, QUIET_MAX_MS);
        process.stderr.write(`  quiet after ${(quiet.waitedMs / 1000).toFixed(1)} s (${quiet.cores} cores)\n`);
        const measured = kind === 'single'
          ? await cpuRound('single', r, directUrl(singleSetup), pkiDir, singlePids, idle.single, null)
          : await cpuRound('cluster', r, haproxy.deviceUrl, pkiDir, clusterPids, idle.cluster, haproxyPid);
        rounds.push({ ...measured, quietBefore: quiet });
      }
    }
    const ratiosOf = (figure: (r: CpuRound) => number): number[] => [...Array(ROUNDS).keys()].map((r) => {
      const s = rounds.find((x) => x.round === r && x.kind === 'single') as CpuRound;
      const c = rounds.find((x) => x.round === r && x.kind === 'cluster') as CpuRound;
      return round3(figure(c) / figure(s));
    });
    const ratios = ratiosOf((r) => r.cpuMsPerReading);
    const netRatios = ratiosOf((r) => r.cpuMsPerReadingNetOfIdle);
    const stream = await streamInfo(nats);
    if (ONLY_CPU) {
      for (const r of rounds) process.stdout.write(`${r.kind} ${r.round + 1}: ${r.cpuMsPerReading} ms CPU per reading ${JSON.stringify(r.cpuSByProcess)}, ack p50/p99 ${r.ackMs.p50} / ${r.ackMs.p99} ms (whole run ${r.ackMsRun.p50} / ${r.ackMsRun.p99}), lost ${r.lost}\n`);
      process.stdout.write(`cluster / single: ${ratios.join(', ')}; ${Math.round(stream.bytes / Math.max(1, stream.messages))} bytes per reading\n`);
      return;
    }

    // 2. The stream leader dies while the fleet streams.
    process.stderr.write(`cluster bench: kill -9 of the readings stream's leader, ${DEVICES} devices streaming\n`);
    let killedLeader = '';
    const leaderRun = await failureRun('leader kill', haproxy.deviceUrl, pkiDir, async () => {
      const { leader } = await streamInfo(nats as NatsCluster);
      if (leader < 0) throw new Error(`${STREAM} has no leader`);
      killedLeader = (nats as NatsCluster).names[leader] ?? '';
      await (nats as NatsCluster).kill(leader);
    }, (watch, at) => {
      // Watched long enough for a pause to start and end, and acks flow again: new acks in the last three ticks.
      const last = watch.ticks.slice(-4);
      return performance.now() - at > LEADER_OBSERVE_MS && last.length === 4 && last.every((t, i) => i === 0 || t.acked > (last[i - 1] as SimTick).acked);
    }, 2_000);
    const leaderIndex = nats.indexOf(killedLeader);
    if (leaderIndex >= 0) await nats.restart(leaderIndex);
    const leaderFigures = {
      devices: DEVICES, killed: killedLeader, recovered: leaderRun.recovered, ackGapMs: leaderRun.watch.longestAckGapMs(leaderRun.actedAt),
      ackMs: leaderRun.report.ackLatencyMs, lost: leaderRun.report.messages.lost, closes: leaderRun.report.closes, reconnects: leaderRun.report.devices.reconnects,
    };

    // 3. A hub dies while the fleet streams: its devices go to the others.
    process.stderr.write(`cluster bench: kill -9 of ${hubs[0]?.name}, ${DEVICES} devices streaming\n`);
    const hubRun = await failureRun('hub kill', haproxy.deviceUrl, pkiDir, () => stopHub(hubs[0] as HubProcess, 'SIGKILL'),
      (watch, at) => watch.allBackMs(at, DEVICES) !== null, 3_000);
    const hubFigures = {
      devices: DEVICES, killed: hubs[0]?.name, recovered: hubRun.recovered, allBackMs: hubRun.watch.allBackMs(hubRun.actedAt, DEVICES),
      reconnects: hubRun.report.devices.reconnects, reconnectMs: hubRun.report.reconnectMs, ackGapMs: hubRun.watch.longestAckGapMs(hubRun.actedAt),
      lost: hubRun.report.messages.lost, closes: hubRun.report.closes,
    };

    // The cluster is done: its processes leave the cores to the storm.
    await haproxy.stop();
    await Promise.all(hubs.map((h) => stopHub(h, 'SIGKILL')));
    await nats.stop();

    // 4. Restart storms on the single hub: full handshakes, then resumed.
    const full = await restartStorm(singleSetup, single, pkiDir, false);
    single = full.hub;
    const resumed = await restartStorm(singleSetup, single, pkiDir, true);
    single = resumed.hub;

    const singles = rounds.filter((r) => r.kind === 'single');
    const clusters = rounds.filter((r) => r.kind === 'cluster');
    const mean = (list: readonly number[]): number => round3(list.reduce((s, v) => s + v, 0) / Math.max(1, list.length));
    const results = {
      machine: {
        cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version,
        loadAverageBefore: round1(loadBefore), loadAverageAfter: round1(loadavg()[0] ?? 0),
      },
      settings: { devices: DEVICES, stormDevices: STORM_DEVICES, seconds: SECONDS, rounds: ROUNDS, hubs: HUBS, natsNodes: 3, replicas: 3, commitIntervalMs: COMMIT_INTERVAL_MS, clusterCommitIntervalMs: CLUSTER_COMMIT_INTERVAL_MS },
      cpu: {
        idleCores: idle, rounds, ratioPerRound: ratios, ratioMean: mean(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios),
        netOfIdleRatioPerRound: netRatios, netOfIdleRatioMean: mean(netRatios),
        singleCpuMsPerReading: mean(singles.map((r) => r.cpuMsPerReading)), clusterCpuMsPerReading: mean(clusters.map((r) => r.cpuMsPerReading)),
      },
      stream: { messages: stream.messages, bytes: stream.bytes, bytesPerReading: stream.messages === 0 ? 0 : Math.round(stream.bytes / stream.messages) },
      leaderKill: leaderFigures,
      hubKill: hubFigures,
      storm: { full: full.figures, resumed: resumed.figures },
    };
    await writeFile(join(REPO_ROOT, 'bench/results/cluster.json'), `${JSON.stringify(results, null, 2)}\n`);
    const m = results.machine;
    const c = results.cpu;
    const l = results.leaderKill;
    const h = results.hubKill;
    const storm = (s: StormFigures): string =>
      `${s.resumedHandshakes} of ${s.reconnects} reconnects resumed (${Math.round(s.resumedShare * 100)} %), all back ${seconds(s.allBackMs)} after SIGTERM ` +
      `(stop ${seconds(s.hubStopMs)}, start ${seconds(s.hubStartMs)} (${seconds(s.hubStartSeenByBenchMs)} seen from the bench), then ${seconds(s.allBackAfterReadyMs)}), reconnect p50/p99 ${seconds(s.reconnectMs.p50)} / ${seconds(s.reconnectMs.p99)}, ` +
      `hub CPU ${s.hubCpuMsPerReconnect} ms per reconnect, lost ${s.lost}`;
    const rows: Array<[string, string]> = [
      ['machine', `${m.cpus} cores (${m.model}), Node ${m.node}, load average ${m.loadAverageBefore} → ${m.loadAverageAfter}`],
      ['set-up', `${HUBS} hubs + 3 nats-servers (R3) behind HAProxy vs one single-node hub; ${DEVICES} devices × 1 msg/s, ${SECONDS} s per round`],
      ...rounds.map((r): [string, string] => [
        `${r.kind} ${r.round + 1}`,
        `${r.cpuMsPerReading} ms CPU per acked reading (net of idle ${r.cpuMsPerReadingNetOfIdle}; ${r.ackedInWindow} acked in ${r.windowS} s), ack p50/p99 ${r.ackMs.p50} / ${r.ackMs.p99} ms (whole run, ramp included: ${r.ackMsRun.p50} / ${r.ackMsRun.p99}), lost ${r.lost}` +
          (r.kind === 'cluster' ? `, HAProxy +${r.haproxyCpuMsPerReading} ms` : ''),
      ]),
      ['idle CPU', `single hub ${c.idleCores.single} cores, cluster (hubs + nats-servers) ${c.idleCores.cluster} cores`],
      ['cluster / single CPU', `${c.ratioMean}× (rounds ${c.ratioPerRound.join(', ')}; spread ${c.ratioMin}–${c.ratioMax}); net of idle ${c.netOfIdleRatioMean}× (${c.netOfIdleRatioPerRound.join(', ')})`],
      ['stream on disk', `${results.stream.bytesPerReading} bytes per reading per replica (${results.stream.messages} readings)`],
      ['leader kill: ack gap', `${seconds(l.ackGapMs)} (1 s ticks; ack max ${seconds(l.ackMs.max)}), lost ${l.lost}, reconnects ${l.reconnects} (closes: ${closeCodes(l.closes)})`],
      ['hub kill: all back', `${seconds(h.allBackMs)} (${h.reconnects} reconnects, p50/p99 ${seconds(h.reconnectMs.p50)} / ${seconds(h.reconnectMs.p99)}), ack gap ${seconds(h.ackGapMs)}, lost ${h.lost}`],
      ['storm, full handshakes', storm(results.storm.full)],
      ['storm, resumed', storm(results.storm.resumed)],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
  } finally {
    await haproxy?.stop();
    await Promise.all([...hubs, ...(single === null ? [] : [single])].map((h) => stopHub(h, ONLY_CPU ? 'SIGTERM' : 'SIGKILL')));
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
