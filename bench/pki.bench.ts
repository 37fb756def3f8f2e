/**
 * Provisioning at fleet scale (`npm run bench -- pki`), issue 2's bar:
 *
 * - `fleethub device add --count 10000` (P-256), end to end through the real
 *   CLI (node start-up included): under 15 s on 2 cores;
 * - the same 10,000 P-256 and 1,000 RSA-2048 devices through the library,
 *   with the time split between key generation, signing and file writes
 *   (RSA keys on libuv's thread pool): RSA under 2 minutes.
 *
 * Writes bench/results/pki.json. Runs in a temp folder on the machine's disk
 * (fsync cost depends on it: quote the figures with the disk).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { initCa } from '../src/pki/index.js';
import { addDevicesTimed, type BatchTimings } from '../src/pki/batch-issue.js';
import { COMPILED_CLI, REPO_ROOT } from '../test/helpers/paths.js';

const EC_COUNT = Number(process.env.PKI_BENCH_EC ?? 10_000);
const RSA_COUNT = Number(process.env.PKI_BENCH_RSA ?? 1_000);
const root = REPO_ROOT;

interface Row {
  readonly scenario: string;
  readonly devices: number;
  readonly totalS: number;
  readonly perDeviceMs: number;
  readonly keygenS: number | null;
  readonly signS: number | null;
  readonly writeS: number | null;
  readonly inventoryS: number | null;
  /** CPU seconds this process (and its thread pool) used: what an idle 2-core machine would need, spread over the cores. */
  readonly cpuS: number | null;
}

const s = (ms: number): number => Math.round(ms) / 1000;

async function library(work: string, name: string, keyType: 'ec' | 'rsa', count: number): Promise<Row> {
  const dir = join(work, name);
  await initCa(dir, { keyType });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const { records, timings } = await addDevicesTimed(dir, { count, prefix: 'P', keyType });
  const total = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (records.length !== count) throw new Error(`issued ${records.length}, wanted ${count}`);
  const t: BatchTimings = timings;
  return {
    scenario: `library addDevices ${keyType === 'ec' ? 'P-256' : 'RSA-2048'}`, devices: count, totalS: s(total),
    perDeviceMs: Math.round((total / count) * 1000) / 1000,
    keygenS: s(t.keygenMs), signS: s(t.signMs), writeS: s(t.writeMs), inventoryS: s(t.inventoryMs),
    cpuS: s((used.user + used.system) / 1000),
  };
}

function cli(work: string, count: number): Row {
  const dir = join(work, 'cli');
  const tsx = [COMPILED_CLI];
  const init = spawnSync(process.execPath, [...tsx, 'ca', 'init', '--pki', dir], { cwd: root, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(init.stderr);
  const started = performance.now();
  const run = spawnSync(process.execPath, [...tsx, 'device', 'add', '--count', String(count), '--prefix', 'P', '--pki', dir], { cwd: root, encoding: 'utf8' });
  const total = performance.now() - started;
  if (run.status !== 0) throw new Error(run.stderr);
  return {
    scenario: 'CLI device add --count (P-256)', devices: count, totalS: s(total), perDeviceMs: Math.round((total / count) * 1000) / 1000,
    keygenS: null, signS: null, writeS: null, inventoryS: null, cpuS: null,
  };
}

const work = await mkdtemp(join(tmpdir(), 'fleethub-pki-bench-'));
try {
  const rows: Row[] = [];
  rows.push(cli(work, EC_COUNT));
  rows.push(await library(work, 'ec', 'ec', EC_COUNT));
  rows.push(await library(work, 'rsa', 'rsa', RSA_COUNT));
  console.table(rows);
  const machine = { loadAverage1m: Math.round(loadavg()[0] ?? 0), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', node: process.version, uvThreadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)' };
  console.log(machine);
  const bar = { ecUnder15s: (rows[0]?.totalS ?? Infinity) < 15, rsaUnder120s: (rows[2]?.totalS ?? Infinity) < 120 };
  console.log('bar:', bar);
  await writeFile(join(root, 'bench/results/pki.json'), `${JSON.stringify({ machine, rows, bar, at: new Date().toISOString() }, null, 2)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
