/**
 * The commands benchmark (`npm run bench -- commands`): a real hub child
 * process (`fleethub serve`) with `ping` on its allow-list, the simulator's
 * devices (protocol 2: they answer `ping` at once) and one dashboard
 * connection with a `command` token, all on this machine.
 *
 * - burst: one `ping` to every device, all sent at once (1,000 commands to
 *   1,000 devices by default): round trip from the dashboard's send to its
 *   `commandResult`, p50/p99, and the wall time of the whole burst;
 * - sequential: one command at a time to successive devices (100 by
 *   default): the round trip of a lone command on an idle hub.
 *
 * The devices also send a reading every 10 s, as a quiet fleet does. The
 * console's per-token command rate and per-connection message rate are
 * raised so that the hub's command path is measured, not its flood limits.
 * Env: COMMANDS_BENCH_DEVICES (1000), COMMANDS_BENCH_SEQUENTIAL (100).
 * Writes bench/results/commands.json.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { initCa, issueServerCert, pkiPaths } from '../src/pki/index.js';
import { signToken } from '../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../src/hub/console/token-key-file.js';
import { fleetIds, provisionFleet } from '../firmware-sim/device-credentials.js';
import { runSim } from '../firmware-sim/sim-run.js';
import { freePort } from '../test/helpers/service-process.js';
import { waitUntil } from '../test/helpers/wait.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { percentile } from './cluster-bench-tools.js';
import { startHub, stopHub, type HubProcess } from './hub-process.js';

const DEVICES = Number(process.env.COMMANDS_BENCH_DEVICES ?? 1000);
const SEQUENTIAL = Math.min(DEVICES, Number(process.env.COMMANDS_BENCH_SEQUENTIAL ?? 100));
const PREFIX = 'cmdb';
/** Longest the burst, or one sequential command, may take before the run fails. */
const PHASE_TIMEOUT_MS = 180_000;
const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;

