/**
 * One line per event that matters: `2026-11-22T12:00:00.000Z info device.connect id=d1 ip=127.0.0.1`.
 * The hub, the bridges and the CLI take a {@link Logger}, so tests can
 * capture lines or silence them.
 */

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Key/value details appended to a line; values are printed as-is or JSON-quoted when they hold spaces. */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Where components write their events. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
  /**
   * Whether a line at `level` would be written. For hot paths only (a line
   * per connection): skips building fields no one reads.
   */
  enabled(level: LogLevel): boolean;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  return /^[\w.:/@\-+*[\]]*$/.test(text) && text.length > 0 ? text : JSON.stringify(text);
}

/** Formats one log line (without the newline). */
export function formatLine(level: LogLevel, event: string, fields: LogFields = {}, now = new Date()): string {
  let line = `${now.toISOString()} ${level} ${event}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** A logger writing lines at or above `minLevel` to a stream (stderr by default). */
export function createLogger(minLevel: LogLevel = 'info', stream: NodeJS.WritableStream = process.stderr): Logger {
  const enabled = (level: LogLevel): boolean => ORDER[level] >= ORDER[minLevel];
  return {
    log(level, event, fields) {
      if (enabled(level)) stream.write(`${formatLine(level, event, fields)}\n`);
    },
    enabled,
  };
}

/** A logger that drops everything. */
export const SILENT_LOGGER: Logger = { log() {}, enabled: () => false };

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log(level, event, fields) {
      lines.push(formatLine(level, event, fields));
    },
    enabled: () => true,
  };
}
