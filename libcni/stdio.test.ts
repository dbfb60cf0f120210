import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fdSink, readAllSync, writeAllSync } from "./stdio.ts";

describe("stdio without streams", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-stdio-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file descriptor to its end, across many reads, as UTF-8", () => {
    const text = `{"name":"ünïcödé"}${"x".repeat(200_000)}`;
    writeFileSync(join(dir, "in"), text);
    const fd = openSync(join(dir, "in"), "r");
    try {
      expect(readAllSync(fd)).toBe(text);
    } finally {
      closeSync(fd);
    }
  });

  it("reads an empty input as the empty string", () => {
    writeFileSync(join(dir, "empty"), "");
    const fd = openSync(join(dir, "empty"), "r");
    try {
      expect(readAllSync(fd)).toBe("");
    } finally {
      closeSync(fd);
    }
  });

  it("writes the whole text, also through a sink", () => {
    const fd = openSync(join(dir, "out"), "w");
    try {
      writeAllSync(fd, "héllo ");
      fdSink(fd).write("wörld");
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("héllo wörld");
  });

  it("under Bun, reads a large stdin from a pipe and prints it back on stdout", () => {
    const bun = resolve(import.meta.dirname, "../node_modules/.bin/bun");
    const mod = resolve(import.meta.dirname, "stdio.ts");
    const script =
      `import { readAllSync, writeAllSync } from ${JSON.stringify(mod)}; const ` +
      `t = readAllSync(0); writeAllSync(1, String(t.length) + ":" + t.slice(-5));`;
    const input = `${"y".repeat(300_000)}abcde`;
    const out = execFileSync(bun, ["-e", script], { input, encoding: "utf8", timeout: 20_000 });
    expect(out).toBe(`${input.length}:abcde`);
  });
});
