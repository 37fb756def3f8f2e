/**
 * N simulated devices in one process: a staggered start (`connectRate` new
 * connections per second), a sending phase bounded by `duration`, a drain
 * bounded by `drainTimeout` (no new readings; wait for outstanding acks),
 * then every connection closed and the report built. Nothing here loops or
 * queues without bound: devices are a fixed array, every timer is cleared.
 */
import type { BackoffOptions } from '../src/backoff.js';
import { SILENT_LOGGER, type Logger } from '../src/log.js';
import { BEHAVIOR_PROFILES } from './behaviors.js';
import { FleetStats } from './fleet-stats.js';
import { ProgressLine, formatProgress } from './progress-line.js';
import { buildReport, type SimReport } from './report.js';
import { deviceSeed } from './sensor-model.js';
import { SimDevice, type DeviceCredentials } from './sim-device.js';
import type { SimOptions } from './sim-options.js';

/** What {@link runFleet} needs besides the resolved options. */
export interface FleetRunInput {
  readonly options: SimOptions;
  /** CA certificate (PEM) the hub's server certificate chains to. */
  readonly ca: string | Buffer;
  /** One per device, in order; `options.devices` of them. */
  readonly credentials: readonly DeviceCredentials[];
  /** @defaultValue {@link SILENT_LOGGER} */
  readonly logger?: Logger;
  /** Where the progress line goes when `options.progress`. @defaultValue process.stderr */
  readonly progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Reconnect backoff of every device. @defaultValue src/backoff.ts defaults */
  readonly backoff?: BackoffOptions;
  /** Hello wait per connection. @defaultValue sim-device's default (10 s) */
  readonly helloTimeoutMs?: number;
  /** Called when a device is on a renewed certificate. */
  readonly onRenewed?: (id: string, pair: { readonly cert: string | Buffer; readonly key: string | Buffer }) => void;
  /** Aborting ends the sending phase at once; the drain still runs (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Called with the run's live counters before the first device starts. */
  readonly onStats?: (stats: FleetStats) => void;
}

/** Poll period of the drain: cheap (a pass over the devices' outbox sizes). */
const DRAIN_POLL_MS = 100;
/** Time every device gets to close its connection at the end. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Devices started per stagger tick at most. */
const STAGGER_TICK_MS = 10;

