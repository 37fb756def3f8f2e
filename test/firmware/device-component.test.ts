/**
 * The ESP-IDF component's portable sources, built for Linux from the
 * component's own list (`FH_PORTABLE_SRCS` in firmware/CMakeLists.txt) with
 * gcc, not through the Makefile, and run against a real hub: what an ESP32
 * build compiles besides its port is what these tests exercise. The ESP32
 * port and NVS storage (FH_ESP32_SRCS) cannot be compiled here (no ESP-IDF).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { startHub } from '../helpers/hub.js';
import { deviceFiles, FIRMWARE_DIR, highestAck, MBEDTLS_INCLUDE, MBEDTLS_LINK, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

/** The quoted paths of `set(NAME ...)` in the component's CMakeLists.txt. */
function cmakeList(name: string): string[] {
  const text = readFileSync(join(FIRMWARE_DIR, 'CMakeLists.txt'), 'utf8');
  const block = new RegExp(`^set\\(${name}\\n([\\s\\S]*?)^\\)`, 'm').exec(text);
  assert.ok(block?.[1] !== undefined, `CMakeLists.txt sets ${name}`);
  return [...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
}

function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { cwd: FIRMWARE_DIR, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

test('the component lists every portable source, and the Makefile builds that same list', () => {
  const portable = cmakeList('FH_PORTABLE_SRCS');
  const inSrc = readdirSync(join(FIRMWARE_DIR, 'src')).filter((f) => f.endsWith('.c')).map((f) => `src/${f}`);
  assert.deepEqual([...portable].sort(), inSrc.sort(), 'FH_PORTABLE_SRCS is every .c file in src/ (the ESP32 port lives in src/port/esp32)');
  for (const file of cmakeList('FH_ESP32_SRCS')) assert.ok(existsSync(join(FIRMWARE_DIR, file)), `${file} exists`);
  assert.deepEqual(run('make', ['-s', 'print-portable-sources']).trim().split('\n'), portable);
});

test('the component\'s portable sources, compiled with gcc from its list, stream to a real hub; none calls the allocator', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'fleethub-component-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const flags = ['-std=c99', '-O2', '-Wall', '-Wextra', '-Wshadow', '-Wno-unused-parameter', '-Werror', '-Isrc', '-Iport/posix', ...MBEDTLS_INCLUDE];
  const objects: string[] = [];
  for (const source of cmakeList('FH_PORTABLE_SRCS')) {
    const object = join(out, basename(source).replace(/\.c$/, '.o'));
    run('gcc', [...flags, '-c', source, '-o', object]);
    objects.push(object);
  }
  // SPEC of the library: nothing is allocated by it after start-up; it never calls the allocator at all.
  const undefinedSymbols = run('nm', ['-u', ...objects]);
  for (const fn of ['malloc', 'calloc', 'realloc', 'free']) {
    assert.ok(!new RegExp(`\\bU ${fn}$`, 'm').test(undefinedSymbols), `the portable sources do not call ${fn}`);
  }
  const binary = join(out, 'fleethub-device');
  run('gcc', [...flags, 'examples/linux/fleethub-device.c', 'examples/linux/device_files.c', 'port/posix/fh_port_posix.c', 'port/posix/fh_storage_file.c', ...objects,
    ...MBEDTLS_LINK, '-lm', '-o', binary]);

  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-component'));
  t.after(() => files.cleanup());
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--count', '10', '--interval-ms', '0'], binary);
  t.after(() => reapDevice(device));
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  assert.equal(highestAck(device.lines()), 10);
  assertContiguousOnce(await storedSeqs(hub.hub.store, 'fw-component'), 10);
});
