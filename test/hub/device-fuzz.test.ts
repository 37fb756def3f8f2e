/**
 * Fuzzing the device listener of a real hub (real TLS, real certificates):
 * mutated HTTP upgrade heads, mutated and random telemetry frames after a
 * valid upgrade, and malformed WebSocket frames. Throughout, the hub stays
 * up, acks only what it stored (each acked reading stored once, as the data
 * it validated), stores nothing it nacked, and its memory stays bounded.
 *
 * Bounded in count (a few hundred cases per generator) and seeded: the seed
 * is in the test names. `npm test` runs one fixed seed; `FLEETHUB_FUZZ_SEED=<seed>`
 * runs the same cases as another run, `FLEETHUB_FUZZ_SEED=random` new ones.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHub, type TestHub } from '../helpers/hub.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { clientFrame, RawDevice, upgradeHead } from '../helpers/raw-device.js';
import type { DeviceCredentials } from '../helpers/pki.js';
import { fuzzSeed, makePrng, type Prng } from '../helpers/prng.js';
import type { StoredReading } from '../../src/store/types.js';

const SEED = fuzzSeed('FLEETHUB_FUZZ_SEED');
const HEAD_CASES = 300;
const FRAME_CASES = 700;
const WS_FRAME_CASES = 120;
/** Head cases in flight at once (each a TLS connection). */
const HEAD_PARALLEL = 20;
/**
 * RSS (hub and test in one process) may grow this much over the value after
 * warm-up; runs grow 25-40 MB. A run stores ~2,000 readings over ~500
 * connections: a leak of ~40 KB per reading (what "38 MB in 90 s for one
 * device" at 10 msgs/s amounts to) or of a connection's TLS and ws state
 * crosses it, with twice the normal growth as headroom for GC timing.
 */
const RSS_BOUND_BYTES = 80 * 1024 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_FIELDS = 32;

let th: TestHub;
let device: DeviceCredentials;
let rssBase = 0;
let rssMax = 0;

function sampleRss(): void {
  rssMax = Math.max(rssMax, process.memoryUsage().rss);
}

before(async () => {
  th = await startHub({
    limits: { msgsPerSec: 100_000, burst: 100_000 },
    device: { maxInvalidInRow: 10_000, maxRefusedInRow: 1_000_000, maxRefusalsPerMinute: 1_000_000, newConnectionsPerIpPerSec: 100_000, handshakeTimeoutMs: 3_000 },
  });
  device = await th.pki.addDevice('fuzz-dev');
  // Warm-up: a few connections and readings, so the base counts what a running hub holds anyway.
  for (let i = 0; i < 3; i += 1) await freshDeviceIsAcked(`warm-${i}`);
  rssBase = process.memoryUsage().rss;
  rssMax = rssBase;
});
after(async () => {
  await th.stop();
});

/** A fresh device connects, gets its hello and an ack for one reading. */
async function freshDeviceIsAcked(id: string): Promise<void> {
  const creds = await th.pki.addDevice(id);
  const client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: creds.cert, key: creds.key });
  await client.hello();
  client.send({ seq: 1, data: { up: true } });
  await client.waitForAck(1);
  await client.close();
}

function assertRssBounded(after: string): void {
  sampleRss();
  const grown = rssMax - rssBase;
  assert.ok(grown < RSS_BOUND_BYTES, `RSS grew ${(grown / 1048576).toFixed(1)} MB over the warm-up value after ${after} (bound ${RSS_BOUND_BYTES / 1048576} MB, seed ${SEED})`);
}

// ---- 1. HTTP heads -------------------------------------------------------

function mutateBytes(rng: Prng, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const edits = rng.int(1, 4);
  for (let i = 0; i < edits; i += 1) {
    const at = rng.int(0, Math.max(0, bytes.length - 1));
    const kind = rng.int(0, 2);
    if (kind === 0 && bytes.length > 0) bytes[at] = rng.int(0, 255);
    else if (kind === 1) bytes = Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 8)), bytes.subarray(at)]);
    else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + rng.int(1, 8))]);
  }
  return bytes;
}

