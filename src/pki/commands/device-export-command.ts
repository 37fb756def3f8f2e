/** `fleethub device export`: a device's credentials as PEM files or an ESP32 C header. */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { FleethubError } from '../../errors.js';
import { assertCaPresent } from '../loaded-ca.js';
import { readDeviceCredentials } from '../device-credentials.js';
import { exportEsp32Header } from '../esp32-header.js';
import { KEY_MODE, PUBLIC_MODE, makeDirs, pkiIoError, writeFilesAtomic, type FileWrite } from '../pki-files.js';
import { examples, pkiOption, resolvePkiDir } from './pki-options.js';

interface ExportFlags { pki?: string; format?: string; out?: string; force?: boolean }

/** Registers `device export` under `device`. */
export function registerDeviceExportCommand(device: Command): void {
  const cmd = device.command('export <id>')
    .description('export a device\'s CA certificate, certificate and key: PEM files, or one C header for ESP32 firmware')
    .option('--format <format>', 'pem or esp32')
    .option('--out <path>', 'pem: a folder for ca.crt, <id>.crt, <id>.key; esp32: the header file (default: stdout)')
    .option('--force', 'overwrite existing output files');
  pkiOption(cmd);
  examples(cmd, [
    'fleethub device export greenhouse-01 --format esp32 --out firmware/main/fleethub_credentials.h',
    'fleethub device export greenhouse-01 --format pem --out ./greenhouse-01',
  ]);
  cmd.action(action(async (id: string, flags: ExportFlags) => {
    if (flags.format !== 'pem' && flags.format !== 'esp32') {
      throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--format must be pem or esp32, got ${flags.format === undefined ? 'nothing' : JSON.stringify(flags.format)}`);
    }
    const dir = resolvePkiDir(flags.pki);
    await assertCaPresent(dir);
    const creds = await readDeviceCredentials(dir, id);
    if (creds.record.status === 'revoked') {
      throw new FleethubError('FH_ERR_ALREADY_REVOKED', `device ${id} is revoked: its certificate would be refused (issue a new one with "device add ${id}")`);
    }
    const exclusive = !(flags.force ?? false);
    if (flags.format === 'esp32') {
      const header = exportEsp32Header({ id, caCertPem: creds.caCertPem, certPem: creds.certPem, ...(creds.keyPem ? { keyPem: creds.keyPem } : {}) });
      if (flags.out === undefined) {
        process.stdout.write(header);
        return;
      }
      await writeFilesAtomic([{ path: resolve(flags.out), data: header, mode: creds.keyPem ? KEY_MODE : PUBLIC_MODE }], { exclusive });
      process.stdout.write(`wrote ${resolve(flags.out)}\n`);
      return;
    }
    if (flags.out === undefined) {
      process.stdout.write(creds.certPem + (creds.keyPem ?? '') + creds.caCertPem);
      return;
    }
    const outDir = resolve(flags.out);
    try {
      await makeDirs(outDir);
    } catch (err) {
      throw pkiIoError('create folder', outDir, err);
    }
    const files: FileWrite[] = [
      { path: join(outDir, 'ca.crt'), data: creds.caCertPem, mode: PUBLIC_MODE },
      { path: join(outDir, `${id}.crt`), data: creds.certPem, mode: PUBLIC_MODE },
    ];
    if (creds.keyPem) files.push({ path: join(outDir, `${id}.key`), data: creds.keyPem, mode: KEY_MODE });
    await writeFilesAtomic(files, { exclusive });
    process.stdout.write(`wrote ${files.map((f) => f.path).join(', ')}\n`);
  }));
}
