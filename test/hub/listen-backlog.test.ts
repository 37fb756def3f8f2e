/**
 * `device.backlog` is the size of the device listener's accept queue in the
 * kernel (a restart storm of devices with full handshakes overflowed Node's
 * default of 511): read back from the kernel with iproute2's `ss`, and
 * crossed with a burst of connects while the hub's event loop is busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_DEVICE_BACKLOG } from '../../src/hub/config.js';
import { metricValue, startHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { listenQueue } from './fixtures/listen-queue.js';

const BURST = join(import.meta.dirname, 'fixtures', 'connect-burst.js'); // compiled beside this file

/** Linux caps every listen backlog at this. */
function somaxconn(): number {
  return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
}

/**
 * Blocks this thread (and so the hub's event loop: it accepts nothing) until
 * `path` exists, then returns its JSON. Bounded: throws after `timeoutMs`.
 */
function holdEventLoopUntilWritten(path: string, timeoutMs: number): unknown {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} was not written within ${timeoutMs} ms`);
    Atomics.wait(pause, 0, 0, 20);
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

test('device.backlog is the accept queue the device listener listens with (ss Send-Q), the default capped by somaxconn', async () => {
  const configured = await startHub({ device: { backlog: 100 } });
  try {
    assert.equal(listenQueue(configured.devicePort)?.backlog, 100);
  } finally {
    await configured.stop();
  }
  const byDefault = await startHub();
  try {
    assert.equal(listenQueue(byDefault.devicePort)?.backlog, Math.min(DEFAULT_DEVICE_BACKLOG, somaxconn()));
  } finally {
    await byDefault.stop();
  }
});

test('past device.backlog, while the hub is busy, the kernel queues no more connections; the hub accepts them all once free', async () => {
  const backlog = 1;
  const count = 6;
  // Sockets that never start TLS stay until the test ends.
  const th = await startHub({ device: { backlog, handshakeTimeoutMs: 600_000 } });
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-backlog-'));
  const out = join(dir, 'kernel.json');
  const child = spawn(process.execPath, [BURST, String(th.devicePort), String(count), out], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    const seen = holdEventLoopUntilWritten(out, 90_000) as { queued: number; backlog: number; synSent: number; synRecv: number };
    // Linux queues backlog + 1 connections; the SYNs of the others are dropped and retried by their clients.
    assert.equal(seen.queued, backlog + 1, JSON.stringify(seen));
    assert.equal(seen.synSent + seen.synRecv, count - backlog - 1, JSON.stringify(seen));
    assert.equal(seen.backlog, backlog);
    // Free again, the hub accepts the queued ones and then the retried ones (TCP retries SYNs after 1, 3, 7... s).
    await waitUntil(() => metricValue(th.hub, 'fleethub_device_sockets') === count, `the hub holds all ${count} connections`, 60_000);
  } finally {
    child.kill();
    await th.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
