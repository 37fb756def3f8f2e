/**
 * A hub's config as the commands read it: `fleethub serve --config FILE`
 * and the commands that act on a hub's store or cluster with the same file
 * (`device reset-seq`, `device revoke`). Without a file, the embedded
 * defaults.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FleethubError } from '../errors.js';
import { envPkiDir } from '../pki/index.js';
import { resolveHubConfig, type HubConfig } from './config.js';

/** Reads and parses a JSON config file; any failure is one FH_ERR_CONFIG line. */
export async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FleethubError('FH_ERR_CONFIG', `config: cannot read ${path}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FleethubError('FH_ERR_CONFIG', `config: ${path} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** A config file read and resolved. */
export interface LoadedHubConfig {
  /** The file as parsed (`{}` without one). */
  readonly raw: unknown;
  /** The file's folder (the working directory without one): relative paths in it start there. */
  readonly baseDir: string;
  readonly hub: HubConfig;
  /** The `sinks` section, for the bridge's resolver. */
  readonly sinks: unknown;
}

/** Reads `path` (or nothing: the embedded defaults) and resolves the hub's config. Throws FH_ERR_CONFIG naming the key. */
export async function loadHubConfig(path: string | undefined): Promise<LoadedHubConfig> {
  const raw = path === undefined ? {} : await readConfigFile(path);
  const baseDir = path === undefined ? process.cwd() : dirname(resolve(path));
  const { hub, sinks } = resolveHubConfig(raw, { baseDir, envPki: envPkiDir() });
  return { raw, baseDir, hub, sinks };
}
