/**
 * The ESP-IDF and Arduino examples compiled on Linux against the client's
 * headers, with credential headers made by the real CLI (`device export
 * --format esp32`, `provision export --format esp32`): an example that no
 * longer matches the client's API (commands, desired configuration,
 * provisioning by claim, renewal) fails here. The platforms' own APIs come
 * from declaration-only headers (test/firmware/platform-stubs): this checks
 * the examples' C and C++, it is not an ESP32 build (neither ESP-IDF nor the
 * Arduino core is on the test machines).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { FIRMWARE_DIR, MBEDTLS_INCLUDE } from './device-process.js';

const STUBS = join(REPO_ROOT, 'test', 'firmware', 'platform-stubs');
const WARNINGS = ['-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror'];
let pki: TestPki;
let headers: string;

/** The credential headers the examples include, made the way their READMEs say. */
before(async () => {
  pki = await makeTestPki();
  headers = await mkdtemp(join(tmpdir(), 'fleethub-examples-'));
  const cli = async (args: string[]): Promise<void> => {
    const run = await runCli([...args, '--pki', pki.dir]);
    assert.equal(run.code, 0, `fleethub ${args.join(' ')}:\n${run.stderr}`);
  };
  await cli(['ca', 'issuing', 'init']);
  await cli(['device', 'add', 'esp32-01']);
  await cli(['device', 'export', 'esp32-01', '--format', 'esp32', '--out', join(headers, 'fleethub_credentials.h')]);
  await writeFile(join(headers, 'ids.txt'), 'esp32-01\n');
  await cli(['provision', 'batch', 'add', 'line-7', '--ids-file', join(headers, 'ids.txt')]);
  await cli(['provision', 'export', 'line-7', '--format', 'esp32', '--out', join(headers, 'fleethub_claim.h')]);
});

test.after(async () => {
  await rm(headers, { recursive: true, force: true });
  await pki.cleanup();
});

function compile(compiler: string, args: readonly string[]): void {
  const run = spawnSync(compiler, args, { cwd: FIRMWARE_DIR, encoding: 'utf8' });
  assert.equal(run.status, 0, `${compiler} ${args.join(' ')}:\n${run.stdout}${run.stderr}`);
}

/** menuconfig's values, as ESP-IDF's sdkconfig.h defines them. */
const SDKCONFIG = [
  '-DCONFIG_FLEETHUB_WIFI_SSID="my-wifi"', '-DCONFIG_FLEETHUB_WIFI_PASSWORD=""', '-DCONFIG_FLEETHUB_HUB_HOST="hub.example.com"',
  '-DCONFIG_FLEETHUB_HUB_PORT=8443', '-DCONFIG_FLEETHUB_READ_INTERVAL_S=10',
];

for (const [name, extra] of [
  ['its own pair, renewal with a new key', []],
  ['provisioning by claim, renewal for the same key', ['-DCONFIG_FLEETHUB_PROVISION_BY_CLAIM=1', '-DCONFIG_FLEETHUB_DEVICE_ID="esp32-01"', '-DCONFIG_FLEETHUB_RENEW_SAME_KEY=1']],
] as const) {
  test(`the ESP-IDF example compiles (C, gnu17): ${name}`, () => {
    compile('gcc', [
      '-std=gnu17', '-fsyntax-only', ...WARNINGS, `-I${join(STUBS, 'esp-idf')}`, '-include', join(STUBS, 'esp-idf', 'newlib_string.h'),
      '-Isrc', ...MBEDTLS_INCLUDE, `-I${headers}`, ...SDKCONFIG, ...extra, 'examples/esp-idf-sensor/main/main.c',
    ]);
  });
}

for (const [name, extra] of [['its own pair', []], ['provisioning by claim', ['-DUSE_CLAIM=1']]] as const) {
  test(`the Arduino sketch compiles (C++17, with Arduino.h first as the Arduino builder does): ${name}`, async () => {
    // The builder compiles a sketch as C++ from a .cpp it makes of the .ino.
    const sketch = join(headers, `ArduinoSensor-${extra.length}.cpp`);
    await copyFile(join(FIRMWARE_DIR, 'examples', 'ArduinoSensor', 'ArduinoSensor.ino'), sketch);
    compile('g++', [
      '-std=gnu++17', '-fsyntax-only', ...WARNINGS, `-I${join(STUBS, 'arduino')}`, '-include', 'Arduino.h', '-Isrc', ...MBEDTLS_INCLUDE, `-I${headers}`, ...extra, sketch,
    ]);
  });
}
