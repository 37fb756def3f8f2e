/**
 * One runner per sink: read a batch at the sink's persisted position, deliver
 * it, persist the new position, repeat; when caught up, wait for the next
 * commit. In cluster mode the runner runs only while its hub holds the
 * sink's lease: {@link SinkRunner.stop} ends a run without saving the
 * position (the next holder repeats at most the batch in flight), and
 * {@link SinkRunner.start} begins another from the saved position. A failed
 * delivery is retried with capped exponential backoff and full jitter,
 * forever (SPEC: every stored message reaches every sink at least once); the
 * runner never touches the write path, so a dead sink slows neither devices
 * nor the other sinks.
 *
 * The poison-reading rule: a reading the destination can never take (the
 * sink throws a {@link SinkRefusedError}) must not stop the sink. A refused
 * batch is split in halves, and each half delivered again, until the refused
 * readings stand alone; each of those is set aside (counted, logged once,
 * appended to the sink's rejected-readings file) and the runner goes on.
 */
import { Backoff } from '../backoff.js';
import type { Logger } from '../log.js';
import type { StoreReader, StoredReading } from '../store/types.js';
import type { RejectedReadingsFile } from './rejected-readings.js';
import type { RunnerSettings } from './sink-settings.js';
import { isSinkRefused, sleep, type Sink } from './sink.js';

/** How long to wait before reading again after a wake-up that brought nothing (a closing store). */
const IDLE_RECHECK_MS = 1_000;

/** The cursor name a sink's position is saved under. */
export function cursorName(sinkName: string): string {
  return `sink:${sinkName}`;
}

/** A runner's figures, read by `/metrics`. */
export interface SinkRunnerStats {
  readonly name: string;
  /** `up`: the last delivery (or none yet) succeeded; `retrying`: it failed and is being retried. */
  readonly state: 'up' | 'retrying';
  /** Readings the sink accepted (set-aside readings are not among them). */
  readonly delivered: number;
  /** Failed delivery attempts. */
  readonly failures: number;
  /** Readings retention deleted before this sink delivered them. */
  readonly skipped: number;
  /** Readings set aside because the destination refused them for good (the poison-reading rule). */
  readonly rejected: number;
  /** Readings the sink dropped on purpose: no mapping for the device (ThingSpeak). */
  readonly unmapped: number;
  /** Committed readings not delivered yet. */
  readonly lagMessages: number;
  /** Age of the oldest undelivered reading that the runner holds, in seconds (0 when caught up). */
  readonly lagSeconds: number;
  /** The next position to deliver. */
  readonly position: number;
  /** True while this runner runs (always, once started, without leases; on one hub of a cluster at a time with them). */
  readonly active: boolean;
}

/** Options of {@link SinkRunner}. */
export interface SinkRunnerOptions {
  readonly sink: Sink;
  readonly store: StoreReader;
  readonly settings: RunnerSettings;
  readonly log: Logger;
  /** Where refused readings are kept; null: only counted and logged (with their data). @defaultValue null */
  readonly rejected?: RejectedReadingsFile | null;
  /** Clock for the lag in seconds. @defaultValue Date.now */
  readonly now?: () => number;
}

/** One run, from {@link SinkRunner.start} to its stop or close. */
interface Run {
  readonly abort: AbortController;
  /** False once the run was stopped (its lease lost): it neither saves its position nor goes on. */
  commits: boolean;
}

/** Drives one sink from the store. */
export class SinkRunner {
  readonly #sink: Sink;
  readonly #store: StoreReader;
  readonly #settings: RunnerSettings;
  readonly #log: Logger;
  readonly #rejectedFile: RejectedReadingsFile | null;
  readonly #now: () => number;
  readonly #backoff: Backoff;
  /** The current run, or null when stopped (or not started). */
  #run: Run | null = null;
  /** Settles when the last run's loop has ended: a new run starts only then, so one sink never has two deliveries at once. */
  #loop: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;
  #position: number | null = null;
  #saved: number | null = null;
  #oldestPendingTs: number | null = null;
  #state: 'up' | 'retrying' = 'up';
  #delivered = 0;
  #failures = 0;
  #skipped = 0;
  #rejected = 0;
  #unmapped = 0;

  constructor(options: SinkRunnerOptions) {
    this.#sink = options.sink;
    this.#store = options.store;
    this.#settings = options.settings;
    this.#log = options.log;
    this.#rejectedFile = options.rejected ?? null;
    this.#now = options.now ?? Date.now;
    this.#backoff = new Backoff({ initialMs: options.settings.backoffInitialMs, maxMs: options.settings.backoffMaxMs });
  }

