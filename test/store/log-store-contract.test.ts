/** The embedded log passes the store contract (test/store/store-contract.ts). */
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { storeContract } from './store-contract.js';
import { tempStoreDir } from './store-fixtures.js';

storeContract('log store', async () => {
  const tmp = await tempStoreDir();
  return {
    open: (options = {}) =>
      openStore(
        tmp.dir,
        // Tiny segments, so that retention (whole segments, never the active one) shows with a few KiB.
        { ...DEFAULT_STORE_CONFIG, segmentBytes: 1024, retentionBytes: options.retentionBytes ?? 0, retentionHours: options.retentionHours ?? 0 },
        { retentionCheckMs: 20, ...(options.now === undefined ? {} : { now: options.now }) },
      ),
    remove: () => tmp.remove(),
  };
});
