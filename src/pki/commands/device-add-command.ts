/** `fleethub device add`: one device, a CSR, or a batch. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { FleethubError } from '../../errors.js';
import { addDevices, MAX_BATCH_COUNT } from '../batch-issue.js';
import { addDevice, deviceIdFromCsr } from '../devices.js';
import type { DeviceRecord } from '../inventory.js';
import { pkiPaths } from '../paths.js';
import { MAX_CSR_BYTES } from '../csr.js';
import { DEFAULT_DEVICE_DAYS, DEFAULT_RENEWED_DEVICE_DAYS, type DeviceRenewalPolicy } from '../validity.js';
import { readFile, stat } from 'node:fs/promises';
import { readPassphrase } from '../ca-passphrase.js';
import { day, examples, keyOptions, parseWhole, passphraseOption, pkiOption, refuseTwoPkiFolders, resolvePkiDir } from './pki-options.js';

interface DeviceAddFlags {
  pki?: string; config?: string; plan?: string; days?: string; keyType?: string; keyBits?: string; csr?: string;
  count?: string; prefix?: string; force?: boolean; skipExisting?: boolean; passphraseFile?: string;
}

/**
 * What `device add --config FILE` reads from a hub's config: its PKI folder,
 * and whether it renews (src/pki knows no hub config: the executable gives
 * the reader).
 */
export type HubConfigReader = (path: string) => Promise<{ readonly pkiDir: string; readonly renewal: DeviceRenewalPolicy }>;

async function readCsrFile(path: string): Promise<string> {
  try {
    if ((await stat(path)).size > MAX_CSR_BYTES) throw new Error(`larger than ${MAX_CSR_BYTES} bytes`);
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new FleethubError('FH_ERR_CSR_INVALID', `cannot read CSR ${path}: ${why}`, { cause: err });
  }
}

function usage(detail: string): FleethubError {
  return new FleethubError('FH_ERR_INVALID_ARGUMENT', detail);
}

async function runBatch(dir: string, flags: DeviceAddFlags, count: number, renewal: DeviceRenewalPolicy | undefined): Promise<void> {
  if (flags.prefix === undefined) throw usage('--prefix is required with --count (ids are <prefix>0001, <prefix>0002, ...)');
  if (flags.csr !== undefined) throw usage('--csr signs one device: it cannot be combined with --count');
  if (flags.force) throw usage('--force is for one device; with --count use --skip-existing to issue only the missing ids');
  const started = performance.now();
  const tty = process.stderr.isTTY;
  const records = await addDevices(dir, {
    count, prefix: flags.prefix, plan: flags.plan, days: parseWhole(flags.days, '--days'),
    keyType: flags.keyType as 'ec' | 'rsa' | undefined, keyBits: parseWhole(flags.keyBits, '--key-bits'),
    skipExisting: flags.skipExisting ?? false, renewal,
    issuingPassphrase: await readPassphrase({ file: flags.passphraseFile ?? null }),
    onProgress: (done, total) => {
      if (tty) process.stderr.write(`\rissuing ${done}/${total}`);
    },
  });
  if (tty) process.stderr.write('\n');
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  const first = records[0];
  const last = records[records.length - 1];
  const range = first && last ? ` (${first.id} … ${last.id})` : '';
  process.stdout.write(`issued ${records.length} device certificates${range} in ${secs} s into ${pkiPaths(dir).devicesDir}\n`);
}

function describe(rec: DeviceRecord, dir: string): string {
  const paths = pkiPaths(dir);
  const files = rec.hasKey ? `${paths.deviceCert(rec.id)}, ${paths.deviceKey(rec.id)} (0600)` : `${paths.deviceCert(rec.id)} (key stays on the device)`;
  return `issued ${rec.id}: serial ${rec.serial}, ${rec.keyType}, valid until ${day(rec.notAfter)}${rec.plan ? `, plan ${rec.plan}` : ''}\n  ${files}\n`;
}

/** Registers `device add` under `device`; `--config` is offered when the executable gives a {@link HubConfigReader}. */
export function registerDeviceAddCommand(device: Command, readHubConfig?: HubConfigReader): void {
  const cmd = device.command('add [id]')
    .description('issue a device certificate: a new key pair, a signed CSR, or a batch with --count')
    .option('--plan <name>', 'limits plan the hub applies to this device (a key of the config\'s "plans")')
    .option('--days <n>', `validity in days (default: ${DEFAULT_RENEWED_DEVICE_DAYS} when the issuing CA signs and the hub renews, else ${DEFAULT_DEVICE_DAYS}; never past the CA's own expiry)`)
    .option('--csr <file>', 'sign this PKCS#10 request (its CN is the id); no private key is written')
    .option('--count <n>', `issue a batch of n devices, <prefix>0001 … (at most ${MAX_BATCH_COUNT})`)
    .option('--prefix <p>', 'id prefix for --count')
    .option('--skip-existing', 'with --count: leave ids that already have an active certificate alone')
    .option('--force', 'replace an active device: its old certificate is revoked (reason superseded)');
  if (readHubConfig !== undefined) {
    cmd.option('--config <file>', "a hub's JSON config: its pkiDir, and its `renewal` section for the default --days (renewal off, or a cluster hub: ten years)");
  }
  keyOptions(cmd);
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, [
    'fleethub device add greenhouse-01 --plan basic',
    'fleethub device add greenhouse-02 --key-type rsa',
    'fleethub device add --csr greenhouse-03.csr',
    'fleethub device add --count 500 --prefix gh-',
    ...(readHubConfig === undefined ? [] : ['fleethub device add greenhouse-04 --config hub.json']),
  ]);
  cmd.addHelpText('after', `With an issuing CA in the PKI folder (fleethub ca issuing init) the hub renews device certificates over
their own connection, so they last ${DEFAULT_RENEWED_DEVICE_DAYS} days by default (the hub's renewal.deviceDays); without one,
or with a hub that does not renew, ${DEFAULT_DEVICE_DAYS} days. --days always wins.
`);
  cmd.action(action(async (id: string | undefined, flags: DeviceAddFlags) => {
    refuseTwoPkiFolders(flags);
    const hub = flags.config === undefined || readHubConfig === undefined ? null : await readHubConfig(flags.config);
    const dir = hub?.pkiDir ?? resolvePkiDir(flags.pki);
    const renewal = hub?.renewal;
    const count = parseWhole(flags.count, '--count');
    if (count !== undefined) {
      if (id !== undefined) throw usage('give either a device id or --count, not both');
      await runBatch(dir, flags, count, renewal);
      return;
    }
    if (flags.prefix !== undefined || flags.skipExisting) throw usage('--prefix and --skip-existing only apply with --count');
    let csrPem: string | undefined;
    let deviceId = id;
    if (flags.csr !== undefined) {
      if (flags.keyType !== undefined || flags.keyBits !== undefined) throw usage('--key-type/--key-bits do not apply with --csr (the device made its key)');
      csrPem = await readCsrFile(flags.csr);
      deviceId ??= deviceIdFromCsr(csrPem);
    }
    if (deviceId === undefined) throw usage('a device id is required (or --csr FILE, or --count N --prefix P)');
    const rec = await addDevice(dir, deviceId, {
      plan: flags.plan, days: parseWhole(flags.days, '--days'), keyType: flags.keyType as 'ec' | 'rsa' | undefined,
      keyBits: parseWhole(flags.keyBits, '--key-bits'), csrPem, force: flags.force ?? false, renewal,
      issuingPassphrase: await readPassphrase({ file: flags.passphraseFile ?? null }),
    });
    process.stdout.write(describe(rec, dir));
  }));
}