  /** The sink's name. */
  get name(): string {
    return this.#sink.name;
  }

  /** True while a run is on (started and neither stopped nor closed). */
  get active(): boolean {
    return this.#run !== null;
  }

  /** Starts a run from the saved position (after the previous run, if any, has ended). A no-op while running or once closed. */
  start(): void {
    if (this.#run !== null || this.#closing !== null) return;
    const run: Run = { abort: new AbortController(), commits: true };
    this.#run = run;
    this.#loop = this.#loop
      .then(() => this.#runLoop(run))
      .catch((err: unknown) => {
        // Only a bug gets here: every expected failure is retried inside #runLoop.
        this.#log.log('error', 'sink.crashed', { sink: this.name, error: errorText(err) });
      });
  }

  /**
   * Ends the run at once, without saving its position (its lease is lost:
   * another hub goes on from the saved one). Nothing more is read or handed
   * to the sink; the batch in flight is abandoned (a sink honours the abort
   * signal; one already publishing finishes that batch) and is not counted
   * in the cursor, so the next holder delivers it again. Resolves when the
   * run's loop has ended. The sink stays open for a later {@link start}.
   */
  stop(): Promise<void> {
    const run = this.#run;
    if (run !== null) {
      this.#run = null;
      run.commits = false;
      run.abort.abort(new Error(`sink ${this.name} stopped`));
      this.#oldestPendingTs = null;
    }
    return this.#loop;
  }

  /** Current figures. */
  stats(): SinkRunnerStats {
    const position = this.#position ?? 0;
    const caughtUp = this.#oldestPendingTs === null;
    return {
      name: this.name,
      state: this.#state,
      delivered: this.#delivered,
      failures: this.#failures,
      skipped: this.#skipped,
      rejected: this.#rejected,
      unmapped: this.#unmapped,
      // A stopped runner (another hub runs the sink) has no lag of its own to report.
      lagMessages: this.#position === null || this.#run === null ? 0 : Math.max(0, this.#store.nextPosition() - position),
      lagSeconds: caughtUp || this.#run === null ? 0 : Math.max(0, (this.#now() - (this.#oldestPendingTs ?? 0)) / 1000),
      position,
      active: this.#run !== null,
    };
  }

  /**
   * Stops after the in-flight delivery (a sink waiting for a connection or a
   * rate-limit interval gives up at once), saves the position, closes the
   * sink. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const run = this.#run;
      run?.abort.abort(new Error(`sink ${this.name} closing`));
      await this.#loop;
      if (run !== null) await this.#save(run);
      this.#run = null;
      await this.#sink.close();
    })();
    return this.#closing;
  }

  async #runLoop(run: Run): Promise<void> {
    const signal = run.abort.signal;
    if (signal.aborted) return; // stopped before the previous run had ended
    const saved = await this.#retry(run, 'cursor', () => this.#store.cursor(cursorName(this.name)));
    if (saved === undefined) return;
    let position = saved;
    this.#position = position;
    this.#saved = position;
    let caughtUp = false;
    while (!signal.aborted) {
      if (caughtUp && this.#settings.flushIntervalMs > 0 && this.#store.nextPosition() - position < this.#settings.batchSize) {
        // Linger a little after a quiet spell so that a trickle becomes batches, not one write per reading.
        if (!(await this.#pause(run, this.#settings.flushIntervalMs))) return;
      }
      const result = await this.#retry(run, 'read', () => this.#store.read(position, this.#settings.batchSize));
      if (result === undefined) return;
      if (result.skipped > 0) {
        this.#skipped += result.skipped;
        // Retention deleted readings this sink had not delivered: loud, never silent (issue 4).
        this.#log.log('error', 'sink.readings_lost_to_retention', { sink: this.name, count: result.skipped, from: position });
      }
      if (result.readings.length === 0) {
        position = result.next;
        this.#position = position;
        await this.#save(run);
        caughtUp = true;
        await this.#store.waitFor(position, signal).catch(() => undefined);
        // waitFor also returns when the store closes: do not spin on a store that will never grow.
        if (this.#store.nextPosition() <= position && !(await this.#pause(run, IDLE_RECHECK_MS))) return;
        continue;
      }
      caughtUp = false;
      if (!(await this.#deliver(run, result.readings))) return;
      position = result.next;
      this.#position = position;
      await this.#save(run);
    }
  }

  /** Delivers one batch, retrying until every reading is delivered or set aside; false when closed first. */
  async #deliver(run: Run, batch: readonly StoredReading[]): Promise<boolean> {
    this.#oldestPendingTs = batch[0]?.ts ?? null;
    if (!(await this.#deliverPart(run, batch))) return false;
    this.#oldestPendingTs = null;
    const drops = this.#sink.takeDrops?.();
    if (drops !== undefined) this.#unmapped += drops.unmapped;
    return true;
  }

  /**
   * Delivers `part`: retried with backoff while the sink says "try again";
   * split in halves while it says "refused" (each half in order, so order
   * per device holds), down to the single readings to set aside. The depth
   * is log2 of the batch size. False when closed first.
   */
  async #deliverPart(run: Run, part: readonly StoredReading[]): Promise<boolean> {
    const signal = run.abort.signal;
    for (;;) {
      try {
        await this.#sink.deliver(part, signal);
        // Stopped meanwhile: the batch is abandoned, whatever the destination took (the next holder repeats it).
        if (!run.commits) return false;
        break;
      } catch (err: unknown) {
        if (signal.aborted) return false;
        if (isSinkRefused(err)) {
          const [only] = part;
          if (part.length === 1 && only !== undefined) {
            await this.#setAside(only, err);
            return true;
          }
          const half = Math.ceil(part.length / 2);
          return (await this.#deliverPart(run, part.slice(0, half))) && (await this.#deliverPart(run, part.slice(half)));
        }
        this.#failures += 1;
        const delay = this.#backoff.next();
        if (this.#state === 'up') this.#log.log('warn', 'sink.down', { sink: this.name, error: errorText(err) });
        this.#state = 'retrying';
        this.#log.log('debug', 'sink.retry', { sink: this.name, attempt: this.#backoff.attempt, delayMs: delay, error: errorText(err) });
        if (!(await this.#pause(run, delay))) return false;
      }
    }
    if (this.#state === 'retrying') this.#log.log('info', 'sink.up', { sink: this.name, failures: this.#backoff.attempt });
    this.#state = 'up';
    this.#backoff.reset();
    this.#delivered += part.length;
    return true;
  }

  /** The poison-reading rule: count it, log it once, keep it in the sink's file; the runner then goes on. */
  async #setAside(reading: StoredReading, err: unknown): Promise<void> {
    this.#rejected += 1;
    const error = errorText(err);
    const file = this.#rejectedFile;
    const fields = { sink: this.name, position: reading.position, device: reading.device, seq: reading.seq, error: error.slice(0, 300) };
    if (file === null) {
      this.#log.log('error', 'sink.reading_rejected', { ...fields, data: JSON.stringify(reading.data) });
      return;
    }
    this.#log.log('error', 'sink.reading_rejected', { ...fields, file: file.path });
    try {
      await file.append(this.name, reading, error);
    } catch (writeErr: unknown) {
      // The reading is counted and logged; a full disk must not stop the sink as well.
      this.#log.log('error', 'sink.rejected_file_failed', { sink: this.name, file: file.path, error: errorText(writeErr), data: JSON.stringify(reading.data) });
    }
  }

  /** Runs a store call, retrying with backoff on failure (a store being closed, a read error); undefined when closed. */
  async #retry<T>(run: Run, what: string, call: () => Promise<T>): Promise<T | undefined> {
    const signal = run.abort.signal;
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        const value = await call();
        return signal.aborted ? undefined : value;
      } catch (err: unknown) {
        if (signal.aborted) return undefined;
        this.#log.log('warn', 'sink.store_error', { sink: this.name, op: what, error: errorText(err) });
        if (!(await this.#pause(run, this.#backoff.next()))) return undefined;
      }
    }
  }

  /** Sleeps unless the run ends; false when it ends. */
  async #pause(run: Run, ms: number): Promise<boolean> {
    try {
      await sleep(ms, run.abort.signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Saves the run's position, unless the run was stopped (another hub may be saving the cursor now). */
  async #save(run: Run): Promise<void> {
    const position = this.#position;
    if (!run.commits || position === null || position === this.#saved) return;
    try {
      await this.#store.saveCursor(cursorName(this.name), position);
      this.#saved = position;
    } catch (err: unknown) {
      // The in-memory position stays right; a crash before the next save only means repeats.
      this.#log.log('warn', 'sink.cursor_save_failed', { sink: this.name, position, error: errorText(err) });
    }
  }
}

/** One line for a log field: the message, without a stack. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
