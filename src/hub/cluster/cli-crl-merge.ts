/**
 * The CRL the CLI publishes to the cluster (`device revoke --config`) when
 * hubs revoked certificates too (renewal: `superseded`, a pending
 * certificate never used): the PKI folder's CRL knows only the folder's
 * inventory, so publishing it as it is would drop the hubs' revocations,
 * and its number could be below the one a hub published (the hubs would
 * refuse it as older). The CLI therefore signs the union of its inventory
 * and the cluster's `x.*` records, numbered above both, writes it to the
 * folder (and the number to the inventory), and publishes that
 * (cluster-revocations.ts has the whole design).
 */
import { readFile } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import { parseCrl, type CrlInfo } from '../../pki/crl.js';
import { loadInventory, saveInventory } from '../../pki/inventory.js';
import { loadCa, loadIssuingCa } from '../../pki/loaded-ca.js';
import { pkiPaths } from '../../pki/paths.js';
import { PUBLIC_MODE, withPkiLock, writeOneAtomic } from '../../pki/pki-files.js';
import { mergedCrl, type ClusterRevocation, type DeviceCaRole } from './cluster-revocations.js';

function infoOf(text: string | null): CrlInfo | null {
  if (text === null) return null;
  try {
    return parseCrl(text);
  } catch {
    return null;
  }
}

/** What {@link cliCrlToPublish} decides from. */
export interface CliCrlInput {
  readonly pkiDir: string;
  readonly role: DeviceCaRole;
  /** The CRL of `role` the cluster has now (null: none). */
  readonly published: string | null;
  /** Every `x.*` record of the cluster. */
  readonly revocations: readonly ClusterRevocation[];
  /** The passphrase of an encrypted `issuing.key`. */
  readonly issuingPassphrase: string | null;
}

/**
 * The CRL text of `role` to publish, or null to leave the cluster's as it
 * is (it lists everything the folder's does, or the folder has no such
 * CRL). Signs a merged one when the cluster has revocations the folder's CRL
 * lacks or a number at least as high; FH_ERR_* naming the key it needs when
 * that CA's key cannot be loaded.
 */
export async function cliCrlToPublish(input: CliCrlInput): Promise<string | null> {
  const paths = pkiPaths(input.pkiDir);
  const path = input.role === 'root' ? paths.crl : paths.issuingCrl;
  const localText = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (localText === null) return null;
  const local = parseCrl(localText);
  const published = infoOf(input.published);
  const mine = input.revocations.filter((r) => r.role === input.role);
  const union = new Set([...local.serials, ...mine.map((r) => r.serial)]);
  if (published !== null && [...union].every((s) => published.serials.has(s))) return null;
  if (mine.every((r) => local.serials.has(r.serial)) && (local.number ?? 0) > (published?.number ?? 0)) return localText;
  let ca;
  try {
    ca = input.role === 'root' ? await loadCa(paths.dir) : await loadIssuingCa(paths.dir, input.issuingPassphrase);
    if (ca === null) throw new FleethubError('FH_ERR_CA_MISSING', `no issuing CA in ${paths.dir}`);
  } catch (err) {
    if (!(err instanceof FleethubError)) throw err;
    // The root's key off this machine (online signing): the hubs' revocations of root-signed certificates were never on a
    // published CRL (hubs cannot sign it), so the folder's CRL, newer than the cluster's and listing all it lists, loses nothing.
    const covers = published === null || ([...published.serials].every((s) => local.serials.has(s)) && (local.number ?? 0) > (published.number ?? 0));
    if (input.role === 'root' && covers) return localText;
    const what = input.role === 'root' ? 'the root CA\'s key (ca.key)' : 'the issuing CA\'s key (--passphrase-file for an encrypted issuing.key)';
    throw new FleethubError(err.code, `cluster: the ${input.role} CA's CRL must merge revocations the hubs made, which needs ${what}: ${err.message}`, { cause: err });
  }
  const signer = ca;
  return withPkiLock(paths.dir, async () => {
    const inventory = await loadInventory(paths.dir);
    const recorded = input.role === 'root' ? inventory.crlNumber : inventory.issuingCrlNumber;
    const crl = mergedCrl({
      role: input.role, ca: signer, inventories: [inventory], revocations: mine,
      numbers: [recorded, local.number ?? 0, published?.number ?? 0], now: new Date(),
    });
    // The number first (never issued twice), then the CRL, as the folder's own CRL writes do.
    if (input.role === 'root') inventory.crlNumber = crl.number;
    else inventory.issuingCrlNumber = crl.number;
    await saveInventory(paths.dir, inventory);
    await writeOneAtomic(path, crl.pem, PUBLIC_MODE);
    return crl.pem;
  });
}
