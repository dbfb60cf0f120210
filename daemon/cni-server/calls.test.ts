import { describe, expect, it } from "vitest";
import type { RelayResult } from "../../libcni/relay/protocol.ts";
import { CallRunner, LATENCY_BUCKETS, deadlineAnswer } from "./calls.ts";

interface Req {
  readonly env: Readonly<Record<string, string>>;
  readonly name: string;
}

const ok = (text = ""): RelayResult => ({
  exitCode: 0,
  stdout: new TextEncoder().encode(text),
  stderr: new Uint8Array(),
});
const req = (name: string, command: string, cid = ""): Req => ({
  name,
  env: { CNI_COMMAND: command, ...(cid ? { CNI_CONTAINERID: cid } : {}) },
});

/** Calls that finish when the test says so; `log` records starts and ends. */
function controlled() {
  const log: string[] = [];
  const open = new Map<string, () => void>();
  const execute = (r: Req): Promise<RelayResult> => {
    log.push(`start ${r.name}`);
    return new Promise((resolve) => {
      open.set(r.name, () => {
        log.push(`end ${r.name}`);
        resolve(ok(r.name));
      });
    });
  };
  const finish = (name: string): void => {
    const f = open.get(name);
    if (!f) throw new Error(`${name} has not started (log: ${log.join(", ")})`);
    open.delete(name);
    f();
  };
  return { log, execute, finish };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("how flanneld runs relayed CNI calls", () => {
  it("runs calls for one container one after the other, and for different containers side by side", async () => {
    const c = controlled();
    const runner = new CallRunner<Req>(c.execute, 60_000);
    const a1 = runner.run(req("a1", "ADD", "a"));
    const a2 = runner.run(req("a2", "DEL", "a"));
    const b1 = runner.run(req("b1", "ADD", "b"));
    await tick();
    expect(c.log).toEqual(["start a1", "start b1"]);
    c.finish("b1");
    await b1;
    c.finish("a1");
    await a1;
    await tick();
    expect(c.log).toEqual(["start a1", "start b1", "end b1", "end a1", "start a2"]);
    c.finish("a2");
    await a2;
    expect(runner.pending).toBe(0);
  });

  it("runs GC alone: after every call in flight, before the calls that came after it", async () => {
    const c = controlled();
    const runner = new CallRunner<Req>(c.execute, 60_000);
    const add = runner.run(req("add", "ADD", "a"));
    const gc = runner.run(req("gc", "GC"));
    const later = runner.run(req("later", "ADD", "b"));
    await tick();
    expect(c.log).toEqual(["start add"]);
    c.finish("add");
    await add;
    await tick();
    expect(c.log).toEqual(["start add", "end add", "start gc"]);
    c.finish("gc");
    await gc;
    await tick();
    expect(c.log.at(-1)).toBe("start later");
    c.finish("later");
    await later;
  });

  it("answers CNI error 11 at the deadline and keeps the container blocked until the call really ends", async () => {
    const c = controlled();
    const runner = new CallRunner<Req>(c.execute, 30);
    const slow = await runner.run(req("slow", "ADD", "a"));
    expect(slow.exitCode).toBe(1);
    expect(JSON.parse(new TextDecoder().decode(slow.stdout))).toEqual({
      code: 11,
      msg: "flanneld did not finish ADD within 0 s",
      details: "the call goes on in the daemon; retry it (ADD and DEL are safe to repeat)",
    });
    const retry = runner.run(req("retry", "ADD", "a"));
    await tick();
    expect(c.log).toEqual(["start slow"]);
    c.finish("slow");
    await tick();
    c.finish("retry");
    expect((await retry).exitCode).toBe(0);
    expect(deadlineAnswer("DEL", 120_000).stdout.byteLength).toBeGreaterThan(0);
  });

  it("turns a call that throws into CNI error 999 and counts answers and latency by command", async () => {
    let t = 0;
    const runner = new CallRunner<Req>(
      async (r) => {
        t += r.name === "boom" ? 7 : 2;
        if (r.name === "boom") throw new Error("kaputt");
        return ok();
      },
      60_000,
      () => t,
    );
    const boom = await runner.run(req("boom", "DEL", "x"));
    expect(JSON.parse(new TextDecoder().decode(boom.stdout))).toEqual({ code: 999, msg: "flanneld: kaputt" });
    await runner.run(req("fine", "DEL", "y"));
    expect(runner.stats.answered).toEqual(
      new Map([
        ["DEL 1", 1],
        ["DEL 0", 1],
      ]),
    );
    const h = runner.stats.latency.get("DEL");
    expect(h?.count).toBe(2);
    expect(h?.sum).toBeCloseTo(0.009);
    expect(h?.buckets[LATENCY_BUCKETS.indexOf(0.005)]).toBe(1);
    expect(h?.buckets[LATENCY_BUCKETS.indexOf(0.01)]).toBe(2);
  });
});
