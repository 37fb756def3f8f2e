/**
 * Parsing what the hub sends a device (SPEC: Device protocol): `hello`,
 * `ack`, `nack`, and in protocol 2 `cmd`, `config`, `cert` and `certError`. Pure; anything else is `unknown` and ignored, as tolerant
 * firmware would.
 */

/** `hello.limits` (SPEC: Device protocol). */
export interface HelloLimits {
  readonly maxPayloadBytes: number;
  readonly msgsPerSec: number;
  readonly burst: number;
  readonly msgsPerDay: number;
  readonly maxFields: number;
}

/** Protocol 2's `hello.cert`: the certificate of this handshake and whether the hub wants it renewed. */
export interface HelloCert {
  readonly serial: string;
  readonly notAfter: number;
  readonly renew: boolean;
}

/** One message from the hub. */
export type HubMessage =
  | {
    readonly type: 'hello'; readonly device: string; readonly lastSeq: number | null; readonly limits: HelloLimits;
    /** Protocol 2: what the hub offers this device (empty in version 1). */
    readonly features: readonly string[];
    readonly cert: HelloCert | null;
  }
  | { readonly type: 'cert'; readonly pem: string; readonly serial: string }
  | { readonly type: 'certError'; readonly error: string; readonly retryAfterMs: number | null }
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'nack'; readonly seq: number | null; readonly error: string; readonly retryAfterMs: number | null }
  | { readonly type: 'cmd'; readonly id: string; readonly name: string; readonly args: Readonly<Record<string, unknown>> }
  | { readonly type: 'config'; readonly version: number; readonly desired: Readonly<Record<string, unknown>> }
  | { readonly type: 'unknown'; readonly text: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positive(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/** Parses one text frame from the hub. */
export function parseHubMessage(text: string): HubMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { type: 'unknown', text };
  }
  if (!isRecord(value)) return { type: 'unknown', text };
  if (typeof value.ack === 'number' && Number.isInteger(value.ack)) return { type: 'ack', seq: value.ack };
  if ('nack' in value && typeof value.error === 'string') {
    const seq = typeof value.nack === 'number' && Number.isInteger(value.nack) ? value.nack : null;
    const retry = typeof value.retryAfterMs === 'number' && Number.isFinite(value.retryAfterMs) && value.retryAfterMs >= 0 ? value.retryAfterMs : null;
    return { type: 'nack', seq, error: value.error, retryAfterMs: retry };
  }
  if (isRecord(value.cmd) && typeof value.cmd.id === 'string' && typeof value.cmd.name === 'string') {
    return { type: 'cmd', id: value.cmd.id, name: value.cmd.name, args: isRecord(value.cmd.args) ? value.cmd.args : {} };
  }
  if (isRecord(value.config) && typeof value.config.version === 'number' && isRecord(value.config.desired)) {
    return { type: 'config', version: value.config.version, desired: value.config.desired };
  }
  if (isRecord(value.cert) && typeof value.cert.pem === 'string' && typeof value.cert.serial === 'string') {
    return { type: 'cert', pem: value.cert.pem, serial: value.cert.serial };
  }
  if (isRecord(value.certError) && typeof value.certError.error === 'string') {
    const wait = value.certError.retryAfterMs;
    return { type: 'certError', error: value.certError.error, retryAfterMs: typeof wait === 'number' && Number.isFinite(wait) && wait >= 0 ? wait : null };
  }
  if (isRecord(value.hello)) {
    const hello = value.hello;
    const limits = isRecord(hello.limits) ? hello.limits : {};
    const maxPayloadBytes = positive(limits.maxPayloadBytes);
    const msgsPerSec = positive(limits.msgsPerSec);
    const burst = positive(limits.burst);
    const msgsPerDay = positive(limits.msgsPerDay);
    const maxFields = positive(limits.maxFields);
    const lastSeq = typeof hello.lastSeq === 'number' && Number.isInteger(hello.lastSeq) ? hello.lastSeq : null;
    if (typeof hello.device !== 'string' || maxPayloadBytes === null || msgsPerSec === null || burst === null) return { type: 'unknown', text };
    const features = Array.isArray(hello.features) ? hello.features.filter((f): f is string => typeof f === 'string') : [];
    const c = hello.cert;
    const cert = isRecord(c) && typeof c.serial === 'string' && typeof c.notAfter === 'number' && typeof c.renew === 'boolean'
      ? { serial: c.serial, notAfter: c.notAfter, renew: c.renew }
      : null;
    return {
      type: 'hello',
      device: hello.device,
      lastSeq,
      limits: { maxPayloadBytes, msgsPerSec, burst, msgsPerDay: msgsPerDay ?? Number.POSITIVE_INFINITY, maxFields: maxFields ?? 32 },
      features,
      cert,
    };
  }
  return { type: 'unknown', text };
}
