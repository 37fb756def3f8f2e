/**
 * The `provisioning` section of the hub's config (SPEC: Provisioning by
 * claim): the limits of `/v1/provision`, the lifetime of the certificates it
 * issues, and where the passphrase of an encrypted `issuing.key` comes from.
 * Provisioning is on when the PKI folder has a claim CA (made by the first
 * `fleethub provision batch add`) and an issuing CA.
 *
 * ```json
 * { "provisioning": { "perBatchPerMinute": 600, "perIpPerMinute": 60, "issuingPassphraseFile": "/run/secrets/issuing-pass" } }
 * ```
 */
import { isAbsolute, resolve } from 'node:path';
import { FleethubError } from '../../errors.js';
import { DEFAULT_DEVICE_DAYS, MAX_DAYS } from '../../pki/validity.js';

/** The resolved `provisioning` section. */
export interface ProvisioningConfig {
  /** Certificates issued per batch per minute (a leaked claim certificate mints at most this many a minute). */
  readonly perBatchPerMinute: number;
  /** Provisioning requests per source IP per minute (a factory line behind one NAT provisions at most this many). */
  readonly perIpPerMinute: number;
  /** Time from the upgrade to the `provision` request; a connection that sends none is closed. */
  readonly requestTimeoutMs: number;
  /** Largest `provision` message in bytes (a CSR with an RSA-3072 key is under 2 KiB); larger closes with 1009. */
  readonly maxRequestBytes: number;
  /** Lifetime of provisioned device certificates, in days. */
  readonly deviceDays: number;
  /** A file holding the passphrase of an encrypted `issuing.key`, or null. */
  readonly issuingPassphraseFile: string | null;
  /** The environment variable holding that passphrase when there is no file. */
  readonly issuingPassphraseEnv: string;
}

/** Ten a second: a factory line's pace, and the most a leaked claim certificate mints before `provision revoke`. */
export const DEFAULT_PROVISION_PER_BATCH_PER_MINUTE = 600;
/** One a second from one address on average. */
export const DEFAULT_PROVISION_PER_IP_PER_MINUTE = 60;
export const DEFAULT_PROVISION_REQUEST_TIMEOUT_MS = 10_000;
/** 16 KiB: any real CSR fits, and nothing larger is read. */
export const DEFAULT_PROVISION_MAX_REQUEST_BYTES = 16 * 1024;
export const DEFAULT_ISSUING_PASSPHRASE_ENV = 'FLEETHUB_ISSUING_PASSPHRASE';

const KEYS = ['perBatchPerMinute', 'perIpPerMinute', 'requestTimeoutMs', 'maxRequestBytes', 'deviceDays', 'issuingPassphraseFile', 'issuingPassphraseEnv'] as const;

function fail(key: string, rule: string, got: unknown): never {
  throw new FleethubError('FH_ERR_CONFIG', `config: provisioning.${key} ${rule}, got ${JSON.stringify(got) ?? String(got)}`);
}

function whole(obj: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer from ${min} to ${max}`, value);
  return value;
}

/** Resolves `provisioning` (undefined: every default); relative paths are taken from `baseDir`. */
export function resolveProvisioningConfig(raw: unknown, baseDir: string): ProvisioningConfig {
  const obj = raw ?? {};
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new FleethubError('FH_ERR_CONFIG', 'config: provisioning must be an object');
  const section = obj as Record<string, unknown>;
  for (const k of Object.keys(section)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new FleethubError('FH_ERR_CONFIG', `config: unknown key provisioning.${k} (known: ${KEYS.join(', ')})`);
  }
  const file = section.issuingPassphraseFile;
  if (file !== undefined && (typeof file !== 'string' || file.trim() === '')) fail('issuingPassphraseFile', 'must be a non-empty path', file);
  const env = section.issuingPassphraseEnv;
  if (env !== undefined && (typeof env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env))) fail('issuingPassphraseEnv', 'must be an environment variable name', env);
  return Object.freeze({
    perBatchPerMinute: whole(section, 'perBatchPerMinute', DEFAULT_PROVISION_PER_BATCH_PER_MINUTE, 1, 1_000_000),
    perIpPerMinute: whole(section, 'perIpPerMinute', DEFAULT_PROVISION_PER_IP_PER_MINUTE, 1, 1_000_000),
    requestTimeoutMs: whole(section, 'requestTimeoutMs', DEFAULT_PROVISION_REQUEST_TIMEOUT_MS, 100, 600_000),
    maxRequestBytes: whole(section, 'maxRequestBytes', DEFAULT_PROVISION_MAX_REQUEST_BYTES, 1024, 1024 * 1024),
    deviceDays: whole(section, 'deviceDays', DEFAULT_DEVICE_DAYS, 1, MAX_DAYS),
    issuingPassphraseFile: typeof file === 'string' ? (isAbsolute(file) ? file : resolve(baseDir, file)) : null,
    issuingPassphraseEnv: typeof env === 'string' ? env : DEFAULT_ISSUING_PASSPHRASE_ENV,
  });
}
