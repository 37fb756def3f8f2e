/**
 * Seq resets (`fleethub device reset-seq`), kept in `seq-resets.json`: for
 * each device reset, the log position from which its seqs count again.
 * Recovery leaves a device's older readings out of its dedupe window, so a
 * reset survives restarts however the state is rebuilt (checkpoint or full
 * replay).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { FleethubError } from '../errors.js';

/** The file's name inside the store folder. */
export const SEQ_RESETS_FILE = 'seq-resets.json';

/** Device id → first log position that counts for its seqs. */
export type SeqResets = Map<string, number>;

/** Loads the resets of the store in `dir` (none yet: an empty map). */
export async function loadSeqResets(dir: string): Promise<SeqResets> {
  const path = join(dir, SEQ_RESETS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new FleethubError('FH_ERR_STORE_IO', `store: cannot read ${path}`, { cause: err });
  }
  const resets: SeqResets = new Map();
  try {
    const json = JSON.parse(text) as { resets?: unknown };
    if (typeof json.resets !== 'object' || json.resets === null) throw new Error('no resets object');
    for (const [device, position] of Object.entries(json.resets)) {
      if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) throw new Error(`bad position for ${device}`);
      resets.set(device, position);
    }
  } catch (err) {
    throw new FleethubError('FH_ERR_STORE_IO', `store: ${path} is not valid (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return resets;
}

/** Writes `resets` atomically (0600). */
export async function saveSeqResets(dir: string, resets: SeqResets): Promise<void> {
  // A null-prototype object: device ids such as `__proto__` stay plain keys.
  const entries: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [device, position] of resets) entries[device] = position;
  await writeFileAtomic(join(dir, SEQ_RESETS_FILE), `${JSON.stringify({ resets: entries })}\n`, { mode: 0o600 });
}
