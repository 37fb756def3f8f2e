/**
 * Commands to devices (SPEC: Device protocol version 2, Commands): only
 * allow-listed names, each sent at most once, one in flight per device,
 * queued while the device is offline until its ttl, and a state that always
 * ends: `succeeded`, `failed`, `timed_out`, `expired`, `lost` or `refused`.
 *
 * At most once across crashes: a command is recorded `sent` durably before
 * its frame is written, so a hub that restarts finds it `sent` and ends it
 * `lost`, never sending it again (replaying "open the valve" is worse than
 * reporting it). Queued commands survive a restart and go on waiting.
 *
 * Every state a command enters is one audit line (`command`) and one count
 * in `fleethub_commands_total{name,state}` (no device labels).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { Counter, MetricsRegistry } from '../../metrics.js';
import { downlinkBytes, type DeviceFeature, type V2ControlKey } from '../protocol-v2.js';
import type { DownlinkPort } from '../session-extension.js';
import type { V2ControlHandler, V2Participant, V2Peer } from '../v2-session.js';
import { anyCommandFor, DEFAULT_COMMAND_TTL_MS, ruleAllows, type CommandAllowList } from './command-config.js';
import { cmdMessage, parseCmdResult, valueObjectError, type ValueObject } from './control-messages.js';
import type { KeyedStore } from './keyed-journal.js';

/** Where a command stands. The last six are final. */
export type CommandState = 'queued' | 'sent' | 'succeeded' | 'failed' | 'timed_out' | 'expired' | 'lost' | 'refused';

/** One command, as stored and as reported. */
export interface CommandRecord {
  readonly id: string;
  readonly device: string;
  readonly name: string;
  readonly args: ValueObject;
  readonly timeoutMs: number;
  readonly createdAt: number;
  /** Past this, a command not yet sent ends `expired`. */
  readonly expiresAt: number;
  readonly state: CommandState;
  /** Id of the token that asked for it, for the audit log. */
  readonly token?: string;
  readonly sentAt?: number;
  readonly result?: ValueObject;
  readonly error?: string;
}

/** What an operator asks for; checked here (the console only parses the shape). */
export interface CommandRequest {
  readonly device: string;
  readonly name: string;
  readonly args?: unknown;
  readonly timeoutMs?: unknown;
  readonly ttlMs?: unknown;
}

/** Called with every state a command enters, the final one last. */
export type CommandListener = (record: CommandRecord) => void;

/** What a {@link CommandCenter} works with. */
export interface CommandCenterOptions {
  readonly allowList: CommandAllowList;
  /** A device's plan from the inventory (undefined: none). */
  readonly planOf: (device: string) => string | undefined;
  readonly maxQueuedPerDevice: number;
  readonly maxTtlMs: number;
  /** Names in `args` (the default device limits' `maxFields`). */
  readonly maxArgs: number;
  readonly store: KeyedStore<CommandRecord>;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Ended command ids remembered, to tell a late `cmdResult` from one for an id never sent. */
const MAX_ENDED_REMEMBERED = 10_000;
/** Longest setTimeout delay Node accepts; a longer ttl re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const STATES: ReadonlySet<string> = new Set(['queued', 'sent']);

/** A stored record's shape, checked when the journal is read back. */
export function isStoredCommand(value: unknown): value is CommandRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.id === 'string' && typeof r.device === 'string' && typeof r.name === 'string' && typeof r.args === 'object' && r.args !== null
    && typeof r.timeoutMs === 'number' && typeof r.createdAt === 'number' && typeof r.expiresAt === 'number' && typeof r.state === 'string' && STATES.has(r.state);
}

/** The command in flight to one device. */
interface InFlight {
  readonly id: string;
  readonly port: DownlinkPort;
  /** Its frame was written: from now on a drop means `lost`. */
  onWire: boolean;
  /** The session closed before the frame was written: it goes back to the queue. */
  cancelled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** The hub's commands: the queue, the in-flight one per device, and the device side of protocol 2 (`cmd`, `cmdResult`). */
export class CommandCenter implements V2Participant {
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  readonly #o: CommandCenterOptions;
  readonly #now: () => number;
  /** Commands not ended yet, by id. */
  readonly #live = new Map<string, CommandRecord>();
  /** Queued ids per device, oldest first. */
  readonly #queues = new Map<string, string[]>();
  readonly #inFlight = new Map<string, InFlight>();
  /** The v2 session of each online device that offers `cmd`. */
  readonly #ports = new Map<string, DownlinkPort>();
  readonly #expiry = new Map<string, NodeJS.Timeout>();
  readonly #listeners = new Map<string, CommandListener>();
  readonly #ended = new Map<string, string>();
  readonly #counted: Counter;
  readonly #ignored: Counter;
  #closed = false;

