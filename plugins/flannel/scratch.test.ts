import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
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

  it("refuses, without blocking, a saved config that is a FIFO or a directory, and lists every entry", () => {
    const s = new DiskScratch(root);
    execFileSync("mkfifo", [join(root, "fifo")]);
    mkdirSync(join(root, "dir"));
    expect(() => s.load("fifo")).toThrow(/fifo is a FIFO, not a regular file/);
    expect(() => s.load("dir")).toThrow(/dir is a directory, not a regular file/);
    expect(s.list().sort()).toEqual(["dir", "fifo"]);
  });

  it("sweeps temp files a killed saver left: its process is gone, or they are a minute old", () => {
    const s = new DiskScratch(root);
    const old = join(root, `.cid1.tmp-${process.pid}-0badc0de`);
    const orphan = join(root, ".cid3.tmp-999999999-0badc0de");
    writeFileSync(orphan, "{");
    const fresh = join(root, `.cid2.tmp-${process.pid}-0badc0de`);
    writeFileSync(old, "{");
    writeFileSync(fresh, "{");
    utimesSync(old, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(s.sweep().sort()).toEqual([`.cid1.tmp-${process.pid}-0badc0de`, ".cid3.tmp-999999999-0badc0de"]);
    expect(readdirSync(root)).toEqual([`.cid2.tmp-${process.pid}-0badc0de`]);
  });

  it("removes the file", () => {
    const s = new DiskScratch(root);
    s.save("cid3", "{}");
    s.remove("cid3");
    expect(s.load("cid3")).toBeUndefined();
  });
});
