/**
 * One whole `fleethub sim` run, without commander: resolve the options,
 * provision, load (or, for `badcert`, make) credentials, run the fleet,
 * print the table, write the JSON and HTML reports, and decide the exit.
 * Tests and the benchmark call it directly.
 */
import { FleethubError } from '../src/errors.js';
import { writeFileAtomic } from '../src/atomic-file.js';
import type { BackoffOptions } from '../src/backoff.js';
import { SILENT_LOGGER, type Logger } from '../src/log.js';
import { provisionByClaim } from './claim-provisioning.js';
import { fleetIds, loadCaCert, loadFleetCredentials, makeBadCredentials, provisionFleet, saveRenewedCredentials } from './device-credentials.js';
import type { FleetStats } from './fleet-stats.js';
import { runFleet } from './fleet.js';
import { checkLocalAddresses } from './local-addresses.js';
import { renderReportHtml } from './report-html.js';
import { formatReportTable, normalRunFailure, type SimReport } from './report.js';
import { resolveSimOptions, type SimOptions, type SimOptionsInput } from './sim-options.js';

/** Where a run writes, and knobs tests shorten. */
export interface SimRunIo {
  /** The report table and verdict. @defaultValue process.stdout */
  readonly out?: NodeJS.WritableStream;
  /** Progress line and notes. @defaultValue process.stderr */
  readonly err?: NodeJS.WritableStream & { isTTY?: boolean };
  /** @defaultValue {@link SILENT_LOGGER} */
  readonly logger?: Logger;
  /** Reconnect backoff of every device. @defaultValue src/backoff.ts defaults */
  readonly backoff?: BackoffOptions;
  readonly helloTimeoutMs?: number;
  /** Aborting ends the sending phase early (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Called with the run's live counters once the fleet starts (a benchmark reads a phase's latencies from them). */
  readonly onStats?: (stats: FleetStats) => void;
}

/** The result of {@link runSim}: the report and, when the run failed its check, why. */
export interface SimRunResult {
  readonly options: SimOptions;
  readonly report: SimReport;
  /** For `normal` and `reconnect-storm`: lost messages, readings never sent or dropped, or devices that never connected; else null. */
  readonly failure: string | null;
}

/** Behaviours whose run must end with nothing lost and nothing left unsent (the exit status checks it). */
const CHECKED = new Set(['normal', 'reconnect-storm']);

/** Runs the simulator end to end. Throws FleethubError for bad options or a missing PKI; never for a failed check. */
export async function runSim(input: SimOptionsInput, io: SimRunIo = {}): Promise<SimRunResult> {
  const options = resolveSimOptions(input);
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  // Before anything is provisioned: a bad address changes nothing on disk.
  await checkLocalAddresses(options.localAddresses);
  const ids = fleetIds(options.prefix, options.devices);
  const ca = await loadCaCert(options.caFile);
  let credentials;
  if (options.behavior === 'badcert') {
    const bad = await makeBadCredentials(options.pkiDir, ids, options.provision);
    credentials = bad.credentials;
    err.write(`sim: badcert devices use ${[...new Set(bad.kinds)].join(', ')} certificates\n`);
  } else if (options.claim !== null) {
    const t = performance.now();
    credentials = await provisionByClaim({
      url: options.url, pkiDir: options.pkiDir, batch: options.claim, ids, ca, tls: options.tls as '1.2' | '1.3',
      onProgress: (done, total) => {
        if (err.isTTY === true && options.progress) err.write(`\rsim: provisioning ${done}/${total}`);
      },
    });
    if (err.isTTY === true && options.progress) err.write('\n');
    err.write(`sim: provisioned ${credentials.length} devices through /v1/provision (batch ${options.claim}) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  } else {
    if (options.provision) {
      const t = performance.now();
      const issued = await provisionFleet(options.pkiDir, options.prefix, options.devices);
      if (issued > 0) err.write(`sim: provisioned ${issued} device certificates in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    credentials = await loadFleetCredentials(options.pkiDir, ids);
  }
  const renewed = new Map<string, { readonly cert: string | Buffer; readonly key: string | Buffer }>();
  const report = await runFleet({
    options,
    ca,
    credentials,
    onRenewed: (id, pair) => renewed.set(id, pair),
    logger: io.logger ?? SILENT_LOGGER,
    progressStream: err,
    ...(io.backoff === undefined ? {} : { backoff: io.backoff }),
    ...(io.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: io.helloTimeoutMs }),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    ...(io.onStats === undefined ? {} : { onStats: io.onStats }),
  });
  // Devices whose key and certificate came from the PKI folder keep their renewed pair there, as firmware keeps it in flash.
  if (options.claim === null && options.behavior !== 'badcert') await saveRenewedCredentials(options.pkiDir, renewed);
  const failure = CHECKED.has(options.behavior) ? renewalFailure(normalRunFailure(report), options, report) : null;
  const verdict = CHECKED.has(options.behavior) ? (failure === null ? 'PASS: zero lost, zero unsent' : `FAIL: ${failure}`) : null;
  out.write(`${formatReportTable(report)}\n${verdict === null ? '' : `${verdict}\n`}`);
  if (options.reportFile !== null) await writeFileAtomic(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
  if (options.reportHtmlFile !== null) await writeFileAtomic(options.reportHtmlFile, renderReportHtml(report, verdict));
  return { options, report, failure };
}

/** With `--renew`, a device that did not end on a renewed certificate fails the run too. */
function renewalFailure(failure: string | null, options: SimOptions, report: SimReport): string | null {
  const missing = options.renew ? report.run.devices - report.renewals.renewed : 0;
  if (missing <= 0) return failure;
  const reason = `${missing} devices did not renew their certificate (refused: ${JSON.stringify(report.renewals.refused)}, fell back: ${report.renewals.fellBack})`;
  return failure === null ? reason : `${failure}, ${reason}`;
}

/** {@link runSim}, then FH_ERR_LOST_MESSAGES (exit 9) when the check failed: the CLI's action. */
export async function runSimOrFail(input: SimOptionsInput, io: SimRunIo = {}): Promise<SimReport> {
  const result = await runSim(input, io);
  if (result.failure !== null) throw new FleethubError('FH_ERR_LOST_MESSAGES', `sim: ${result.failure}`);
  return result.report;
}
