/**
 * What the cluster benchmark measures its processes with: CPU time and
 * memory from Linux /proc, the bench's own child processes found by name,
 * and a watcher that reads the simulator's live progress line (once a
 * second) so a scenario can act while the fleet streams and time what it
 * sees. Its hub children are started and stopped by hub-process.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux the bench runs on). */
const CLOCK_TICKS_PER_SEC = 100;
/** Progress ticks kept per watched run: an hour at one a second. */
const MAX_TICKS = 3_600;

/** CPU seconds (user + system) a process used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/**
 * Waits until `pids` together use at most `cores` of CPU over a one-second
 * window (what the last round left behind: a fleet's disconnects, owner
 * records released, a nats-server's flush, has finished), or `maxMs` passed.
 * Resolves with the time waited (ms) and the last window's figure, so a round
 * measured on a busy machine says so.
 */
export async function quiesce(pids: readonly number[], cores: number, maxMs: number): Promise<{ waitedMs: number; cores: number }> {
  const t0 = performance.now();
  let last = Number.POSITIVE_INFINITY;
  while (performance.now() - t0 < maxMs) {
    const before = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const at = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    last = (pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before) / ((performance.now() - at) / 1000);
    if (last <= cores) break;
  }
  return { waitedMs: Math.round(performance.now() - t0), cores: Math.round(last * 1000) / 1000 };
}

/** Resident memory of a process in MiB; 0 when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return 0;
  }
}

/** This process's children whose command name is `comm` (e.g. `nats-server`), with their command lines. */
export function childProcesses(comm: string): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name !== comm || ppid !== process.pid) continue;
      found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ') });
    } catch {
      // The process ended while the list was read.
    }
  }
  return found;
}

/** One progress line of the simulator, as read. */
export interface SimTick {
  /** performance.now() when it arrived. */
  readonly at: number;
  readonly phase: string;
  readonly connected: number;
  readonly acked: number;
  readonly lost: number;
}

const PROGRESS = /(\S+)\s+connected (\d+)\/\d+\s+\d+ msg\/s\s+sent \d+\s+acked (\d+)\s+nacked \d+\s+lost (\d+)\s+ack p99 [\d.]+ ms/;

/**
 * The simulator's progress stream: it looks like a terminal, so the
 * simulator writes its line every second; each line becomes a
 * {@link SimTick}, `onTick` runs at once (a CPU sample taken there matches
 * the acked count exactly), and every fifth line is echoed to stderr
 * under `label`.
 */
export class SimWatch extends Writable {
  readonly isTTY = true;
  readonly ticks: SimTick[] = [];
  readonly #label: string;
  readonly #onTick: ((tick: SimTick) => void) | undefined;

  constructor(label: string, onTick?: (tick: SimTick) => void) {
    super();
    this.#label = label;
    this.#onTick = onTick;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    const text = chunk.toString();
    const match = PROGRESS.exec(text);
    if (match !== null) {
      const tick: SimTick = { at: performance.now(), phase: match[1] as string, connected: Number(match[2]), acked: Number(match[3]), lost: Number(match[4]) };
      if (this.ticks.length < MAX_TICKS) this.ticks.push(tick);
      this.#onTick?.(tick);
      if (this.ticks.length % 5 === 0) process.stderr.write(`  ${this.#label}: ${text.replace(/^\r\x1b\[2K/, '').trim()}\n`);
    }
    callback();
  }

  /** The latest tick, or null before the first. */
  get last(): SimTick | null {
    return this.ticks[this.ticks.length - 1] ?? null;
  }

  /**
   * The longest time in ms between two ticks that saw new acks, from `fromMs`
   * on (a tick resolution of 1 s: an upper bound of the ack gap).
   */
  longestAckGapMs(fromMs: number): number {
    let gap = 0;
    let previous: SimTick | null = null;
    for (const [i, tick] of this.ticks.entries()) {
      const before = this.ticks[i - 1];
      const acking = before !== undefined && tick.acked > before.acked;
      if (!acking) continue;
      if (previous !== null && tick.at >= fromMs) gap = Math.max(gap, tick.at - previous.at);
      previous = tick;
    }
    return Math.round(gap);
  }

  /** ms from `fromMs` to the first later tick with all `devices` connected after fewer were; null when that never happened. */
  allBackMs(fromMs: number, devices: number): number | null {
    let dropped = false;
    for (const tick of this.ticks) {
      if (tick.at < fromMs) continue;
      if (tick.connected < devices) dropped = true;
      else if (dropped) return Math.round(tick.at - fromMs);
    }
    return null;
  }
}

/** p-th percentile (0..100) of a list, nearest rank; 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
