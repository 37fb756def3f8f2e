/**
 * Commands and desired configuration from dashboards (SPEC: Dashboard
 * protocol, Token scopes): parsing the requests, and answering them within
 * the token's scopes and device glob, with a per-token command rate.
 *
 * Dashboard → hub:
 * - `{"command":{"device","name","args"?,"timeoutMs"?,"ttlMs"?}}` (scope `command`)
 *   → `{"command":{"id","device","state":"queued|sent"}}` as it changes, then
 *   `{"commandResult":{"id","device","state","result"?,"error"?}}`.
 * - `{"config":{"device","desired"}}` (scope `config`) → `{"config":{"device","version"}}`.
 * - `{"config":{"device"}}` (scope `config`) → `{"config":{"device","version","desired","updatedAt","glob","acked"}}`:
 *   the document the device gets (its own, else the most specific matching
 *   glob's, named by `glob`) and the device's last `configAck` (null when none).
 * - For a glob of devices (a device glob with at least one wildcard), with
 *   `devices` in place of `device`: `{"config":{"devices","desired"}}` →
 *   `{"config":{"devices","version"}}`; `{"config":{"devices"}}` →
 *   `{"config":{"devices","version","desired","updatedAt"}}`;
 *   `{"config":{"devices","delete":true}}` → `{"config":{"devices","deleted":<bool>}}`.
 *   A bad glob is `{"error":"invalid_glob"}`, one glob more than
 *   `console.maxConfigGlobs` `{"error":"too_many_globs"}`.
 *
 * Outside the token's scopes or device glob (for a glob: not within the
 * token's glob): `{"error":"forbidden"}`.
 */
import { isValidDeviceId } from '../../pki/index.js';
import type { CommandRecord } from '../commands/command-center.js';
import type { ConfigView } from '../commands/desired-configs.js';
import type { CommandService, ConfigService } from '../commands/device-control.js';
import { isConfigGlob } from '../commands/config-globs.js';
import { FIELD_NAME_PATTERN } from '../protocol.js';
import { TokenBucket } from '../token-bucket.js';
import type { TokenClaims } from './dashboard-token.js';
import { globMatches, globWithin, isValidGlob } from './device-glob.js';

/** What the console may ask of devices; absent on a console without a hub behind it. */
export interface ConsoleControl {
  readonly commands: CommandService;
  readonly configs: ConfigService;
}

/** A parsed control request. */
export type ControlRequest =
  | { readonly type: 'command'; readonly device: string; readonly name: string; readonly args?: unknown; readonly timeoutMs?: unknown; readonly ttlMs?: unknown }
  | { readonly type: 'config'; readonly device: string; readonly desired?: unknown }
  /** `glob` is any string here: it is checked when answered, so a bad one gets `invalid_glob`. */
  | { readonly type: 'configGlob'; readonly glob: string; readonly desired?: unknown; readonly delete: boolean };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const COMMAND_KEYS: ReadonlySet<string> = new Set(['device', 'name', 'args', 'timeoutMs', 'ttlMs']);

/** Parses the value of `command` or `config`; null when it is malformed (`invalid_message`). What it asks is checked by the command center. */
export function parseControlRequest(key: 'command' | 'config', body: unknown): ControlRequest | null {
  if (key === 'config' && isPlainObject(body) && 'devices' in body) return parseGlobConfig(body);
  if (!isPlainObject(body) || typeof body.device !== 'string' || !isValidDeviceId(body.device)) return null;
  const device = body.device as string;
  if (key === 'config') {
    for (const k in body) if (k !== 'device' && k !== 'desired') return null;
    return body.desired === undefined ? { type: 'config', device } : { type: 'config', device, desired: body.desired };
  }
  for (const k in body) if (!COMMAND_KEYS.has(k)) return null;
  if (typeof body.name !== 'string' || !FIELD_NAME_PATTERN.test(body.name)) return null;
  return { type: 'command', device, name: body.name, args: body.args, timeoutMs: body.timeoutMs, ttlMs: body.ttlMs };
}

function parseGlobConfig(body: Record<string, unknown>): ControlRequest | null {
  for (const k in body) if (k !== 'devices' && k !== 'desired' && k !== 'delete') return null;
  if (typeof body.devices !== 'string') return null;
  if (body.delete !== undefined && (body.delete !== true || body.desired !== undefined)) return null;
  const glob = body.devices;
  return body.desired === undefined ? { type: 'configGlob', glob, delete: body.delete === true } : { type: 'configGlob', glob, desired: body.desired, delete: false };
}

/** `{"command":{"id","device","state"}}` or `{"commandResult":{..}}` for one state of a command. */
export function encodeCommandState(record: CommandRecord): string {
  const { id, device, state } = record;
  if (state === 'queued' || state === 'sent') return JSON.stringify({ command: { id, device, state } });
  const result: Record<string, unknown> = { id, device, state };
  if (record.result !== undefined) result.result = record.result;
  if (record.error !== undefined) result.error = record.error;
  return JSON.stringify({ commandResult: result });
}

/** Entries a {@link TokenCommandLimiter} keeps before it forgets expired tokens. */
const MAX_TRACKED_TOKENS = 10_000;

