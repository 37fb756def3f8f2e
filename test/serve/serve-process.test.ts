/**
 * `fleethub serve` as a user runs it: a real child process, a config file,
 * the default PKI folder made on first run, SIGTERM, kill -9 and restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServe, type ServeProcess } from '../helpers/cli.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';

const LOOPBACK_CONFIG = { device: { host: '127.0.0.1', port: 0 }, console: { host: '127.0.0.1', port: 0 } };
const ENV = { FLEETHUB_PKI: undefined, FLEETHUB_LOG_LEVEL: 'info' };
/** A command that should fail at start-up is killed if it starts serving instead. */
const FAILS_FAST = { env: ENV, timeoutMs: 30_000 };

async function workDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeConfig(dir: string, config: unknown): Promise<string> {
  const path = join(dir, 'fleethub.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** Ends a serve child for good, whatever state it is in. */
function reap(serve: ServeProcess): Promise<void> {
  if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  return serve.exited.then(() => {});
}

async function device(dir: string, url: string, id: string): Promise<DeviceClient> {
  const pki = join(dir, 'certs');
  return connectDevice({
    url,
    ca: await readFile(join(pki, 'ca.crt'), 'utf8'),
    cert: await readFile(join(pki, 'devices', `${id}.crt`), 'utf8'),
    key: await readFile(join(pki, 'devices', `${id}.key`), 'utf8'),
    maxVersion: 'TLSv1.2',
  });
}

test('first run: makes a development PKI in ./certs, serves a device, stops on SIGTERM with 1001 and exit 0', async (t) => {
  const dir = await workDir(t);
  const config = await writeConfig(dir, LOOPBACK_CONFIG);
  const serve = startServe(['--config', config], { cwd: dir, env: ENV });
  t.after(() => reap(serve));
  const { deviceUrl } = await serve.ready;
  assert.match(serve.log(), /warn pki\.created /, 'the log says plainly that a development CA was made');
  assert.ok(existsSync(join(dir, 'certs', 'ca.crt')));

  const added = await runCli(['device', 'add', 'esp32-01', '--pki', 'certs'], { cwd: dir, env: ENV });
  assert.equal(added.code, 0, added.stderr);
  const client = await device(dir, deviceUrl, 'esp32-01');
  const hello = await client.hello();
  assert.equal(hello.device, 'esp32-01');
  assert.equal(hello.lastSeq, null);
  client.sendSeqs([1, 2, 3], { temp: 21.5 });
  await client.waitForAck(3);

  serve.child.kill('SIGTERM');
  assert.equal(await client.waitForClose(), 1001);
  assert.deepEqual(await serve.exited, { code: 0, signal: null });
  assert.match(serve.log(), /info hub\.stopped/);
});

test('kill -9 mid-stream, restart: every acked reading is stored exactly once and hello.lastSeq covers it', async (t) => {
  const dir = await workDir(t);
  const config = await writeConfig(dir, { ...LOOPBACK_CONFIG, limits: { msgsPerSec: 100_000, burst: 100_000 } });
  let serve = startServe(['--config', config], { cwd: dir, env: ENV });
  t.after(() => reap(serve));
  const { deviceUrl } = await serve.ready;
  assert.equal((await runCli(['device', 'add', 'd1', '--pki', 'certs'], { cwd: dir, env: ENV })).code, 0);
  const client = await device(dir, deviceUrl, 'd1');
  await client.hello();

  // Keep up to 32 readings unacked, as the simulator does, and kill the hub
  // without warning once a few hundred are acked.
  const TOTAL = 5_000;
  let acked = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < TOTAL && sent - acked < 32) {
        sent += 1;
        client.send({ seq: sent, data: { n: sent } });
      }
    };
    client.ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { ack?: number };
      if (message.ack !== undefined) acked = Math.max(acked, message.ack);
      if (acked >= 300 && serve.child.exitCode === null && serve.child.signalCode === null) {
        serve.child.kill('SIGKILL');
        resolve();
        return;
      }
      pump();
    });
    client.ws.on('close', () => resolve()); // the assertion below then says what went wrong
    pump();
  });
  await client.waitForClose();
  const lastAcked = acked;
  assert.ok(lastAcked >= 300, `the hub acked ${lastAcked} before the connection ended with ${client.closeCode}`);
  await serve.exited;

  serve = startServe(['--config', config], { cwd: dir, env: ENV });
  const again = await serve.ready;
  const back = await device(dir, again.deviceUrl, 'd1');
  const hello = await back.hello();
  assert.ok(hello.lastSeq !== null && hello.lastSeq >= lastAcked, `lastSeq ${hello.lastSeq} covers every ack (${lastAcked})`);
  // A device that missed the acks resends: a repeat is acked and not stored twice.
  back.sendSeqs([lastAcked, lastAcked - 1]);
  await back.waitForCount((m) => m.ack !== undefined, 1);
  await back.close();
  serve.child.kill('SIGTERM');
  assert.equal((await serve.exited).code, 0);

  const store = await openStore(join(dir, 'data'), DEFAULT_STORE_CONFIG);
  try {
    const seen = new Map<number, number>();
    for (let from = 0; from < store.nextPosition(); ) {
      const page = await store.read(from, 10_000);
      for (const r of page.readings) seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
      from = page.next;
    }
    for (let seq = 1; seq <= lastAcked; seq += 1) assert.equal(seen.get(seq), 1, `acked seq ${seq} stored exactly once`);
    for (const [seq, count] of seen) assert.equal(count, 1, `seq ${seq} stored once`);
    assert.equal(store.lastSeq('d1'), hello.lastSeq);
  } finally {
    await store.close();
  }
});