function mutatedHead(rng: Prng): Buffer {
  const lines = upgradeHead().split('\r\n').slice(0, -2);
  switch (rng.int(0, 9)) {
    case 0: return mutateBytes(rng, Buffer.from(upgradeHead(), 'latin1'));
    case 1: { // a header line given twice (Upgrade, Connection, Key, Version, Host)
      const line = lines[rng.int(1, lines.length - 1)] as string;
      lines.splice(rng.int(1, lines.length), 0, rng.chance(0.5) ? line : line.replace(/: .*/, `: ${rng.bytes(6).toString('hex')}`));
      break;
    }
    case 2: lines.push('Content-Length: 5', 'Transfer-Encoding: chunked'); break;
    case 3: lines.push(`X-Long: ${'a'.repeat(rng.pick([1_000, 9_000, 17_000, 70_000]))}`); break;
    case 4: return Buffer.concat([Buffer.from('GET /v1/dev'), rng.bytes(rng.int(1, 6)).map((b) => b | 0x80), Buffer.from(`ice${upgradeHead().slice(upgradeHead().indexOf(' HTTP/1.1'))}`)]);
    case 5: lines[0] = (lines[0] as string).replace('GET', rng.pick(['get', 'Get', 'POST', 'CONNECT', 'GET GET', 'PRI'])); break;
    case 6: lines[0] = (lines[0] as string).replace('HTTP/1.1', rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 x', ''])); break;
    case 7: lines.splice(rng.int(1, lines.length - 1), 1); break; // a required header missing
    case 8: lines.push(`${rng.bytes(8).toString('latin1')}: ${rng.bytes(8).toString('latin1')}`); break;
    default: return Buffer.concat([mutateBytes(rng, Buffer.from(upgradeHead(), 'latin1')), rng.bytes(rng.int(0, 64))]);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

async function sendHead(head: Buffer): Promise<void> {
  const raw = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: device.cert, key: device.key });
  try {
    raw.socket.write(head);
    // A head that never ends would wait for the handshake timeout; the half-close says no more is coming.
    if (!head.includes('\r\n\r\n')) raw.socket.end();
    const answer = await raw.read((d) => d.includes('\r\n\r\n'));
    if (answer.length > 0) {
      assert.match(answer.toString('latin1'), /^HTTP\/1\.1 \d{3} /, `the hub answers a head with an HTTP status or closes (seed ${SEED}); head ${JSON.stringify(head.toString('latin1').slice(0, 200))}`);
    }
  } finally {
    raw.destroy();
  }
}

test(`mutated upgrade heads get an HTTP status or a close, and the hub keeps serving devices (seed ${SEED})`, async () => {
  const rng = makePrng(SEED);
  const heads = Array.from({ length: HEAD_CASES }, () => mutatedHead(rng));
  for (let i = 0; i < heads.length; i += HEAD_PARALLEL) {
    await Promise.all(heads.slice(i, i + HEAD_PARALLEL).map(sendHead));
    sampleRss();
  }
  await freshDeviceIsAcked('after-heads');
  assertRssBounded('the heads');
});

// ---- 2. Telemetry frames -------------------------------------------------

const WEIRD_VALUES = [
  '1e308', '1e400', '-1e400', '9007199254740993', '-0', '0.1e-400', 'null', '[]', '{}', '[1,2]', '{"a":1}', '"NaN"', '"Infinity"',
  '"\\ud800"', '"\\u0000"', '"😀🚀"', '"\\u202e"', `"${'x'.repeat(257)}"`, `"${'é'.repeat(256)}"`, 'true', 'false', '"1"',
];
const WEIRD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '1a', 'a-b', '', 'é', 'x'.repeat(65), 'a'.repeat(64), '__defineGetter__'];
const WEIRD_SEQS = ['"5"', '1.5', '0', '-1', 'null', '9007199254740992', '1e400', '[1]', 'true'];

