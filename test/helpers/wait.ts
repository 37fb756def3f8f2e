/**
 * Waiting for a condition in a test: poll until it holds, within a generous
 * deadline (the suite runs on a loaded two-core machine), never a fixed
 * sleep and never a timing assertion.
 */

/** How long {@link waitUntil} waits unless told otherwise. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
/** The first pause between two checks; it doubles up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 10;
/** The longest pause: in-process state is seen quickly, a child process's port is not probed in a tight loop. */
const MAX_PAUSE_MS = 100;

/**
 * Resolves once `check` returns true: checked at once, then after pauses
 * growing from 10 to 100 ms. A check that throws counts as "not yet" (a
 * server that is still starting refuses connections; an assertion inside a
 * check has not held yet), and the last such error becomes the `cause` of
 * the timeout error, so an assertion's diff still reaches the report.
 *
 * @param check - the condition, sync or async
 * @param what - what is awaited, worded to follow "waiting until": `'the hub sees the device'`
 * @param timeoutMs - how long to wait before failing. @defaultValue {@link DEFAULT_WAIT_TIMEOUT_MS}
 * @throws Error `timed out after <timeoutMs> ms waiting until <what>`
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    let lastError: unknown;
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`, lastError === undefined ? undefined : { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}
