/**
 * The hub benchmark's baseline option and its per-round arithmetic: pure
 * logic, no timing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareConfigs, dependencyMismatches, flattenConfig, parseBaselineRevs } from '../../bench/hub-baseline.js';
import { roundRatios } from '../../bench/round-ratios.js';

describe('FLEETHUB_BENCH_BASELINE', () => {
  it('names none when unset or blank, and several revisions separated by commas', () => {
    assert.deepEqual(parseBaselineRevs(undefined), []);
    assert.deepEqual(parseBaselineRevs('  '), []);
    assert.deepEqual(parseBaselineRevs('272003f^, 1f58818^ ,main~3'), ['272003f^', '1f58818^', 'main~3']);
  });

  it('refuses an empty item, an option-like or odd name, and a revision named twice', () => {
    assert.throws(() => parseBaselineRevs('a,,b'), /empty revision/);
    assert.throws(() => parseBaselineRevs('--output=x'), /not a git revision name/);
    assert.throws(() => parseBaselineRevs('main;rm -rf'), /not a git revision name/);
    assert.throws(() => parseBaselineRevs('main,main'), /named twice/);
  });

  it('shares node_modules only when every dependency asks for the installed range', () => {
    const today = { dependencies: { ws: '^8.18.3', mqtt: '^5.16.0' }, devDependencies: { typescript: '~5.9.3' } };
    assert.deepEqual(dependencyMismatches({ dependencies: { ws: '^8.18.3' }, devDependencies: { typescript: '~5.9.3' } }, today), []);
    assert.deepEqual(dependencyMismatches({ dependencies: { ws: '^7.0.0', left: '1.0.0' } }, today), ['left 1.0.0 (installed here: none)', 'ws ^7.0.0 (installed here: ^8.18.3)']);
  });

  it('compares resolved configs key by key, Maps included', () => {
    const today = flattenConfig({ device: { port: 0, proxyProtocol: { trusted: [] } }, plans: new Map([['gold', { burst: 5 }]]) });
    const then = flattenConfig({ device: { port: 1 }, plans: new Map([['gold', { burst: 5 }]]), old: true });
    assert.deepEqual(compareConfigs(today, then), { differ: ['device.port: 1 then, 0 today'], onlyToday: ['device.proxyProtocol.trusted'], onlyBaseline: ['old'] });
  });
});

describe('per-round ratios', () => {
  it('divides each round by the same round of the reference and sums up by median and spread', () => {
    const r = roundRatios([2, 3, 4, 10, 5], [2, 2, 2, 2, 0]);
    assert.deepEqual(r, { median: 1.75, p25: 1.375, p75: 2.75, min: 1, max: 5, rounds: 4 });
  });
});
