/**
 * The `cluster` section of the hub's config (SPEC: Cluster mode): which hub
 * this is, how to reach NATS, and how many copies JetStream keeps. Without
 * the section the hub runs on the embedded log store.
 *
 * ```json
 * { "cluster": { "node": "hub-a", "nats": { "servers": ["nats://10.0.0.5:4222"], "tls": { "ca": "ca.pem" }, "creds": "hub.creds" }, "replicas": 3 } }
 * ```
 */
import { isAbsolute, resolve } from 'node:path';
import { FleethubError } from '../errors.js';

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

/** Three copies: an ack survives the loss of any one NATS server (SPEC: an ack means a quorum has it). */
export const DEFAULT_CLUSTER_REPLICAS = 3;
/** JetStream's own ceiling on a stream's replicas. */
export const MAX_CLUSTER_REPLICAS = 5;
/** A node name: what a NATS name and a log line can carry as is. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const SERVER_URL = /^(nats|tls):\/\/[^\s/]+$/;
const SECTION_KEYS = ['node', 'nats', 'replicas'] as const;
const NATS_KEYS = ['servers', 'tls', 'creds'] as const;
const TLS_KEYS = ['ca', 'cert', 'key'] as const;

function fail(key: string, rule: string, got: unknown): never {
  throw new FleethubError('FH_ERR_CONFIG', `config: cluster.${key} ${rule}, got ${JSON.stringify(got) ?? String(got)}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, key: string, known: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(value)) fail(key, 'must be an object', value);
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      throw new FleethubError('FH_ERR_CONFIG', `config: unknown key cluster.${key}.${name} (known: ${known.join(', ')})`);
    }
  }
  return value;
}

function path(value: unknown, key: string, baseDir: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0) fail(key, 'must be a file path', value);
  return isAbsolute(value) ? value : resolve(baseDir, value);
}

/**
 * Resolves the `cluster` section, or returns null when it is absent (the
 * embedded store). Relative file paths are taken from `baseDir` (the config
 * file's folder). Throws FH_ERR_CONFIG naming the key.
 */
export function resolveClusterConfig(raw: unknown, baseDir: string): ClusterConfig | null {
  if (raw === undefined) return null;
  if (!isPlainObject(raw)) throw new FleethubError('FH_ERR_CONFIG', `config: cluster must be an object, got ${JSON.stringify(raw)}`);
  for (const name of Object.keys(raw)) {
    if (!(SECTION_KEYS as readonly string[]).includes(name)) {
      throw new FleethubError('FH_ERR_CONFIG', `config: unknown key cluster.${name} (known: ${SECTION_KEYS.join(', ')})`);
    }
  }
  const node = raw.node;
  if (typeof node !== 'string' || !NODE_NAME.test(node)) fail('node', 'must be 1–64 of A-Z a-z 0-9 _ - (this hub\'s unique name)', node);

  const nats = object(raw.nats, 'nats', NATS_KEYS);
  const servers = nats.servers;
  if (!Array.isArray(servers) || servers.length === 0) fail('nats.servers', 'must be a non-empty array of nats://host:port', servers);
  for (const server of servers) {
    if (typeof server !== 'string' || !SERVER_URL.test(server)) fail('nats.servers', 'must hold only nats://host:port or tls://host:port', server);
  }
  let tls: ClusterTlsConfig | null = null;
  if (nats.tls !== undefined) {
    const t = object(nats.tls, 'nats.tls', TLS_KEYS);
    tls = Object.freeze({ ca: path(t.ca, 'nats.tls.ca', baseDir), cert: path(t.cert, 'nats.tls.cert', baseDir), key: path(t.key, 'nats.tls.key', baseDir) });
    if ((tls.cert === null) !== (tls.key === null)) fail('nats.tls', 'needs both cert and key, or neither', nats.tls);
  }

  const replicas = raw.replicas ?? DEFAULT_CLUSTER_REPLICAS;
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1 || replicas > MAX_CLUSTER_REPLICAS) {
    fail('replicas', `must be an integer from 1 to ${MAX_CLUSTER_REPLICAS}`, replicas);
  }
  return Object.freeze({
    node,
    nats: Object.freeze({ servers: Object.freeze([...servers] as string[]), tls, creds: path(nats.creds, 'nats.creds', baseDir) }),
    replicas,
  });
}
