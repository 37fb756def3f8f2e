/**
 * Revocations made by cluster hubs (a renewed device's previous certificate,
 * `superseded`; a pending one never used) and the CRL that carries them to
 * every hub (SPEC: Cluster mode, Device protocol version 2).
 *
 * A hub records each revocation under `x.<i|r>.<serial>` in the renewal bucket
 * before anything else, then publishes the issuing CA's CRL to the PKI
 * bucket's `issuing-crl` key. Whoever publishes that CRL (a hub, or the CLI
 * with `device revoke --config`) signs the union of what it knows (the
 * published inventory, its own PKI folder's inventory) and every `x.*`
 * record, with a CRL number above every number seen (the published CRL's,
 * the folder's), and writes it with a compare-and-set on the revision it
 * read: a publisher that raced another reads again and merges again. So no
 * publisher can drop another's revocation, and the number only grows (the
 * CRL watcher refuses an older CRL).
 *
 * The order of reads matters: the CRL's revision first, then the
 * inventory and the `x.*` records. The CLI writes the inventory before the
 * CRL, and a hub its `x.*` record before the CRL, so a publisher that read a
 * revision has seen every revocation published up to it.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import { buildCrl, parseCrl, type CrlEntry, type RevocationReason } from '../../pki/crl.js';
import { parseInventory, type InventoryFile } from '../../pki/inventory.js';
import type { LoadedCa } from '../../pki/loaded-ca.js';
import { crlEntries } from '../../pki/revocation.js';
import { DEFAULT_CRL_DAYS } from '../../pki/validity.js';
import { crlKeyOf } from './cluster-crl.js';
import { isCasConflict } from './cluster-bucket.js';

const DAY_MS = 86_400_000;
const encoder = new TextEncoder();

/** Compare-and-set rounds a publisher tries before it gives up (each lost round means another publisher wrote a newer CRL). */
export const MAX_CRL_PUBLISH_ATTEMPTS = 8;

/** The CAs whose certificates a hub or the CLI revokes by renewal (the claim CA's CRL is the CLI's alone). */
export type DeviceCaRole = 'root' | 'issuing';

/** One revocation made in the cluster, as stored under {@link revocationKey}. */
export interface ClusterRevocation {
  /** Uppercase hex. */
  readonly serial: string;
  /** The CA that signed the certificate (whose CRL lists it). */
  readonly role: DeviceCaRole;
  readonly device: string;
  /** ISO 8601. */
  readonly revokedAt: string;
  readonly reason: RevocationReason;
}

/** The key of a revocation record: `x.i.<serial>` for the issuing CA's, `x.r.<serial>` for the root's. */
export function revocationKey(role: DeviceCaRole, serial: string): string {
  return `x.${role === 'issuing' ? 'i' : 'r'}.${serial}`;
}

/** The serials of the issuing CA's revocations recorded in the cluster (from the keys alone). */
export async function issuingRevokedSerials(kv: KV): Promise<string[]> {
  const serials: string[] = [];
  for await (const key of await kv.keys('x.i.>')) serials.push(key.slice(4));
  return serials;
}

/** Records revocations (idempotent: a serial is revoked once, its first record kept). */
export async function recordRevocations(kv: KV, revocations: readonly ClusterRevocation[]): Promise<void> {
  for (const r of revocations) {
    try {
      await kv.create(revocationKey(r.role, r.serial), encoder.encode(JSON.stringify(r)));
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
}

/** Every revocation recorded in the cluster. */
export async function clusterRevocations(kv: KV): Promise<ClusterRevocation[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys('x.>')) keys.push(key);
  const out: ClusterRevocation[] = [];
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    out.push(entry.json<ClusterRevocation>());
  }
  return out;
}

/** The PUT text of an entry, or null. */
export function textOfEntry(entry: KvEntry | null): string | null {
  return entry !== null && entry.operation === 'PUT' ? entry.string() : null;
}

/** The CRL number of a CRL text, 0 when there is none or it cannot be read (a number above it is still chosen). */
export function crlNumberOf(text: string | null): number {
  if (text === null) return 0;
  try {
    return parseCrl(text).number ?? 0;
  } catch {
    return 0;
  }
}

