/**
 * The cluster tuning of commands and desired configuration (HubOptions.cluster):
 * its defaults, and a bad value refused in one line naming the option.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FleethubError } from '../../../src/errors.js';
import { DEFAULT_COMMAND_GRACE_MS, DEFAULT_CONTROL_WATCH_RETRY_MS, resolveClusterControlOptions } from '../../../src/hub/cluster/cluster-control.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof FleethubError, `expected a FleethubError, got ${String(err)}`);
    assert.equal(err.code, 'FH_ERR_CONFIG');
    return err.message;
  }
  assert.fail('expected a refusal');
}

describe('cluster control options', () => {
  it('default to the DEFAULT_* constants, and other cluster options beside them are left alone', () => {
    assert.deepEqual(resolveClusterControlOptions({}), { commandGraceMs: DEFAULT_COMMAND_GRACE_MS, controlWatchRetryMs: DEFAULT_CONTROL_WATCH_RETRY_MS });
    const withOthers = { leaseTtlMs: 5_000, commandGraceMs: 0 } as const;
    assert.equal(resolveClusterControlOptions(withOthers).commandGraceMs, 0);
  });

  it('refuse a bad value in one line naming the option', () => {
    assert.equal(refusal(() => resolveClusterControlOptions({ commandGraceMs: -1 })), 'config: clusterOptions.commandGraceMs must be an integer ≥ 0, got -1');
    assert.equal(refusal(() => resolveClusterControlOptions({ controlWatchRetryMs: 5 })), 'config: clusterOptions.controlWatchRetryMs must be an integer ≥ 10, got 5');
  });
});
