/**
 * Commands in cluster mode (SPEC: Device protocol version 2, Commands;
 * Cluster mode). One JetStream KV bucket is both the cluster's queue and
 * the mailbox of outcomes; the sending itself stays with each hub's
 * CommandCenter (command-center.ts), so at most once, one in flight per
 * device, the timeouts, the audit lines and the metrics are the single
 * hub's code.
 *
 * - Every hub watches the whole bucket (its last values, then each change)
 *   and keeps an index of it by device: a device that connects costs no
 *   request to NATS unless a command waits for it, so a fleet reconnecting
 *   at once is no storm. A stale index entry only costs a compare-and-set
 *   that fails, after which the entry is read again.
 * - Accepting (any hub's console): the request is checked (allow-list,
 *   args, bounds, the device's queue), then created in the bucket as
 *   `<device>.<id>`, `queued`, taken by no hub. The accepting hub hears
 *   the later states from its watch of the bucket, tells the console, and
 *   deletes the key at the final state. (The bucket keeps one value per
 *   key, so a quick `sent` may be overwritten before the watch reads it: an
 *   answer implies it, and the console is told `sent` first.)
 * - Taking: ownership (device-ownership.ts) leaves one live session per
 *   device in the cluster, so the hub holding that session is the one that
 *   takes the device's oldest waiting command: when the watch shows a new
 *   one, after `hello`, and when the previous one ended. It takes it with a
 *   compare-and-set that writes its node into the record: of two hubs only
 *   one can, so a command is taken once. The command then runs through the
 *   hub's CommandCenter under the same id, and each state it enters is
 *   written back to the record.
 * - Never resent: the center records `sent` before the frame leaves (in
 *   memory here: the record in the bucket, taken by this hub, is what
 *   outlives it). A command taken but not sent yet when its device leaves
 *   goes back to the queue for the device's next hub; one sent ends `lost`.
 *   A hub that dies holding a command leaves no outcome: the accepting hub
 *   reports it `lost` once its ttl, its timeout and `commandGraceMs` have
 *   passed, so every command's state ends.
 * - Expiry: the accepting hub ends a command still waiting at its ttl
 *   (`expired`, by compare-and-set, so it cannot cross a take); a hub that
 *   finds one past its ttl when the device connects does the same, and
 *   removes what nobody is waiting for any more.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import { decodeToken, encodeToken } from '../../store/jetstream/nats-names.js';
import { isStoredCommand, type CommandCenter, type CommandListener, type CommandRecord, type CommandRequest, type CommandState } from '../commands/command-center.js';
import type { CommandService } from '../commands/device-control.js';
import type { DeviceFeature, V2ControlKey } from '../protocol-v2.js';
import type { DownlinkPort } from '../session-extension.js';
import type { V2ControlHandler, V2Participant, V2Peer } from '../v2-session.js';
import { clusterNames, errorText, isCasConflict, keepWatching, openClusterBucket, type KeptWatch } from './cluster-bucket.js';

/** A command as the bucket holds it: the record, and the hub that took it (absent: waiting). */
type ClusterCommand = CommandRecord & { readonly node?: string };

/** A record read from the bucket with the revision it was read at. */
interface Stored {
  readonly key: string;
  readonly revision: number;
  readonly record: ClusterCommand;
}

/** A command accepted on this hub, until its final state. */
interface Accepted {
  readonly key: string;
  readonly listener: CommandListener | undefined;
  last: CommandState;
  expiry: NodeJS.Timeout | undefined;
  deadline: NodeJS.Timeout | undefined;
}

/** What {@link ClusterCommands.open} needs. */
export interface ClusterCommandsOptions {
  readonly connection: NatsConnection;
  readonly node: string;
  readonly replicas: number;
  readonly prefix?: string;
  /** This hub's command center: it checks requests and sends the commands this hub takes. */
  readonly center: CommandCenter;
  readonly maxQueuedPerDevice: number;
  /** How long past a command's ttl and timeout the accepting hub waits for an outcome before it reports `lost`. */
  readonly graceMs: number;
  readonly kvTimeoutMs: number;
  readonly watchRetryMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

const FINAL: ReadonlySet<CommandState> = new Set(['succeeded', 'failed', 'timed_out', 'expired', 'lost', 'refused']);
/** Longest setTimeout delay Node accepts; a longer wait re-arms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const encoder = new TextEncoder();

const keyOf = (device: string, id: string): string => `${encodeToken(device)}.${id}`;

/** Final states a command reaches only once it was sent. */
const ANSWERED: ReadonlySet<CommandState> = new Set(['succeeded', 'failed', 'timed_out']);
const STATES: ReadonlySet<string> = new Set(['queued', 'sent', ...FINAL]);

function parseStored(key: string, revision: number, text: string): Stored | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { state, node } = value as { state?: unknown; node?: unknown };
  // isStoredCommand knows the waiting states only; the bucket also holds outcomes.
  if (typeof state !== 'string' || !STATES.has(state) || !isStoredCommand({ ...value, state: 'queued' })) return null;
  if (node !== undefined && typeof node !== 'string') return null;
  return { key, revision, record: value as ClusterCommand };
}

