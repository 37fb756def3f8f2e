/**
 * When the hub asks for a renewal (`hello.cert.renew`), pure: from two
 * thirds of the lifetime, spread over the window by a hash of the id, at the
 * latest once a tenth is left, short certificates included. And a hub that
 * may not write the inventory (cluster mode) refuses every request
 * `unavailable` without offering the feature.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeToExpiry, renewAt, renewalDue, spreadOf, RENEW_BY_FRACTION, RENEW_FROM_FRACTION } from '../../src/pki/renewal-timing.js';
import { RenewalParticipant } from '../../src/hub/renewal/renewal-participant.js';
import { resolveHubConfig } from '../../src/hub/config.js';
import { MetricsRegistry } from '../../src/metrics.js';
import { SILENT_LOGGER } from '../../src/log.js';
import type { DownlinkPort } from '../../src/hub/session-extension.js';

const YEAR_MS = 365 * 86_400_000;

test('the renewal point lies between two thirds and nine tenths of the lifetime, spread by the id', () => {
  const points = new Set<number>();
  for (let i = 0; i < 1000; i += 1) {
    const at = renewAt(`dev-${i}`, 0, YEAR_MS);
    assert.ok(at >= Math.floor(YEAR_MS * RENEW_FROM_FRACTION) && at <= Math.floor(YEAR_MS * RENEW_BY_FRACTION), `dev-${i}: ${at}`);
    points.add(Math.floor(at / 86_400_000));
    assert.equal(renewAt(`dev-${i}`, 0, YEAR_MS), at, 'the same id, the same point');
  }
  // 1,000 devices issued the same day renew over many days, not the same hour.
  assert.ok(points.size > 60, `${points.size} distinct days`);
  assert.ok(spreadOf('a') >= 0 && spreadOf('a') < 1);
});

test('every certificate is due once a tenth of its lifetime is left, however short', () => {
  for (const lifetime of [60_000, 3_600_000, 86_400_000, YEAR_MS]) {
    for (const id of ['a', 'b', 'zz-999', 'x'.repeat(64)]) {
      assert.equal(renewalDue(id, 0, lifetime, Math.ceil(lifetime * RENEW_BY_FRACTION)), true, `${id} ${lifetime}`);
      assert.equal(renewalDue(id, 0, lifetime, Math.floor(lifetime * RENEW_FROM_FRACTION) - 1), false, `${id} ${lifetime}`);
    }
    assert.equal(closeToExpiry(0, lifetime, Math.ceil(lifetime * 0.9)), true);
    assert.equal(closeToExpiry(0, lifetime, Math.floor(lifetime * 0.89)), false);
  }
});

test('a hub that may not write the inventory refuses renewal: no feature, no hello.cert, certError unavailable', () => {
  const { hub } = resolveHubConfig({}, { baseDir: '/tmp' });
  const participant = new RenewalParticipant({ config: hub.renewal, ledger: null, refusal: 'cluster', metrics: new MetricsRegistry(), log: SILENT_LOGGER });
  const sent: string[] = [];
  const port: DownlinkPort = { device: 'c-1', serial: 'AB', limits: hub.limits, open: true, sendDownlink: (text) => (sent.push(text), true) };
  assert.equal(participant.feature(), null);
  assert.equal(participant.helloCert(port, { device: 'c-1', plan: undefined }), undefined);
  participant.opened(port, { device: 'c-1', plan: undefined });
  assert.equal(participant.handlers.get('renew')?.(port, {}), null);
  assert.equal(participant.handlers.get('csr')?.(port, 'x'), null);
  assert.deepEqual(sent.map((t) => JSON.parse(t) as unknown), [
    { certError: { error: 'unavailable', retryAfterMs: hub.renewal.minIntervalMs } },
    { certError: { error: 'unavailable', retryAfterMs: hub.renewal.minIntervalMs } },
  ]);
});
