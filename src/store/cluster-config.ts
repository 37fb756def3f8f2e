/**
 * The `cluster` section of the hub's config (SPEC: Cluster mode): which hub
 * this is, how to reach NATS, and how many copies JetStream keeps. Without
 * the section the hub runs on the embedded log store.
 *
 * ```json
 * { "cluster": { "node": "hub-a", "nats": { "servers": ["nats://10.0.0.5:4222"], "tls": { "ca": "ca.pem" }, "creds": "hub.creds" }, "replicas": 3 } }
 * ```
 */
import { CONFIG_FILE, ConfigReader, type ConfigSource } from '../config/config-reader.js';

/** PEM files for a TLS connection to NATS; paths are taken from the config file's folder when relative. */
export interface ClusterTlsConfig {
  /** CA to verify the NATS servers with (the system's CAs when absent). */
  readonly ca: string | null;
  /** Client certificate, when the servers require one (with {@link key}). */
  readonly cert: string | null;
  readonly key: string | null;
}

/** How the hub reaches NATS. */
export interface ClusterNatsConfig {
  /** Seed servers (`nats://host:port` or `tls://host:port`); the client learns the rest of the cluster from them. */
  readonly servers: readonly string[];
  /** TLS to the servers, or null for plain TCP (a private network). */
  readonly tls: ClusterTlsConfig | null;
  /** A NATS `.creds` file (JWT + NKey seed), or null. */
  readonly creds: string | null;
}

/** The resolved `cluster` section. */
export interface ClusterConfig {
  /** This hub's name in the cluster: unique per hub, shown in logs and ownership records. */
  readonly node: string;
  readonly nats: ClusterNatsConfig;
  /**
   * Copies JetStream keeps of the readings and of every bucket. 3 survives
   * the loss of any one NATS server; 1 survives none (for trying it out).
   * @defaultValue {@link DEFAULT_CLUSTER_REPLICAS}
   */
  readonly replicas: number;
}

/** The `cluster` section as written in the config file (paths relative to its folder). */
export interface ClusterConfigInput {
  readonly node: string;
  readonly nats: {
    readonly servers: readonly string[];
    readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
    readonly creds?: string;
  };
  /** @defaultValue {@link DEFAULT_CLUSTER_REPLICAS} */
  readonly replicas?: number;
}

/** Three copies: an ack survives the loss of any one NATS server (SPEC: an ack means a quorum has it). */
export const DEFAULT_CLUSTER_REPLICAS = 3;
/** JetStream's own ceiling on a stream's replicas. */
export const MAX_CLUSTER_REPLICAS = 5;
/** A node name: what a NATS name and a log line can carry as is. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const SERVER_URL = /^(nats|tls):\/\/[^\s/]+$/;

/**
 * Reads the `cluster` section (the caller refuses its unread keys). Relative
 * file paths are taken from the source's `baseDir` (the config file's folder).
 */
export function readClusterSection(r: ConfigReader): ClusterConfig {
  const node = r.raw('node');
  if (typeof node !== 'string' || !NODE_NAME.test(node)) throw r.fail('node', '1–64 of A-Z a-z 0-9 _ - (this hub\'s unique name)', node);

  const nats = r.object('nats');
  const servers = nats.array('servers', 'a non-empty array of nats://host:port');
  if (servers.length === 0) throw nats.fail('servers', 'a non-empty array of nats://host:port', servers);
  servers.forEach((server, i) => {
    if (typeof server !== 'string' || !SERVER_URL.test(server)) throw nats.fail(`servers[${i}]`, 'nats://host:port or tls://host:port', server);
  });
  let tls: ClusterTlsConfig | null = null;
  if (nats.has('tls')) {
    const t = nats.object('tls');
    tls = Object.freeze({ ca: t.filePath('ca', null), cert: t.filePath('cert', null), key: t.filePath('key', null) });
    t.done();
    if ((tls.cert === null) !== (tls.key === null)) throw nats.fail('tls', 'both cert and key, or neither', nats.raw('tls'));
  }
  const creds = nats.filePath('creds', null);
  nats.done();
  return Object.freeze({
    node,
    nats: Object.freeze({ servers: Object.freeze([...servers] as string[]), tls, creds }),
    replicas: r.int('replicas', 1, MAX_CLUSTER_REPLICAS, DEFAULT_CLUSTER_REPLICAS),
  });
}

/**
 * Resolves the `cluster` section, or returns null when it is absent (the
 * embedded store). Relative file paths are taken from `baseDir` (the config
 * file's folder). Throws FH_ERR_CONFIG naming the key.
 */
export function resolveClusterConfig(raw: unknown, baseDir: string): ClusterConfig | null {
  if (raw === undefined) return null;
  const source: ConfigSource = { ...CONFIG_FILE, baseDir };
  const r = new ConfigReader(raw, 'cluster', source);
  const cluster = readClusterSection(r);
  r.done();
  return cluster;
}
