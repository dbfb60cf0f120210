import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StateFileError, openLockFile, readStateBytes, readStateFile } from "./state-file.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "weft-state-file-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("readStateFile", () => {
  it("reads a regular file whole, through a symbolic link too", () => {
    writeFileSync(join(dir, "a"), "FLANNEL_MTU=1450\n");
    execFileSync("ln", ["-s", "a", join(dir, "link")]);
    expect(readStateFile(join(dir, "a"))).toBe("FLANNEL_MTU=1450\n");
    expect(readStateFile(join(dir, "link"))).toBe("FLANNEL_MTU=1450\n");
    expect(readStateBytes(join(dir, "a")).byteLength).toBe(17);
  });

  it("refuses a FIFO at once (no writer needed), and a directory, naming what the path is", () => {
    execFileSync("mkfifo", [join(dir, "fifo")]);
    mkdirSync(join(dir, "sub"));
    expect(() => readStateFile(join(dir, "fifo"))).toThrow(
      new StateFileError(
        join(dir, "fifo"),
        `${join(dir, "fifo")} is a FIFO, not a regular file: remove it or point the config elsewhere`,
      ),
    );
    expect(() => readStateFile(join(dir, "sub"))).toThrow(/sub is a directory, not a regular file/);
  });

  it("refuses a file over the cap and passes other errors through with their code", () => {
    writeFileSync(join(dir, "big"), "x".repeat(100));
    expect(readStateFile(join(dir, "big"), 100)).toHaveLength(100);
    expect(() => readStateFile(join(dir, "big"), 99)).toThrow(/holds more than the 99 bytes/);
    expect(() => readStateFile(join(dir, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});

describe("openLockFile", () => {
  it("creates a missing lock file and opens an existing one", () => {
    closeSync(openLockFile(join(dir, "lock"), 0o750));
    closeSync(openLockFile(join(dir, "lock"), 0o750));
  });

  it("refuses a FIFO without blocking on it", () => {
    execFileSync("mkfifo", [join(dir, "lock")]);
    expect(() => openLockFile(join(dir, "lock"), 0o750)).toThrow(/lock is a FIFO, not a regular file/);
  });
});
