import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { roundTrip, startEnrolledHub, type EnrolledHub } from '../helpers/enrolled-hub.js';
import type { CommandRecord, CommandRequest } from '../../src/hub/commands/command-center.js';
import type { Hub } from '../../src/hub/hub.js';

// SPEC: Device protocol version 2, Commands. At most once, one in flight per device, a state that always ends.
let th: TestHub;
let connect: EnrolledHub['connect'];
const COMMANDS = {
  ping: { plans: ['*'], timeoutMs: 10_000 },
  slow: { plans: ['*'], timeoutMs: 300 },
  valve: { plans: ['pumps'] },
};

before(async () => {
  ({ th, connect } = await startEnrolledHub({ commands: COMMANDS, console: { maxQueuedCommandsPerDevice: 2 }, plans: { pumps: {}, small: { maxDownlinkBytes: 1024 } } }, [
    ['c-online'], ['c-offline'], ['c-expire'], ['c-lost'], ['c-timeout'], ['c-refuse'], ['c-pump', 'pumps'], ['c-small', 'small'], ['c-bad'], ['c-order'], ['c-v1'], ['c-restart'],
  ]));
});
after(async () => {
  await th.stop();
});

/** Submits and collects every state the command enters. */
async function submit(request: CommandRequest, hub: Hub = th.hub): Promise<{ first: CommandRecord; states: CommandRecord[]; final: () => Promise<CommandRecord> }> {
  const states: CommandRecord[] = [];
  const first = await hub.control.commands.submit(request, 'test-token', (r) => states.push(r));
  const isFinal = (r: CommandRecord): boolean => r.state !== 'queued' && r.state !== 'sent';
  return {
    first,
    states,
    async final() {
      if (isFinal(first)) return first;
      await waitUntil(() => states.some(isFinal), `command ${first.id} to end`, 15_000);
      return states.find(isFinal)!;
    },
  };
}

test('a command to an online v2 device is sent once and answered: succeeded with its result', async () => {
  const client = await connect('c-online');
  try {
    assert.ok(client.messages[0]?.hello?.features?.includes('cmd'));
    const command = await submit({ device: 'c-online', name: 'ping', args: { n: 1 } });
    assert.equal(command.first.state, 'queued');
    const { cmd } = await client.waitFor((m) => m.cmd !== undefined);
    assert.deepEqual(cmd, { id: command.first.id, name: 'ping', args: { n: 1 }, timeoutMs: 10_000 });
    client.send({ cmdResult: { id: cmd!.id, ok: true, result: { pong: true } } });
    const final = await command.final();
    assert.equal(final.state, 'succeeded');
    assert.deepEqual(final.result, { pong: true });
    assert.deepEqual(command.states.map((r) => r.state), ['sent', 'succeeded']);
    assert.equal(metricValue(th.hub, 'fleethub_commands_total{name="ping",state="succeeded"}'), 1);
    // A result for an id that ended is counted and dropped; an id never sent is invalid.
    client.send({ cmdResult: { id: cmd!.id, ok: true } });
    await waitUntil(() => metricValue(th.hub, 'fleethub_command_results_ignored_total') === 1, 'the late result counted');
    client.send({ cmdResult: { id: 'never-sent', ok: true } });
    await client.waitFor((m) => m.nack === null && m.error === 'invalid_message');
  } finally {
    await client.close();
  }
});

test('a command to an offline device is delivered when it connects within its ttl', async () => {
  const command = await submit({ device: 'c-offline', name: 'ping', ttlMs: 60_000 });
  assert.equal(command.first.state, 'queued');
  const client = await connect('c-offline');
  try {
    const { cmd } = await client.waitFor((m) => m.cmd !== undefined);
    client.send({ cmdResult: { id: cmd!.id, ok: false, error: 'busy' } });
    const final = await command.final();
    assert.equal(final.state, 'failed');
    assert.equal(final.error, 'busy');
  } finally {
    await client.close();
  }
});

test('past its ttl an undelivered command is expired and never sent', async () => {
  const command = await submit({ device: 'c-expire', name: 'ping', ttlMs: 200 });
  assert.equal((await command.final()).state, 'expired');
  const client = await connect('c-expire');
  try {
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 0);
  } finally {
    await client.close();
  }
});

test('a connection dropped after the command was sent: lost, never resent', async () => {
  let client = await connect('c-lost');
  const command = await submit({ device: 'c-lost', name: 'ping' });
  await client.waitFor((m) => m.cmd !== undefined);
  client.ws.terminate();
  const final = await command.final();
  assert.equal(final.state, 'lost');
  client = await connect('c-lost');
  try {
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 0);
  } finally {
    await client.close();
  }
});

test('a device that never answers: timed_out, then the next command goes', async () => {
  const client = await connect('c-timeout');
  try {
    const first = await submit({ device: 'c-timeout', name: 'slow' });
    const second = await submit({ device: 'c-timeout', name: 'ping' });
    await client.waitFor((m) => m.cmd?.name === 'slow');
    // One in flight per device: the second waits for the first to end.
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 1);
    assert.equal((await first.final()).state, 'timed_out');
    const { cmd } = await client.waitFor((m) => m.cmd?.name === 'ping');
    client.send({ cmdResult: { id: cmd!.id, ok: true } });
    assert.equal((await second.final()).state, 'succeeded');
  } finally {
    await client.close();
  }
});

