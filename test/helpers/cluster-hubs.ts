/**
 * Two cluster hubs for a test file: a real three-node nats-server cluster,
 * a throwaway PKI, hub A on that PKI folder and hub B on its own copy of
 * it (nothing shared on disk, as an operator runs two machines) or on the
 * same folder. Each test file starts its own, so no two files share a
 * cluster, a PKI or a data folder.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHub, type HubOverrides, type TestHub } from './hub.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';
import { makeTestPki, type TestPki } from './pki.js';

/** The `cluster` section of a hub's config. */
export type ClusterSection = NonNullable<HubOverrides['cluster']>;

/** Two running hubs of one cluster; {@link stop} stops everything it started. */
export interface ClusterHubs {
  readonly nats: NatsCluster;
  /** Hub A's PKI (the one devices are added to before the hubs start). */
  readonly pki: TestPki;
  readonly a: TestHub;
  readonly b: TestHub;
  /** The `cluster` section of hub `node` on this nats cluster. */
  clusterOf(node: string): ClusterSection;
  /** Writes hub `node`'s config (hub A's PKI folder and its cluster section) for the CLI's `--config`; returns its path. */
  writeCliConfig(node: string): Promise<string>;
  stop(): Promise<void>;
}

/** How {@link startClusterHubs} sets the hubs up. */
export interface ClusterHubsOptions {
  /** Runs on the new PKI before the hubs start (devices added here are in hub B's copy too). */
  prepare?: (pki: TestPki) => Promise<void>;
  /** Hub B on hub A's PKI folder instead of a copy (default false). */
  sharedPki?: boolean;
  /** Config both hubs run with, besides their cluster section. */
  overrides?: Omit<HubOverrides, 'cluster'>;
}

/** Starts the nats cluster, the PKI and hubs A (`hub-a`) and B (`hub-b`); on a failure, stops what it started. */
export async function startClusterHubs(options: ClusterHubsOptions = {}): Promise<ClusterHubs> {
  const started: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const step of started.splice(0).reverse()) await step();
  };
  try {
    const nats = await startNatsCluster();
    started.push(() => nats.stop());
    const pki = await makeTestPki();
    started.push(() => pki.cleanup());
    await options.prepare?.(pki);
    const clusterOf = (node: string): ClusterSection => ({ node, nats: { servers: nats.urls } });
    const a = await startHub({ ...options.overrides, cluster: clusterOf('hub-a') }, pki);
    started.push(() => a.stop());
    let pkiB = pki;
    if (options.sharedPki !== true) {
      // A copy of hub A's folder as an operator makes it: the CA, the server certificate, and the ticket key A made.
      const dirB = await mkdtemp(join(tmpdir(), 'fleethub-pki-b-'));
      started.push(() => rm(dirB, { recursive: true, force: true }));
      await cp(pki.dir, dirB, { recursive: true });
      pkiB = { ...pki, dir: dirB };
    }
    const b = await startHub({ ...options.overrides, cluster: clusterOf('hub-b') }, pkiB);
    started.push(() => b.stop());
    return {
      nats, pki, a, b, clusterOf, stop,
      async writeCliConfig(node) {
        const path = join(pki.dir, `${node}.json`);
        await writeFile(path, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf(node) }));
        return path;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
