/**
 * The `commands` allow-list of the config (SPEC: Configuration):
 * `{"<name>":{"plans":["*"],"timeoutMs":30000}}`. Only names listed here are
 * ever sent to a device, and only to devices on one of the name's plans.
 * Also the limits of commands and desired configuration, read from the
 * `console` section (they bound what operators may ask of the hub).
 */
import { FleethubError } from '../../errors.js';
import { isValidPlanName } from '../../pki/index.js';
import { FIELD_NAME_PATTERN } from '../protocol.js';

/** One allow-listed command. */
export interface CommandRule {
  /** Plans whose devices may receive it; `*` is every device (with or without a plan). */
  readonly plans: readonly string[];
  /** Longest a device may take to answer; also the default `timeoutMs` of a request. */
  readonly timeoutMs: number;
}

/** The allow-list: name → rule (a Map: names are chosen by operators). Empty by default: nothing reaches a device. */
export type CommandAllowList = ReadonlyMap<string, CommandRule>;

/** `timeoutMs` of an allow-list entry that sets none. @defaultValue 30 s */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Longest `timeoutMs` an entry may set: an hour. */
export const MAX_COMMAND_TIMEOUT_MS = 3_600_000;
/** Most names in the allow-list (each one is a metric label). */
export const MAX_COMMAND_NAMES = 256;
/** A request's `ttlMs` when it gives none: how long a command waits for an offline device. @defaultValue 1 h */
export const DEFAULT_COMMAND_TTL_MS = 3_600_000;

function fail(key: string, rule: string): never {
  throw new FleethubError('FH_ERR_CONFIG', `config: ${key} ${rule}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves `commands` (undefined: an empty allow-list). Throws FH_ERR_CONFIG naming the key. */
export function resolveCommandAllowList(raw: unknown): CommandAllowList {
  const list = new Map<string, CommandRule>();
  if (raw === undefined) return list;
  if (!isPlainObject(raw)) fail('commands', 'must be an object of command name → {"plans":[..],"timeoutMs":n}');
  const names = Object.keys(raw);
  if (names.length > MAX_COMMAND_NAMES) fail('commands', `must list at most ${MAX_COMMAND_NAMES} names`);
  for (const name of names) {
    const path = `commands.${name}`;
    if (!FIELD_NAME_PATTERN.test(name)) fail(path, 'must be named with [A-Za-z_][A-Za-z0-9_]{0,63}');
    const entry = raw[name];
    if (!isPlainObject(entry)) fail(path, 'must be an object like {"plans":["*"],"timeoutMs":30000}');
    for (const key of Object.keys(entry)) if (key !== 'plans' && key !== 'timeoutMs') fail(path, `has an unknown key ${key} (known: plans, timeoutMs)`);
    const plans = entry.plans ?? ['*'];
    if (!Array.isArray(plans) || plans.length === 0 || !plans.every((p) => p === '*' || (typeof p === 'string' && isValidPlanName(p)))) {
      fail(`${path}.plans`, 'must be a non-empty array of plan names or "*"');
    }
    const timeoutMs = entry.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_COMMAND_TIMEOUT_MS) {
      fail(`${path}.timeoutMs`, `must be an integer from 1 to ${MAX_COMMAND_TIMEOUT_MS}`);
    }
    list.set(name, Object.freeze({ plans: Object.freeze([...(plans as string[])]), timeoutMs }));
  }
  return list;
}

/** Whether a device on `plan` (undefined: none) may receive a command of `rule`. */
export function ruleAllows(rule: CommandRule, plan: string | undefined): boolean {
  return rule.plans.includes('*') || (plan !== undefined && rule.plans.includes(plan));
}

/** Whether any allow-listed command may reach a device on `plan` (its `hello.features` then has `cmd`). */
export function anyCommandFor(list: CommandAllowList, plan: string | undefined): boolean {
  for (const rule of list.values()) if (ruleAllows(rule, plan)) return true;
  return false;
}
