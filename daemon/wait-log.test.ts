import { describe, expect, it } from "vitest";
import { memoryLogger } from "./testing/memory-logger.ts";
import { WaitLog } from "./wait-log.ts";

/** The lines without their time stamp. */
const lines = (l: { lines: string[] }) => l.lines.map((x) => x.replace(/^time=\S+ /, ""));

describe("waiting loops say they wait", () => {
  it("warns once, then says so at info every 30 s with the attempt count, and at debug in between", () => {
    const log = memoryLogger();
    let now = 0;
    const w = new WaitLog(log, "etcd (listing leases)", { now: () => now });
    for (let i = 0; i < 61; i++, now += 1000) w.failed(new Error("connect ECONNREFUSED 192.0.2.1:2379"));
    const info = lines(log).filter((l) => !l.startsWith("level=debug"));
    expect(info).toEqual([
      'level=warn msg="waiting for etcd (listing leases)" attempt=1 error="connect ECONNREFUSED 192.0.2.1:2379"',
      'level=info msg="still waiting for etcd (listing leases)" attempt=31 ' +
        'error="connect ECONNREFUSED 192.0.2.1:2379" waited_s=30',
      'level=info msg="still waiting for etcd (listing leases)" attempt=61 ' +
        'error="connect ECONNREFUSED 192.0.2.1:2379" waited_s=60',
    ]);
    expect(lines(log).filter((l) => l.startsWith("level=debug"))).toHaveLength(58);
  });

  it("warns again when the error changes, and says when the wait is over", () => {
    const log = memoryLogger();
    let now = 0;
    const w = new WaitLog(log, "the Kubernetes API", { now: () => now });
    w.failed(new Error("connect ECONNREFUSED"));
    now = 2000;
    w.failed(new Error("HTTP 503"), { server: "https://192.0.2.1:6443" });
    now = 5000;
    w.succeeded();
    w.succeeded();
    expect(lines(log)).toEqual([
      'level=warn msg="waiting for the Kubernetes API" attempt=1 error="connect ECONNREFUSED"',
      'level=warn msg="waiting for the Kubernetes API" server=https://192.0.2.1:6443 attempt=2 error="HTTP 503"',
      'level=info msg="done waiting for the Kubernetes API" failed_attempts=2 waited_s=5',
    ]);
  });

  it("says nothing when the first attempt succeeds", () => {
    const log = memoryLogger();
    new WaitLog(log, "the network config").succeeded();
    expect(log.lines).toEqual([]);
  });
});