/** The record without the cluster's `node`, as the console reports it. */
function plain(record: ClusterCommand): CommandRecord {
  const { node: _node, ...rest } = record;
  return rest;
}

/** Commands across the cluster: the {@link CommandService} of a cluster hub and its v2 participant. */
export class ClusterCommands implements V2Participant, CommandService {
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  readonly #o: ClusterCommandsOptions;
  readonly #kv: KV;
  readonly #center: CommandCenter;
  readonly #now: () => number;
  /** Devices whose v2 session (with `cmd`) is on this hub. */
  readonly #online = new Map<string, DownlinkPort>();
  /** The command this hub took for a device, until it ends. */
  readonly #running = new Map<string, ClusterCommand>();
  /** Devices whose queue is being read; those in `#again` are read once more after. */
  readonly #taking = new Set<string>();
  readonly #again = new Set<string>();
  readonly #accepted = new Map<string, Accepted>();
  /** The bucket as the watch shows it: each device's records by id. */
  readonly #index = new Map<string, Map<string, Stored>>();
  #watch: KeptWatch | null = null;
  #closed = false;

  private constructor(options: ClusterCommandsOptions, kv: KV) {
    this.#o = options;
    this.#kv = kv;
    this.#center = options.center;
    this.#now = options.now ?? Date.now;
    this.handlers = options.center.handlers;
  }

