import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveHubConfig } from '../../src/hub/config.js';
import { isFleethubError } from '../../src/errors.js';

const resolve = (commands: unknown) => resolveHubConfig({ commands }, { baseDir: '/tmp' }).hub.commands;

test('commands: the allow-list with its defaults; names chosen by operators are data', () => {
  assert.equal(resolveHubConfig({}, { baseDir: '/tmp' }).hub.commands.size, 0);
  const list = resolve(JSON.parse('{"ping":{},"reboot":{"plans":["pumps","*"],"timeoutMs":5000},"__proto__":{"plans":["a"]},"constructor":{}}'));
  assert.deepEqual(list.get('ping'), { plans: ['*'], timeoutMs: 30_000 });
  assert.deepEqual(list.get('reboot'), { plans: ['pumps', '*'], timeoutMs: 5000 });
  assert.deepEqual(list.get('__proto__'), { plans: ['a'], timeoutMs: 30_000 });
  assert.ok(list.has('constructor'));
  assert.equal(list.has('toString'), false);
});

test('commands: a bad entry stops start-up naming the key', () => {
  for (const [commands, key] of [
    [[], 'commands'],
    [{ 'bad name': {} }, 'commands.bad name'],
    [{ ping: { plans: [] } }, 'commands.ping.plans'],
    [{ ping: { plans: ['no spaces'] } }, 'commands.ping.plans'],
    [{ ping: { timeoutMs: 0 } }, 'commands.ping.timeoutMs'],
    [{ ping: { timeoutMs: 3_600_001 } }, 'commands.ping.timeoutMs'],
    [{ ping: { retries: 3 } }, 'unknown key commands.ping.retries'],
    [{ ping: true }, 'commands.ping'],
  ] as const) {
    assert.throws(() => resolve(commands), (err: unknown) => isFleethubError(err, 'FH_ERR_CONFIG') && (err as Error).message.includes(`config: ${key} `), JSON.stringify(commands));
  }
});
