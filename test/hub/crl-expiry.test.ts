/**
 * The warning ahead of an expiring CRL: a loaded CRL whose nextUpdate is
 * less than CRL_EXPIRY_WARNING_DAYS away is logged once per load
 * (`crl.expiring`, with nextUpdate and the fix), and the real /metrics
 * endpoint shows its nextUpdate so users can alert on it. `fleethub ca crl`
 * (here its library call) makes it go away.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { get } from 'node:https';
import { startHub } from '../helpers/hub.js';
import { makeTestPki } from '../helpers/pki.js';
import { loadCa, parseCrl, pkiPaths, writeCrl } from '../../src/pki/index.js';
import { buildCrl } from '../../src/pki/crl.js';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { createMemoryLogger } from '../../src/log.js';
import { CRL_EXPIRY_WARNING_DAYS } from '../../src/hub/crl-state.js';

const DAY_MS = 86_400_000;
const GAUGE = 'fleethub_crl_next_update_timestamp_seconds';

/** Re-signs crl.pem with the same serials and a nextUpdate `days` from now; returns that nextUpdate. */
async function writeCrlValidFor(dir: string, days: number): Promise<Date> {
  const { issuer } = await loadCa(dir);
  const current = parseCrl(await readFile(pkiPaths(dir).crl, 'utf8'));
  const entries = [...current.serials].map((serial) => ({ serial, revokedAt: new Date(Date.now() - DAY_MS), reason: 'keyCompromise' as const }));
  const now = new Date();
  const pem = buildCrl(issuer, entries, { number: (current.number ?? 1) + 1, thisUpdate: now, nextUpdate: new Date(now.getTime() + days * DAY_MS) });
  await writeFileAtomic(pkiPaths(dir).crl, pem);
  return parseCrl(pem).nextUpdate as Date; // as encoded: whole seconds
}

/** GET /metrics on the console listener, trusting the test CA; the value of one sample line. */
async function scrape(url: string, ca: string, line: string): Promise<number | undefined> {
  const body = await new Promise<string>((resolve, reject) => {
    get(`${url}/metrics`, { ca }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
    }).on('error', reject);
  });
  const found = body.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test(`a CRL expiring within ${CRL_EXPIRY_WARNING_DAYS} days: crl.expiring once per load, nextUpdate on /metrics`, async () => {
  const pki = await makeTestPki();
  const log = createMemoryLogger();
  const revoked = await pki.addDevice('exp-soon-revoked');
  await pki.revoke('exp-soon-revoked');
  const soon = await writeCrlValidFor(pki.dir, 10.5);
  const th = await startHub({ log }, pki);
  const expiring = (): string[] => log.lines.filter((l) => / crl\.expiring /.test(l));
  try {
    // At start: one warning with the date and the fix; the gauge holds nextUpdate in seconds.
    assert.equal(expiring().length, 1, log.lines.join('\n'));
    const line = expiring()[0] as string;
    assert.match(line, / warn crl\.expiring /);
    assert.ok(line.includes(`nextUpdate=${soon.toISOString()}`), line);
    assert.match(line, /daysLeft=10 /);
    assert.match(line, /fleethub ca crl/);
    assert.equal(await scrape(th.consoleUrl, pki.ca, GAUGE), soon.getTime() / 1000);
    assert.equal(await scrape(th.consoleUrl, pki.ca, 'fleethub_crl_expired'), 0);

    // Polls without a change do not repeat it.
    await th.hub.checkRevocation();
    await th.hub.checkRevocation();
    assert.equal(expiring().length, 1);

    // `fleethub ca crl`: a year of validity, no new warning, the gauge follows; revocation still holds.
    await writeCrl(pki.dir);
    await th.hub.checkRevocation();
    const renewed = parseCrl(await readFile(pkiPaths(pki.dir).crl, 'utf8'));
    assert.ok(renewed.serials.has(new X509Certificate(revoked.cert).serialNumber));
    assert.equal(await scrape(th.consoleUrl, pki.ca, GAUGE), (renewed.nextUpdate as Date).getTime() / 1000);
    assert.equal(expiring().length, 1);

    // Another short-lived CRL is another load: warned again, once.
    const again = await writeCrlValidFor(pki.dir, 2);
    await th.hub.checkRevocation();
    await th.hub.checkRevocation();
    assert.equal(expiring().length, 2);
    assert.ok((expiring()[1] as string).includes(`nextUpdate=${again.toISOString()}`));
    assert.equal(await scrape(th.consoleUrl, pki.ca, GAUGE), again.getTime() / 1000);
  } finally {
    await th.stop();
    await pki.cleanup();
  }
});

test('a CRL with time to spare: no warning, the gauge still shows its nextUpdate', async () => {
  const pki = await makeTestPki();
  const log = createMemoryLogger();
  const th = await startHub({ log }, pki);
  try {
    const crl = parseCrl(await readFile(pkiPaths(pki.dir).crl, 'utf8'));
    assert.deepEqual(log.lines.filter((l) => / crl\.(expiring|expired) /.test(l)), []);
    assert.equal(await scrape(th.consoleUrl, pki.ca, GAUGE), (crl.nextUpdate as Date).getTime() / 1000);
  } finally {
    await th.stop();
    await pki.cleanup();
  }
});
