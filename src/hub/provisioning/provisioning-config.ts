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
import type { ConfigReader } from '../../config/config-reader.js';
import { DEFAULT_DEVICE_DAYS, MAX_DAYS } from '../../pki/validity.js';

/** The resolved `provisioning` section. */
export interface ProvisioningConfig {
  /**
   * Certificates issued per batch per minute (a leaked claim certificate mints
   * at most this many a minute). Each hub counts requests in a token bucket;
   * in cluster mode the issuances of every hub are also counted together (a
   * window of a minute in the cluster, cluster-rate.ts), so N hubs do not mint N times faster.
   */
  readonly perBatchPerMinute: number;
  /**
   * Provisioning requests per source IP per minute (a factory line behind one
   * NAT provisions at most this many). Per hub, in cluster mode too: it
   * protects the hub it is on, and a cluster-wide count per address would
   * cost a NATS round trip for every request.
   */
  readonly perIpPerMinute: number;
  /** Time from the upgrade to the `provision` request; a connection that sends none is closed. */
  readonly requestTimeoutMs: number;
  /** Largest `provision` message in bytes (a CSR with an RSA-3072 key is under 2 KiB); larger closes with 1009. */
  readonly maxRequestBytes: number;
  /**
   * Lifetime of provisioned device certificates, in days; null when not set:
   * `renewal.deviceDays` (a year) when the hub renews certificates, else
   * {@link DEFAULT_DEVICE_DAYS} (ten years).
   */
  readonly deviceDays: number | null;
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

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Reads `provisioning` (absent: every default); a relative passphrase file is taken from the config file's folder. */
export function readProvisioningSection(r: ConfigReader): ProvisioningConfig {
  const env = r.string('issuingPassphraseEnv', DEFAULT_ISSUING_PASSPHRASE_ENV);
  if (!ENV_NAME.test(env)) throw r.fail('issuingPassphraseEnv', 'an environment variable name', env);
  return Object.freeze({
    perBatchPerMinute: r.int('perBatchPerMinute', 1, 1_000_000, DEFAULT_PROVISION_PER_BATCH_PER_MINUTE),
    perIpPerMinute: r.int('perIpPerMinute', 1, 1_000_000, DEFAULT_PROVISION_PER_IP_PER_MINUTE),
    requestTimeoutMs: r.int('requestTimeoutMs', 100, 600_000, DEFAULT_PROVISION_REQUEST_TIMEOUT_MS),
    maxRequestBytes: r.int('maxRequestBytes', 1024, 1024 * 1024, DEFAULT_PROVISION_MAX_REQUEST_BYTES),
    deviceDays: r.has('deviceDays') ? r.int('deviceDays', 1, MAX_DAYS) : null,
    issuingPassphraseFile: r.filePath('issuingPassphraseFile', null),
    issuingPassphraseEnv: env,
  });
}
