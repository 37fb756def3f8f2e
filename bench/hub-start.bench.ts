/**
 * How long a single-node hub with a fleet's data takes to start
 * (`npm run bench -- hub-start`): a PKI folder with N devices (one batch
 * issue, as `device add --count`), a store holding R readings of each
 * (appended through the store's API, then closed cleanly as `fleethub
 * serve` leaves it on SIGTERM), then `fleethub serve` started and stopped
 * again a few times, each start timed from the spawn until
 *
 * - its console port accepts (the hub opens it after the device port), seen
 *   by a probe process of its own (hub-process.ts), and
 * - `/healthz` answers 200;
 *
 * with the hub's CPU time and memory at that moment (from /proc).
 *
 * Settings: `HUB_START_BENCH_DEVICES` (default 10,000, at most 100,000),
 * `HUB_START_BENCH_READINGS` per device (default 20, at most 1,000),
 * `HUB_START_BENCH_ROUNDS` (default 3, at most 20),
 * `HUB_START_BENCH_SEGMENT_BYTES` (the store's `segmentBytes`, default
 * 64 MiB: with 1 MiB and 150 readings, 10,000 devices fill about 125 sealed
 * segments with an index file each, as a hub that kept a day or more of
 * their readings in 64 MiB segments has, on 130 MB of disk). `HUB_START_BENCH_CLI=<path
 * of another build's dist/src/cli.js>` also starts that build, alternating
 * with this one round by round (a before/after on a noisy machine).
 *
 * Writes bench/results/hub-start.json. Runs in a temp folder on the
 * machine's disk.
 */
import { get } from 'node:https';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { provisionFleet } from '../firmware-sim/device-credentials.js';
import { initCa, issueServerCert } from '../src/pki/index.js';
import { openStore } from '../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../src/store/store-config.js';
import type { Reading } from '../src/store/types.js';
import { COMPILED_CLI, REPO_ROOT } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/service-process.js';
import { waitUntil } from '../test/helpers/wait.js';
import { cpuSeconds, percentile, rssMiB } from './cluster-bench-tools.js';
import { startHub, stopHub } from './hub-process.js';

function setting(name: string, fallback: number, max: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`${name} must be a whole number from 1 to ${max}`);
  return value;
}

const DEVICES = setting('HUB_START_BENCH_DEVICES', 10_000, 100_000);
const READINGS = setting('HUB_START_BENCH_READINGS', 20, 1_000);
const ROUNDS = setting('HUB_START_BENCH_ROUNDS', 3, 20);
const SEGMENT_BYTES = setting('HUB_START_BENCH_SEGMENT_BYTES', DEFAULT_STORE_CONFIG.segmentBytes, DEFAULT_STORE_CONFIG.segmentBytes);
const STORE_CONFIG = { ...DEFAULT_STORE_CONFIG, segmentBytes: SEGMENT_BYTES };
const OTHER_CLI = process.env.HUB_START_BENCH_CLI;
/** Readings per store append while filling. */
const FILL_BATCH = 1_000;
/** How long the store may take to index its sealed segments after the fill. */
const FILL_INDEX_TIMEOUT_MS = 300_000;
/** How long one start may take before the bench gives up. */
const HEALTHZ_TIMEOUT_MS = 120_000;