  constructor(options: CommandCenterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.handlers = new Map([['cmdResult', (port, body) => this.#onResult(port, body)]]);
    this.#counted = options.metrics.counter('fleethub_commands_total', 'Commands by allow-listed name (`unlisted` for others) and each state they entered.');
    this.#ignored = options.metrics.counter('fleethub_command_results_ignored_total', 'cmdResult messages for a command that had already ended.');
    options.metrics.observedGauge('fleethub_commands_waiting', 'Commands queued or in flight.', () => this.#live.size);
  }

  /** The allow-listed names, in the config's order (what a dashboard with the `command` scope may offer). */
  get names(): readonly string[] {
    return [...this.#o.allowList.keys()];
  }

  /**
   * Takes up what the store kept: a command recorded `sent` was perhaps
   * delivered and is never resent (`lost`); a queued one past its ttl is
   * `expired`; the others wait again.
   */
  start(): void {
    const records = [...this.#o.store.initial.values()].sort((a, b) => a.createdAt - b.createdAt);
    for (const record of records) {
      if (record.state === 'sent') this.#end(record, 'lost', { error: 'the hub restarted while the command was in flight' });
      else if (record.expiresAt <= this.#now()) this.#end(record, 'expired');
      else this.#enqueue(record);
    }
  }

  /**
   * Checks a request against the allow-list and the bounds: the command as
   * it would be queued (not stored yet, `id` given or made), or `refused`
   * with an error code (`not_allowed`, `invalid_args`, `invalid_timeout`,
   * `invalid_ttl`), audited and counted. Cluster mode checks here before it
   * queues a command in the cluster.
   */
  check(request: CommandRequest, token: string, id: string = randomBytes(9).toString('base64url')): CommandRecord {
    const now = this.#now();
    const base = { id, device: request.device, name: request.name, token, createdAt: now };
    const refuse = (error: string): CommandRecord => this.#end({ ...base, args: {}, timeoutMs: 0, expiresAt: now, state: 'queued' }, 'refused', { error });
    const rule = this.#o.allowList.get(request.name);
    if (rule === undefined || !ruleAllows(rule, this.#o.planOf(request.device))) return refuse('not_allowed');
    const args = request.args ?? {};
    if (valueObjectError(args, this.#o.maxArgs) !== null) return refuse('invalid_args');
    const timeoutMs = request.timeoutMs ?? rule.timeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > rule.timeoutMs) return refuse('invalid_timeout');
    const ttlMs = request.ttlMs ?? Math.min(DEFAULT_COMMAND_TTL_MS, this.#o.maxTtlMs);
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 0 || ttlMs > this.#o.maxTtlMs) return refuse('invalid_ttl');
    return { ...base, args: args as ValueObject, timeoutMs, expiresAt: now + ttlMs, state: 'queued' };
  }

  /**
   * Checks and queues a command; resolves with it `queued`, or `refused`
   * with an error code (those of {@link check}, `queue_full`, `unavailable`).
   * `listener` hears every later state, the final one last. `id` keeps the
   * id a command already has (one taken from the cluster's queue).
   */
  async submit(request: CommandRequest, token: string, listener?: CommandListener, id?: string): Promise<CommandRecord> {
    const checked = this.check(request, token, id);
    if (checked.state === 'refused') return checked;
    const refuse = (error: string): CommandRecord => this.#end({ ...checked, args: {}, timeoutMs: 0, expiresAt: checked.createdAt }, 'refused', { error });
    if (this.#waiting(request.device) >= this.#o.maxQueuedPerDevice) return refuse('queue_full');
    const record = checked;
    // Counted as waiting at once, so a burst of requests cannot overfill the queue while the first writes are on their way.
    this.#live.set(record.id, record);
    try {
      await this.#o.store.put(record.id, record);
    } catch {
      this.#live.delete(record.id);
      return refuse('unavailable');
    }
    this.#record(record);
    if (listener !== undefined) this.#listeners.set(record.id, listener);
    this.#enqueue(record);
    return record;
  }

  /**
   * Takes back a command that is still queued here (never sent): it leaves
   * this center with no final state, for the cluster's queue to hold again
   * (its device went to another hub). False when it was sent or has ended.
   */
  withdraw(id: string): boolean {
    const record = this.#live.get(id);
    if (record === undefined || record.state !== 'queued' || this.#inFlight.get(record.device)?.id === id) return false;
    const queue = this.#queues.get(record.device);
    const at = queue?.indexOf(id) ?? -1;
    if (queue === undefined || at < 0) return false;
    queue.splice(at, 1);
    if (queue.length === 0) this.#queues.delete(record.device);
    clearTimeout(this.#expiry.get(id));
    this.#expiry.delete(id);
    this.#live.delete(id);
    this.#listeners.delete(id);
    this.#o.store.delete(id).catch(() => undefined);
    return true;
  }

  /** Audits and counts a state a command entered outside this center (one that expired in the cluster's queue). */
  recordOutside(record: CommandRecord): void {
    this.#record(record);
  }

  /** Records a command refused before it reached the center (`rate_limited` at the console): audited and counted like any other. */
  refuse(request: CommandRequest, token: string, error: string): CommandRecord {
    const now = this.#now();
    const record: CommandRecord = { id: randomBytes(9).toString('base64url'), device: request.device, name: request.name, token, createdAt: now, args: {}, timeoutMs: 0, expiresAt: now, state: 'queued' };
    return this.#end(record, 'refused', { error });
  }

  feature(peer: V2Peer): DeviceFeature | null {
    return anyCommandFor(this.#o.allowList, peer.plan) ? 'cmd' : null;
  }

  opened(port: DownlinkPort, peer: V2Peer): void {
    if (this.#closed || this.feature(peer) === null) return;
    this.#ports.set(port.device, port);
    this.#pump(port.device);
  }

  closed(port: DownlinkPort): void {
    const device = port.device;
    if (this.#ports.get(device) === port) this.#ports.delete(device);
    const flight = this.#inFlight.get(device);
    if (flight === undefined || flight.port !== port) return;
    const record = this.#live.get(flight.id);
    this.#inFlight.delete(device);
    clearTimeout(flight.timer);
    if (record === undefined) return;
    if (flight.onWire) {
      // SPEC: lost, never resent.
      this.#end(record, 'lost', { error: 'the connection dropped after the command was sent' });
      return;
    }
    // Never written to the wire: it waits for the next connection, first in line.
    flight.cancelled = true;
    const queued: CommandRecord = { ...record, state: 'queued' };
    this.#live.set(queued.id, queued);
    this.#o.store.put(queued.id, queued).catch(() => undefined);
    this.#enqueue(queued, true);
  }

  /** Stops every timer; what is queued or sent stays in the store for the next start. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#expiry.values()) clearTimeout(timer);
    this.#expiry.clear();
    for (const flight of this.#inFlight.values()) clearTimeout(flight.timer);
    this.#listeners.clear();
    await this.#o.store.close();
  }

  #waiting(device: string): number {
    return (this.#queues.get(device)?.length ?? 0) + (this.#inFlight.has(device) ? 1 : 0);
  }

  #enqueue(record: CommandRecord, first = false): void {
    this.#live.set(record.id, record);
    let queue = this.#queues.get(record.device);
    if (queue === undefined) this.#queues.set(record.device, (queue = []));
    if (first) queue.unshift(record.id);
    else queue.push(record.id);
    this.#armExpiry(record);
    this.#pump(record.device);
  }

  #armExpiry(record: CommandRecord): void {
    clearTimeout(this.#expiry.get(record.id));
    if (this.#closed) return;
    const delay = Math.min(Math.max(record.expiresAt - this.#now(), 0), MAX_TIMER_MS);
    this.#expiry.set(record.id, setTimeout(() => {
      this.#expiry.delete(record.id);
      const current = this.#live.get(record.id);
      if (current === undefined || current.state !== 'queued') return;
      if (current.expiresAt > this.#now()) this.#armExpiry(current);
      else this.#end(current, 'expired', { error: 'the device did not come online within the ttl' });
    }, delay));
  }

  /** Sends the device's next command when it is online, v2 and has none in flight. */
  #pump(device: string): void {
    if (this.#closed || this.#inFlight.has(device)) return;
    const port = this.#ports.get(device);
    const queue = this.#queues.get(device);
    if (port === undefined || !port.open || queue === undefined) return;
    let id: string | undefined;
    while ((id = queue.shift()) !== undefined) {
      const record = this.#live.get(id);
      if (record === undefined) continue;
      clearTimeout(this.#expiry.get(id));
      this.#expiry.delete(id);
      if (record.expiresAt < this.#now()) {
        this.#end(record, 'expired', { error: 'the device did not come online within the ttl' });
        continue;
      }
      const text = cmdMessage(record.id, record.name, record.args, record.timeoutMs);
      if (downlinkBytes(text) > port.limits.maxDownlinkBytes) {
        this.#end(record, 'refused', { error: 'too_large' });
        continue;
      }
      this.#send(port, record, text);
      break;
    }
    if (queue.length === 0) this.#queues.delete(device);
  }

  #send(port: DownlinkPort, record: CommandRecord, text: string): void {
    const flight: InFlight = { id: record.id, port, onWire: false, cancelled: false, timer: undefined };
    this.#inFlight.set(record.device, flight);
    const sent: CommandRecord = { ...record, state: 'sent', sentAt: this.#now() };
    this.#live.set(sent.id, sent);
    // SPEC: at most once. Recorded `sent` before the frame leaves, so a crash in between reports it lost rather than sending it twice.
    this.#o.store.put(sent.id, sent).then(
      () => {
        if (flight.cancelled || this.#inFlight.get(record.device) !== flight) return;
        if (!port.sendDownlink(text)) {
          this.#inFlight.delete(record.device);
          this.#end(sent, 'lost', { error: 'the connection closed as the command was sent' });
          this.#pump(record.device);
          return;
        }
        flight.onWire = true;
        this.#record(sent);
        flight.timer = setTimeout(() => this.#timedOut(record.device, flight), sent.timeoutMs);
      },
      () => {
        if (this.#inFlight.get(record.device) === flight) this.#inFlight.delete(record.device);
        this.#end(sent, 'failed', { error: 'unavailable' });
        this.#pump(record.device);
      },
    );
  }

  #timedOut(device: string, flight: InFlight): void {
    if (this.#inFlight.get(device) !== flight) return;
    this.#inFlight.delete(device);
    const record = this.#live.get(flight.id);
    if (record !== undefined) this.#end(record, 'timed_out', { error: 'the device did not answer within timeoutMs' });
    this.#pump(device);
  }

  #onResult(port: DownlinkPort, body: unknown): string | null {
    const result = parseCmdResult(body, port.limits.maxFields);
    if (typeof result === 'string') return result;
    const flight = this.#inFlight.get(port.device);
    if (flight === undefined || flight.id !== result.id || !flight.onWire) {
      // A late answer (after timed_out, or on a new connection after lost) is counted and dropped; an id never sent to this device is invalid.
      if (this.#ended.get(result.id) !== port.device) return 'cmdResult for a command never sent to this device';
      this.#ignored.inc();
      this.#o.log.log('debug', 'command.late_result', { id: result.id, device: port.device });
      return null;
    }
    this.#inFlight.delete(port.device);
    clearTimeout(flight.timer);
    const record = this.#live.get(result.id);
    if (record !== undefined) {
      const extra = { ...(result.result === undefined ? {} : { result: result.result }), ...(result.error === undefined ? {} : { error: result.error }) };
      this.#end(record, result.ok ? 'succeeded' : 'failed', extra);
    }
    this.#pump(port.device);
    return null;
  }

  /** Ends a command: forgotten by the store, remembered briefly by id, audited, counted, told to its listener. */
  #end(record: CommandRecord, state: CommandState, extra: { result?: ValueObject; error?: string } = {}): CommandRecord {
    const ended: CommandRecord = { ...record, ...extra, state };
    clearTimeout(this.#expiry.get(record.id));
    this.#expiry.delete(record.id);
    if (this.#live.delete(record.id)) this.#o.store.delete(record.id).catch((err: unknown) => this.#o.log.log('error', 'command.store_failed', { id: record.id, error: String(err) }));
    this.#ended.set(record.id, record.device);
    if (this.#ended.size > MAX_ENDED_REMEMBERED) this.#ended.delete(this.#ended.keys().next().value as string);
    this.#record(ended);
    this.#listeners.delete(record.id);
    return ended;
  }

  #record(record: CommandRecord): void {
    this.#counted.inc({ name: this.#o.allowList.has(record.name) ? record.name : 'unlisted', state: record.state });
    this.#o.log.log(record.state === 'refused' ? 'warn' : 'info', 'command', {
      id: record.id, device: record.device, name: record.name, state: record.state, token: record.token, error: record.error,
    });
    this.#listeners.get(record.id)?.(record);
  }
}
