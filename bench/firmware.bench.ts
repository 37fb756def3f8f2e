/**
 * The C device client's figures (`npm run bench -- firmware`), Linux x86-64
 * as a proxy for an ESP32:
 *
 * - code and static data of the library (`size` of each object of
 *   `make -C firmware`), the portable sources apart from the Linux port;
 * - RAM of the client's structures (`sizeof`, from a small C program built
 *   against the same headers and mbedTLS);
 * - readings per second one client sustains against a real hub on
 *   127.0.0.1 (the Linux example, `--interval-ms 0`), a few short runs, with
 *   its state on disk (one fsync per add and per ack) and on /dev/shm;
 * - what a reading costs on the wire: a counting TCP relay between device
 *   and hub, two runs of different lengths, the difference per reading
 *   (bytes and TLS records each way; the handshake cancels out).
 *
 * Writes bench/results/firmware.json. Runs are short and bounded
 * (FIRMWARE_BENCH_COUNT readings, FIRMWARE_BENCH_RUNS runs). With
 * FLEETHUB_MBEDTLS_DIR (as in test/firmware) it measures the build against
 * that mbedTLS and writes bench/results/firmware-mbedtls-VERSION.json.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startHub, type TestHub } from '../test/helpers/hub.js';
import { BUILD_DIR, deviceFiles, FIRMWARE_DIR, makeFirmware, MBEDTLS_INCLUDE, startDevice, type DeviceFiles } from '../test/firmware/device-process.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

const COUNT = Number(process.env.FIRMWARE_BENCH_COUNT ?? 2_000);
const RUNS = Number(process.env.FIRMWARE_BENCH_RUNS ?? 3);
const WIRE_SHORT = 100;
const WIRE_LONG = 1_100;

interface ObjectSize { readonly object: string; readonly text: number; readonly data: number; readonly bss: number }

function sizes(): ObjectSize[] {
  const objDir = join(BUILD_DIR, 'obj');
  const run = spawnSync('sh', ['-c', `size ${objDir}/*.o`], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return run.stdout.trim().split('\n').slice(1).map((line) => {
    const [text, data, bss, , , file] = line.trim().split(/\s+/);
    return { object: (file ?? '').replace(`${objDir}/`, ''), text: Number(text), data: Number(data), bss: Number(bss) };
  });
}

/** sizeof the client's structures, from a C program built against the same headers and mbedTLS (and that mbedTLS's version). */
async function structSizes(): Promise<{ sizes: Record<string, number>; mbedtls: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-sizeof-'));
  try {
    const names = ['fh_client', 'mbedtls_entropy_context', 'mbedtls_ctr_drbg_context', 'mbedtls_ssl_context', 'mbedtls_ssl_config',
      'mbedtls_x509_crt', 'mbedtls_pk_context', 'fh_ws_reader', 'fh_outbox'];
    const source = ['#include <stdio.h>', '#include <mbedtls/version.h>', '#include "fleethub/fh_client.h"', 'int main(void) {',
      '  printf("mbedtls %s\\n", MBEDTLS_VERSION_STRING);',
      ...names.map((n) => `  printf("${n} %zu\\n", sizeof(${n}));`), '  return 0;', '}'].join('\n');
    await writeFile(join(dir, 'sizeof.c'), source);
    const build = spawnSync('gcc', ['-std=c99', `-I${join(FIRMWARE_DIR, 'src')}`, ...MBEDTLS_INCLUDE, join(dir, 'sizeof.c'), '-o', join(dir, 'sizeof')], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(build.stderr);
    const out = spawnSync(join(dir, 'sizeof'), { encoding: 'utf8' }).stdout;
    const [first = '', ...rest] = out.trim().split('\n');
    return { mbedtls: first.replace(/^mbedtls /, ''), sizes: Object.fromEntries(rest.map((l) => [l.split(' ')[0] ?? '', Number(l.split(' ')[1])])) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One run: readings per second from the device's `connected` line to its exit (every reading acked). */
async function rate(hub: TestHub, files: DeviceFiles, url: string, count: number): Promise<{ perSec: number; acks: number }> {
  const device = startDevice(url, files, ['--count', String(count), '--interval-ms', '0']);
  await device.waitForLine(/^connected$/, 60_000);
  const started = performance.now();
  const exit = await device.exited;
  const elapsed = performance.now() - started;
  if (exit.code !== 0) throw new Error(`the device exited ${exit.code}:\n${device.output()}`);
  return { perSec: Math.round((count / elapsed) * 1000), acks: device.lines().filter((l) => l.startsWith('ack ')).length };
}

/** A TCP relay that counts bytes and TLS records each way (the record header is plain: type, version, length). */
function countingRelay(target: number): Promise<{ server: Server; port: number; totals: () => { up: number; down: number; upRecords: number; downRecords: number } }> {
  let up = 0, down = 0, upRecords = 0, downRecords = 0;
  const recordCounter = (onRecord: () => void): ((chunk: Buffer) => void) => {
    let pending = Buffer.alloc(0);
    return (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt16BE(3);
        if (pending.length < 5 + length) break;
        if (pending[0] === 23) onRecord(); // application data
        pending = pending.subarray(5 + length);
      }
    };
  };
  const server = createServer((device: Socket) => {
    const hub = connect(target, '127.0.0.1');
    const upCount = recordCounter(() => (upRecords += 1));
    const downCount = recordCounter(() => (downRecords += 1));
    device.on('data', (b: Buffer) => { up += b.length; upCount(b); hub.write(b); });
    hub.on('data', (b: Buffer) => { down += b.length; downCount(b); device.write(b); });
    device.on('close', () => hub.destroy());
    hub.on('close', () => device.destroy());
    device.on('error', () => hub.destroy());
    hub.on('error', () => device.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, port: (server.address() as { port: number }).port, totals: () => ({ up, down, upRecords, downRecords }),
  })));
}

async function wire(hub: TestHub, id: string): Promise<Record<string, number>> {
  const measure = async (count: number, suffix: string): Promise<{ up: number; down: number; upRecords: number; downRecords: number }> => {
    const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice(`${id}-${suffix}`));
    const relay = await countingRelay(hub.devicePort);
    try {
      const device = startDevice(`wss://localhost:${relay.port}/v1/device`, files, ['--count', String(count), '--interval-ms', '0']);
      const exit = await device.exited;
      if (exit.code !== 0) throw new Error(device.output());
      await new Promise((r) => setTimeout(r, 200)); // the relay has seen the last bytes of the close
      return relay.totals();
    } finally {
      relay.server.close();
      await files.cleanup();
    }
  };
  const short = await measure(WIRE_SHORT, 'short');
  const long = await measure(WIRE_LONG, 'long');
  const n = WIRE_LONG - WIRE_SHORT;
  const per = (a: number, b: number): number => Math.round(((b - a) / n) * 100) / 100;
  return {
    upBytesPerReading: per(short.up, long.up), downBytesPerReading: per(short.down, long.down),
    upRecordsPerReading: per(short.upRecords, long.upRecords), downRecordsPerReading: per(short.downRecords, long.downRecords),
    handshakeAndCloseUpBytes: Math.round(short.up - WIRE_SHORT * per(short.up, long.up)),
    handshakeAndCloseDownBytes: Math.round(short.down - WIRE_SHORT * per(short.down, long.down)),
  };
}

function spread(values: readonly number[]): { median: number; min: number; max: number; runs: readonly number[] } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0, runs: values };
}

