import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTempName, namedTempWriter, sweepTemps } from "./file-writer.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "weft-file-writer-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the named-temp writer", () => {
  it("creates exclusively: an existing name is refused and left as it is, and no temp file stays", () => {
    expect(namedTempWriter.create(join(dir, "10.1.2.3"), "a\r\neth0", 0o600)).toBe(true);
    expect(namedTempWriter.create(join(dir, "10.1.2.3"), "b\r\neth0", 0o600)).toBe(false);
    expect(readFileSync(join(dir, "10.1.2.3"), "utf8")).toBe("a\r\neth0");
    expect(statSync(join(dir, "10.1.2.3")).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["10.1.2.3"]);
  });

  it("replaces whole (a longer old file leaves no tail), and no temp file stays", () => {
    writeFileSync(join(dir, "cid"), "x".repeat(100));
    namedTempWriter.replace(join(dir, "cid"), "{}", 0o600);
    expect(readFileSync(join(dir, "cid"), "utf8")).toBe("{}");
    expect(readdirSync(dir)).toEqual(["cid"]);
  });
});

describe("sweepTemps", () => {
  it("removes the temps of writers that are gone, and of live ones only once they are old enough", () => {
    const mine = `.a.tmp-${process.pid}-0badc0de`;
    const gone = ".b.tmp-999999999-0badc0de";
    const old = `.c.tmp-${process.pid}-0badf00d`;
    for (const n of [mine, gone, old, "10.1.2.3", ".hidden"]) writeFileSync(join(dir, n), "x");
    utimesSync(join(dir, old), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(sweepTemps(dir, 60_000).sort()).toEqual([gone, old].sort());
    expect(readdirSync(dir).sort()).toEqual([".hidden", mine, "10.1.2.3"].sort());
    expect(sweepTemps(dir, 0)).toEqual([mine]);
    expect(sweepTemps(join(dir, "missing"), 0)).toEqual([]);
  });

  it("knows its own temp names and nothing else", () => {
    expect(isTempName(".10.1.2.3.tmp-42-0123abcd")).toBe(true);
    expect(isTempName("10.1.2.3")).toBe(false);
    expect(isTempName(".subnet.env.42.1700000000000.tmp")).toBe(false);
  });
});