test('a bad config stops start-up with one line naming the key, exit 7', async (t) => {
  const dir = await workDir(t);
  const cases: Array<[unknown, RegExp]> = [
    [{ ...LOOPBACK_CONFIG, limits: { msgsPerSec: -5 } }, /^fleethub: config: limits\.msgsPerSec must be an integer from 1 to 100000, got -5\n$/],
    [{ ...LOOPBACK_CONFIG, devcie: {} }, /^fleethub: config: unknown key devcie /],
    [{ ...LOOPBACK_CONFIG, sinks: [{ type: 'kafka' }] }, /^fleethub: config: sinks\[0\]\./],
  ];
  for (const [config, expected] of cases) {
    const result = await runCli(['serve', '--config', await writeConfig(dir, config)], { cwd: dir, ...FAILS_FAST });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, expected);
  }
  await writeFile(join(dir, 'broken.json'), '{"device": ');
  const broken = await runCli(['serve', '--config', 'broken.json'], { cwd: dir, ...FAILS_FAST });
  assert.equal(broken.code, 7);
  assert.match(broken.stderr, /^fleethub: config: broken\.json is not valid JSON/);
  assert.equal(broken.stderr.trim().split('\n').length, 1, 'one line, no stack');
  const missing = await runCli(['serve', '--config', 'nope.json'], { cwd: dir, ...FAILS_FAST });
  assert.equal(missing.code, 7);
  assert.match(missing.stderr, /^fleethub: config: cannot read nope\.json\n$/);
  assert.ok(!existsSync(join(dir, 'certs')), 'nothing was created');
});

test('a dataDir the store cannot use stops start-up with one line, exit 6 (also under /proc, where Node 20 would hang)', async (t) => {
  const dir = await workDir(t);
  await writeFile(join(dir, 'a-file'), '');
  for (const dataDir of ['/proc/fleethub-test/data', join(dir, 'a-file', 'data')]) {
    const result = await runCli(['serve', '--config', await writeConfig(dir, { ...LOOPBACK_CONFIG, dataDir })], { cwd: dir, ...FAILS_FAST });
    assert.equal(result.code, 6, `${dataDir}: ${result.stderr}`);
    assert.match(result.stderr, /\nfleethub: store: cannot use .* as the data folder \(E[A-Z]+\)\n$/);
  }
});

test('a pkiDir named in the config is never filled with a development CA', async (t) => {
  const dir = await workDir(t);
  const config = await writeConfig(dir, { ...LOOPBACK_CONFIG, pkiDir: 'prod-pki' });
  const result = await runCli(['serve', '--config', config], { cwd: dir, ...FAILS_FAST });
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /^fleethub: no CA in .*prod-pki: run `fleethub ca init/);
  assert.ok(!existsSync(join(dir, 'prod-pki', 'ca.key')));
});

test('a port already in use is one line and exit 8', async (t) => {
  const dir = await workDir(t);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const config = await writeConfig(dir, { ...LOOPBACK_CONFIG, device: { host: '127.0.0.1', port } });
  const result = await runCli(['serve', '--config', config], { cwd: dir, ...FAILS_FAST });
  assert.equal(result.code, 8, result.stderr);
  assert.match(result.stderr, new RegExp(`\\nfleethub: device listener: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)\\n$`));
});

test('a sink removed from the config no longer holds back retention: its cursor is released at start', async (t) => {
  const dir = await workDir(t);
  const storeConfig = DEFAULT_STORE_CONFIG;
  const before = await openStore(join(dir, 'data'), storeConfig);
  await before.saveCursor('sink:retired', 0);
  await before.saveCursor('dashboard-history', 0); // not a sink's: left alone
  await before.close();

  const serve = startServe(['--config', await writeConfig(dir, LOOPBACK_CONFIG)], { cwd: dir, env: ENV });
  t.after(() => reap(serve));
  await serve.ready;
  serve.child.kill('SIGTERM');
  assert.equal((await serve.exited).code, 0);
  assert.match(serve.log(), /warn sink\.cursor_released cursor=sink:retired /);

  const after = await openStore(join(dir, 'data'), storeConfig);
  try {
    assert.deepEqual(after.cursorNames(), ['dashboard-history']);
  } finally {
    await after.close();
  }
});
