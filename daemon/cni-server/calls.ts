/**
 * How flanneld runs the CNI calls its server takes: calls for one container one after the other
 * (in arrival order), calls for different containers side by side, GC alone (it waits for every call
 * in flight and holds new ones back, since it frees what no live container holds). Each call has a
 * deadline: past it the client is answered CNI error 11 while the call itself finishes in the
 * background (its container stays blocked until then, so a retry cannot overlap it). Pure: the
 * plugin run is a parameter.
 */
import type { RelayResult } from "../../libcni/relay/protocol.ts";

export interface CallRequest {
  readonly env: Readonly<Record<string, string>>;
}

/** Upper bounds (seconds) of the latency histogram buckets; a last +Inf bucket is implied. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface Histogram {
  /** Cumulative count per bucket of LATENCY_BUCKETS (observations <= the bound). */
  readonly buckets: number[];
  count: number;
  /** Sum of the observations, in seconds. */
  sum: number;
}

export interface CallStats {
  /** Calls answered, by CNI_COMMAND and exit code ("ADD 0"). */
  readonly answered: Map<string, number>;
  /** Latency of answered calls, by CNI_COMMAND. */
  readonly latency: Map<string, Histogram>;
  inFlight: number;
}

const encoder = new TextEncoder();

/** The answer a client gets when its call ran past the deadline. */
export function deadlineAnswer(command: string, ms: number): RelayResult {
  const text = JSON.stringify(
    {
      code: 11,
      msg: `flanneld did not finish ${command || "the call"} within ${Math.round(ms / 1000)} s`,
      details: "the call goes on in the daemon; retry it (ADD and DEL are safe to repeat)",
    },
    null,
    4,
  );
  return { exitCode: 1, stdout: encoder.encode(text), stderr: new Uint8Array() };
}

export class CallRunner<R extends CallRequest> {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Resolved while no GC holds the server. */
  private barrier: Promise<void> = Promise.resolve();
  readonly stats: CallStats = { answered: new Map(), latency: new Map(), inFlight: 0 };

  constructor(
    private readonly execute: (req: R) => Promise<RelayResult>,
    private readonly deadlineMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Run `req` in its turn; resolves to the answer for the client (never rejects). */
  run(req: R): Promise<RelayResult> {
    const command = req.env["CNI_COMMAND"] ?? "";
    const started = this.now();
    const work = command === "GC" ? this.exclusive(req) : this.queued(req);
    const answer = withDeadline(work, this.deadlineMs, () => deadlineAnswer(command, this.deadlineMs));
    return answer.then((r) => {
      this.count(command, r.exitCode, this.now() - started);
      return r;
    });
  }

  /** Calls not answered yet. */
  get pending(): number {
    return this.inflight.size;
  }

  /** Resolves when every call taken so far has finished. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    this.stats.inFlight = this.inflight.size;
    const done = (): void => {
      this.inflight.delete(p);
      this.stats.inFlight = this.inflight.size;
    };
    p.then(done, done);
    return p;
  }

  private queued(req: R): Promise<RelayResult> {
    const key = req.env["CNI_CONTAINERID"] ?? "";
    const before = this.chains.get(key) ?? Promise.resolve();
    const gate = this.barrier;
    const p = this.track(
      before.then(
        () => gate.then(() => this.safeExecute(req)),
        () => gate.then(() => this.safeExecute(req)),
      ),
    );
    this.chains.set(key, p);
    const forget = (): void => {
      if (this.chains.get(key) === p) this.chains.delete(key);
    };
    p.then(forget, forget);
    return p;
  }

  private exclusive(req: R): Promise<RelayResult> {
    const previous = this.barrier;
    let release = (): void => undefined;
    this.barrier = new Promise<void>((r) => {
      release = r;
    });
    const running = [...this.inflight];
    const p = this.track(
      previous
        .then(() => Promise.allSettled(running))
        .then(() => this.safeExecute(req))
        .finally(release),
    );
    return p;
  }

  private async safeExecute(req: R): Promise<RelayResult> {
    try {
      return await this.execute(req);
    } catch (e) {
      const text = JSON.stringify(
        { code: 999, msg: `flanneld: ${e instanceof Error ? e.message : String(e)}` },
        null,
        4,
      );
      return { exitCode: 1, stdout: encoder.encode(text), stderr: new Uint8Array() };
    }
  }

  private count(command: string, exitCode: number, ms: number): void {
    const key = `${command} ${exitCode}`;
    this.stats.answered.set(key, (this.stats.answered.get(key) ?? 0) + 1);
    let h = this.stats.latency.get(command);
    if (!h) {
      h = { buckets: LATENCY_BUCKETS.map(() => 0), count: 0, sum: 0 };
      this.stats.latency.set(command, h);
    }
    const seconds = ms / 1000;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound && h) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.count++;
    h.sum += seconds;
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