/** The value of one unlabelled metric on the console's /metrics. */
function metric(port: number, ca: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', ca, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(`${name} `));
        resolve(line === undefined ? 0 : Number(line.slice(name.length + 1)));
      });
    });
    req.on('timeout', () => req.destroy(new Error('metrics request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** A dashboard connection that sends `ping` commands and times each to its `commandResult`. */
class CommandClient {
  readonly #ws: WebSocket;
  readonly #pending = new Map<string, { sentAt: number; done: (ms: number, state: string) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { commandResult?: { device: string; state: string } };
      const result = message.commandResult;
      if (result === undefined) return;
      const entry = this.#pending.get(result.device);
      if (entry === undefined) return;
      this.#pending.delete(result.device);
      entry.done(performance.now() - entry.sentAt, result.state);
    });
  }

  static async open(consolePort: number, ca: string, token: string): Promise<CommandClient> {
    const ws = new WebSocket(`wss://127.0.0.1:${consolePort}/v1/stream`, { ca, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => ws.send(JSON.stringify({ auth: token })));
      ws.once('message', () => resolve());
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`console closed the stream (${code})`)));
    });
    ws.removeAllListeners('close');
    ws.removeAllListeners('error');
    ws.on('error', () => undefined);
    return new CommandClient(ws);
  }

  /** Sends `ping` to `device`; resolves with the round trip in ms and the final state. */
  ping(device: string): Promise<{ ms: number; state: string }> {
    return new Promise((resolve) => {
      this.#pending.set(device, { sentAt: performance.now(), done: (ms, state) => resolve({ ms, state }) });
      this.#ws.send(JSON.stringify({ command: { device, name: 'ping', ttlMs: 60_000 } }));
    });
  }

  close(): void {
    this.#ws.terminate();
  }
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${PHASE_TIMEOUT_MS / 1000} s`)), PHASE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function summary(rtts: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const round = (v: number) => Math.round(v * 10) / 10;
  return { n: rtts.length, p50: round(percentile(rtts, 50)), p99: round(percentile(rtts, 99)), max: round(Math.max(0, ...rtts)) };
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-commands-bench-'));
  const pkiDir = join(dir, 'certs');
  let hub: HubProcess | null = null;
  const stopSim = new AbortController();
  let simRun: Promise<unknown> | null = null;
  let client: CommandClient | null = null;
  try {
    await initCa(pkiDir, {});
    await issueServerCert(pkiDir, { hosts: ['localhost'], ips: ['127.0.0.1'] });
    await provisionFleet(pkiDir, PREFIX, DEVICES);
    const ca = await readFile(pkiPaths(pkiDir).caCert, 'utf8');

    const [port, consolePort] = [await freePort(), await freePort()];
    const config = {
      device: { host: '127.0.0.1', port, newConnectionsPerIpPerSec: 20_000, maxConnectionsPerIp: 50_000 },
      console: { host: '127.0.0.1', port: consolePort, commandsPerTokenPerMin: 1_000_000, maxClientMessagesPerSec: 10_000, maxBufferedMessages: 100_000 },
      pkiDir,
      dataDir: join(dir, 'data'),
      commands: { ping: { timeoutMs: 60_000 } },
    };
    await writeFile(join(dir, 'hub.json'), JSON.stringify(config));
    hub = await startHub('fleethub serve', join(dir, 'hub.json'), [port, consolePort]);

    process.stderr.write(`commands bench: connecting ${DEVICES} simulated devices\n`);
    simRun = runSim(
      { url: `wss://127.0.0.1:${port}/v1/device`, pkiDir, prefix: PREFIX, devices: DEVICES, rate: 0.1, duration: '1h', progress: false, connectRate: 200, drainTimeout: '10s' },
      { out: QUIET, err: QUIET, signal: stopSim.signal },
    );
    // Every device online (its hello sent) before the first command.
    await waitUntil(async () => (await metric(consolePort, ca, 'fleethub_device_connections')) >= DEVICES, `${DEVICES} devices connected`, PHASE_TIMEOUT_MS);

    const token = signToken(loadOrCreateTokenKey(pkiDir), { devices: `${PREFIX}*`, scopes: ['command'], ttlMs: 3_600_000 }).token;
    client = await CommandClient.open(consolePort, ca, token);
    const ids = fleetIds(PREFIX, DEVICES);

    process.stderr.write(`commands bench: burst, ${DEVICES} commands to ${DEVICES} devices at once\n`);
    const burstStart = performance.now();
    const commandClient = client;
    const burst = await withTimeout(Promise.all(ids.map((id) => commandClient.ping(id))), 'the burst');
    const burstWallMs = performance.now() - burstStart;

    process.stderr.write(`commands bench: sequential, ${SEQUENTIAL} commands one at a time\n`);
    const sequential: Array<{ ms: number; state: string }> = [];
    for (const id of ids.slice(0, SEQUENTIAL)) sequential.push(await withTimeout(commandClient.ping(id), 'a sequential command'));

    const count = (list: ReadonlyArray<{ state: string }>) => {
      const states: Record<string, number> = {};
      for (const { state } of list) states[state] = (states[state] ?? 0) + 1;
      return states;
    };
    const ok = (list: ReadonlyArray<{ ms: number; state: string }>) => list.filter((r) => r.state === 'succeeded').map((r) => r.ms);
    const results = {
      machine: {
        cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version,
        loadAverageBefore: Math.round(loadBefore * 10) / 10, loadAverageAfter: Math.round((loadavg()[0] ?? 0) * 10) / 10,
      },
      devices: DEVICES,
      burst: { commands: DEVICES, states: count(burst), roundTripMs: summary(ok(burst)), wallMs: Math.round(burstWallMs), commandsPerSec: Math.round((DEVICES / burstWallMs) * 1000) },
      sequential: { commands: SEQUENTIAL, states: count(sequential), roundTripMs: summary(ok(sequential)) },
    };
    await mkdir(join(REPO_ROOT, 'bench/results'), { recursive: true });
    await writeFile(join(REPO_ROOT, 'bench/results/commands.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows: Array<[string, string]> = [
      ['machine', `${results.machine.cpus} cores (${results.machine.model}), Node ${results.machine.node}, load average ${results.machine.loadAverageBefore} → ${results.machine.loadAverageAfter}`],
      ['burst: states', JSON.stringify(results.burst.states)],
      ['burst: round trip p50 / p99 / max', `${results.burst.roundTripMs.p50} / ${results.burst.roundTripMs.p99} / ${results.burst.roundTripMs.max} ms`],
      ['burst: wall time', `${results.burst.wallMs} ms (${results.burst.commandsPerSec} commands/s)`],
      ['sequential: states', JSON.stringify(results.sequential.states)],
      ['sequential: round trip p50 / p99', `${results.sequential.roundTripMs.p50} / ${results.sequential.roundTripMs.p99} ms`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
    if (results.burst.states.succeeded !== DEVICES || results.sequential.states.succeeded !== SEQUENTIAL) process.exitCode = 1;
  } finally {
    client?.close();
    stopSim.abort();
    await simRun?.catch(() => undefined);
    if (hub !== null) await stopHub(hub);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
