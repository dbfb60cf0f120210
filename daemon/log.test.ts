import { describe, expect, it } from "vitest";
import { createLogger, formatLine } from "./log.ts";

describe("structured logs", () => {
  it("writes one logfmt line per event, quoting only what needs it", () => {
    const t = new Date("2026-01-02T03:04:05.000Z");
    expect(formatLine(t, "info", "lease acquired", { subnet: "10.244.1.0/24", n: 3, ok: true, skip: undefined })).toBe(
      'time=2026-01-02T03:04:05.000Z level=info msg="lease acquired" subnet=10.244.1.0/24 n=3 ok=true',
    );
    expect(formatLine(t, "error", "x", { error: 'bad "thing"\nnext' })).toBe(
      'time=2026-01-02T03:04:05.000Z level=error msg=x error="bad \\"thing\\"\\nnext"',
    );
  });

  it("prints debug lines only with -v ≥ 1 and carries fields added with `with`", () => {
    const lines: string[] = [];
    const quiet = createLogger({ write: (l) => lines.push(l), now: () => new Date(0) });
    quiet.debug("hidden");
    quiet.with({ component: "etcd" }).warn("shown");
    createLogger({ write: (l) => lines.push(l), verbosity: 1, now: () => new Date(0) }).debug("visible");
    expect(lines).toEqual([
      "time=1970-01-01T00:00:00.000Z level=warn msg=shown component=etcd\n",
      "time=1970-01-01T00:00:00.000Z level=debug msg=visible\n",
    ]);
  });
});
