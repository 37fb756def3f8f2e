/**
 * Starts a real NATS JetStream cluster for a test: N (default 3) Debian
 * nats-server processes (`/usr/sbin/nats-server`) on free loopback ports,
 * routed to each other, each with its own JetStream store folder in one temp
 * folder. Ready when every node answers its monitoring `/healthz` and the
 * JetStream meta group has a leader (streams can be created).
 *
 * The config of each node comes from {@link natsNodeConfig}, the template the
 * three-node configs in deploy/nats/ are rendered from too (a test keeps them
 * in step).
 */
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, ServiceProcess } from './service-process.js';
import { waitUntil } from './wait.js';

const NATS_SERVER = '/usr/sbin/nats-server';
/** The cluster's name (the `cluster.name` every node shares). */
export const NATS_CLUSTER_NAME = 'fleethub';
/** How long one monitoring request may go unanswered before the readiness poll retries. */
const MONITOR_TIMEOUT_MS = 2_000;
/** How long a (re)started node may take to be ready with a meta leader. */
const READY_TIMEOUT_MS = 30_000;

/** One node's place in the cluster: what {@link natsNodeConfig} renders. */
export interface NatsNodeSpec {
  /** `server_name`: also what JetStream reports as a stream's leader. */
  readonly name: string;
  readonly host: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  /** Monitoring (`/healthz`, `/jsz`). */
  readonly httpPort: number;
  /** JetStream's store folder. */
  readonly storeDir: string;
  /** Every node's cluster port (this one's included: nats-server ignores a route to itself). */
  readonly routePorts: readonly number[];
}

/**
 * A node's nats-server config. JetStream on with file storage; the cluster
 * routes name every node, so any one can start first. A node alone (one
 * route: its own) is a plain server: a cluster of one never elects a leader.
 */
export function natsNodeConfig(spec: NatsNodeSpec, header = ''): string {
  const routes = spec.routePorts.map((port) => `    nats-route://${spec.host}:${port}`).join('\n');
  const cluster = spec.routePorts.length <= 1 ? '' : `
cluster {
  name: ${NATS_CLUSTER_NAME}
  listen: ${spec.host}:${spec.clusterPort}
  routes: [
${routes}
  ]
}
`;
  return `${header}server_name: ${spec.name}
listen: ${spec.host}:${spec.clientPort}
http: ${spec.host}:${spec.httpPort}

jetstream {
  store_dir: "${spec.storeDir}"
}
${cluster}`;
}

/** A running cluster. Node indexes are 0-based. */
export interface NatsCluster {
  /** nats://127.0.0.1:port of every node, in index order. */
  readonly urls: readonly string[];
  /** Each node's `server_name`, in index order. */
  readonly names: readonly string[];
  /** The index of the node with this `server_name` (e.g. a stream's leader), or -1. */
  indexOf(name: string): number;
  /** Sends `signal` (default SIGKILL: a crash) to node `i` and waits for it to exit. Its store folder stays. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node `i` again on the same ports and store (after {@link kill}; stops it first if it runs) and waits until it is ready. */
  restart(i: number): Promise<void>;
  /** Freezes node `i` (SIGSTOP: it stops answering, its sockets stay open) or lets it go on (SIGCONT). */
  freeze(i: number, frozen: boolean): void;
  /** True while node `i` runs. */
  running(i: number): boolean;
  /** The node's recent output (for failure messages). */
  output(i: number): string;
  /** Stops every node and deletes the temp folder. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** @defaultValue 3 */
  readonly nodes?: number;
}

/** GET a monitoring URL; status and body, or null when it does not answer. */
function monitor(url: string): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: MONITOR_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(null));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(null));
  });
}

/** True when the node is healthy and (in a cluster) sees a JetStream meta leader. */
async function nodeReady(spec: NatsNodeSpec): Promise<boolean> {
  const base = `http://${spec.host}:${spec.httpPort}`;
  const health = await monitor(`${base}/healthz`);
  if (health === null || health.status !== 200) return false;
  const jsz = await monitor(`${base}/jsz`);
  if (jsz === null || jsz.status !== 200) return false;
  if (spec.routePorts.length <= 1) return true; // a server alone: JetStream answers, no leader to wait for
  const meta = (JSON.parse(jsz.body) as { meta_cluster?: { leader?: string } }).meta_cluster;
  return typeof meta?.leader === 'string' && meta.leader.length > 0;
}

/** Attempts at starting a cluster when a port picked free was taken before a node bound it. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts the cluster; throws (having stopped whatever started) when it does
 * not come up. Free ports are picked before the nodes bind them, and test
 * files running side by side pick theirs too: a node that finds its port
 * taken ("address already in use") is a lost race, not a failure, and the
 * cluster starts again on new ports.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startNatsClusterOnce(options);
    } catch (err) {
      const raced = err instanceof Error && err.message.includes('address already in use');
      if (!raced || attempt >= PORT_RACE_ATTEMPTS) throw err;
    }
  }
}

async function startNatsClusterOnce(options: NatsClusterOptions): Promise<NatsCluster> {
  requireBinary(NATS_SERVER, 'nats-server');
  const count = options.nodes ?? 3;
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`nodes must be a positive integer, got ${count}`);
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-nats-'));
  const specs: NatsNodeSpec[] = [];
  const processes: ServiceProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(processes.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const clusterPorts: number[] = [];
    for (let i = 0; i < count; i += 1) clusterPorts.push(await freePort());
    for (let i = 0; i < count; i += 1) {
      const spec: NatsNodeSpec = {
        name: `nats-${i + 1}`,
        host: '127.0.0.1',
        clientPort: await freePort(),
        clusterPort: clusterPorts[i] as number,
        httpPort: await freePort(),
        storeDir: join(dir, `nats-${i + 1}`),
        routePorts: clusterPorts,
      };
      const confPath = join(dir, `nats-${i + 1}.conf`);
      await writeFile(confPath, natsNodeConfig(spec));
      specs.push(spec);
      processes.push(new ServiceProcess(`nats-server ${spec.name}`, NATS_SERVER, ['-c', confPath]));
    }
    // All at once: a node alone has no meta leader, so each waits for the others.
    await Promise.all(processes.map((p, i) => p.start(() => nodeReady(specs[i] as NatsNodeSpec))));
  } catch (err) {
    await stopAll();
    throw err;
  }

  const node = (i: number): { spec: NatsNodeSpec; process: ServiceProcess } => {
    const spec = specs[i];
    const process = processes[i];
    if (spec === undefined || process === undefined) throw new Error(`no nats node ${i} (the cluster has ${count})`);
    return { spec, process };
  };
  let stopped: Promise<void> | null = null;
  return {
    urls: specs.map((s) => `nats://${s.host}:${s.clientPort}`),
    names: specs.map((s) => s.name),
    indexOf: (name) => specs.findIndex((s) => s.name === name),
    kill: (i, signal = 'SIGKILL') => node(i).process.kill(signal),
    async restart(i) {
      const { spec, process } = node(i);
      await process.stop();
      await process.start(() => nodeReady(spec));
      // A restarted node is ready once it sees the meta leader again; wait for every running node to agree.
      await waitUntil(async () => {
        const ready = await Promise.all(specs.map((s, k) => (processes[k]?.running === true ? nodeReady(s) : Promise.resolve(true))));
        return ready.every(Boolean);
      }, 'every running nats node is ready after the restart', READY_TIMEOUT_MS);
    },
    freeze: (i, frozen) => node(i).process.freeze(frozen),
    running: (i) => node(i).process.running,
    output: (i) => node(i).process.output,
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
