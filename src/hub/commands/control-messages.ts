/**
 * The messages of commands and desired configuration, pure (SPEC: Device
 * protocol version 2): validating `args`, `result` and `desired` by the
 * telemetry value rules, parsing `cmdResult` and `configAck`, and encoding
 * `cmd` and `config`.
 */
import { FIELD_NAME_PATTERN, MAX_STRING_VALUE_LENGTH, withinCodePoints } from '../protocol.js';
import type { TelemetryValue } from '../../store/types.js';

/** An object of named values (SPEC: `args`, `result` and `desired` follow the telemetry value rules). */
export type ValueObject = Readonly<Record<string, TelemetryValue>>;

/** Longest command id the hub accepts back from a device (its own ids are 12 characters). */
export const MAX_COMMAND_ID_LENGTH = 64;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why `value` is not a {@link ValueObject} of at most `maxFields` names (an
 * empty object is fine: a command may take no arguments), or null. Names
 * match the field name pattern; values are finite numbers, booleans or
 * strings of at most 256 characters.
 */
export function valueObjectError(value: unknown, maxFields: number): string | null {
  if (!isPlainObject(value)) return 'must be an object';
  let fields = 0;
  for (const name in value) {
    fields += 1;
    if (fields > maxFields) return `has more than ${maxFields} names`;
    if (!FIELD_NAME_PATTERN.test(name)) return `has a bad name ${JSON.stringify(name.slice(0, 70))}`;
    const v = value[name];
    const ok = typeof v === 'number' ? Number.isFinite(v) : typeof v === 'boolean' || (typeof v === 'string' && withinCodePoints(v, MAX_STRING_VALUE_LENGTH));
    if (!ok) return `has a bad value for ${name}`;
  }
  return null;
}

/** A device's `cmdResult`, validated. */
export interface CmdResult {
  readonly id: string;
  readonly ok: boolean;
  readonly result?: ValueObject;
  readonly error?: string;
}

/** Parses `cmdResult`'s body; a string says why it is invalid. */
export function parseCmdResult(body: unknown, maxFields: number): CmdResult | string {
  if (!isPlainObject(body)) return 'cmdResult must be an object';
  for (const key in body) if (key !== 'id' && key !== 'ok' && key !== 'result' && key !== 'error') return `cmdResult has an unknown key ${key}`;
  const { id, ok, result, error } = body;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_COMMAND_ID_LENGTH) return 'cmdResult.id must be a command id';
  if (typeof ok !== 'boolean') return 'cmdResult.ok must be a boolean';
  if (result !== undefined) {
    const why = valueObjectError(result, maxFields);
    if (why !== null) return `cmdResult.result ${why}`;
  }
  if (error !== undefined && (typeof error !== 'string' || !withinCodePoints(error, MAX_STRING_VALUE_LENGTH))) return 'cmdResult.error must be a string of at most 256 characters';
  return {
    id,
    ok,
    ...(result === undefined ? {} : { result: result as ValueObject }),
    ...(error === undefined ? {} : { error: error as string }),
  };
}

/** A device's `configAck`, validated. */
export interface ConfigAck {
  readonly version: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** Parses `configAck`'s body; a string says why it is invalid. */
export function parseConfigAck(body: unknown): ConfigAck | string {
  if (!isPlainObject(body)) return 'configAck must be an object';
  for (const key in body) if (key !== 'version' && key !== 'ok' && key !== 'error') return `configAck has an unknown key ${key}`;
  const { version, ok, error } = body;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return 'configAck.version must be an integer >= 1';
  if (typeof ok !== 'boolean') return 'configAck.ok must be a boolean';
  if (error !== undefined && (typeof error !== 'string' || !withinCodePoints(error, MAX_STRING_VALUE_LENGTH))) return 'configAck.error must be a string of at most 256 characters';
  return error === undefined ? { version, ok } : { version, ok, error: error as string };
}

/** `{"cmd":{"id","name","args","timeoutMs"}}` (SPEC). */
export function cmdMessage(id: string, name: string, args: ValueObject, timeoutMs: number): string {
  return JSON.stringify({ cmd: { id, name, args, timeoutMs } });
}

/** `{"config":{"version","desired"}}` (SPEC). */
export function configMessage(version: number, desired: ValueObject): string {
  return JSON.stringify({ config: { version, desired } });
}
