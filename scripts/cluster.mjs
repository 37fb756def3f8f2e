#!/usr/bin/env node
// `npm run cluster`: a whole fleethub cluster on this machine, for trying
// cluster mode: three nats-servers (deploy/nats/), three hubs
// (deploy/hubs/), HAProxy in front (deploy/haproxy/haproxy.cfg). Devices
// connect to wss://localhost:8443/v1/device. Each process logs to
// data/cluster/<name>.log; a status line shows every few seconds which
// process runs and how many devices each hub has. Ctrl-C stops everything.
//
// Needs nats-server and haproxy (Debian: apt-get install nats-server haproxy)
// and a built fleethub (npm install builds it).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fleethub.js');
const logDir = join(root, 'data', 'cluster');
const pkiDir = join(root, 'certs');
const STATUS_MS = 5_000;
const START_TIMEOUT_MS = 60_000;

const NATS = [1, 2, 3].map((n) => ({ name: `nats-${n}`, config: join(root, 'deploy', 'nats', `nats-${n}.conf`), monitor: `http://127.0.0.1:${8221 + n}/healthz` }));
const HUBS = ['a', 'b', 'c'].map((n, i) => ({ name: `hub-${n}`, config: join(root, 'deploy', 'hubs', `hub-${n}.json`), console: `https://127.0.0.1:${9444 + 10 * i}/healthz` }));

/** The binary's path, or exits with how to install it. */
function binary(name) {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  process.stderr.write(`cluster: ${name} is not installed (Debian: sudo apt-get install ${name})\n`);
  process.exit(1);
}

function fleethub(args) {
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) {
    process.stderr.write(`cluster: fleethub ${args.join(' ')} failed:\n${run.stderr}`);
    process.exit(1);
  }
}

const children = new Map();

function start(name, command, args) {
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.set(name, child);
  child.once('exit', (code, signal) => {
    if (!stopping) process.stdout.write(`\ncluster: ${name} (pid ${child.pid}) exited (${signal ?? code}); see data/cluster/${name}.log\n`);
  });
  return child;
}

/** Status code of a GET, or 0 when nothing answers. */
function status(url, ca) {
  return new Promise((done) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: 2_000, ...(ca === undefined ? {} : { ca }) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => done({ code: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done({ code: 0, body: '' }));
  });
}

async function waitFor(what, check) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  process.stderr.write(`cluster: ${what} did not come up within ${START_TIMEOUT_MS / 1000} s; see data/cluster/\n`);
  await stop(1);
}

let stopping = false;
async function stop(code) {
  stopping = true;
  const exits = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGTERM');
  }));
  await Promise.all(exits);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

const natsServer = binary('nats-server');
const haproxy = binary('haproxy');
mkdirSync(logDir, { recursive: true });
if (!existsSync(join(pkiDir, 'ca.crt'))) {
  fleethub(['ca', 'init', '--pki', pkiDir, '--name', 'fleethub local cluster CA']);
  fleethub(['ca', 'server-cert', '--pki', pkiDir, '--host', 'localhost', '--ip', '127.0.0.1']);
  process.stdout.write(`cluster: made a development CA and a localhost server certificate in ${pkiDir}\n`);
}
const ca = readFileSync(join(pkiDir, 'ca.crt'), 'utf8');

for (const node of NATS) start(node.name, natsServer, ['-c', node.config]);
for (const node of NATS) await waitFor(node.name, async () => (await status(node.monitor)).code === 200);
// One hub first: it creates the buckets and the stream the others then find.
const [first, ...rest] = HUBS;
const serve = (hub) => start(hub.name, process.execPath, [cli, 'serve', '--config', hub.config]);
serve(first);
await waitFor(first.name, async () => (await status(first.console, ca)).code === 200);
for (const hub of rest) serve(hub);
for (const hub of rest) await waitFor(hub.name, async () => (await status(hub.console, ca)).code === 200);
start('haproxy', haproxy, ['-db', '-f', join(root, 'deploy', 'haproxy', 'haproxy.cfg')]);

const pids = [...children].map(([name, child]) => `${name}=${child.pid}`).join(' ');
process.stdout.write(`
  fleethub cluster: 3 NATS servers, 3 hubs, HAProxy (logs in data/cluster/)
  devices connect to   wss://localhost:8443/v1/device
  simulate a fleet     npx fleethub sim --url wss://localhost:8443/v1/device --pki ./certs --devices 100 --provision --duration 120s
  then kill a hub      kill -9 <pid of hub-a>        (its devices move to the others)
  or a NATS server     kill -9 <pid of nats-1>       (acks pause for a few seconds, nothing is lost)
  pids                 ${pids}
  stop everything      Ctrl-C

`);

setInterval(async () => {
  if (stopping) return;
  const parts = [];
  for (const hub of HUBS) {
    const { code, body } = await status(hub.console, ca);
    const online = code === 0 ? null : JSON.parse(body || '{}').devicesOnline;
    parts.push(`${hub.name} ${code === 200 ? 'up' : code === 0 ? 'DOWN' : `unhealthy(${code})`}${online == null ? '' : ` ${online} devices`}`);
  }
  const nats = await Promise.all(NATS.map(async (n) => ((await status(n.monitor)).code === 200 ? 'up' : 'DOWN')));
  parts.push(`nats ${nats.join('/')}`);
  process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${parts.join('  |  ')}\n`);
}, STATUS_MS).unref();
await new Promise(() => {});
