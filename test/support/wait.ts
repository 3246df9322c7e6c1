// Test support: awaiting a condition instead of sleeping for a guessed time. A test states what
// it waits for; the deadline only bounds how long a broken run takes to fail, it never decides
// the outcome of a passing one.

import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

export interface WaitOptions {
  /** Give up after this long (ms). Generous: a loaded CI machine is slow, not wrong. */
  readonly timeout?: number;
  /** Time between two checks (ms). */
  readonly interval?: number;
  /** What is awaited, for the error message. */
  readonly what?: string;
  /**
   * Treat a throwing condition as "not yet" (a server not listening yet, a file not there yet)
   * rather than failing at once. The last error is reported at the deadline.
   */
  readonly retryErrors?: boolean;
}

export class WaitTimeout extends Error {
  readonly code = 'ERR_WAIT_TIMEOUT';
}

/**
 * Checks `condition` until it returns a value other than false, undefined or null, and returns
 * that value. Throws WaitTimeout at the deadline; a condition that throws fails the wait at once
 * unless `retryErrors` is set.
 */
export async function waitFor<T>(
  condition: () => T | false | undefined | null | Promise<T | false | undefined | null>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeout = opts.timeout ?? 15_000;
  const interval = opts.interval ?? 20;
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v !== false && v !== undefined && v !== null) return v;
    } catch (err) {
      if (!opts.retryErrors) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last === undefined ? '' : `: ${last instanceof Error ? last.message : inspect(last)}`;
      throw new WaitTimeout(`timed out after ${timeout} ms waiting for ${opts.what ?? 'a condition'}${why}`, {
        cause: last,
      });
    }
    await sleep(interval);
  }
}

/**
 * For a negative assertion only ("nothing was sent"): lets `ms` pass, which must be derived from
 * the interval of what would have happened (e.g. three export intervals), never a guess.
 */
export async function quietPeriod(ms: number): Promise<void> {
  await sleep(ms);
}
