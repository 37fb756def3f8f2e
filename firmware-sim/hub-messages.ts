/**
 * Parsing what the hub sends a device (SPEC: Device protocol): `hello`,
 * `ack`, `nack`, and in protocol 2 `cmd` and `config`. Pure; anything else is `unknown` and ignored, as tolerant
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

/** One message from the hub. */
export type HubMessage =
  | { readonly type: 'hello'; readonly device: string; readonly lastSeq: number | null; readonly limits: HelloLimits }
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
    return {
      type: 'hello',
      device: hello.device,
      lastSeq,
      limits: { maxPayloadBytes, msgsPerSec, burst, msgsPerDay: msgsPerDay ?? Number.POSITIVE_INFINITY, maxFields: maxFields ?? 32 },
    };
  }
  return { type: 'unknown', text };
}
