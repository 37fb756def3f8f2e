/**
 * The checkpoint: every device's state as of one log position, written
 * atomically (temp file, fsync, rename) so that opening the store replays
 * only the log written after it instead of the whole log.
 *
 * It is written between two group commits, so it describes exactly the
 * readings before `position` and never one that is not yet durable.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import { deviceStateFromJson, deviceStateToJson, type DeviceState, type DeviceStateJson } from './device-state.js';

/** The checkpoint's file name inside the store folder. */
export const CHECKPOINT_FILE = 'checkpoint.json';

const VERSION = 1;

/** A checkpoint as loaded. */
export interface Checkpoint {
  /** Every reading before this position is reflected in `devices`. */
  readonly position: number;
  /** Where `position` is in the log: the segment's base and the byte offset in it. */
  readonly segmentBase: number;
  readonly offset: number;
  readonly devices: Map<string, DeviceState>;
}

interface CheckpointJson {
  readonly version: number;
  readonly position: number;
  readonly segmentBase: number;
  readonly offset: number;
  readonly devices: readonly DeviceStateJson[];
}

/**
 * Writes the checkpoint for `position` (byte `offset` of the segment at
 * `segmentBase`) atomically (0600). The state is serialised synchronously,
 * before the first await: it is the state at the moment of the call.
 */
export async function writeCheckpoint(
  dir: string,
  at: { readonly position: number; readonly segmentBase: number; readonly offset: number },
  devices: ReadonlyMap<string, DeviceState>,
): Promise<void> {
  const entries: DeviceStateJson[] = [];
  for (const [id, state] of devices) entries.push(deviceStateToJson(id, state));
  const json: CheckpointJson = { version: VERSION, position: at.position, segmentBase: at.segmentBase, offset: at.offset, devices: entries };
  await writeFileAtomic(join(dir, CHECKPOINT_FILE), JSON.stringify(json), { mode: 0o600 });
}

/**
 * Loads the checkpoint, or null when there is none. An unreadable one is
 * logged and ignored: the log itself is the truth, the checkpoint only saves
 * time, so the store then replays the whole log.
 */
export async function readCheckpoint(dir: string, log: Logger): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const json = JSON.parse(text) as CheckpointJson;
    const counts = [json.position, json.segmentBase, json.offset];
    if (json.version !== VERSION || !counts.every((n) => Number.isSafeInteger(n) && n >= 0) || !Array.isArray(json.devices)) {
      throw new Error('unexpected shape');
    }
    const devices = new Map(json.devices.map(deviceStateFromJson));
    return { position: json.position, segmentBase: json.segmentBase, offset: json.offset, devices };
  } catch (err) {
    log.log('warn', 'store.checkpoint_ignored', { reason: err instanceof Error ? err.message : String(err) });
    return null;
  }
}
