// Waiting for a condition, with a deadline, instead of sleeping a fixed time: on a busy machine a
// fixed sleep is either too short (the test fails) or too long (every run is slow).

export interface WaitOptions {
  /** Give up after this many milliseconds (default 15 s: generous for a loaded 2-core machine). */
  readonly timeout?: number;
  /** Milliseconds between two checks (default 50). */
  readonly interval?: number;
  /** What was awaited, for the error when the deadline passes. */
  readonly message?: string;
}

/**
 * Checks `condition` until it returns a truthy value, and returns that value. A check that throws
 * counts as not yet (its error is reported if the deadline passes). The condition is always
 * checked at least once, and once more at the deadline.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeout = 15_000, interval = 50, message = 'the condition' } = options;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    const last = Date.now() >= deadline;
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (last) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))));
  }
  throw new Error(`waitFor: ${message} did not hold within ${timeout} ms`, lastError === undefined ? undefined : { cause: lastError });
}

/** Waits until the clock has moved past `epochSeconds` (a JWT's `iat`, say), so a new timestamp differs. */
export async function secondPassed(epochSeconds: number, options: WaitOptions = {}): Promise<void> {
  await waitFor(() => Math.floor(Date.now() / 1000) > epochSeconds, { interval: 20, message: `a second after ${epochSeconds}`, ...options });
}
