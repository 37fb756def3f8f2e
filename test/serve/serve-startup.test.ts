/**
 * What `fleethub serve` loads to start: a single hub without `cluster` and
 * without sinks never loads the NATS client (cluster mode) or the MQTT client
 * (MQTT and ThingSpeak-over-MQTT sinks). Loading them took about a quarter of
 * a single hub's start-up CPU, and a restarted hub's start is when a whole
 * fleet waits for it (docs/benchmarks.md, `npm run bench -- hub-start`).
 *
 * Checked structurally, not by timing: a preloaded script lists, when the
 * process exits, the packages in Node's module cache (both clients are
 * CommonJS packages, so an ESM import of them lands there too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe } from '../helpers/cli.js';

const LOADED_LIST = `
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)/.exec(file);
    if (match) packages.add(match[1].replace('\\\\', '/'));
  }
  writeFileSync(process.env.FLEETHUB_TEST_LOADED_OUT, [...packages].sort().join('\\n'));
});
`;

test('a single hub without cluster or sinks starts without loading the NATS or MQTT client', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-startup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const preload = join(dir, 'loaded-list.cjs');
  const out = join(dir, 'loaded.txt');
  await writeFile(preload, LOADED_LIST);
  const config = join(dir, 'fleethub.json');
  await writeFile(config, JSON.stringify({ device: { host: '127.0.0.1', port: 0 }, console: { host: '127.0.0.1', port: 0 } }));
  const serve = startServe(['--config', config], {
    cwd: dir,
    env: { FLEETHUB_PKI: undefined, FLEETHUB_LOG_LEVEL: 'info', NODE_OPTIONS: `--require ${preload}`, FLEETHUB_TEST_LOADED_OUT: out },
  });
  t.after(() => {
    if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  });
  await serve.ready;
  serve.child.kill('SIGTERM');
  const { code } = await serve.exited;
  assert.equal(code, 0, serve.log());

  const loaded = (await readFile(out, 'utf8')).split('\n');
  assert.ok(loaded.includes('ws'), `the list is read (ws serves the devices): ${loaded.join(' ')}`);
  assert.deepEqual(loaded.filter((name) => name === 'mqtt' || name.startsWith('@nats-io/')), []);
});
