import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DiskScratch } from "./scratch.ts";

describe("saved delegate configs on disk", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "weft-scratch-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("creates dataDir 0700 and the file 0600 with exactly the given bytes, leaving no temp file", () => {
    const s = new DiskScratch(join(root, "a", "flannel"));
    s.save("cid1", '{"type":"bridge"}');
    expect(readFileSync(join(root, "a", "flannel", "cid1"), "utf8")).toBe('{"type":"bridge"}');
    expect(statSync(join(root, "a", "flannel")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "a", "flannel", "cid1")).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, "a", "flannel"))).toEqual(["cid1"]);
  });

  it("replaces an existing file whole (a longer old file leaves no tail)", () => {
    const s = new DiskScratch(root);
    writeFileSync(join(root, "cid1"), "x".repeat(100));
    s.save("cid1", "{}");
    expect(s.load("cid1")).toBe("{}");
  });

  it("loads undefined for a container without a file, and remove of a missing file is fine", () => {
    const s = new DiskScratch(join(root, "none"));
    expect(s.load("cid2")).toBeUndefined();
    expect(() => s.remove("cid2")).not.toThrow();
  });

  it("removes the file", () => {
    const s = new DiskScratch(root);
    s.save("cid3", "{}");
    s.remove("cid3");
    expect(s.load("cid3")).toBeUndefined();
  });
});