async function main(): Promise<void> {
  makeFirmware();
  const objects = sizes();
  const posix = new Set(['fh_port_posix.o', 'fh_storage_file.o']);
  const sum = (rows: readonly ObjectSize[]): { text: number; data: number; bss: number } =>
    rows.reduce((a, r) => ({ text: a.text + r.text, data: a.data + r.data, bss: a.bss + r.bss }), { text: 0, data: 0, bss: 0 });
  const code = { portable: sum(objects.filter((o) => !posix.has(o.object))), withLinuxPort: sum(objects), objects };
  console.table(objects);
  const { sizes: ram, mbedtls } = await structSizes();
  console.log(`mbedTLS ${mbedtls}`);
  console.table(ram);

  const hub = await startHub({ limits: { msgsPerSec: 100_000, burst: 100_000, msgsPerDay: 10_000_000 } });
  const throughput: Record<string, ReturnType<typeof spread> & { acksPerRun: readonly number[] }> = {};
  try {
    for (const where of ['disk', 'shm'] as const) {
      const perSec: number[] = [];
      const acks: number[] = [];
      for (let run = 0; run < RUNS; run += 1) {
        const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice(`fw-bench-${where}-${run}`));
        const state = where === 'shm' ? await mkdtemp('/dev/shm/fleethub-fw-bench-') : files.state;
        try {
          const r = await rate(hub, { ...files, state }, `wss://localhost:${hub.devicePort}/v1/device`, COUNT);
          perSec.push(r.perSec);
          acks.push(r.acks);
        } finally {
          if (where === 'shm') await rm(state, { recursive: true, force: true });
          await files.cleanup();
        }
      }
      throughput[where] = { ...spread(perSec), acksPerRun: acks };
    }
    console.table(Object.fromEntries(Object.entries(throughput).map(([k, v]) => [k, { median: v.median, min: v.min, max: v.max }])));
    const onWire = await wire(hub, 'fw-bench-wire');
    console.table(onWire);
    const machine = { loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', node: process.version };
    const result = { machine, mbedtls, count: COUNT, runs: RUNS, code, ram, readingsPerSecond: throughput, wire: onWire, at: new Date().toISOString() };
    const name = (process.env.FLEETHUB_MBEDTLS_DIR ?? '') === '' ? 'firmware.json' : `firmware-mbedtls-${mbedtls}.json`;
    await writeFile(join(REPO_ROOT, 'bench/results', name), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await hub.stop();
  }
}

await main();
