/**
 * What a simulated device does with protocol 2 commands and desired
 * configuration (SPEC: Simulator): `ping` answers, `reboot` answers and then
 * reconnects, `set_interval` changes the reading interval, `fail` always
 * fails, and desired `interval_s` sets the interval. Pure: the device sends
 * the answers and applies the outcome.
 */

/** Longest reading interval a device accepts: a day. */
export const MAX_INTERVAL_S = 86_400;

/** A device's answer to one command, and what it then does. */
export interface CommandOutcome {
  readonly reply: { readonly ok: boolean; readonly result?: Record<string, number | boolean | string>; readonly error?: string };
  /** New readings per second. */
  readonly rate?: number;
  /** Close the connection after answering and connect again, as a rebooted device would. */
  readonly reboot?: boolean;
}

/** Readings per second for `interval_s`, or null when it is not a usable interval. */
function rateFor(intervalS: unknown): number | null {
  return typeof intervalS === 'number' && Number.isFinite(intervalS) && intervalS > 0 && intervalS <= MAX_INTERVAL_S ? 1 / intervalS : null;
}

/** Answers one command. */
export function answerCommand(name: string, args: Readonly<Record<string, unknown>>): CommandOutcome {
  switch (name) {
    case 'ping':
      return { reply: { ok: true, result: { pong: true } } };
    case 'reboot':
      return { reply: { ok: true }, reboot: true };
    case 'set_interval': {
      const rate = rateFor(args.interval_s);
      if (rate === null) return { reply: { ok: false, error: `interval_s must be a number of seconds from 0 to ${MAX_INTERVAL_S}` } };
      return { reply: { ok: true, result: { interval_s: args.interval_s as number } }, rate };
    }
    case 'fail':
      return { reply: { ok: false, error: 'simulated failure' } };
    default:
      return { reply: { ok: false, error: `unknown command ${name}` } };
  }
}

/** Applies a desired configuration: the ack, and the new rate when it sets `interval_s`. */
export function applyDesired(desired: Readonly<Record<string, unknown>>): { readonly ack: { readonly ok: boolean; readonly error?: string }; readonly rate?: number } {
  if (desired.interval_s === undefined) return { ack: { ok: true } };
  const rate = rateFor(desired.interval_s);
  if (rate === null) return { ack: { ok: false, error: `interval_s must be a number of seconds from 0 to ${MAX_INTERVAL_S}` } };
  return { ack: { ok: true }, rate };
}