test('refused: a name not on the allow-list, a plan not allowed, bad args, a bad timeout, a full queue, over maxDownlinkBytes', async () => {
  const refused = async (request: CommandRequest): Promise<string | undefined> => {
    const { first } = await submit(request);
    assert.equal(first.state, 'refused', JSON.stringify(first));
    return first.error;
  };
  assert.equal(await refused({ device: 'c-refuse', name: 'reboot' }), 'not_allowed');
  assert.equal(await refused({ device: 'c-refuse', name: 'valve' }), 'not_allowed');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', args: { 'bad name': 1 } }), 'invalid_args');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', args: { s: 'x'.repeat(257) } }), 'invalid_args');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', args: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`a${i}`, i])) }), 'invalid_args');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', args: { n: Number.NaN } }), 'invalid_args');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', timeoutMs: 20_000 }), 'invalid_timeout');
  assert.equal(await refused({ device: 'c-refuse', name: 'ping', ttlMs: -1 }), 'invalid_ttl');
  assert.equal(metricValue(th.hub, 'fleethub_commands_total{name="unlisted",state="refused"}'), 1);
  // A plan on the list may have it.
  assert.equal((await submit({ device: 'c-pump', name: 'valve', ttlMs: 60_000 })).first.state, 'queued');
  // The queue holds maxQueuedCommandsPerDevice (2 here).
  await submit({ device: 'c-refuse', name: 'ping', ttlMs: 60_000 });
  await submit({ device: 'c-refuse', name: 'ping', ttlMs: 60_000 });
  assert.equal(await refused({ device: 'c-refuse', name: 'ping' }), 'queue_full');
  // Over the device's maxDownlinkBytes (1024 on its plan): refused when it would be sent, and nothing reaches the device.
  const big = await submit({ device: 'c-small', name: 'ping', args: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`s${i}`, 'y'.repeat(250)])) });
  const client = await connect('c-small');
  try {
    const final = await big.final();
    assert.equal(final.state, 'refused');
    assert.equal(final.error, 'too_large');
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 0);
  } finally {
    await client.close();
  }
});

test('a malformed cmdResult is invalid_message and leaves the command in flight', async () => {
  const client = await connect('c-bad');
  try {
    const command = await submit({ device: 'c-bad', name: 'ping' });
    const { cmd } = await client.waitFor((m) => m.cmd !== undefined);
    client.send({ cmdResult: { id: cmd!.id, ok: 'yes' } });
    client.send({ cmdResult: { id: cmd!.id, ok: true, result: { 'bad-name': 1 } } });
    client.send({ cmdResult: { id: cmd!.id, ok: true, extra: 1 } });
    await client.waitForCount((m) => m.nack === null && m.error === 'invalid_message', 3);
    client.send({ cmdResult: { id: cmd!.id, ok: true } });
    assert.equal((await command.final()).state, 'succeeded');
  } finally {
    await client.close();
  }
});

test('a v1 device never receives a command: it waits and expires', async () => {
  const client = await connect('c-v1', false);
  try {
    assert.equal(client.messages[0]?.hello?.features, undefined);
    const command = await submit({ device: 'c-v1', name: 'ping', ttlMs: 300 });
    assert.equal((await command.final()).state, 'expired');
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 0);
  } finally {
    await client.close();
  }
});

test('across a hub restart: a queued command is still delivered; one in flight when the hub stopped is lost, never resent', async () => {
  const hub2 = await startHub({ commands: COMMANDS }, th.pki);
  const dataDir = hub2.dataDir;
  let client = await connect('c-restart', true, hub2.deviceUrl);
  await submit({ device: 'c-restart', name: 'ping' }, hub2.hub);
  await client.waitFor((m) => m.cmd !== undefined);
  const queued = await submit({ device: 'c-restart', name: 'slow', ttlMs: 60_000 }, hub2.hub);
  assert.equal(queued.first.state, 'queued');
  await hub2.hub.close();
  await client.waitForClose();
  assert.equal(metricValue(hub2.hub, 'fleethub_commands_total{name="ping",state="lost"}'), 1);

  const hub3 = await startHub({ commands: COMMANDS, dataDir }, th.pki);
  try {
    client = await connect('c-restart', true, hub3.deviceUrl);
    const { cmd } = await client.waitFor((m) => m.cmd !== undefined);
    assert.equal(cmd!.id, queued.first.id);
    assert.equal(cmd!.name, 'slow');
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 1);
    await client.close();
  } finally {
    await hub3.stop();
    await hub2.stop();
  }
});

test('a hub that crashed with a command recorded sent ends it lost at start and never sends it', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'fleethub-data-'));
  const now = Date.now();
  const sent = { id: 'crashed1', device: 'c-restart', name: 'ping', args: {}, timeoutMs: 10_000, createdAt: now, expiresAt: now + 60_000, state: 'sent', sentAt: now };
  // What the journal holds when the process died between recording `sent` and the answer (its last line torn).
  await writeFile(join(dataDir, 'commands.jsonl'), `${JSON.stringify({ k: sent.id, v: sent })}\n{"k":"torn`);
  const hub = await startHub({ commands: COMMANDS, dataDir }, th.pki);
  try {
    assert.equal(metricValue(hub.hub, 'fleethub_commands_total{name="ping",state="lost"}'), 1);
    const client = await connect('c-restart', true, hub.deviceUrl);
    await roundTrip(client, 1);
    assert.equal(client.messages.filter((m) => m.cmd !== undefined).length, 0);
    await client.close();
  } finally {
    await hub.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
