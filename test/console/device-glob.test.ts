/** Device globs: matching, validity, and the conservative "lies within" check for subscribe scope. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globMatches, globWithin, isValidGlob, MAX_GLOB_LENGTH } from '../../src/hub/console/device-glob.js';

describe('globMatches', () => {
  const cases: [string, string, boolean][] = [
    ['*', 'anything', true],
    ['d1', 'd1', true],
    ['d1', 'd10', false],
    ['d?', 'd1', true],
    ['d?', 'd', false],
    ['d?', 'd12', false],
    ['site-a-*', 'site-a-', true],
    ['site-a-*', 'site-a-007', true],
    ['site-a-*', 'site-b-007', false],
    ['*-temp', 'greenhouse-temp', true],
    ['*-temp', 'greenhouse-temp2', false],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxcyyb', false],
    ['sensor-0??', 'sensor-042', true],
    ['Sensor', 'sensor', false], // case-sensitive, like device ids
  ];
  for (const [glob, id, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${id}`, () => assert.equal(globMatches(glob, id), expected));
  }

  it('stays fast on a hostile glob', () => {
    const glob = `${'*a'.repeat(30)}*b`;
    assert.equal(globMatches(glob, 'a'.repeat(64)), false);
  });
});

describe('isValidGlob', () => {
  it('accepts the device-id alphabet plus * and ?', () => {
    for (const g of ['*', 'd1', 'site_a.b-c*', '??x']) assert.ok(isValidGlob(g), g);
  });
  it('refuses empty, too long, other characters and non-strings', () => {
    for (const g of ['', 'x'.repeat(MAX_GLOB_LENGTH + 1), 'a b', 'a/b', '[ab]', '<img>', 5, null]) assert.ok(!isValidGlob(g), String(g));
  });
});

describe('globWithin', () => {
  const within: [string, string][] = [
    ['d1', 'd1'],
    ['d1', '*'],
    ['*', '*'],
    ['site-a-*', '*'],
    ['site-a-*', 'site-*'],
    ['site-a-1?', 'site-a-*'],
    ['site-a-1?', 'site-a-??'],
    ['d?', 'd?'],
    ['a*b', 'a*'],
    ['a**', 'a*'],
  ];
  const outside: [string, string][] = [
    ['*', 'd1'],
    ['*', 'site-*'],
    ['site-*', 'site-a-*'],
    ['d?', 'd1'],
    ['d*', 'd?'],
    ['d1', 'd2'],
    ['a*', 'a*b'],
    ['site-a?1', 'site-a-*'], // ? may be any character, not only '-'
  ];
  for (const [inner, outer] of within) it(`${inner} lies within ${outer}`, () => assert.equal(globWithin(inner, outer), true));
  for (const [inner, outer] of outside) it(`${inner} does not lie within ${outer}`, () => assert.equal(globWithin(inner, outer), false));

  it('never says yes wrongly: checked against every short id for random globs', () => {
    // Soundness by brute force: when globWithin(a, b) holds, every id of length <= 5 over {x, y} matched by a is matched by b.
    const ids: string[] = [''];
    for (let len = 1; len <= 5; len++) for (const prefix of ids.filter((id) => id.length === len - 1)) ids.push(`${prefix}x`, `${prefix}y`);
    const randomGlob = (): string => Array.from({ length: 1 + Math.floor(Math.random() * 4) }, () => 'xy*?'[Math.floor(Math.random() * 4)]).join('');
    for (let n = 0; n < 2_000; n++) {
      const a = randomGlob();
      const b = randomGlob();
      if (!globWithin(a, b)) continue;
      for (const id of ids) if (globMatches(a, id)) assert.ok(globMatches(b, id), `${a} within ${b}, but ${id} escapes`);
    }
  });

  it('is conservative: when unsure it refuses', () => {
    assert.equal(globWithin('??*', '?*?'), false); // true in fact, but not provable by the symbol match
  });
});
