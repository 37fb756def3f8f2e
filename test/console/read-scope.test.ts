/**
 * The `read` scope (SPEC: Token scopes) on a real hub: readings, presence
 * and history need it. A token made for commands or configuration only
 * subscribes to nothing (`forbidden`) and reads no history (403), while a
 * read token sees both. `authed` names the allow-listed commands to a token
 * with the `command` scope, and to no other.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { signToken, type TokenScope } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { connectClient, type Json, type TestClient } from './console-fixture.js';

const T = 1_700_000_000_000;

describe('the read scope', () => {
  let hub: TestHub;
  const open: TestClient[] = [];
  before(async () => {
    hub = await startHub({ commands: { ping: {}, reboot: { timeoutMs: 5_000 } } });
    await hub.hub.store.append([1, 2, 3].map((seq) => ({ device: 'tank-1', seq, ts: T + seq * 1000, data: { level: seq } })));
  });
  after(async () => {
    for (const client of open) client.ws.terminate();
    await hub.stop();
  });

  const token = (scopes: TokenScope[]): string => signToken(loadOrCreateTokenKey(hub.pki.dir), { devices: 'tank-*', scopes }).token;

  async function dashboard(scopes: TokenScope[]): Promise<{ client: TestClient; authed: Json }> {
    const client = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
    open.push(client);
    client.send({ auth: token(scopes) });
    const { authed } = (await client.next((m) => 'authed' in m)) as { authed: Json };
    return { client, authed };
  }

  function history(scopes: TokenScope[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${hub.consoleUrl}/v1/devices/tank-1/readings`, { ca: hub.pki.ca, headers: { authorization: `Bearer ${token(scopes)}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('a token without read may not subscribe: forbidden, and no presence or reading follows', async () => {
    for (const scopes of [['command'], ['config'], ['command', 'config']] as TokenScope[][]) {
      const { client } = await dashboard(scopes);
      client.send({ subscribe: 'tank-*' });
      assert.deepEqual(await client.next(), { error: 'forbidden' });
      // A round trip after it: whatever the subscribe brought has arrived by now.
      client.send({ unsubscribe: 'tank-*' });
      assert.deepEqual(await client.next(), { unsubscribed: 'tank-*' });
      assert.deepEqual(client.pending, []);
    }
    const { client } = await dashboard(['read', 'command']);
    client.send({ subscribe: 'tank-*' });
    assert.deepEqual(await client.next(), { subscribed: 'tank-*' });
    assert.equal(((await client.next((m) => m.device === 'tank-1')) as { seq: number }).seq, 3);
  });

  it('a token without read gets 403 for history; with read, the readings', async () => {
    const before = metricValue(hub.hub, 'fleethub_dashboard_refused_total{reason="history_forbidden"}');
    const refused = await history(['command', 'config']);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.body, /level/);
    assert.equal(metricValue(hub.hub, 'fleethub_dashboard_refused_total{reason="history_forbidden"}'), before + 1);
    const allowed = await history(['read']);
    assert.equal(allowed.status, 200);
    assert.deepEqual((JSON.parse(allowed.body) as { readings: unknown[] }).readings.length, 3);
  });

  it('authed names the allow-listed commands to a command token only', async () => {
    assert.deepEqual((await dashboard(['read', 'command'])).authed.commands, ['ping', 'reboot']);
    assert.equal((await dashboard(['read', 'config'])).authed.commands, undefined);
    assert.equal((await dashboard(['read'])).authed.commands, undefined);
  });
});
