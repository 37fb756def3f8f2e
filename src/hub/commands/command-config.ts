/**
 * The `commands` allow-list of the config (SPEC: Configuration):
 * `{"<name>":{"plans":["*"],"timeoutMs":30000}}`. Only names listed here are
 * ever sent to a device, and only to devices on one of the name's plans.
 * Also the limits of commands and desired configuration, read from the
 * `console` section (they bound what operators may ask of the hub).
 */
import type { ConfigReader } from '../../config/config-reader.js';
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

/** Reads `commands` (absent: an empty allow-list). Throws FH_ERR_CONFIG naming the key. */
export function readCommandAllowList(r: ConfigReader): CommandAllowList {
  const list = new Map<string, CommandRule>();
  const names = r.keys();
  if (names.length > MAX_COMMAND_NAMES) throw new FleethubError('FH_ERR_CONFIG', `config: commands must list at most ${MAX_COMMAND_NAMES} names, got ${names.length}`);
  for (const name of names) {
    if (!FIELD_NAME_PATTERN.test(name)) throw r.fail(name, 'named with [A-Za-z_][A-Za-z0-9_]{0,63}', name);
    const rule = r.section(name, (e) => {
      const plans = e.array('plans', 'a non-empty array of plan names or "*"', ['*']);
      if (plans.length === 0 || !plans.every((p) => p === '*' || (typeof p === 'string' && isValidPlanName(p)))) {
        throw e.fail('plans', 'a non-empty array of plan names or "*"', plans);
      }
      const timeoutMs = e.int('timeoutMs', 1, MAX_COMMAND_TIMEOUT_MS, DEFAULT_COMMAND_TIMEOUT_MS);
      return Object.freeze({ plans: Object.freeze([...(plans as string[])]), timeoutMs });
    });
    list.set(name, rule);
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
