import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findInPath } from "./find.ts";

describe("findInPath", () => {
  let root: string;
  let a: string;
  let b: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "weft-find-"));
    a = join(root, "a");
    b = join(root, "b");
    mkdirSync(a);
    mkdirSync(b);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("returns the first directory in the list that holds the plugin", () => {
    writeFileSync(join(a, "bridge"), "");
    writeFileSync(join(b, "bridge"), "");
    writeFileSync(join(b, "host-local"), "");
    expect(findInPath("bridge", [a, b])).toBe(join(a, "bridge"));
    expect(findInPath("host-local", [a, b])).toBe(join(b, "host-local"));
  });

  it("does not require the executable bit, like the reference", () => {
    writeFileSync(join(a, "plain"), "");
    chmodSync(join(a, "plain"), 0o644);
    expect(findInPath("plain", [a])).toBe(join(a, "plain"));
  });

  it("skips a directory that has the plugin's name", () => {
    mkdirSync(join(a, "bridge"));
    writeFileSync(join(b, "bridge"), "");
    expect(findInPath("bridge", [a, b])).toBe(join(b, "bridge"));
  });

  it("rejects a name containing a path separator", () => {
    expect(() => findInPath("../bridge", [a])).toThrow(/^invalid plugin name: \.\.\/bridge/);
  });

  it("rejects an empty name", () => {
    expect(() => findInPath("", [a])).toThrow(/^no plugin name provided/);
  });

  it("rejects an empty path list and says to set CNI_PATH", () => {
    expect(() => findInPath("bridge", [])).toThrow(/^no paths provided.*CNI_PATH/);
  });

  it("lists the searched directories when the plugin is nowhere", () => {
    expect(() => findInPath("missing", [a, b])).toThrow(`failed to find plugin "missing" in path [${a} ${b}]`);
  });
});
