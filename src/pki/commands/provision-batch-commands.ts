/**
 * `fleethub provision batch add|export|list|revoke` (SPEC: Provisioning by
 * claim): factory batches and their claim certificates. `provision export`,
 * `provision list` and `provision revoke` are the same commands one level up,
 * as SPEC writes them. With a cluster hub's `--config`, `add` and `revoke`
 * also publish the claim CRL and the inventory to the cluster, so every hub
 * refuses a revoked batch and provisions with a new one at once.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { FleethubError } from '../../errors.js';
import { addBatch, DEFAULT_CLAIM_DAYS, listBatches, MAX_BATCH_IDS, parseIdsFile, revokeBatch } from '../claim-batches.js';
import { exportEsp32Header } from '../esp32-header.js';
import { assertDeviceId } from '../device-id.js';
import { pkiPaths } from '../paths.js';
import { exists, KEY_MODE, readText, writeFilesAtomic } from '../pki-files.js';
import { assertCaPresent } from '../loaded-ca.js';
import { readPassphrase } from '../ca-passphrase.js';
import { hubTargetOption, resolveHubTarget, type HubTarget, type HubTargetReader } from './hub-target.js';
import { day, examples, parseWhole, passphraseOption, pkiOption, resolvePkiDir } from './pki-options.js';

/** Largest ids file read. */
const MAX_IDS_FILE_BYTES = 8 * 1024 * 1024;

async function readIdsFile(path: string): Promise<string[]> {
  try {
    if ((await stat(path)).size > MAX_IDS_FILE_BYTES) throw new Error(`larger than ${MAX_IDS_FILE_BYTES} bytes`);
    return parseIdsFile(await readFile(path, 'utf8'));
  } catch (err) {
    if (err instanceof FleethubError) throw err;
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `cannot read the ids file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Publishes the folder to the cluster of `target` after `done` changed it
 * there; a failure says that the folder has the change and the hubs do not
 * yet (FH_ERR_STORE_IO: NATS unreachable).
 */
async function publishChange(target: HubTarget, done: string, flags: { passphraseFile?: string }): Promise<string> {
  const cluster = target.cluster as NonNullable<HubTarget['cluster']>;
  try {
    const published = await cluster.publish(await readPassphrase({ file: flags.passphraseFile ?? null }));
    return `published the inventory (revision ${published.inventory})${published.claimCrl === null ? '' : ` and the claim CRL (revision ${published.claimCrl})`} to the cluster`;
  } catch (err) {
    if (!(err instanceof FleethubError)) throw err;
    throw new FleethubError(err.code, `${done} in ${target.pkiDir}, but the cluster's hubs do not know it yet: ${err.message}`, { cause: err });
  }
}

function registerAdd(parent: Command, reader: HubTargetReader | undefined): void {
  const cmd = parent.command('add <batch>')
    .description('make a batch: its claim certificate (claims/<batch>.crt, .key) and who it may provision')
    .option('--ids-file <file>', 'the allow-list: one device id per line (# comments allowed)')
    .option('--open', 'no allow-list: any id, at most --max of them (a leaked claim certificate then mints up to --max devices)')
    .option('--max <n>', `with --open: how many devices at most (1 to ${MAX_BATCH_IDS})`)
    .option('--days <n>', `validity of the claim certificate in days (default ${DEFAULT_CLAIM_DAYS})`);
  hubTargetOption(cmd, reader, 'the inventory is also published to the cluster: every hub provisions with the batch at once');
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, [
    'fleethub provision batch add line-7 --ids-file ids.txt', 'fleethub provision batch add lab --open --max 20',
    ...(reader === undefined ? [] : ['fleethub provision batch add line-8 --ids-file ids.txt --config hub-a.json']),
  ]);
  type AddFlags = { pki?: string; config?: string; idsFile?: string; open?: boolean; max?: string; days?: string; passphraseFile?: string };
  cmd.action(action(async (batch: string, flags: AddFlags) => {
    const target = await resolveHubTarget(flags, reader);
    const dir = target.pkiDir;
    if (flags.idsFile !== undefined && flags.open) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', 'give either --ids-file FILE or --open --max N, not both');
    const ids = flags.idsFile === undefined ? undefined : await readIdsFile(flags.idsFile);
    const hadClaimCa = await exists(pkiPaths(dir).claimCaCert);
    const made = await addBatch(dir, batch, {
      ...(ids === undefined ? {} : { ids }), open: flags.open ?? false, ...(flags.max === undefined ? {} : { max: parseWhole(flags.max, '--max') as number }),
      days: parseWhole(flags.days, '--days'),
    });
    const who = made.allow === null ? `any id, at most ${made.max ?? 0}` : `${made.allow.length} allowed ids`;
    process.stdout.write(`created batch ${made.name} (${who}; claim certificate ${pkiPaths(dir).claimCert(made.name)}, valid until ${day(made.notAfter)})\n`);
    if (target.cluster === null) return;
    const published = await publishChange(target, `batch ${made.name} was made`, flags);
    // The claim CA is the hubs' trust anchor for /v1/provision, read at start: a cluster does not carry it.
    const paths = pkiPaths(dir);
    process.stdout.write(hadClaimCa ? `${published}: every hub may provision with batch ${made.name}\n`
      : `${published}; the claim CA was made with this batch: copy ${paths.claimCaCert} and ${paths.claimCrl} to every hub's PKI folder and restart the hubs\n`);
  }));
}