/** The JSON text of a telemetry object at `seq`, valid or mutated. */
function telemetryText(rng: Prng, seq: number, mutate: boolean): string {
  const fields: Array<[string, string]> = [['t', String(rng.int(-400, 400) / 10)], ['ok', 'true'], ['name', '"s1"']];
  let top: Array<[string, string]> = [['seq', String(seq)]];
  if (rng.chance(0.3)) top.push(['ts', String(Date.now() - rng.int(0, 1e6))]);
  if (mutate) {
    const mutations = rng.int(1, 3);
    for (let m = 0; m < mutations; m += 1) {
      switch (rng.int(0, 10)) {
        case 0: if (fields.length > 0) fields[rng.int(0, fields.length - 1)]![1] = rng.pick(WEIRD_VALUES); break;
        case 1: fields.push([rng.pick(WEIRD_KEYS), rng.pick(WEIRD_VALUES.concat(['1', '"v"']))]); break;
        case 2: fields.push([fields[0]?.[0] ?? 't', rng.pick(['1', '"dup"', '[[1]]'])]); break; // a key given twice
        case 3: { const depth = rng.int(10, 6_000); fields.push(['deep', `${'['.repeat(depth)}${']'.repeat(depth)}`]); break; }
        case 4: for (let i = rng.int(28, 40); i > 0; i -= 1) fields.push([`f${i}`, String(i)]); break;
        case 5: top = [['seq', rng.pick(WEIRD_SEQS)], ...top.filter(([k]) => k !== 'seq')]; break;
        case 6: top.push([rng.pick(['extra', '__proto__', 'constructor', 'batch', 'seq']), rng.pick(['1', '{}', String(seq + 1)])]); break;
        case 7: top.push(['ts', rng.pick(['"now"', '-1', '1e400', '1.5', 'null'])]); break;
        case 8: fields.length = 0; break; // empty data
        case 9: top = top.filter(([k]) => k !== 'seq'); break;
        default: fields.push([`u${rng.int(0, 99)}`, `"${String.fromCodePoint(rng.int(0x80, 0x10ffff)).replace(/[\ud800-\udfff]/g, '?')}"`]);
      }
    }
  }
  const data = rng.chance(0.03) ? rng.pick(['[]', 'null', '"x"', '1']) : `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  const entries = [...top, ['data', data] as [string, string]];
  if (rng.chance(0.5)) entries.reverse();
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/** What the device meant to say at each seq, by its own JSON.parse (the hub parses the same text). */
interface Sent { seq: number; data: unknown }

/**
 * The readings a frame holds with a valid seq, and whether it is a batch the
 * hub judges item by item (then a `nack: null` is about an item without a
 * valid seq, never about one of these).
 */
function parsedItems(text: string): { items: Sent[]; perItem: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { items: [], perItem: false };
  }
  if (typeof value !== 'object' || value === null) return { items: [], perItem: false };
  const batch = (value as { batch?: unknown }).batch;
  const items = Array.isArray(batch) ? batch as unknown[] : [value];
  const perItem = Array.isArray(batch) && batch.length >= 1 && batch.length <= 100 && Object.keys(value).length === 1;
  const out: Sent[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    const seq = (item as { seq?: unknown }).seq;
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1) out.push({ seq, data: (item as { data?: unknown }).data });
  }
  return { items: out, perItem };
}

/** Entries of an object, sorted, as JSON: equal for the same fields and values whatever the prototype or key order. */
function fieldsText(data: unknown): string {
  if (typeof data !== 'object' || data === null) return JSON.stringify(data);
  return JSON.stringify(Object.keys(data).sort().map((k) => [k, (data as Record<string, unknown>)[k]]));
}

function assertValidData(reading: StoredReading): void {
  const data: unknown = reading.data;
  const where = `stored seq ${reading.seq} (seed ${SEED}): ${fieldsText(data)}`;
  assert.ok(typeof data === 'object' && data !== null && !Array.isArray(data), `data is an object; ${where}`);
  const proto: unknown = Object.getPrototypeOf(data);
  assert.ok(proto === Object.prototype || proto === null, `data is a plain object; ${where}`);
  const keys = Reflect.ownKeys(data);
  assert.ok(keys.length <= MAX_FIELDS, `at most ${MAX_FIELDS} fields; ${where}`);
  for (const key of keys) {
    assert.ok(typeof key === 'string' && NAME.test(key), `field name ${String(key)} is allowed; ${where}`);
    const value: unknown = (data as Record<string, unknown>)[key];
    const ok = typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && [...value].length <= 256);
    assert.ok(ok, `value of ${key} is allowed; ${where}`);
  }
}

test(`mutated and random telemetry: every acked reading is stored once as validated, nothing nacked is stored (seed ${SEED})`, async () => {
  const rng = makePrng(SEED ^ 0x5eed);
  let client: DeviceClient = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: device.cert, key: device.key });
  await client.hello();
  let nextSeq = 1;
  const mustStore = new Map<number, unknown>();
  /** Sent, neither acked for sure nor nacked: if stored, as this data. */
  const mayStore = new Map<number, unknown>();
  const nacked = new Set<number>();
  const ambiguous = new Set<number>();
  const used = new Set<number>();
  const closes: number[] = [];

  for (let i = 0; i < FRAME_CASES; i += 1) {
    let text: string;
    const kind = rng.int(0, 9);
    if (kind <= 4) text = telemetryText(rng, nextSeq++, kind > 0);
    else if (kind <= 6) {
      const count = rng.chance(0.05) ? 101 : rng.int(1, 8);
      const items = Array.from({ length: count }, () => (rng.chance(0.05) ? rng.pick(['1', 'null', '"x"', '[]']) : telemetryText(rng, nextSeq++, rng.chance(0.4))));
      text = rng.chance(0.1) ? `{"batch":[${items.join(',')}],"x":1}` : `{"batch":[${items.join(',')}]}`;
    } else if (kind === 7) text = rng.bytes(rng.int(1, 200)).toString('latin1');
    else if (kind === 8) text = mutateBytes(rng, Buffer.from(telemetryText(rng, nextSeq++, false))).toString('latin1');
    else text = rng.pick(['{}', '[]', 'null', '{"batch":[]}', '{"batch":{}}', '"seq"', '1', `{"seq":${nextSeq++}}`, `{"__proto__":{"polluted":1},"seq":${nextSeq++},"data":{"v":1}}`]);

    const { items, perItem } = parsedItems(text);
    const inFrame = new Set<number>();
    for (const { seq } of items) {
      if (used.has(seq) || inFrame.has(seq)) ambiguous.add(seq);
      inFrame.add(seq);
      used.add(seq);
      nextSeq = Math.max(nextSeq, seq + 1);
    }
    const probe = nextSeq++;
    used.add(probe);
    const from = client.messages.length;
    client.send(text);
    client.send({ seq: probe, data: { probe } });
    let probeAcked = false;
    try {
      const reply = await client.waitFor((m) => (m.ack !== undefined && m.ack >= probe) || m.nack === probe, 30_000);
      probeAcked = reply.ack !== undefined;
    } catch (err) {
      if (client.closeCode === null) throw err;
      closes.push(client.closeCode);
      client = await connectDevice({ url: th.deviceUrl, ca: th.pki.ca, cert: device.cert, key: device.key });
      await client.hello();
    }
    const replies = client.messages.slice(from);
    let nullNack = false;
    for (const m of replies) {
      if (m.nack === null && !perItem) nullNack = true;
      else if (typeof m.nack === 'number') nacked.add(m.nack);
    }
    if (probeAcked) mustStore.set(probe, { probe });
    for (const { seq, data } of items) {
      if (ambiguous.has(seq) || nacked.has(seq)) continue;
      // A whole frame refused with `nack: null` names no seq: whether its items count as nacked is not for this test to guess.
      if (probeAcked && !nullNack) mustStore.set(seq, data);
      else mayStore.set(seq, data);
    }
    if (i % 50 === 0) sampleRss();
  }
  await client.close();

  assert.ok(closes.every((code) => code === 1008 || code === 1009), `the hub closed only with 1008/1009, got ${closes.join(',')} (seed ${SEED})`);
  const stored = new Map<number, StoredReading[]>();
  for (let from = 0; ;) {
    const { readings, next } = await th.hub.store.read(from, 1_000);
    for (const r of readings) if (r.device === 'fuzz-dev') stored.set(r.seq, [...(stored.get(r.seq) ?? []), r]);
    if (readings.length === 0) break;
    from = next;
  }
  for (const [seq, copies] of stored) {
    assert.equal(copies.length, 1, `seq ${seq} is stored once (seed ${SEED})`);
    assertValidData(copies[0]!);
    assert.ok(used.has(seq), `seq ${seq} was sent (seed ${SEED})`);
    if (ambiguous.has(seq)) continue;
    assert.ok(!nacked.has(seq), `nacked seq ${seq} is not stored (seed ${SEED})`);
    const expected = mustStore.has(seq) ? mustStore.get(seq) : mayStore.get(seq);
    assert.equal(fieldsText(copies[0]!.data), fieldsText(expected), `seq ${seq} is stored as the data sent (seed ${SEED})`);
  }
  for (const [seq, data] of mustStore) {
    assert.ok(stored.has(seq), `acked seq ${seq} is stored (seed ${SEED}); sent ${fieldsText(data).slice(0, 300)}`);
  }
  assert.ok(mustStore.size > FRAME_CASES / 2, `most cases were acked (${mustStore.size}), so the check means something`);
  assert.deepEqual(Object.keys(Object.prototype), [], 'nothing was added to Object.prototype');
  await freshDeviceIsAcked('after-frames');
  assertRssBounded('the frames');
});

// ---- 3. Raw WebSocket frames ---------------------------------------------

function badFrame(rng: Prng): Buffer {
  const mask = Buffer.alloc(4);
  switch (rng.int(0, 6)) {
    case 0: return Buffer.concat([Buffer.from([0x80 | rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), 0x80 | 2]), mask, Buffer.from('{}')]); // reserved opcode
    case 1: return clientFrame('{"seq":1,"data":{}}', { mask: false }); // unmasked
    case 2: return Buffer.concat([Buffer.from([0x80 | (rng.int(1, 7) << 4) | 0x1, 0x80 | 2]), mask, Buffer.from('{}')]); // RSV bits without an extension
    case 3: return Buffer.concat([Buffer.from([0x80 | 0x9, 0x80 | 126, 0, 200]), mask, Buffer.alloc(200)]); // control frame over 125 bytes
    case 4: return Buffer.concat([Buffer.from([0x80 | 0x0, 0x80 | 2]), mask, Buffer.from('{}')]); // continuation with nothing to continue
    case 5: { const length = Buffer.alloc(8); length.writeBigUInt64BE(BigInt(rng.pick([2 ** 32, 2 ** 53, 17_000]))); return Buffer.concat([Buffer.from([0x81, 0x80 | 127]), length, mask]); } // over maxPayloadBytes
    default: return Buffer.concat([Buffer.from([0x81, 0x80 | 4]), mask, Buffer.from([0xff, 0xfe, 0xc0, 0x80])]); // invalid UTF-8 text
  }
}

test(`malformed WebSocket frames are closed with a 1xxx code and the hub keeps serving devices (seed ${SEED})`, async () => {
  const rng = makePrng(SEED ^ 0xf4a3e5);
  for (let i = 0; i < WS_FRAME_CASES; i += 1) {
    const raw = await RawDevice.connect({ port: th.devicePort, ca: th.pki.ca, cert: device.cert, key: device.key });
    try {
      raw.socket.write(upgradeHead());
      assert.equal(await raw.responseStatus(), 101);
      const valid = rng.int(0, 3);
      for (let v = 0; v < valid; v += 1) raw.socket.write(clientFrame(`{"seq":${1_000_000 + i * 4 + v},"data":{"w":${v}}}`));
      const frame = badFrame(rng);
      raw.socket.write(rng.chance(0.2) ? Buffer.concat([frame, randomBytes(rng.int(1, 64))]) : frame);
      await raw.read(() => raw.closeCode !== null);
      assert.ok(raw.closeCode !== null && raw.closeCode >= 1000 && raw.closeCode < 2000, `closed with a 1xxx code, got ${raw.closeCode} (seed ${SEED}, case ${i}, frame ${frame.subarray(0, 16).toString('hex')})`);
    } finally {
      raw.destroy();
    }
    if (i % 20 === 0) sampleRss();
  }
  await freshDeviceIsAcked('after-ws-frames');
  assertRssBounded('the WebSocket frames');
});
