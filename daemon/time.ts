/** Waiting that ends early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Run `fn` once when `signal` aborts, or right now when it already has: an "abort" listener added
 * after the fact never fires, and a loop started just after SIGTERM would then run forever.
 * Returns what removes the listener (nothing to remove when `fn` already ran).
 */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener("abort", fn, { once: true });
  return () => signal.removeEventListener("abort", fn);
}

/** Exponential backoff: `next()` returns the current delay and doubles it up to `max`; `reset()` starts over. */
export class Backoff {
  private cur: number;
  constructor(
    private readonly initial: number,
    private readonly max: number,
  ) {
    this.cur = initial;
  }
  next(): number {
    const d = this.cur;
    this.cur = Math.min(this.max, this.cur * 2);
    return d;
  }
  reset(): void {
    this.cur = this.initial;
  }
}
