/**
 * The embedded store: opening the append-only log in a folder (the log
 * itself, with group commit, is embedded-log.ts; its failure and recovery
 * while running, write-outage.ts; recovery after a crash, recovery.ts; the
 * history index, history/).
 */
import { FleethubError, isFleethubError } from '../errors.js';
import type { StoreConfig } from './store-config.js';
import { CursorFile } from './cursor-file.js';
import { prepareDataDir } from './data-dir.js';
import { lockDir } from './dir-lock.js';
import { EmbeddedLog } from './embedded-log.js';
import { HistoryIndex, HistoryScan } from './history/history-index.js';
import { recoverLog } from './recovery.js';
import { resolveStoreOptions, type StoreOptions } from './store-options.js';
import type { Segment } from './segment.js';
import { SegmentWriter } from './segment-writer.js';
import { loadSeqResets } from './seq-resets.js';
import type { Store } from './types.js';

export {
  DEFAULT_CHECKPOINT_BYTES, DEFAULT_READ_MAX_BYTES, DEFAULT_RECOVERY_CHECK_MS, DEFAULT_RETENTION_CHECK_MS, MAX_READ_READINGS, type StoreOptions,
} from './store-options.js';

/** The embedded log: a {@link Store}. */
export type EmbeddedStore = Store;

/**
 * Opens (creating it 0700 if needed) the store in `dir`, recovering from a
 * crash if there was one. Throws FH_ERR_STORE_IO when the folder cannot be
 * used, FH_ERR_CONFIG on a bad config value.
 */
export async function openStore(dir: string, config: StoreConfig, options: StoreOptions = {}): Promise<EmbeddedStore> {
  const resolved = resolveStoreOptions(config, options);
  const { log, monotonic } = resolved;
  const started = monotonic();
  let release: (() => Promise<void>) | undefined;
  try {
    await prepareDataDir(dir);
    release = await lockDir(dir);
    const resets = await loadSeqResets(dir);
    const scan = new HistoryScan(dir);
    const recovered = await recoverLog(dir, log, resolved.now(), resets, (base) => scan.visitor(base));
    const historyOptions = { enabled: resolved.historyIndex, writeWindowBytes: resolved.historyWriteWindowBytes, timing: resolved.historyTiming };
    const history = await HistoryIndex.open(dir, log, historyOptions, recovered.segments, scan);
    const cursors = await CursorFile.load(dir);
    const active = recovered.segments[recovered.segments.length - 1] as Segment;
    const writer = await SegmentWriter.open(active.path);
    const store = new EmbeddedLog({
      ...resolved, dir, config, release, cursors, writer, resets, history,
      segments: recovered.segments,
      devices: recovered.devices,
      checkpointPosition: recovered.checkpointPosition,
    });
    log.log('info', 'store.open', {
      dir,
      segments: recovered.segments.length,
      first: store.firstPosition(),
      next: store.nextPosition(),
      devices: recovered.devices.size,
      checkpoint: recovered.usedCheckpoint,
      replayed: recovered.replayed,
      truncatedBytes: recovered.truncatedBytes,
      ms: Math.round(monotonic() - started),
    });
    return store;
  } catch (err) {
    await release?.();
    if (isFleethubError(err)) throw err;
    throw new FleethubError('FH_ERR_STORE_IO', `store: cannot open ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
