/**
 * `fleethub sim` as a user runs it (a child process), and a hub child
 * process killed with SIGKILL in the middle of a normal run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHub } from '../helpers/hub.js';
import { CLI_ARGS, runCli, type CliResult } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { makeTestPki } from '../helpers/pki.js';
import { freePort, portAccepts } from '../helpers/service-process.js';
import { waitUntil } from '../helpers/wait.js';
import { runSim } from '../../firmware-sim/sim-run.js';
import { EXIT } from '../../src/errors.js';

const ROOT = REPO_ROOT;
const CLI = CLI_ARGS;
const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;

function fleethub(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> {
  return runCli(args, { cwd: ROOT, env });
}

test('sim --help lists every SPEC flag with its default and an example', async () => {
  const { code, stdout } = await fleethub(['sim', '--help']);
  assert.equal(code, 0);
  for (const flag of ['--url', '--pki', '--devices', '--prefix', '--rate', '--duration', '--payload-bytes', '--behavior', '--provision', '--report', '--report-html', '--tls', '--drain-timeout']) {
    assert.ok(stdout.includes(flag), flag);
  }
  assert.match(stdout, /default: "10"/);
  assert.match(stdout, /\$ fleethub sim --devices 100 --provision --duration 30/);
});

test('a bad flag exits 2 with one line and no stack', async () => {
  const { code, stderr } = await fleethub(['sim', '--behavior', 'chaos', '--pki', '/nonexistent']);
  assert.equal(code, EXIT.USAGE);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /--behavior must be "normal", "flood"/);
});

test('a normal run exits 0 with the report; a hub nobody answers exits 9', async () => {
  const hub = await startHub();
  try {
    const ok = await fleethub([
      'sim', '--url', hub.deviceUrl, '--pki', hub.pki.dir, '--devices', '5', '--rate', '4', '--duration', '2', '--provision', '--no-progress',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^devices connected\s+5 \/ 5/m);
    assert.match(ok.stdout, /^lost\s+0$/m);
    assert.match(ok.stdout, /PASS: zero lost/);
    assert.match(ok.stderr, /provisioned 5 device certificates/);
    const port = await freePort();
    const down = await fleethub([
      'sim', '--url', `wss://127.0.0.1:${port}/v1/device`, '--pki', hub.pki.dir, '--devices', '2', '--duration', '1', '--drain-timeout', '0', '--connect-timeout', '1',
    ]);
    assert.equal(down.code, EXIT.LOST_MESSAGES, down.stderr);
    assert.match(down.stdout, /connect_error/);
    assert.match(down.stderr, /2 devices never connected/);
  } finally {
    await hub.stop();
  }
});

test('hub killed with SIGKILL mid-run and restarted: devices reconnect, nothing is lost', async () => {
  const pki = await makeTestPki();
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-sim-kill-'));
  let child: ChildProcess | null = null;
  try {
    const port = await freePort();
    const configFile = join(dir, 'hub.json');
    await writeFile(configFile, JSON.stringify({
      device: { host: '127.0.0.1', port }, console: { host: '127.0.0.1', port: 0 }, pkiDir: pki.dir, dataDir: join(dir, 'data'),
    }));
    const startServe = async (): Promise<ChildProcess> => {
      const proc = spawn(process.execPath, [...CLI, 'serve', '--config', configFile], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, FLEETHUB_LOG_LEVEL: 'warn' } });
      await waitUntil(() => portAccepts(port), 'fleethub serve accepts connections', 60_000);
      return proc;
    };
    const exited = (proc: ChildProcess): Promise<void> => new Promise((done) => (proc.exitCode !== null || proc.signalCode !== null ? done() : proc.once('exit', () => done())));
    child = await startServe();
    const run = runSim(
      { url: `wss://127.0.0.1:${port}/v1/device`, pkiDir: pki.dir, provision: true, devices: 10, rate: 5, duration: '8s', drainTimeout: '30s', progress: false, prefix: 'k' },
      { out: QUIET, err: QUIET, backoff: { initialMs: 200, maxMs: 1_000 } },
    );
    await new Promise((r) => setTimeout(r, 3_000));
    child.kill('SIGKILL');
    await exited(child);
    child = await startServe();
    const { report, failure } = await run;
    assert.equal(failure, null, JSON.stringify(report.messages));
    assert.equal(report.messages.lost, 0);
    assert.ok(report.devices.reconnects >= 10, `${report.devices.reconnects} reconnects`);
    assert.ok(report.messages.acked > 100);
    assert.equal(report.messages.sent, report.messages.acked + report.messages.requeued + report.messages.rejected);
  } finally {
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const proc = child;
      const gone = new Promise<void>((done) => proc.once('exit', () => done()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
    await pki.cleanup();
  }
});
