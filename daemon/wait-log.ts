/**
 * How a loop that waits for something (etcd, the Kubernetes API, the network config) says so, so a
 * waiting daemon never looks hung: the first failure, and each failure with a new error, at warn;
 * then one line at info every {@link WAIT_LOG_EVERY_MS} with the attempt count and how long it has
 * waited; the attempts in between at debug; and one info line when it gets through after failing.
 */
import { errorMessage, type Fields, type Logger } from "./log.ts";

export const WAIT_LOG_EVERY_MS = 30_000;

export class WaitLog {
  private attempts = 0;
  private since = 0;
  private lastInfo = 0;
  private lastError = "";

  constructor(
    private readonly log: Logger,
    /** what is waited for, e.g. "etcd (listing leases)": the lines say `waiting for <what>` */
    private readonly what: string,
    private readonly o: { readonly everyMs?: number; readonly now?: () => number } = {},
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** One failed attempt. */
  failed(error: unknown, fields: Fields = {}): void {
    const now = this.now();
    const msg = errorMessage(error);
    this.attempts++;
    if (this.attempts === 1) this.since = now;
    const f = { ...fields, attempt: this.attempts, error: msg };
    if (this.attempts === 1 || msg !== this.lastError) {
      this.log.warn(`waiting for ${this.what}`, f);
      this.lastInfo = now;
    } else if (now - this.lastInfo >= (this.o.everyMs ?? WAIT_LOG_EVERY_MS)) {
      this.log.info(`still waiting for ${this.what}`, { ...f, waited_s: Math.round((now - this.since) / 1000) });
      this.lastInfo = now;
    } else {
      this.log.debug(`still waiting for ${this.what}`, f);
    }
    this.lastError = msg;
  }

  /** The wait is over: said at info when there was one; the next failure starts a new wait. */
  succeeded(fields: Fields = {}): void {
    if (this.attempts === 0) return;
    const waited = Math.round((this.now() - this.since) / 1000);
    this.log.info(`done waiting for ${this.what}`, { ...fields, failed_attempts: this.attempts, waited_s: waited });
    this.attempts = 0;
    this.lastError = "";
  }
}