interface Start {
  readonly build: string;
  readonly round: number;
  /** Spawn until the console port accepted (the probe process's view). */
  readonly listeningMs: number | null;
  /** Spawn until `/healthz` answered 200. */
  readonly healthzMs: number;
  /** The hub's CPU seconds (user + system) when `/healthz` answered. */
  readonly cpuS: number;
  readonly rssMiB: number;
  /** SIGTERM until it exited. */
  readonly stopMs: number;
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Sealed segments in `dataDir`, and those with their history index file. */
async function sealed(dataDir: string): Promise<{ segments: number; indexed: number }> {
  const names = await readdir(dataDir);
  return { segments: names.filter((n) => n.endsWith('.log')).length - 1, indexed: names.filter((n) => n.endsWith('.idx')).length };
}

/** A store with `READINGS` readings of each device, every sealed segment indexed, closed cleanly. */
async function fill(dataDir: string, ids: readonly string[]): Promise<void> {
  await append(dataDir, ids);
  // Index files are written by the store's maintenance passes: opened again until every sealed segment has one.
  const store = await openStore(dataDir, STORE_CONFIG, { retentionCheckMs: 100 });
  try {
    await waitUntil(async () => {
      const { segments, indexed } = await sealed(dataDir);
      return indexed >= segments;
    }, 'every sealed segment has its index file', FILL_INDEX_TIMEOUT_MS);
  } finally {
    await store.close();
  }
}

async function append(dataDir: string, ids: readonly string[]): Promise<void> {
  const store = await openStore(dataDir, STORE_CONFIG);
  try {
    const started = Date.now() - READINGS * 10_000;
    for (let seq = 1; seq <= READINGS; seq += 1) {
      // One reading per device every 10 s, oldest first, as a fleet at 0.1 msg/s would have left them.
      const ts = started + seq * 10_000;
      for (let i = 0; i < ids.length; i += FILL_BATCH) {
        const batch: Reading[] = ids.slice(i, i + FILL_BATCH).map((device) => ({ device, seq, ts, data: { temp: 21.5 + (seq % 7) / 10, hum: 40 + (seq % 13), rssi: -60, vbat: 3.71 } }));
        await store.append(batch);
      }
    }
  } finally {
    await store.close();
  }
}

async function startOnce(build: string, cli: string, round: number, configPath: string, devicePort: number, consolePort: number): Promise<Start> {
  const spawned = performance.now();
  const hub = await startHub(`hub (${build})`, configPath, [devicePort, consolePort], [], cli);
  try {
    await waitUntil(async () => (await healthz(consolePort)) === 200, `${build} answers /healthz`, HEALTHZ_TIMEOUT_MS);
    const healthzMs = performance.now() - spawned;
    const cpuS = cpuSeconds(hub.pid);
    const rss = rssMiB(hub.pid);
    const stopping = performance.now();
    await stopHub(hub, 'SIGTERM');
    return {
      build, round, listeningMs: hub.startMs, healthzMs: Math.round(healthzMs), cpuS: Math.round(cpuS * 100) / 100, rssMiB: rss, stopMs: Math.round(performance.now() - stopping),
    };
  } finally {
    await stopHub(hub, 'SIGKILL');
  }
}

function summary(starts: readonly Start[], build: string): Record<string, unknown> {
  const mine = starts.filter((s) => s.build === build);
  const spread = (values: number[]): string => `${Math.min(...values)}–${Math.max(...values)} (median ${percentile(values, 50)})`;
  return {
    build, rounds: mine.length,
    listeningMs: spread(mine.map((s) => s.listeningMs ?? Number.NaN)),
    healthzMs: spread(mine.map((s) => s.healthzMs)),
    cpuS: spread(mine.map((s) => s.cpuS)),
    rssMiB: spread(mine.map((s) => s.rssMiB)),
  };
}

const work = await mkdtemp(join(tmpdir(), 'fleethub-hub-start-bench-'));
try {
  const loadBefore = loadavg()[0] ?? 0;
  const pkiDir = join(work, 'certs');
  const dataDir = join(work, 'data');
  await initCa(pkiDir, {});
  await issueServerCert(pkiDir, { hosts: ['localhost'], ips: ['127.0.0.1'] });
  process.stderr.write(`hub-start bench: ${DEVICES} devices, ${READINGS} readings each, segments of ${SEGMENT_BYTES} bytes\n`);
  let at = performance.now();
  await provisionFleet(pkiDir, 'start', DEVICES);
  const provisionS = Math.round(performance.now() - at) / 1000;
  const width = Math.max(4, String(DEVICES).length);
  const ids = Array.from({ length: DEVICES }, (_, i) => `start${String(i + 1).padStart(width, '0')}`);
  at = performance.now();
  await fill(dataDir, ids);
  const fillS = Math.round(performance.now() - at) / 1000;
  const devicePort = await freePort();
  const consolePort = await freePort();
  const configPath = join(work, 'hub.json');
  await writeFile(configPath, JSON.stringify({
    pkiDir, dataDir, device: { host: '127.0.0.1', port: devicePort }, console: { host: '127.0.0.1', port: consolePort }, store: { segmentBytes: SEGMENT_BYTES },
  }));
  const { segments } = await sealed(dataDir);
  const builds: Array<[string, string]> = [['this', COMPILED_CLI]];
  if (OTHER_CLI !== undefined) builds.push(['other', OTHER_CLI]);
  const starts: Start[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    // Alternated (A B, B A, …) so that a drift of the machine's load falls on both builds alike.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const [build, cli] of order) {
      const start = await startOnce(build, cli, round, configPath, devicePort, consolePort);
      process.stderr.write(`  round ${round + 1}/${ROUNDS} ${build}: listening ${start.listeningMs} ms, /healthz ${start.healthzMs} ms, CPU ${start.cpuS} s, RSS ${start.rssMiB} MiB\n`);
      starts.push(start);
    }
  }
  console.table(starts);
  const summaries = builds.map(([build]) => summary(starts, build));
  console.table(summaries);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', node: process.version, loadAverageBefore: Math.round(loadBefore * 10) / 10, loadAverageAfter: Math.round((loadavg()[0] ?? 0) * 10) / 10 };
  console.log(machine);
  const settings = { devices: DEVICES, readingsPerDevice: READINGS, segmentBytes: SEGMENT_BYTES, sealedSegments: segments, rounds: ROUNDS, otherCli: OTHER_CLI ?? null, provisionS, fillS };
  console.log(settings);
  await writeFile(join(REPO_ROOT, 'bench/results/hub-start.json'), `${JSON.stringify({ settings, machine, starts, summaries, at: new Date().toISOString() }, null, 2)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
