/**
 * Issuing device certificates by the thousand (`device add --count N
 * --prefix P`, and the simulator's `--provision`). Keys are made on all cores
 * (RSA on libuv's thread pool), certificates signed inline, and files written
 * in chunks whose fsyncs run concurrently, so the filesystem commits them in
 * shared journal transactions. The inventory is written once, last.
 */
import { FleethubError } from '../errors.js';
import { loadSigningCa } from './loaded-ca.js';
import { assertDeviceId } from './device-id.js';
import { retireDevice, resolvePlan, signDevice } from './devices.js';
import { loadInventory, saveInventory, statusOf, toRecord, type DeviceRecord, type StoredDevice } from './inventory.js';
import { generateKeys, resolveKeySpec, type KeyPair, type KeyType } from './keys.js';
import { pkiPaths } from './paths.js';
import { ensurePrivateDir, withPkiLock, writeFilesAtomic, type FileWrite } from './pki-files.js';
import { defaultDeviceDays, resolveDays, type DeviceRenewalPolicy } from './validity.js';

/** Largest `--count`: a bound on one command's run time and memory. */
export const MAX_BATCH_COUNT = 100_000;
/** Devices issued per chunk (keys, certificates and files in memory at once). */
export const BATCH_CHUNK = 1000;
/** RSA keys generated at once: libuv's default pool has 4 threads. */
export const RSA_KEYGEN_CONCURRENCY = 4;

/** Options of {@link addDevices}. */
export interface AddDevicesOptions {
  /** How many devices: ids `<prefix>0001` … (at least 4 digits, more when count needs them). */
  count: number;
  /** Id prefix; `<prefix>0001` must be a valid device id. */
  prefix: string;
  /** @defaultValue null */
  plan?: string;
  /** @defaultValue {@link defaultDeviceDays}: with an issuing CA and `renewal` renewing, its `deviceDays` (a year); else ten years */
  days?: number;
  /** Whether the hub renews what the issuing CA signs. @defaultValue a hub on its defaults (renewal on, a year) */
  renewal?: DeviceRenewalPolicy;
  /** @defaultValue 'ec' */
  keyType?: KeyType;
  /** @defaultValue 2048 */
  keyBits?: number;
  /**
   * false: fail with FH_ERR_DEVICE_EXISTS (nothing written) when any id of the
   * batch already has an active certificate. true: leave those alone and
   * issue only the missing ones (revoked or expired ids are re-issued); the
   * result then holds only the newly issued devices.
   * @defaultValue false
   */
  skipExisting?: boolean;
  /** The passphrase of an encrypted `issuing.key`. @defaultValue null */
  issuingPassphrase?: string | null;
  /** Called after each chunk is on disk. @defaultValue undefined */
  onProgress?: (done: number, total: number) => void;
}

/** Where a batch spent its time (wall-clock ms). */
export interface BatchTimings {
  keygenMs: number;
  signMs: number;
  writeMs: number;
  inventoryMs: number;
}

/** The ids of a batch: prefix + zero-padded 1…count. */
export function batchIds(prefix: string, count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH_COUNT) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--count must be a whole number from 1 to ${MAX_BATCH_COUNT}, got ${count}`);
  }
  const width = Math.max(4, String(count).length);
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
  assertDeviceId(ids[ids.length - 1] as string);
  return ids;
}

async function makeKeys(count: number, type: KeyType, bits: number): Promise<KeyPair[]> {
  const spec = { type, bits };
  if (type === 'ec') {
    const out: KeyPair[] = [];
    for (let i = 0; i < count; i += 1) out.push(await generateKeys(spec));
    return out;
  }
  const out: KeyPair[] = new Array<KeyPair>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await generateKeys(spec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RSA_KEYGEN_CONCURRENCY, count) }, worker));
  return out;
}

/** {@link addDevices}, also reporting where the time went (the benchmark reads it). */
export async function addDevicesTimed(dir: string, opts: AddDevicesOptions): Promise<{ records: DeviceRecord[]; timings: BatchTimings }> {
  const ids = batchIds(opts.prefix, opts.count);
  const spec = resolveKeySpec(opts.keyType, opts.keyBits);
  const plan = resolvePlan(opts.plan);
  const paths = pkiPaths(dir);
  const signer = await loadSigningCa(paths.dir, opts.issuingPassphrase ?? null);
  const days = resolveDays(opts.days, defaultDeviceDays(signer.role, opts.renewal));
  const timings: BatchTimings = { keygenMs: 0, signMs: 0, writeMs: 0, inventoryMs: 0 };
  return withPkiLock(paths.dir, async () => {
    const inventory = await loadInventory(paths.dir);
    const now = new Date();
    const current = new Map(inventory.devices.map((d) => [d.id, d]));
    const todo = ids.filter((id) => {
      const d = current.get(id);
      if (!d || statusOf(d, now) !== 'active') return true;
      if (opts.skipExisting) return false;
      throw new FleethubError('FH_ERR_DEVICE_EXISTS', `device ${id} already has an active certificate (nothing was issued)`);
    });
    await ensurePrivateDir(paths.devicesDir);
    const issued: StoredDevice[] = [];
    for (let start = 0; start < todo.length; start += BATCH_CHUNK) {
      const chunk = todo.slice(start, start + BATCH_CHUNK);
      let t = performance.now();
      const keys = await makeKeys(chunk.length, spec.type, spec.bits);
      timings.keygenMs += performance.now() - t;
      t = performance.now();
      const files: FileWrite[] = [];
      chunk.forEach((id, i) => {
        const pair = keys[i] as KeyPair;
        const out = signDevice(signer, paths.dir, { id, publicKey: pair.publicKey, privateKey: pair.privateKey, keyType: spec.type, plan, days }, now);
        issued.push(out.device);
        files.push(...out.files);
      });
      timings.signMs += performance.now() - t;
      t = performance.now();
      await writeFilesAtomic(files);
      timings.writeMs += performance.now() - t;
      opts.onProgress?.(start + chunk.length, todo.length);
    }
    const t = performance.now();
    // Only ids that were revoked or expired are re-issued here (active ones were refused or skipped).
    for (const d of issued) retireDevice(inventory, d.id, false, now);
    inventory.devices.push(...issued);
    await saveInventory(paths.dir, inventory);
    timings.inventoryMs = performance.now() - t;
    return { records: issued.map((d) => toRecord(d, now)), timings };
  });
}

/**
 * Issues `count` devices `<prefix>0001`… in one batch (see
 * {@link AddDevicesOptions.skipExisting} for ids that exist). Files are
 * written chunk by chunk; the inventory once at the end, so an interrupted
 * batch leaves files the inventory does not list, which a re-run replaces.
 */
export async function addDevices(dir: string, opts: AddDevicesOptions): Promise<DeviceRecord[]> {
  return (await addDevicesTimed(dir, opts)).records;
}
