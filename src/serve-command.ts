/**
 * `fleethub serve`: reads the config, makes sure there is a PKI to serve
 * with, runs the hub and the bridge, and shuts both down cleanly on SIGTERM
 * or SIGINT (devices get 1001, the store is flushed, the process exits 0).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from './command-action.js';
import { FleethubError } from './errors.js';
import { createLogger, type Logger, type LogLevel } from './log.js';
import type { HubConfig } from './hub/config.js';
import { loadHubConfig } from './hub/config-file.js';
import { createHub, type Hub } from './hub/hub.js';
import { createBridge, cursorName, resolveSinkConfigs, type Bridge, type SinkConfig } from './bridge/index.js';
import type { Store } from './store/types.js';
import { ensureDevelopmentPki, pkiPaths } from './pki/index.js';

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Makes sure the PKI folder can serve. The default folder gets a development
 * CA and a localhost server certificate on first run (said plainly in the
 * log); a folder named in the config must have been provisioned by its owner.
 */
async function preparePki(config: HubConfig, pkiFromConfig: boolean, log: Logger): Promise<void> {
  const paths = pkiPaths(config.pkiDir);
  if (!pkiFromConfig) {
    const { created, replaced } = await ensureDevelopmentPki(config.pkiDir);
    if (replaced !== null) {
      log.log('warn', 'pki.replaced', {
        dir: replaced,
        note: 'files of a previous PKI without a CA were moved here; every device needs a new certificate',
      });
    }
    if (created) {
      log.log('warn', 'pki.created', {
        dir: config.pkiDir,
        note: 'made a DEVELOPMENT CA and a server certificate for localhost, 127.0.0.1 and ::1; for production run `fleethub ca init` and `fleethub ca server-cert --host <name>`',
      });
    }
  }
  if (!existsSync(paths.caCert)) {
    throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${config.pkiDir}: run \`fleethub ca init --pki ${config.pkiDir}\``);
  }
  if (!existsSync(paths.serverCert) || !existsSync(paths.serverKey)) {
    throw new FleethubError('FH_ERR_CA_MISSING', `no server certificate in ${config.pkiDir}: run \`fleethub ca server-cert --pki ${config.pkiDir} --host <name>\``);
  }
}

/**
 * A sink removed from the config would otherwise keep its cursor, and the
 * store would keep every reading it never delivered, forever. Adding the sink
 * back later replays the retained history: duplicates, never loss.
 */
async function releaseRetiredSinkCursors(store: Store, sinks: readonly SinkConfig[], log: Logger): Promise<void> {
  const configured = new Set(sinks.map((sink) => cursorName(sink.name)));
  for (const name of store.cursorNames()) {
    if (name.startsWith(cursorName('')) && !configured.has(name)) {
      await store.deleteCursor(name);
      log.log('warn', 'sink.cursor_released', { cursor: name, note: 'this sink is no longer configured; retention no longer waits for it' });
    }
  }
}

function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
}

/** Runs the hub until SIGTERM/SIGINT. */
async function serve(options: { config?: string }): Promise<void> {
  const level = (process.env.FLEETHUB_LOG_LEVEL ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw new FleethubError('FH_ERR_CONFIG', `FLEETHUB_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  const log = createLogger(level);
  const { raw, baseDir, hub: config, sinks } = await loadHubConfig(options.config);
  const sinkConfigs = resolveSinkConfigs(sinks, { baseDir });
  const pkiFromConfig = typeof raw === 'object' && raw !== null && 'pkiDir' in raw;
  await preparePki(config, pkiFromConfig, log);

  const hub: Hub = createHub(config, { log });
  let bridge: Bridge | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      log.log('info', 'hub.stopping', { signal });
      await bridge?.close();
      await hub.close();
      log.log('info', 'hub.stopped');
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.log('error', 'hub.stop_failed', { error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  try {
    const ports = await hub.listen();
    // In a cluster the cursors are shared: a hub whose sinks section is older than the others' must not release theirs.
    if (hub.cluster === null) await releaseRetiredSinkCursors(hub.store, sinkConfigs, log);
    // SPEC: every sink delivers once per cluster: its runner runs on the hub holding its lease.
    bridge = createBridge({ store: hub.store, sinks: sinkConfigs, dataDir: config.dataDir, log, gate: hub.cluster?.leases ?? null });
    hub.metrics.collect(() => bridge?.metrics() ?? '');
    bridge.start();
    const deviceUrl = `wss://${displayHost(config.device.host)}:${ports.devicePort}/v1/device`;
    const consoleUrl = `https://${displayHost(config.console.host)}:${ports.consolePort}/`;
    log.log('info', 'hub.ready', {
      device: deviceUrl,
      console: consoleUrl,
      pki: config.pkiDir,
      data: config.dataDir,
      sinks: sinkConfigs.length,
    });
    process.stderr.write(
      [
        '',
        `  devices connect to   ${deviceUrl}`,
        `  dashboard            ${consoleUrl}`,
        `  add a device         npx fleethub device add esp32-01 --pki ${config.pkiDir}`,
        `  dashboard token      npx fleethub token create --devices '*' --pki ${config.pkiDir}`,
        `  simulate a fleet     npx fleethub sim --devices 10 --provision --pki ${config.pkiDir} --url wss://localhost:${ports.devicePort}/v1/device`,
        '',
        '',
      ].join('\n'),
    );
  } catch (err) {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    await stop('startup-failure').catch(() => {});
    throw err;
  }
}

/** Registers `fleethub serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the hub: device listener (mutual TLS), console (dashboards, /healthz, /metrics), store and sinks')
    .option('--config <file>', 'JSON config file (see docs/operations.md); without it the hub runs on embedded defaults')
    .addHelpText(
      'after',
      `
Examples:
  $ fleethub serve                           # ./certs (made on first run), ./data, ports 8443 and 8444
  $ fleethub serve --config fleethub.json    # {"device":{"port":9443},"limits":{"msgsPerSec":5}}

Environment:
  FLEETHUB_PKI         default PKI folder when the config names none (default ./certs)
  FLEETHUB_LOG_LEVEL   debug, info (default), warn or error`,
    )
    .action(action(serve));
}