function registerList(parent: Command): void {
  const cmd = parent.command('list').description('the batches: status, who they may provision, how many they did').option('--json', 'print a JSON array');
  pkiOption(cmd);
  examples(cmd, ['fleethub provision list']);
  cmd.action(action(async (flags: { pki?: string; json?: boolean }) => {
    const dir = resolvePkiDir(flags.pki);
    await assertCaPresent(dir);
    const rows = await listBatches(dir);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(rows.map(({ batch, provisioned }) => ({ ...batch, allow: batch.allow?.length ?? null, provisioned })), null, 2)}\n`);
      return;
    }
    if (rows.length === 0) return void process.stdout.write('no batches (make one with "fleethub provision batch add <batch> --ids-file FILE")\n');
    for (const { batch, provisioned } of rows) {
      const status = batch.revokedAt !== null ? 'revoked' : Date.parse(batch.notAfter) <= Date.now() ? 'expired' : 'active';
      const who = batch.allow === null ? `open, max ${batch.max ?? 0}` : `${batch.allow.length} ids`;
      process.stdout.write(`${batch.name}  ${status}  ${who}  provisioned ${provisioned}  until ${day(batch.notAfter)}  serial ${batch.serial}\n`);
    }
  }));
}

function registerRevoke(parent: Command, reader: HubTargetReader | undefined): void {
  const cmd = parent.command('revoke <batch>').description('revoke a batch: its claim certificate is refused in the TLS handshake; devices it provisioned keep working');
  hubTargetOption(cmd, reader, 'the claim CRL is also published to the cluster: every hub refuses the batch within 2 s (again for a batch already revoked)');
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, ['fleethub provision revoke line-7', ...(reader === undefined ? [] : ['fleethub provision revoke line-7 --config hub-a.json'])]);
  cmd.action(action(async (batch: string, flags: { pki?: string; config?: string; passphraseFile?: string }) => {
    const target = await resolveHubTarget(flags, reader);
    let revoked;
    try {
      revoked = await revokeBatch(target.pkiDir, batch);
      process.stdout.write(`revoked batch ${revoked.name} (claim certificate ${revoked.serial}); claim-crl.pem rewritten\n`);
    } catch (err) {
      // A revocation the cluster may have missed (its publish failed): publishing again is how it gets there.
      if (target.cluster === null || !(err instanceof FleethubError) || err.code !== 'FH_ERR_ALREADY_REVOKED') throw err;
      process.stdout.write(`${err.message}; publishing it to the cluster again\n`);
    }
    if (target.cluster === null) return;
    process.stdout.write(`${await publishChange(target, `batch ${batch} was revoked`, flags)}: every hub refuses its claim certificate within 2 s\n`);
  }));
}

function registerExport(parent: Command): void {
  const cmd = parent.command('export <batch>')
    .description('export a batch\'s claim certificate and key with the CA certificate: PEM, or one C header for ESP32 firmware')
    .option('--format <format>', 'pem or esp32')
    .option('--out <file>', 'the output file (default: stdout)')
    .option('--force', 'overwrite an existing output file');
  pkiOption(cmd);
  examples(cmd, ['fleethub provision export line-7 --format esp32 --out main/fleethub_claim.h']);
  cmd.action(action(async (batch: string, flags: { pki?: string; format?: string; out?: string; force?: boolean }) => {
    if (flags.format !== 'pem' && flags.format !== 'esp32') {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--format must be pem or esp32, got ${flags.format === undefined ? 'nothing' : JSON.stringify(flags.format)}`);
    }
    assertDeviceId(batch);
    const dir = resolvePkiDir(flags.pki);
    await assertCaPresent(dir);
    const found = (await listBatches(dir)).find((b) => b.batch.name === batch);
    if (found === undefined) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `unknown batch ${JSON.stringify(batch)} (see "fleethub provision list")`);
    if (found.batch.revokedAt !== null) throw new FleethubError('FH_ERR_ALREADY_REVOKED', `batch ${batch} is revoked: its claim certificate would be refused`);
    const paths = pkiPaths(dir);
    const [caCertPem, certPem, keyPem] = await Promise.all([readText(paths.caCert), readText(paths.claimCert(batch)), readText(paths.claimKey(batch))]);
    const text = flags.format === 'esp32' ? exportEsp32Header({ id: batch, caCertPem, certPem, keyPem }) : certPem + keyPem + caCertPem;
    if (flags.out === undefined) return void process.stdout.write(text);
    await writeFilesAtomic([{ path: resolve(flags.out), data: text, mode: KEY_MODE }], { exclusive: !(flags.force ?? false) });
    process.stdout.write(`wrote ${resolve(flags.out)}\n`);
  }));
}

/**
 * Registers `provision batch add|export|list|revoke`, and `provision
 * export|list|revoke` as SPEC writes them; `add` and `revoke` take `--config`
 * when the executable gives a {@link HubTargetReader}.
 */
export function registerProvisionBatchCommands(provision: Command, reader?: HubTargetReader): void {
  const batch = provision.command('batch').description('factory batches: one claim certificate each, and the ids it may provision');
  examples(batch, ['fleethub provision batch add line-7 --ids-file ids.txt', 'fleethub provision batch list']);
  registerAdd(batch, reader);
  registerExport(batch);
  registerList(batch);
  registerRevoke(batch, reader);
  registerExport(provision);
  registerList(provision);
  registerRevoke(provision, reader);
}
