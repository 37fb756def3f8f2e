/** The Origin rule of /v1/stream (SPEC: Dashboard protocol). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { originAllowed } from '../../src/hub/console/origin-policy.js';

describe('originAllowed', () => {
  it('allows requests without Origin (non-browser clients still need a token)', () => {
    assert.equal(originAllowed(undefined, 'hub:8444', null), true);
  });
  it('by default allows only https:// + Host', () => {
    assert.equal(originAllowed('https://hub:8444', 'hub:8444', null), true);
    assert.equal(originAllowed('https://HUB:8444', 'hub:8444', null), true);
    assert.equal(originAllowed('http://hub:8444', 'hub:8444', null), false);
    assert.equal(originAllowed('https://hub:8445', 'hub:8444', null), false);
    assert.equal(originAllowed('https://evil.example', 'hub:8444', null), false);
    assert.equal(originAllowed('null', 'hub:8444', null), false);
    assert.equal(originAllowed('https://hub:8444', undefined, null), false);
  });
  it('with configured origins allows exactly those', () => {
    const origins = ['https://ops.example.com'];
    assert.equal(originAllowed('https://ops.example.com', 'hub:8444', origins), true);
    assert.equal(originAllowed('https://hub:8444', 'hub:8444', origins), false);
    assert.equal(originAllowed('https://ops.example.com.evil', 'hub:8444', origins), false);
  });
});
