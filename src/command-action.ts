/**
 * How every CLI command ends: success exits 0; a {@link FleethubError} prints
 * one line on stderr and exits with its registered code; anything else is an
 * internal error (exit 1), still one line unless FLEETHUB_DEBUG is set.
 */
import { FleethubError, EXIT } from './errors.js';

/** Prints the one-line error for `err` and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof FleethubError) {
    process.stderr.write(`fleethub: ${err.message}\n`);
    return err.exitCode;
  }
  const detail = err instanceof Error ? err.message : String(err);
  process.stderr.write(`fleethub: internal error: ${detail}\n`);
  if (process.env.FLEETHUB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.INTERNAL;
}

/**
 * Wraps a commander action: errors become one line and an exit code.
 * `process.exitCode` is set rather than calling `process.exit`, so pending
 * writes (stdout of `device list --json`) are flushed.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