/** Commands per token, over all its connections (SPEC: per-token rate limits on commands). */
export class TokenCommandLimiter {
  readonly #perMin: number;
  readonly #buckets = new Map<string, { bucket: TokenBucket; expiresAt: number }>();

  constructor(commandsPerMin: number) {
    this.#perMin = commandsPerMin;
  }

  /** Takes one command from the token's budget; false when it has none left now. */
  take(claims: TokenClaims, now = Date.now()): boolean {
    let entry = this.#buckets.get(claims.id);
    if (entry === undefined) {
      if (this.#buckets.size >= MAX_TRACKED_TOKENS) {
        for (const [id, e] of this.#buckets) if (e.expiresAt <= now) this.#buckets.delete(id);
      }
      entry = { bucket: new TokenBucket({ ratePerSec: this.#perMin / 60, burst: this.#perMin }), expiresAt: claims.expiresAt };
      this.#buckets.set(claims.id, entry);
    }
    return entry.bucket.take(now) === 0;
  }
}

/** What a dashboard session lends the handler. */
export interface ControlContext {
  readonly claims: TokenClaims;
  readonly control: ConsoleControl | null;
  readonly limiter: TokenCommandLimiter;
  /** Queues a message for the dashboard (dropped once it has gone). */
  send(text: string): void;
  /** A refused request: an `{"error":code}` that counts towards the invalid-in-a-row close. */
  strike(code: 'forbidden' | 'invalid_config' | 'too_large' | 'unavailable' | 'invalid_glob' | 'too_many_globs'): void;
  /** A request within the rules: the invalid-in-a-row count starts again. */
  accepted(): void;
}

/** Answers one control request. */
export async function handleControlRequest(request: ControlRequest, ctx: ControlContext): Promise<void> {
  const { claims, control } = ctx;
  if (request.type === 'configGlob') {
    await answerGlobConfig(request, ctx);
    return;
  }
  const scope = request.type === 'command' ? 'command' : 'config';
  // SPEC: both within the token's device scope (and its scopes), else forbidden; nothing reaches a device.
  if (control === null || !claims.scopes.includes(scope) || !globMatches(claims.devices, request.device)) {
    ctx.strike('forbidden');
    return;
  }
  ctx.accepted();
  if (request.type === 'config') {
    await answerConfig(request, ctx, control);
    return;
  }
  if (!ctx.limiter.take(claims)) {
    ctx.send(encodeCommandState(control.commands.refuse(request, claims.id, 'rate_limited')));
    return;
  }
  // Updates that come before the first answer (a command refused as it is sent) wait for it.
  let answered = false;
  const early: CommandRecord[] = [];
  const first = await control.commands.submit(request, claims.id, (record) => (answered ? ctx.send(encodeCommandState(record)) : early.push(record)));
  ctx.send(encodeCommandState(first));
  answered = true;
  for (const record of early) ctx.send(encodeCommandState(record));
}

async function answerConfig(request: Extract<ControlRequest, { type: 'config' }>, ctx: ControlContext, control: ConsoleControl): Promise<void> {
  const { device } = request;
  if (request.desired === undefined) {
    let view: ConfigView;
    try {
      view = control.configs.read === undefined ? control.configs.get(device) : await control.configs.read(device);
    } catch {
      ctx.strike('unavailable');
      return;
    }
    const { desired, glob, acked } = view;
    ctx.send(JSON.stringify({
      config: { device, version: desired?.version ?? null, desired: desired?.desired ?? null, updatedAt: desired?.updatedAt ?? null, glob, acked },
    }));
    return;
  }
  const outcome = await control.configs.set(device, request.desired, ctx.claims.id);
  if ('refused' in outcome) ctx.strike(outcome.refused);
  else ctx.send(JSON.stringify({ config: { device, version: outcome.version } }));
}

async function answerGlobConfig(request: Extract<ControlRequest, { type: 'configGlob' }>, ctx: ControlContext): Promise<void> {
  const { claims, control } = ctx;
  const { glob } = request;
  if (!isValidGlob(glob)) {
    ctx.strike('invalid_glob');
    return;
  }
  // Every device the glob may ever match must lie within the token's scope.
  if (control === null || !claims.scopes.includes('config') || !globWithin(glob, claims.devices)) {
    ctx.strike('forbidden');
    return;
  }
  if (!isConfigGlob(glob)) {
    ctx.strike('invalid_glob');
    return;
  }
  ctx.accepted();
  if (request.delete) {
    const outcome = await control.configs.deleteGlob(glob, claims.id);
    if ('refused' in outcome) ctx.strike(outcome.refused);
    else ctx.send(JSON.stringify({ config: { devices: glob, deleted: outcome.deleted } }));
    return;
  }
  if (request.desired === undefined) {
    const doc = control.configs.getGlob(glob);
    ctx.send(JSON.stringify({ config: { devices: glob, version: doc?.version ?? null, desired: doc?.desired ?? null, updatedAt: doc?.updatedAt ?? null } }));
    return;
  }
  const outcome = await control.configs.setGlob(glob, request.desired, claims.id);
  if ('refused' in outcome) ctx.strike(outcome.refused);
  else ctx.send(JSON.stringify({ config: { devices: glob, version: outcome.version } }));
}