function perSecond(count: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((count * 10_000) / ms) / 10;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs the fleet to the end and returns its report. */
export async function runFleet(input: FleetRunInput): Promise<SimReport> {
  const { options } = input;
  if (input.credentials.length !== options.devices) {
    throw new RangeError(`runFleet: ${options.devices} devices but ${input.credentials.length} credentials`);
  }
  const logger = input.logger ?? SILENT_LOGGER;
  const profile = BEHAVIOR_PROFILES[options.behavior];
  const startedIso = new Date().toISOString();
  const stats = new FleetStats();
  input.onStats?.(stats);
  const devices = input.credentials.map(
    (credentials, index) =>
      new SimDevice({
        url: options.url,
        ca: input.ca,
        credentials,
        profile,
        tls: options.tls,
        tlsResume: options.tlsResume,
        renew: options.renew,
        ...(input.onRenewed === undefined ? {} : { onRenewed: input.onRenewed }),
        rate: options.rate,
        payloadBytes: options.payloadBytes,
        outbox: options.outbox,
        seed: deviceSeed(options.seed, index),
        stats,
        logger,
        ...(options.localAddresses.length > 0 ? { localAddress: options.localAddresses[index % options.localAddresses.length] as string } : {}),
        ...(input.backoff === undefined ? {} : { backoff: input.backoff }),
        ...(input.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: input.helloTimeoutMs }),
      }),
  );
  let phase = 'ramp';
  const lostSoFar = (): number => devices.reduce((sum, d) => sum + d.dropped, 0);
  const progress =
    options.progress
      ? new ProgressLine(input.progressStream ?? process.stderr, stats, (rate) =>
          formatProgress(stats, devices.length, performance.now() - stats.startedAt, rate, lostSoFar(), phase),
        )
      : null;
  progress?.start();
  logger.log('info', 'sim.start', { behavior: options.behavior, devices: devices.length, url: options.url });

  // Phase 1, coming up: a staggered start at `connectRate` per second (so
  // the hub's per-IP new-connection limit is not what the run measures)
  // with at most `maxPending` handshakes under way,
  // then wait for every device's first hello, at most `connectTimeout`
  // after the last one started. Misbehaving fleets are not meant to come up.
  const rampMs = (devices.length / options.connectRate) * 1000;
  let started = 0;
  const stagger = setInterval(() => {
    const due = Math.min(devices.length, Math.floor(((performance.now() - stats.startedAt) * options.connectRate) / 1000) + 1);
    // Admission control: past `maxPending` unfinished handshakes, wait. An
    // overloaded hub (or simulator) otherwise lets every handshake time out
    // and the retries make it worse.
    while (started < due && stats.pendingConnects < options.maxPending) (devices[started++] as SimDevice).start();
    if (started >= devices.length) clearInterval(stagger);
  }, STAGGER_TICK_MS);
  let storm: NodeJS.Timeout | null = null;
  let sendingStartedAt = stats.startedAt;
  let ackedAtStart = 0;
  let sentAtStart = 0;
  try {
    const upBy = stats.startedAt + rampMs + (profile.drain ? options.connectTimeoutMs : 0);
    await sleep(rampMs, input.signal);
    while (performance.now() < upBy && stats.everConnected < devices.length && input.signal?.aborted !== true) {
      await sleep(Math.min(DRAIN_POLL_MS, upBy - performance.now()), input.signal);
    }
    // Phase 2, sending: `duration` with the whole fleet up; throughput is measured over it.
    phase = 'sending';
    sendingStartedAt = performance.now();
    ackedAtStart = stats.acked;
    sentAtStart = stats.sent;
    if (profile.storm) {
      storm = setInterval(() => {
        logger.log('info', 'sim.storm', { connected: stats.connected });
        for (const device of devices) device.dropConnection();
      }, options.stormEveryMs);
    }
    await sleep(options.durationMs, input.signal);
  } finally {
    clearInterval(stagger);
    if (storm !== null) clearInterval(storm);
  }
  const sendingMs = performance.now() - sendingStartedAt;
  const steady = { ackedPerSec: perSecond(stats.acked - ackedAtStart, sendingMs), sentPerSec: perSecond(stats.sent - sentAtStart, sendingMs) };
  for (const device of devices) device.stopSending();

  // SPEC: after the duration, wait for outstanding acks, up to the drain
  // timeout (misbehaviours are not meant to deliver: no drain).
  phase = 'drain';
  const drainEnds = performance.now() + (profile.drain ? options.drainTimeoutMs : 0);
  while (performance.now() < drainEnds && !devices.every((d) => d.drained)) await sleep(Math.min(DRAIN_POLL_MS, drainEnds - performance.now()));

  phase = 'closing';
  // The run's wall time ends here: closing the sockets is not the hub's work.
  const elapsedMs = performance.now() - stats.startedAt;
  const ends = devices.map((d) => d.endState());
  progress?.stop();
  const closing = Promise.all(devices.map((d) => d.close()));
  const closeWait = new AbortController();
  await Promise.race([closing, sleep(CLOSE_TIMEOUT_MS, closeWait.signal)]);
  closeWait.abort();
  const report = buildReport(
    stats,
    {
      lost: ends.reduce((sum, e) => sum + e.lost, 0),
      unsent: ends.reduce((sum, e) => sum + e.unsent, 0),
      dropped: ends.reduce((sum, e) => sum + e.dropped, 0),
      connectedAtEnd: ends.filter((e) => e.connected).length,
      sending: steady,
    },
    {
      behavior: options.behavior,
      url: options.url,
      devices: devices.length,
      ratePerDevice: options.rate,
      payloadBytes: options.payloadBytes,
      tls: options.tls,
      elapsedMs: Math.round(elapsedMs),
      startupMs: Math.round(sendingStartedAt - stats.startedAt),
      sendingMs: Math.round(sendingMs),
      startedAt: startedIso,
    },
  );
  logger.log('info', 'sim.end', { acked: report.messages.acked, lost: report.messages.lost });
  return report;
}
