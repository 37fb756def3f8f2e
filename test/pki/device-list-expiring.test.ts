/**
 * `fleethub device list --expiring 30d` (issue 18): the active devices whose
 * certificate ends within the time given, soonest first; revoked and
 * long-lived ones are left out; a bad value is one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { makeTestPki } from '../helpers/pki.js';
import { addDevice, revokeDevice } from '../../src/pki/index.js';
import { EXIT } from '../../src/errors.js';

test('device list --expiring 30d lists the active devices ending within 30 days, soonest first', async () => {
  const pki = await makeTestPki();
  try {
    await addDevice(pki.dir, 'exp-20', { days: 20 });
    await addDevice(pki.dir, 'exp-10', { days: 10 });
    await addDevice(pki.dir, 'exp-400', { days: 400 });
    await addDevice(pki.dir, 'exp-revoked', { days: 5 });
    await revokeDevice(pki.dir, 'exp-revoked');
    const out = await runCli(['device', 'list', '--expiring', '30d', '--json', '--pki', pki.dir]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual((JSON.parse(out.stdout) as { id: string }[]).map((d) => d.id), ['exp-10', 'exp-20']);
    const table = await runCli(['device', 'list', '--expiring', '15', '--pki', pki.dir]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^exp-10 /m);
    assert.doesNotMatch(table.stdout, /exp-20|exp-400|exp-revoked/);
    const none = await runCli(['device', 'list', '--expiring', '1h', '--pki', pki.dir]);
    assert.match(none.stdout, /no active device certificate ends within 1h/);
    const bad = await runCli(['device', 'list', '--expiring', 'soon', '--pki', pki.dir]);
    assert.equal(bad.code, EXIT.USAGE);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  } finally {
    await pki.cleanup();
  }
});
