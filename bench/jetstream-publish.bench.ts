/**
 * What a JetStream publish costs the hub (`npm run bench -- jetstream-publish`):
 * the client side of the JetStream store's writes, measured as this
 * process's CPU time per acked message against a real three-node
 * nats-server cluster (replicas 3, file storage). Two ways, side by side
 * in alternating rounds:
 *
 * - `request`: the NATS client's `jetstream().publish` (a request per
 *   message: its own timer, promise, token lookup and a discarded Error);
 * - `inbox`: src/store/jetstream/ack-inbox.ts (one reply subscription, one
 *   timer for every publish), what the store uses.
 *
 * Each round publishes M messages in groups of G published in one turn (as
 * the store's group commit sends them), each with the headers a reading's
 * message carries, and waits for every ack before the next group. One
 * round of each way first warms the code up and is not counted.
 *
 *   npm run bench -- jetstream-publish
 *   JETSTREAM_PUBLISH_BENCH_MESSAGES=20000 JETSTREAM_PUBLISH_BENCH_ROUNDS=6 npm run bench -- jetstream-publish
 *
 * Writes bench/results/jetstream-publish.json.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { connect, type MsgHdrs } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { AckInbox } from '../src/store/jetstream/ack-inbox.js';
import { readingHeaders, stateAfter } from '../src/store/jetstream/reading-message.js';
import { DeviceState } from '../src/store/device-state.js';
import { readingsStreamConfig } from '../src/store/jetstream/readings-stream.js';
import { DEFAULT_STORE_CONFIG } from '../src/store/store-config.js';
import { startNatsCluster } from '../test/helpers/nats-cluster.js';
import { REPO_ROOT } from '../test/helpers/paths.js';

const MESSAGES = Number(process.env.JETSTREAM_PUBLISH_BENCH_MESSAGES ?? 10_000);
const GROUP = Number(process.env.JETSTREAM_PUBLISH_BENCH_GROUP ?? 25);
const ROUNDS = Math.max(2, Number(process.env.JETSTREAM_PUBLISH_BENCH_ROUNDS ?? 6));
const DEVICES = 1_000;
const TIMEOUT_MS = 10_000;

type Way = 'request' | 'inbox';
type Publish = (subject: string, payload: string, msgID: string, headers: MsgHdrs) => Promise<PubAck>;

/** One round: CPU µs of this process per acked message. */
async function round(publish: Publish, prefix: string): Promise<number> {
  const payload = '{"t":21.5,"h":40}';
  // Each message expects its device's previous one, as the store's do (a group never holds one device twice).
  const last = new Map<number, number>();
  const state = stateAfter(new DeviceState(), 1, Date.now());
  const cpu = process.cpuUsage();
  for (let sent = 0; sent < MESSAGES; sent += GROUP) {
    const group: Promise<void>[] = [];
    for (let i = sent; i < Math.min(MESSAGES, sent + GROUP); i += 1) {
      const device = i % DEVICES;
      const headers = readingHeaders(1, Date.now(), state, last.get(device) ?? 0);
      group.push(publish(`${prefix}.readings.d${device}`, payload, `${prefix}:${i}`, headers).then((ack) => void last.set(device, ack.seq)));
    }
    await Promise.all(group);
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / MESSAGES;
}

/** A readings stream of its own for one round, configured as the store's. */
function streamConfig(prefix: string): ReturnType<typeof readingsStreamConfig> {
  return readingsStreamConfig({
    name: `${prefix}-readings`, subject: `${prefix}.readings.>`, replicas: 3, duplicateWindowMs: 120_000,
    store: { ...DEFAULT_STORE_CONFIG, retentionBytes: 0, retentionHours: 0 },
  });
}

async function main(): Promise<void> {
  const cluster = await startNatsCluster({ nodes: 3 });
  const nc = await connect({ servers: [...cluster.urls], noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc, { timeout: TIMEOUT_MS });
    const inbox = new AckInbox(nc, TIMEOUT_MS);
    const ways: Record<Way, Publish> = {
      request: (subject, payload, msgID, headers) => js.publish(subject, payload, { msgID, headers, timeout: TIMEOUT_MS }),
      inbox: (subject, payload, msgID, headers) => inbox.publish(subject, payload, msgID, headers),
    };
    const results: Record<Way, number[]> = { request: [], inbox: [] };
    // Warm-up, not counted: V8 compiles each way's path over its first few thousand messages.
    for (const way of ['request', 'inbox'] as const) {
      const prefix = `warm${way}`;
      await jsm.streams.add(streamConfig(prefix));
      await round(ways[way], prefix);
      await jsm.streams.delete(`${prefix}-readings`);
    }
    for (let r = 0; r < ROUNDS; r += 1) {
      // Who goes first alternates, so a drift of the machine's load falls on both alike.
      const order: Way[] = r % 2 === 0 ? ['request', 'inbox'] : ['inbox', 'request'];
      for (const way of order) {
        const prefix = `pub${r}${way}`;
        // A stream per round: the same empty start for both ways.
        await jsm.streams.add(streamConfig(prefix));
        const us = await round(ways[way], prefix);
        results[way].push(us);
        process.stderr.write(`jetstream-publish: round ${r + 1}/${ROUNDS} ${way}: ${us.toFixed(1)} µs CPU per message\n`);
        await jsm.streams.delete(`${prefix}-readings`);
      }
    }
    inbox.close();
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ratios = results.inbox.map((v, i) => v / (results.request[i] ?? v));
    const summary = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', node: process.version, loadAverage: loadavg()[0] ?? 0 },
      settings: { messages: MESSAGES, group: GROUP, rounds: ROUNDS, replicas: 3 },
      cpuUsPerMessage: { request: results.request.map((v) => Math.round(v * 10) / 10), inbox: results.inbox.map((v) => Math.round(v * 10) / 10) },
      inboxOverRequest: { perRound: ratios.map((v) => Math.round(v * 100) / 100), mean: Math.round(mean(ratios) * 100) / 100, min: Math.round(Math.min(...ratios) * 100) / 100, max: Math.round(Math.max(...ratios) * 100) / 100 },
    };
    await writeFile(resolve(REPO_ROOT, 'bench/results/jetstream-publish.json'), `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`client CPU per acked JetStream publish (${MESSAGES} messages in groups of ${GROUP}, ${ROUNDS} rounds, Node ${process.version}, load ${summary.machine.loadAverage.toFixed(1)}):\n`);
    process.stdout.write(`  request (jetstream().publish): ${summary.cpuUsPerMessage.request.join(', ')} µs (mean ${mean(results.request).toFixed(1)})\n`);
    process.stdout.write(`  inbox (ack-inbox.ts):          ${summary.cpuUsPerMessage.inbox.join(', ')} µs (mean ${mean(results.inbox).toFixed(1)})\n`);
    process.stdout.write(`  inbox / request per round: ${summary.inboxOverRequest.perRound.join(', ')} (mean ${summary.inboxOverRequest.mean}, spread ${summary.inboxOverRequest.min}–${summary.inboxOverRequest.max})\n`);
  } finally {
    await nc.close();
    await cluster.stop();
  }
}

await main();