/** An inventory text, or null when there is none or it cannot be read (the other sources still count). */
export function inventoryOf(text: string | null): InventoryFile | null {
  if (text === null) return null;
  try {
    return parseInventory(text, 'the published inventory');
  } catch {
    return null;
  }
}

/** What {@link mergedCrl} merges. */
export interface CrlMerge {
  readonly role: DeviceCaRole;
  /** The CA of `role`, which signs. */
  readonly ca: LoadedCa;
  /** Inventories whose revoked certificates of `role` the CRL lists. */
  readonly inventories: ReadonlyArray<InventoryFile | null>;
  readonly revocations: readonly ClusterRevocation[];
  /** Every CRL number seen for this CA: the new one is above them all. */
  readonly numbers: readonly number[];
  readonly now: Date;
  /** nextUpdate − thisUpdate. @defaultValue DEFAULT_CRL_DAYS */
  readonly days?: number;
}

/** Pure apart from the signature: the union CRL of `role`, numbered above every number given. */
export function mergedCrl(merge: CrlMerge): { pem: string; number: number; serials: Set<string> } {
  const entries = new Map<string, CrlEntry>();
  for (const inventory of merge.inventories) {
    if (inventory === null) continue;
    for (const entry of crlEntries(inventory, merge.role)) if (!entries.has(entry.serial)) entries.set(entry.serial, entry);
  }
  for (const r of merge.revocations) {
    if (r.role === merge.role && !entries.has(r.serial)) entries.set(r.serial, { serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason });
  }
  const number = Math.max(0, ...merge.numbers) + 1;
  const pem = buildCrl(merge.ca.issuer, [...entries.values()], {
    number, thisUpdate: merge.now, nextUpdate: new Date(merge.now.getTime() + (merge.days ?? DEFAULT_CRL_DAYS) * DAY_MS),
  });
  return { pem, number, serials: new Set(entries.keys()) };
}

/** What a hub publishes its CRL from. */
export interface HubCrlPublisher {
  /** The PKI bucket (`crl`, `issuing-crl`, `inventory`). */
  readonly pkiKv: KV;
  /** The renewal bucket (`x.*`). */
  readonly renewalKv: KV;
  /** The CA that signs (the issuing CA: the root's key is not on a hub). */
  readonly ca: LoadedCa;
  readonly role: DeviceCaRole;
  /** The hub's PKI folder's inventory and CRL number of `role` (read each time: the operator may have copied a newer folder). */
  readonly local: () => Promise<{ inventory: InventoryFile | null; numbers: number[] }>;
}

/**
 * Publishes the union CRL of `p.role` to the cluster with a compare-and-set;
 * resolves with its number. Throws when JetStream cannot be reached, or
 * after {@link MAX_CRL_PUBLISH_ATTEMPTS} lost rounds (the `x.*` records
 * stay: the next publisher includes them).
 */
export async function publishHubCrl(p: HubCrlPublisher): Promise<number> {
  const key = crlKeyOf(p.role);
  for (let attempt = 1; ; attempt += 1) {
    // The revision first (see the module's comment), then what it must include.
    const current = await p.pkiKv.get(key);
    const published = textOfEntry(current);
    const inventory = inventoryOf(textOfEntry(await p.pkiKv.get('inventory')));
    const revocations = await clusterRevocations(p.renewalKv);
    const local = await p.local();
    const recorded = inventory === null ? 0 : p.role === 'root' ? inventory.crlNumber : inventory.issuingCrlNumber;
    const crl = mergedCrl({
      role: p.role, ca: p.ca, inventories: [inventory, local.inventory], revocations,
      numbers: [crlNumberOf(published), recorded, ...local.numbers], now: new Date(),
    });
    try {
      if (current === null) await p.pkiKv.create(key, encoder.encode(crl.pem));
      else await p.pkiKv.update(key, encoder.encode(crl.pem), current.revision);
      return crl.number;
    } catch (err) {
      if (!isCasConflict(err) || attempt >= MAX_CRL_PUBLISH_ATTEMPTS) throw err;
    }
  }
}
