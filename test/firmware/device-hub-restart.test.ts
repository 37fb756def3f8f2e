/**
 * The C device client through a hub crash: `fleethub serve` as a child
 * process killed with SIGKILL mid-stream and started again on the same port
 * (a free port found at test time). The device reconnects on its own with
 * backoff, resumes from hello.lastSeq and resends what was not acked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServe, type ServeProcess } from '../helpers/cli.js';
import { waitUntil } from '../helpers/hub.js';
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { deviceFiles, highestAck, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

const ENV = { FLEETHUB_PKI: undefined, FLEETHUB_LOG_LEVEL: 'info' };

/** A port free right now (the restarted hub must come back where the device looks for it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function reap(serve: ServeProcess): Promise<void> {
  if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  return serve.exited.then(() => {});
}

test('hub killed with SIGKILL mid-stream and restarted: the device resumes from lastSeq, every reading stored once', async (t) => {
  makeFirmware();
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-fw-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const config = join(dir, 'fleethub.json');
  await writeFile(config, JSON.stringify({
    device: { host: '127.0.0.1', port }, console: { host: '127.0.0.1', port: 0 }, limits: { msgsPerSec: 100_000, burst: 100_000 },
  }));
  let serve = startServe(['--config', config], { cwd: dir, env: ENV });
  t.after(() => reap(serve));
  await serve.ready;
  assert.equal((await runCli(['device', 'add', 'fw-crash', '--pki', 'certs'], { cwd: dir, env: ENV })).code, 0);
  const pki = join(dir, 'certs');
  const files = await deviceFiles(await readFile(join(pki, 'ca.crt'), 'utf8'), {
    id: 'fw-crash',
    cert: await readFile(join(pki, 'devices', 'fw-crash.crt'), 'utf8'),
    key: await readFile(join(pki, 'devices', 'fw-crash.key'), 'utf8'),
  });
  t.after(() => files.cleanup());

  const TOTAL = 400;
  const device = startDevice(`wss://localhost:${port}/v1/device`, files, ['--count', String(TOTAL), '--interval-ms', '5', '--backoff-max-ms', '1000']);
  t.after(() => reapDevice(device));
  await waitUntil(() => highestAck(device.lines()) >= 60, 'the hub acked 60 readings', 60_000);
  serve.child.kill('SIGKILL');
  await serve.exited;
  const ackedBeforeCrash = highestAck(device.lines());
  await device.waitForLine(/^close 1006$/);

  serve = startServe(['--config', config], { cwd: dir, env: ENV });
  await serve.ready;
  assert.deepEqual(await device.exited, { code: 0, signal: null }, device.output());
  const hellos = device.lines().filter((l) => l.startsWith('hello '));
  assert.equal(hellos.length, 2, device.output());
  const resumedFrom = Number(/lastSeq=(\d+)/.exec(hellos[1] ?? '')?.[1]);
  assert.ok(resumedFrom >= ackedBeforeCrash, `hello lastSeq=${resumedFrom} after the restart covers every ack (${ackedBeforeCrash})`);
  assert.equal(highestAck(device.lines()), TOTAL);
  serve.child.kill('SIGTERM');
  assert.equal((await serve.exited).code, 0);

  const store = await openStore(join(dir, 'data'), DEFAULT_STORE_CONFIG);
  try {
    assertContiguousOnce(await storedSeqs(store, 'fw-crash'), TOTAL);
    assert.equal(store.lastSeq('fw-crash'), TOTAL);
  } finally {
    await store.close();
  }
});
