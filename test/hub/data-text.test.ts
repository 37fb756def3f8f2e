/**
 * The store keeps the device's own text of `data`: it must always mean what
 * the parsed message means, or not be used at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataText } from '../../src/hub/data-text.js';

test('finds the data object as the device wrote it, whatever the spacing and key order', () => {
  assert.equal(dataText('{"seq":1,"data":{"temp":21.5,"ok":true}}'), '{"temp":21.5,"ok":true}');
  assert.equal(dataText(' { "data" : { "a" : 1 } , "seq" : 2 , "ts" : 1700000000000 } '), '{ "a" : 1 }');
  assert.equal(dataText('{"seq":1,"data":{"note":"a } or \\" or { inside","n":-1.5e3}}'), '{"note":"a } or \\" or { inside","n":-1.5e3}');
  assert.equal(dataText('{"seq":1,"data":{"s":"ünïcødé ✓"}}'), '{"s":"ünïcødé ✓"}');
});

test('gives up rather than guess: escaped keys, no data object, batches', () => {
  assert.equal(dataText('{"seq":1,"d\\u0061ta":{"a":1}}'), undefined);
  assert.equal(dataText('{"seq":1,"data":{"a":1},"d\\u0061ta":{"a":2}}'), undefined, 'JSON.parse would keep the second');
  assert.equal(dataText('{"seq":1,"data":5}'), undefined);
  assert.equal(dataText('{"seq":1}'), undefined);
  assert.equal(dataText('{"batch":[{"seq":1,"data":{"a":1}}]}'), undefined);
  assert.equal(dataText('[{"data":{"a":1}}]'), undefined);
});

test('data given twice: the last one, as JSON.parse keeps', () => {
  assert.equal(dataText('{"data":{"a":1},"seq":1,"data":{"a":2}}'), '{"a":2}');
});

test('over many generated frames, the text always parses to the parsed message\'s data', () => {
  const pieces = ['"x"', '"a\\"b"', '"{"', '"}"', '"\\\\"', '1', '-0.5', '1e3', 'true', 'false', '"ü"'];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const space = (): string => [' ', '', '\n', '\t'][random(4)]!;
  let found = 0;
  for (let i = 0; i < 2000; i += 1) {
    const fields = Array.from({ length: 1 + random(4) }, (_, k) => `${space()}"f${k}"${space()}:${space()}${pieces[random(pieces.length)]}${space()}`);
    const members = [`"seq":${i + 1}`, `"data":${space()}{${fields.join(',')}}`];
    if (random(2) === 0) members.push(`"ts":${1_700_000_000_000 + i}`);
    if (random(5) === 0) members.push(`"data":{"again":${i}}`);
    if (random(2) === 0) members.reverse();
    const text = `${space()}{${members.map((m) => `${space()}${m}${space()}`).join(',')}}${space()}`;
    const parsed = JSON.parse(text) as { data: unknown };
    const found1 = dataText(text);
    if (found1 === undefined) continue;
    found += 1;
    assert.deepEqual(JSON.parse(found1), parsed.data, text);
  }
  assert.ok(found > 1900, `found the data text in ${found} of 2000 plain frames`);
});