  /** Opens (creating it) the bucket and starts watching it. */
  static async open(options: ClusterCommandsOptions): Promise<ClusterCommands> {
    const kv = await openClusterBucket(options.connection, clusterNames(options.prefix).commandBucket, options.replicas, options.kvTimeoutMs);
    const commands = new ClusterCommands(options, kv);
    commands.#watch = await keepWatching(kv, { include: KvWatchInclude.LastValue }, (entry) => commands.#onEntry(entry), {
      name: 'commands', retryMs: options.watchRetryMs, log: options.log,
    });
    return commands;
  }

  async submit(request: CommandRequest, token: string, listener?: CommandListener): Promise<CommandRecord> {
    const checked = this.#center.check(request, token);
    if (checked.state === 'refused') return checked;
    if (this.#closed) return this.#center.refuse(request, token, 'unavailable');
    const waiting = this.#list(request.device).filter((s) => !FINAL.has(s.record.state)).length;
    if (waiting >= this.#o.maxQueuedPerDevice) return this.#center.refuse(request, token, 'queue_full');
    const key = keyOf(checked.device, checked.id);
    // Known before it is written, so no state the watch brings is missed.
    const accepted: Accepted = { key, listener, last: 'queued', expiry: undefined, deadline: undefined };
    this.#accepted.set(checked.id, accepted);
    // Counted in the device's queue at once, so a burst of requests cannot overfill it while the first writes are on their way.
    this.#indexSet(checked.device, checked.id, { key, revision: 0, record: checked });
    try {
      await this.#kv.create(key, encoder.encode(JSON.stringify(checked)));
    } catch {
      this.#accepted.delete(checked.id);
      this.#indexSet(checked.device, checked.id, null);
      return this.#center.refuse(request, token, 'unavailable');
    }
    this.#o.log.log('info', 'command.accepted', { id: checked.id, device: checked.device, name: checked.name, token });
    this.#armExpiry(checked, accepted);
    this.#armDeadline(checked, accepted);
    return checked;
  }

  get names(): readonly string[] {
    return this.#center.names;
  }

  refuse(request: CommandRequest, token: string, error: string): CommandRecord {
    return this.#center.refuse(request, token, error);
  }

  feature(peer: V2Peer): DeviceFeature | null {
    return this.#center.feature(peer);
  }

  opened(port: DownlinkPort, peer: V2Peer): void {
    this.#center.opened(port, peer);
    if (this.#closed || this.#center.feature(peer) === null) return;
    this.#online.set(port.device, port);
    void this.#take(port.device);
  }

  closed(port: DownlinkPort): void {
    this.#center.closed(port);
    const device = port.device;
    if (this.#online.get(device) !== port) return;
    this.#online.delete(device);
    const running = this.#running.get(device);
    // Never sent: back to the queue, for whichever hub the device connects to next.
    if (running === undefined || !this.#center.withdraw(running.id)) return;
    this.#running.delete(device);
    const { node: _node, ...waiting } = running;
    this.#kv.put(keyOf(device, running.id), encoder.encode(JSON.stringify({ ...waiting, state: 'queued' }))).catch((err: unknown) => {
      this.#o.log.log('error', 'command.store_failed', { id: running.id, error: errorText(err) });
    });
  }

  /** Stops the watch and the timers (the center is closed by its owner). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const accepted of this.#accepted.values()) {
      clearTimeout(accepted.expiry);
      clearTimeout(accepted.deadline);
    }
    this.#accepted.clear();
    this.#online.clear();
    await this.#watch?.stop();
  }

  /** Every record of `device` the index holds, oldest first. */
  #list(device: string): Stored[] {
    return [...(this.#index.get(device)?.values() ?? [])].sort((a, b) => a.record.createdAt - b.record.createdAt);
  }

  /** Keeps the index: `stored` null removes the id. */
  #indexSet(device: string, id: string, stored: Stored | null): void {
    let records = this.#index.get(device);
    if (stored === null) {
      records?.delete(id);
      if (records?.size === 0) this.#index.delete(device);
      return;
    }
    if (records === undefined) this.#index.set(device, (records = new Map()));
    const known = records.get(id);
    if (known === undefined || known.revision < stored.revision) records.set(id, stored);
  }

  /** After a failed compare-and-set: the record as the bucket holds it now. */
  async #refresh(stored: Stored): Promise<void> {
    const entry = await this.#kv.get(stored.key);
    const fresh = entry === null || entry.operation !== 'PUT' ? null : parseStored(entry.key, entry.revision, entry.string());
    this.#indexSet(stored.record.device, stored.record.id, fresh);
  }

  /** Takes the device's oldest waiting command, unless this hub runs one for it; reads again when news came meanwhile. */
  async #take(device: string): Promise<void> {
    if (this.#taking.has(device)) {
      this.#again.add(device);
      return;
    }
    this.#taking.add(device);
    try {
      do {
        this.#again.delete(device);
        if (this.#closed || this.#running.has(device) || !this.#online.has(device)) return;
        await this.#takeOldest(device);
      } while (this.#again.has(device));
    } catch (err) {
      this.#o.log.log('warn', 'command.take_failed', { device, error: errorText(err) });
    } finally {
      this.#taking.delete(device);
      this.#again.delete(device);
    }
  }

  async #takeOldest(device: string): Promise<void> {
    const now = this.#now();
    for (const stored of this.#list(device)) {
      const { key, revision, record } = stored;
      if (this.#closed || this.#running.has(device) || !this.#online.has(device)) return;
      if (FINAL.has(record.state) || record.node !== undefined) {
        // An outcome nobody collected, or a command of a hub that died with it: the accepting hub has reported it by now.
        if (now > record.expiresAt + record.timeoutMs + this.#o.graceMs) await this.#kv.delete(key, { previousSeq: revision }).catch(() => undefined);
        continue;
      }
      if (record.expiresAt <= now) {
        await this.#expire(stored);
        continue;
      }
      const taken: ClusterCommand = { ...record, node: this.#o.node };
      try {
        await this.#kv.update(key, encoder.encode(JSON.stringify(taken)), revision);
      } catch (err) {
        if (!isCasConflict(err)) throw err;
        await this.#refresh(stored);
        continue;
      }
      this.#run(taken);
      return;
    }
  }

  /** Runs a command this hub took through its center, writing each state it enters back to the bucket. */
  #run(taken: ClusterCommand): void {
    const device = taken.device;
    this.#running.set(device, taken);
    const key = keyOf(device, taken.id);
    const report = (state: CommandRecord): void => {
      const written: ClusterCommand = {
        ...taken, state: state.state,
        ...(state.sentAt === undefined ? {} : { sentAt: state.sentAt }),
        ...(state.result === undefined ? {} : { result: state.result }),
        ...(state.error === undefined ? {} : { error: state.error }),
      };
      this.#kv.put(key, encoder.encode(JSON.stringify(written))).catch((err: unknown) => {
        this.#o.log.log('error', 'command.store_failed', { id: taken.id, error: errorText(err) });
      });
      if (!FINAL.has(state.state)) return;
      if (this.#running.get(device) === taken) this.#running.delete(device);
      void this.#take(device);
    };
    const request: CommandRequest = { device, name: taken.name, args: taken.args, timeoutMs: taken.timeoutMs, ttlMs: Math.max(0, taken.expiresAt - this.#now()) };
    this.#center.submit(request, taken.token ?? '', report, taken.id).then(
      (first) => {
        if (first.state === 'refused') report(first);
      },
      (err: unknown) => report({ ...taken, state: 'failed', error: `unavailable: ${errorText(err)}` }),
    );
  }

  /** Ends a command still waiting past its ttl; a take that came first wins. */
  async #expire(stored: Stored): Promise<void> {
    const ended: CommandRecord = { ...plain(stored.record), state: 'expired', error: 'the device did not come online within the ttl' };
    try {
      await this.#kv.update(stored.key, encoder.encode(JSON.stringify(ended)), stored.revision);
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      await this.#refresh(stored);
      return;
    }
    this.#center.recordOutside(ended);
  }

  #armExpiry(record: CommandRecord, accepted: Accepted): void {
    const delay = Math.min(Math.max(record.expiresAt - this.#now(), 0), MAX_TIMER_MS);
    accepted.expiry = setTimeout(() => {
      if (this.#closed || this.#accepted.get(record.id) !== accepted) return;
      if (record.expiresAt > this.#now()) {
        this.#armExpiry(record, accepted);
        return;
      }
      void this.#kv.get(accepted.key).then(async (entry) => {
        const stored = entry === null || entry.operation !== 'PUT' ? null : parseStored(entry.key, entry.revision, entry.string());
        if (stored !== null && stored.record.state === 'queued' && stored.record.node === undefined) await this.#expire(stored);
      }).catch((err: unknown) => this.#o.log.log('warn', 'command.expire_failed', { id: record.id, error: errorText(err) }));
    }, delay);
  }

  /** SPEC: a state that always ends. No outcome by the deadline: the hub that had it is gone. */
  #armDeadline(record: CommandRecord, accepted: Accepted): void {
    const at = record.expiresAt + record.timeoutMs + this.#o.graceMs;
    accepted.deadline = setTimeout(() => {
      if (this.#closed || this.#accepted.get(record.id) !== accepted) return;
      if (at > this.#now()) {
        this.#armDeadline(record, accepted);
        return;
      }
      const lost: CommandRecord = { ...record, state: 'lost', error: 'no hub reported an outcome (the hub holding the device stopped)' };
      this.#finish(record.id, accepted, null);
      this.#center.recordOutside(lost);
      accepted.listener?.(lost);
    }, Math.min(Math.max(at - this.#now(), 0), MAX_TIMER_MS));
  }

  /** Forgets an accepted command and removes its record (at `revision`, or whatever is there). */
  #finish(id: string, accepted: Accepted, revision: number | null): void {
    clearTimeout(accepted.expiry);
    clearTimeout(accepted.deadline);
    this.#accepted.delete(id);
    this.#kv.delete(accepted.key, revision === null ? {} : { previousSeq: revision }).catch(() => undefined);
  }

  #onEntry(entry: KvWatchEntry): void {
    const dot = entry.key.indexOf('.');
    let device: string;
    try {
      device = decodeToken(entry.key.slice(0, dot));
    } catch {
      return;
    }
    const id = entry.key.slice(dot + 1);
    if (entry.operation !== 'PUT') {
      this.#indexSet(device, id, null);
      return;
    }
    const stored = parseStored(entry.key, entry.revision, entry.string());
    if (stored === null || stored.record.device !== device || stored.record.id !== id) return;
    this.#indexSet(device, id, stored);
    const { record } = stored;
    const accepted = this.#accepted.get(id);
    if (accepted !== undefined && record.state !== 'queued' && record.state !== accepted.last) {
      // The bucket keeps one value per key, so a watch may see only the newest of two quick writes: an answer implies it was sent.
      if (accepted.last === 'queued' && ANSWERED.has(record.state)) accepted.listener?.({ ...plain(record), state: 'sent' });
      accepted.last = record.state;
      if (FINAL.has(record.state)) this.#finish(id, accepted, entry.revision);
      accepted.listener?.(plain(record));
    }
    if (record.state === 'queued' && record.node === undefined && this.#online.has(device)) void this.#take(device);
  }
}
