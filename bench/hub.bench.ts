/**
 * The hub's benchmark (issue 3), side by side in one run against a bare Node
 * `https` + `ws` server that only parses JSON and acks (the stack's own
 * ceiling), with the same certificates and the same client (this process).
 * Each server runs in its own child process and reports its CPU time
 * (`process.cpuUsage`), so the figures are server CPU per unit of work, not
 * wall rates of two programs sharing two cores.
 *
 *   npm run bench -- hub
 *   FLEETHUB_BENCH_DEVICES=1000 FLEETHUB_BENCH_IDLE=5000 npm run bench -- hub
 *   FLEETHUB_BENCH_BASELINE='272003f^,1f58818^' npm run bench -- hub
 *
 * With FLEETHUB_BENCH_BASELINE, each named revision's own hub (bench/hub-baseline.ts)
 * runs as a further server, `hub@<rev>`, in every scenario's alternation, and
 * the report has each hub's ratios to the bare server of the same rounds and
 * today's hub over each baseline's (results in bench/results/hub-baseline.json).
 *
 * Scenarios: full mTLS handshake + upgrade (P-256 and RSA-2048 server keys,
 * TLS 1.2 and 1.3) and resumed; windowed ingest (100 connections, up to 32
 * unacked each); paced ingest (N devices at 10 messages/s) with ack latency;
 * idle memory per connection; and, when Debian's Mosquitto is installed, the
 * same ingest as MQTT QoS 1 publishes to it with `require_certificate`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { Session } from 'node:inspector/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecureVersion } from 'node:tls';
import { WebSocketServer } from 'ws';
import { addDevices, initCa, issueServerCert, pkiPaths, type KeyType } from '../src/pki/index.js';
import { createHub } from '../src/hub/hub.js';
import { testHubConfig, type HubOverrides } from '../test/helpers/hub.js';
import { DEFAULT_CRL_CHECK_MS } from '../src/hub/config.js';
import { mosquittoIngest, PACED_SECONDS, percentile, WINDOW, WINDOWED_CONNECTIONS, WINDOWED_SECONDS, type Creds } from './mosquitto-ingest.js';
import { closeAll, connect, connectMany, ServerProcess, type Connection, type ServerSpec } from './hub-server-process.js';
import { BASELINE_ENV, compareBaselineConfig, parseBaselineRevs, prepareBaseline, removeBaseline, type Baseline } from './hub-baseline.js';
import { mean } from './round-ratios.js';
import { reportRatios } from './hub-bench-report.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

type ServerKind = 'hub' | 'bare';

const DEVICES = Number(process.env.FLEETHUB_BENCH_DEVICES ?? 1000);
const IDLE = Number(process.env.FLEETHUB_BENCH_IDLE ?? 5000);
const HANDSHAKES = Number(process.env.FLEETHUB_BENCH_HANDSHAKES ?? 800);
/** FLEETHUB_BENCH_ONLY=handshake,ingest,idle,mosquitto runs a subset; `paced` or `windowed` runs one half of `ingest`. */
const ONLY = new Set((process.env.FLEETHUB_BENCH_ONLY ?? 'handshake,ingest,idle,mosquitto').split(','));
const INGEST_MODES = (['windowed', 'paced'] as const).filter((mode) => ONLY.has('ingest') || ONLY.has(mode));
/** FLEETHUB_BENCH_BASELINE=<git rev>[,<git rev>...]: each revision's hub too, as `hub@<rev>` (bench/hub-baseline.ts). */
const BASELINES = parseBaselineRevs(process.env[BASELINE_ENV]);
/** FLEETHUB_BENCH_NODE_FLAGS: extra Node flags for every server alike (e.g. `--max-semi-space-size=32`, `--perf-basic-prof-only-functions`). */
const SERVER_NODE_FLAGS = (process.env.FLEETHUB_BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
/** The syscalls FLEETHUB_BENCH_PERF counts per server and window. */
const PERF_SYSCALLS = ['write', 'writev', 'sendmsg', 'sendto', 'read', 'recvfrom', 'epoll_pwait', 'fsync', 'fdatasync', 'pwrite64', 'futex'];
/** Each ingest run starts its seqs far above the last one's, so no message is a repeat. */
let seqBase = 1;

// ---------------------------------------------------------------- server side

/**
 * The hub's config here: the defaults a user gets, with the limits that
 * would refuse the bench's own load lifted. A baseline's hub runs with its
 * own bench's (the same since 272003f^); the run prints how they differ.
 */
const HUB_OVERRIDES: HubOverrides = {
  device: { maxConnectionsPerIp: 100_000, newConnectionsPerIpPerSec: 100_000, maxConnections: 100_000, handshakeTimeoutMs: 60_000, crlCheckMs: DEFAULT_CRL_CHECK_MS },
  // The windowed scenario sends as fast as acks allow: lift the per-device rate for it.
  limits: { msgsPerSec: 100_000, burst: 100_000, msgsPerDay: 100_000_000 },
};

async function runServer(kind: ServerKind, pkiDir: string, dataDir: string): Promise<void> {
  let port: number;
  let close: () => Promise<void>;
  let fsyncs = (): { fsyncs: number; fsyncMs: number } => ({ fsyncs: 0, fsyncMs: 0 });
  if (kind === 'hub') {
    const config = testHubConfig(pkiDir, dataDir, HUB_OVERRIDES);
    const hub = createHub(config);
    port = (await hub.listen()).devicePort;
    close = () => hub.close();
    fsyncs = () => {
      const stats = hub.store.stats();
      return { fsyncs: stats.fsyncs, fsyncMs: stats.fsyncSeconds * 1000 };
    };
  } else {
    const paths = pkiPaths(pkiDir);
    const [ca, cert, key, crl] = await Promise.all([readFile(paths.caCert), readFile(paths.serverCert), readFile(paths.serverKey), readFile(paths.crl)]);
    // The same TLS job as the hub (CA and CRL checked in the handshake); nothing else.
    const server = createHttpsServer({ ca, cert, key, crl, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
    const wss = new WebSocketServer({ server, path: '/v1/device', maxPayload: 16 * 1024, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as { seq: number };
        ws.send(`{"ack":${message.seq}}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
    close = async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
  }
  const profiler = new Session();
  profiler.connect();
  let perf: ChildProcess[] = [];
  process.on('message', (message: string) => {
    if (message.startsWith('perf-start ')) {
      // CPU samples (perf record, on-CPU time only) and syscall counts (perf stat) of exactly this process over the window.
      const base = message.slice('perf-start '.length);
      const pid = String(process.pid);
      perf = [
        spawn('perf', ['record', '-q', '-F', '1999', '-g', '-p', pid, '-o', `${base}.perf.data`], { stdio: ['ignore', 'ignore', 'inherit'] }),
        spawn('perf', ['stat', '-x', ',', '-o', `${base}.syscalls.csv`, '-p', pid, '-e', PERF_SYSCALLS.map((name) => `syscalls:sys_enter_${name}`).join(',')], { stdio: ['ignore', 'ignore', 'inherit'] }),
      ];
      for (const child of perf) child.on('error', (err) => process.stderr.write(`bench: cannot run perf: ${err.message}\n`));
      // perf needs a moment to attach before the window starts.
      setTimeout(() => process.send?.('perf-started'), 500);
    } else if (message === 'perf-stop') {
      // perf writes its files when interrupted; one that failed to start has nothing to stop.
      void Promise.all(perf.map((child) => child.exitCode !== null || child.pid === undefined ? undefined : new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }))).then(() => process.send?.('perf-stopped'));
    } else if (message === 'profile-start') {
      void profiler.post('Profiler.enable').then(() => profiler.post('Profiler.setSamplingInterval', { interval: 100 })).then(() => profiler.post('Profiler.start')).then(() => process.send?.('profiling'));
    } else if (message.startsWith('profile-stop ')) {
      // The profile of exactly the measured window, for "where the time goes".
      const file = message.slice('profile-stop '.length);
      void profiler.post('Profiler.stop')
        .then(({ profile }) => writeFile(file, JSON.stringify(profile)))
        .then(() => process.send?.('profiled'));
    } else if (message === 'usage') {
      const cpu = process.cpuUsage();
      process.send?.({ cpuMs: (cpu.user + cpu.system) / 1000, systemMs: cpu.system / 1000, rss: process.memoryUsage().rss, ...fsyncs() });
    } else if (message === 'gc') {
      globalThis.gc?.();
      process.send?.('gc-done');
    } else if (message === 'stop') {
      void close().then(() => process.exit(0));
    }
  });
  process.send?.({ port });
}

// ---------------------------------------------------------------- client side

/**
 * Each key type's handshake cases run on this many fresh pairs of server
 * processes (launches), one after the other. One launch's compiled code and
 * memory layout move a server's cost for the rest of its life: on Node 24 the
 * bare server's resumed TLS 1.2 handshake, the same work whatever the server
 * key, measured 1.12 ms in one launch and 0.87 ms in the next. Averaging over
 * launches keeps one lucky or unlucky process from deciding a ratio.
 */
const HANDSHAKE_LAUNCHES = Math.max(1, Number(process.env.FLEETHUB_BENCH_HANDSHAKE_LAUNCHES ?? 3));
/** Handshakes are measured in rounds alternating between the servers, so drifting load on the machine hits both alike: about this many over all launches. */
const HANDSHAKE_ROUNDS_IN_ALL = 33;
const HANDSHAKE_ROUNDS = Math.ceil(HANDSHAKE_ROUNDS_IN_ALL / HANDSHAKE_LAUNCHES);
/** Handshakes per server and case before measuring (after the process warm-up). */
const HANDSHAKE_WARMUP = 200;
/**
 * Handshakes per server before the first case, a quarter of them in each
 * case. V8 compiles a server's connection path over its first few thousand
 * connections: measured in rounds of 200 from a cold start, a bare server's
 * resumed TLS 1.2 handshake costs 1.4–1.8 ms of CPU over the first 2,000 and
 * settles near 1.0 ms after 3,000–5,000, the hub's likewise. A long-running
 * server has long done so, and that is what is compared. Full and resumed
 * handshakes take partly different paths (the hub reads the identity
 * differently), so the warm-up runs every case.
 */
const PROCESS_WARMUP = Number(process.env.FLEETHUB_BENCH_HANDSHAKE_WARMUP ?? 4000);
/** Warm-up handshakes go to the servers in turns of this many, so neither warms up on a cold client. */
const WARMUP_TURN = 50;

/** One server's side of a handshake case: a resumable session, and the CPU time its handshakes took, in total and per round. */
interface HandshakeCase { session: Buffer | undefined; cpuMs: number; count: number; rounds: number[] }

/** `count` full (or resumed) mTLS handshakes + upgrades against `server`, one after another; adds their server CPU to `state`. */
async function handshakeBatch(server: ServerProcess, ca: string, devices: readonly Creds[], version: SecureVersion, resumed: boolean, count: number, state: HandshakeCase): Promise<void> {
  const tls = { minVersion: version, maxVersion: version };
  if (resumed && state.session === undefined) {
    const first = await connect(server.port, ca, devices[0]!, tls);
    await new Promise((r) => setTimeout(r, 20));
    state.session = first.session();
    await closeAll([first]);
  }
  const before = await server.usage();
  for (let i = 0; i < count; i += 1) {
    const session = state.session;
    const c = await connect(server.port, ca, devices[(state.count + i) % devices.length]!, resumed && session !== undefined ? { ...tls, session } : tls);
    if (resumed && !(c.ws as unknown as { _socket: { isSessionReused(): boolean } })._socket.isSessionReused()) throw new Error('session not resumed');
    if (resumed) state.session = c.session() ?? session;
    await closeAll([c]);
  }
  const after = await server.usage();
  state.cpuMs += after.cpuMs - before.cpuMs;
  state.count += count;
  state.rounds.push((after.cpuMs - before.cpuMs) / count);
}

/** `perServer` handshakes to each server over every case (TLS 1.2 and 1.3, full and resumed), in turns; nothing is measured. */
async function warmUp(servers: readonly ServerProcess[], ca: string, devices: readonly Creds[], perServer: number): Promise<void> {
  const cases = [['TLSv1.2', false], ['TLSv1.2', true], ['TLSv1.3', false], ['TLSv1.3', true]] as const;
  const states = servers.map(() => cases.map((): HandshakeCase => ({ session: undefined, cpuMs: 0, count: 0, rounds: [] })));
  for (let done = 0, turn = 0; done < perServer; done += WARMUP_TURN, turn += 1) {
    const c = turn % cases.length;
    const [version, resumed] = cases[c]!;
    for (const [i, server] of servers.entries()) await handshakeBatch(server, ca, devices, version, resumed, Math.min(WARMUP_TURN, perServer - done), states[i]![c]!);
  }
}

/** Server CPU ms per handshake for each server, in total and per round, measured in alternating rounds. */
async function handshakes(servers: readonly ServerProcess[], label: string, ca: string, devices: readonly Creds[], version: SecureVersion, resumed: boolean): Promise<{ cpuMs: number; rounds: number[] }[]> {
  const states = servers.map((): HandshakeCase => ({ session: undefined, cpuMs: 0, count: 0, rounds: [] }));
  // Warm-up of this case, in turns, not counted.
  for (let done = 0; done < HANDSHAKE_WARMUP; done += WARMUP_TURN) {
    for (const [i, server] of servers.entries()) await handshakeBatch(server, ca, devices, version, resumed, WARMUP_TURN, states[i]!);
  }
  for (const state of states) Object.assign(state, { cpuMs: 0, count: 0, rounds: [] });
  const perRound = Math.max(1, Math.ceil(HANDSHAKES / (HANDSHAKE_ROUNDS * HANDSHAKE_LAUNCHES)));
  for (let round = 0; round < HANDSHAKE_ROUNDS; round += 1) {
    // Who goes first alternates too.
    const order = round % 2 === 0 ? [...servers.keys()] : [...servers.keys()].reverse();
    for (const i of order) {
      await servers[i]!.profile(`handshake-${label}-${version}-${resumed ? 'resumed' : 'full'}-${round}`, () =>
        handshakeBatch(servers[i]!, ca, devices, version, resumed, perRound, states[i]!));
    }
  }
  return states.map((state) => ({ cpuMs: state.cpuMs / state.count, rounds: state.rounds }));
}

interface IngestResult { messages: number; cpuUsPerMsg: number; systemUsPerMsg: number; msgsPerSec: number; p50: number; p99: number; fsyncsPerSec: number; fsyncAvgMs: number }

/** What one measured window saw; rounds of one server add up. */
interface IngestWindow { messages: number; seconds: number; cpuMs: number; systemMs: number; fsyncs: number; fsyncMs: number; latencies: number[] }

/** Ingest is measured in rounds alternating between the servers, like the handshakes. */
const INGEST_ROUNDS = 5;

function summarise(windows: readonly IngestWindow[]): IngestResult {
  const sum = (key: 'messages' | 'seconds' | 'cpuMs' | 'systemMs' | 'fsyncs' | 'fsyncMs'): number => windows.reduce((n, w) => n + w[key], 0);
  const messages = Math.max(1, sum('messages'));
  const seconds = sum('seconds');
  const latencies = windows.flatMap((w) => w.latencies).sort((a, b) => a - b);
  return {
    messages: sum('messages'),
    cpuUsPerMsg: (sum('cpuMs') * 1000) / messages,
    systemUsPerMsg: (sum('systemMs') * 1000) / messages,
    msgsPerSec: sum('messages') / seconds,
    fsyncsPerSec: sum('fsyncs') / seconds,
    fsyncAvgMs: sum('fsyncMs') / Math.max(1, sum('fsyncs')),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/** Drives `connections`; each either paced (one message every 100 ms) or windowed (32 unacked). */
async function ingest(server: ServerProcess, connections: readonly Connection[], mode: 'paced' | 'windowed', round: number): Promise<IngestWindow> {
  const latencies: number[] = [];
  let acked = 0;
  let running = true;
  const timers: NodeJS.Timeout[] = [];
  const payload = (seq: number): string => `{"seq":${seq},"data":{"temp":21.5,"hum":40.2,"ok":true}}`;
  const base = seqBase;
  seqBase += 100_000_000;
  const states = connections.map(({ ws }, index) => {
    const state = { next: base, acked: 0, sentAt: new Map<number, number>() };
    state.acked = state.next - 1;
    const send = (): void => {
      const seq = state.next++;
      state.sentAt.set(seq, performance.now());
      ws.send(payload(seq));
    };
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { ack?: number };
      if (message.ack === undefined) return;
      const now = performance.now();
      for (let seq = state.acked + 1; seq <= message.ack; seq += 1) {
        const at = state.sentAt.get(seq);
        if (at !== undefined) {
          latencies.push(now - at);
          state.sentAt.delete(seq);
          acked += 1;
        }
      }
      state.acked = Math.max(state.acked, message.ack);
      if (mode === 'windowed' && running) while (state.next - 1 - state.acked < WINDOW) send();
    });
    if (mode === 'paced') {
      // Staggered, so the devices do not send in lockstep.
      const start = setTimeout(() => {
        if (!running) return;
        send();
        timers.push(setInterval(() => running && send(), 100));
      }, (index * 100) / connections.length);
      timers.push(start);
    } else {
      for (let i = 0; i < WINDOW; i += 1) send();
    }
    return state;
  });
  // Warm up for a second, then measure.
  await new Promise((r) => setTimeout(r, 1000));
  latencies.length = 0;
  const ackedAtStart = acked;
  const { before, after, t0 } = await server.profile(`${mode}-${round}`, () => server.perf(`${mode}-${round}`, async () => {
    const usageBefore = await server.usage();
    const started = performance.now();
    await new Promise((r) => setTimeout(r, (mode === 'paced' ? PACED_SECONDS : WINDOWED_SECONDS) * 1000));
    return { before: usageBefore, after: await server.usage(), t0: started };
  }));
  const seconds = (performance.now() - t0) / 1000;
  const messages = acked - ackedAtStart;
  running = false;
  for (const t of timers) clearInterval(t);
  // Let outstanding acks land before the next scenario.
  await new Promise((r) => setTimeout(r, 500));
  for (const { ws } of connections) ws.removeAllListeners('message');
  void states;
  // With perf on, each window's own figures, to turn its samples into time per message.
  if (process.env.FLEETHUB_BENCH_PERF !== undefined) process.stdout.write(`  window ${server.kind}-${mode}-${round}: messages=${messages} cpuMs=${(after.cpuMs - before.cpuMs).toFixed(1)} systemMs=${(after.systemMs - before.systemMs).toFixed(1)} fsyncs=${after.fsyncs - before.fsyncs}\n`);
  return {
    messages,
    seconds,
    cpuMs: after.cpuMs - before.cpuMs,
    systemMs: after.systemMs - before.systemMs,
    fsyncs: after.fsyncs - before.fsyncs,
    fsyncMs: after.fsyncMs - before.fsyncMs,
    latencies,
  };
}

async function makePki(root: string, keyType: KeyType, count: number): Promise<{ dir: string; ca: string; devices: Creds[] }> {
  const dir = join(root, `pki-${keyType}`);
  await initCa(dir, { keyType });
  await issueServerCert(dir, { hosts: ['localhost'], ips: ['127.0.0.1'], keyType });
  // Device keys are P-256 in both: what ESP32 firmware uses; the server key is what varies.
  await addDevices(dir, { count, prefix: 'b', keyType: 'ec' });
  const paths = pkiPaths(dir);
  const digits = Math.max(4, String(count).length);
  const devices = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const id = `b${String(i + 1).padStart(digits, '0')}`;
    return { id, cert: await readFile(paths.deviceCert(id), 'utf8'), key: await readFile(paths.deviceKey(id), 'utf8') };
  }));
  return { dir, ca: await readFile(paths.caCert, 'utf8'), devices };
}

/** The servers of a run: the bare server, today's hub, then each baseline's hub. */
function serverSpecs(baselines: readonly Baseline[]): ServerSpec[] {
  const here = { script: fileURLToPath(import.meta.url), cwd: REPO_ROOT, nodeFlags: SERVER_NODE_FLAGS };
  return [
    { ...here, kind: 'bare', mode: 'bare' },
    { ...here, kind: 'hub', mode: 'hub' },
    ...baselines.map((b): ServerSpec => ({ kind: b.kind, script: b.serverScript, mode: 'hub', cwd: b.dir, nodeFlags: SERVER_NODE_FLAGS })),
  ];
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'fleethub-bench-hub-'));
  const baselineDirs = BASELINES.map((_, i) => join(root, `baseline-${i + 1}`));
  const cleanUp = (): void => {
    ServerProcess.killAll();
    for (const dir of baselineDirs) removeBaseline(REPO_ROOT, dir);
  };
  // Interrupted, the run still removes its worktrees (a finally block does not run on a signal).
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanUp();
    rmSync(root, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const results: Record<string, Record<string, number>> = {};
  /** Each scenario's cost per round for each server (ms per handshake, µs per message), for the per-round ratios and the JSON. */
  const costRounds: Record<string, Record<string, number[]>> = {};
  const row = (name: string, values: Record<string, number>): void => {
    results[name] = values;
    process.stdout.write(`${name.padEnd(44)} ${Object.entries(values).map(([k, v]) => `${k}=${Number(v.toFixed(3))}`).join('  ')}\n`);
  };
  // Handshake costs depend on the OpenSSL that Node ships (Node 24's 3.5 is much cheaper than Node 20's 3.0): say which ran.
  process.stdout.write(`Node ${process.version}, OpenSSL ${process.versions.openssl}\n`);
  try {
    const baselines: Baseline[] = [];
    const configs: Record<string, unknown> = {};
    for (const [i, rev] of BASELINES.entries()) {
      process.stdout.write(`hub@${rev}: checking out and compiling ...\n`);
      const baseline = prepareBaseline(rev, REPO_ROOT, baselineDirs[i]!);
      const config = compareBaselineConfig(baseline, HUB_OVERRIDES, testHubConfig('/pki', '/data', HUB_OVERRIDES));
      configs[baseline.kind] = config;
      process.stdout.write(`${baseline.kind} is ${baseline.commit.slice(0, 12)}; its hub config differs from today's in ${config.differ.length === 0 ? 'no key both have' : config.differ.join(', ')}; `
        + `keys only today: ${config.onlyToday.join(', ') || 'none'}; keys only then: ${config.onlyBaseline.join(', ') || 'none'}\n`);
      baselines.push(baseline);
    }
    const specs = serverSpecs(baselines);
    const kinds = specs.map((spec) => spec.kind);
    // Only as many device certificates as the chosen scenarios use (making 5,000 takes minutes).
    const fleetSize = Math.max(ONLY.has('paced') || ONLY.has('ingest') || ONLY.has('mosquitto') ? DEVICES : 0, ONLY.has('idle') ? IDLE : 0, INGEST_MODES.includes('windowed') || ONLY.has('mosquitto') ? WINDOWED_CONNECTIONS : 0, 16);
    const ec = await makePki(root, 'ec', INGEST_MODES.length > 0 || ONLY.has('idle') || ONLY.has('mosquitto') ? fleetSize : 16);
    const rsa = await makePki(root, 'rsa', 8);
    for (const [label, pki] of ONLY.has('handshake') ? ([['P-256', ec], ['RSA-2048', rsa]] as const) : []) {
      const names: string[] = [];
      for (let launch = 1; launch <= HANDSHAKE_LAUNCHES; launch += 1) {
        const servers = await Promise.all(specs.map((spec, i) => ServerProcess.start(spec, pki.dir, join(root, `data-hs-${label}-${launch}-${i}`))));
        process.stdout.write(`${label}, launch ${launch} of ${HANDSHAKE_LAUNCHES}: warming up ${kinds.join(', ')} with ${PROCESS_WARMUP} handshakes each ...\n`);
        await warmUp(servers, pki.ca, pki.devices, PROCESS_WARMUP);
        for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
          for (const resumed of [false, true]) {
            const measured = await handshakes(servers, label, pki.ca, pki.devices, version, resumed);
            const name = `handshake ${label} ${version} ${resumed ? 'resumed' : 'full'}`;
            if (launch === 1) names.push(name);
            const rounds = (costRounds[name] ??= Object.fromEntries(kinds.map((kind) => [kind, []])));
            for (const [i, kind] of kinds.entries()) rounds[kind]!.push(...measured[i]!.rounds);
            process.stdout.write(`  ${name.padEnd(40)} ${kinds.map((kind, i) => `${kind} ${measured[i]!.cpuMs.toFixed(3)} ms`).join(', ')}\n`);
          }
        }
        await Promise.all(servers.map((server) => server.stop()));
      }
      // Every round has the same number of handshakes: the mean of the rounds is the CPU per handshake over all launches.
      for (const name of names) for (const kind of kinds) row(`${name} (${kind})`, { serverCpuMs: mean(costRounds[name]![kind]!) });
    }
    if (INGEST_MODES.length > 0) {
      // Every server up with its fleet connected; the measured windows alternate between them, so they see the same machine.
      const servers = await Promise.all(specs.map((spec, i) => ServerProcess.start(spec, ec.dir, join(root, `data-ingest-${i}`))));
      for (const mode of INGEST_MODES) {
        const fleet = ec.devices.slice(0, mode === 'windowed' ? WINDOWED_CONNECTIONS : DEVICES);
        const connections = await Promise.all(servers.map((server) => connectMany(server, ec.ca, fleet)));
        const windows: IngestWindow[][] = kinds.map(() => []);
        for (let round = 0; round < INGEST_ROUNDS; round += 1) {
          // Who goes first alternates, as for the handshakes.
          const order = round % 2 === 0 ? [...servers.keys()] : [...servers.keys()].reverse();
          for (const i of order) windows[i]!.push(await ingest(servers[i]!, connections[i]!, mode, round));
        }
        costRounds[`${mode} cpu/msg`] = Object.fromEntries(kinds.map((kind, i) => [kind, windows[i]!.map((w) => (w.cpuMs * 1000) / Math.max(1, w.messages))]));
        for (const [i, kind] of kinds.entries()) {
          row(mode === 'windowed' ? `windowed ${WINDOWED_CONNECTIONS}x${WINDOW} (${kind})` : `paced ${DEVICES} devices x 10/s (${kind})`, { ...summarise(windows[i]!) });
          await closeAll(connections[i]!);
        }
      }
      await Promise.all(servers.map((server) => server.stop()));
    }
    for (const [i, spec] of ONLY.has('idle') ? specs.entries() : []) {
      const server = await ServerProcess.start(spec, ec.dir, join(root, `data-idle-${i}`));
      await server.gc();
      const before = await server.usage();
      const connections = await connectMany(server, ec.ca, ec.devices.slice(0, IDLE));
      await new Promise((r) => setTimeout(r, 1000));
      await server.gc();
      const after = await server.usage();
      row(`idle ${IDLE} connections (${spec.kind})`, { kibPerConnection: (after.rss - before.rss) / 1024 / IDLE });
      await closeAll(connections);
      await server.stop();
    }
    if (ONLY.has('mosquitto') && existsSync('/usr/sbin/mosquitto')) await mosquittoIngest(ec.dir, ec.devices.slice(0, DEVICES), row);
    const report = reportRatios(kinds, results, costRounds, { devices: DEVICES, idle: IDLE });
    const out = join(REPO_ROOT, 'bench', 'results', baselines.length === 0 ? 'hub.json' : 'hub-baseline.json');
    const run = { node: process.version, openssl: process.versions.openssl, devices: DEVICES, idle: IDLE, handshakes: HANDSHAKES };
    const compared = baselines.map(({ rev, commit, kind }) => ({ rev, commit, kind, config: configs[kind] }));
    await mkdir(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    await writeFile(out, `${JSON.stringify({ ...run, baselines: compared, results, ...report, costRounds }, null, 2)}\n`);
    process.stdout.write(`\nwrote ${out}\n`);
  } finally {
    cleanUp();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'server') {
  await runServer(process.argv[3] as ServerKind, process.argv[4]!, process.argv[5]!);
} else {
  await main();
}
