import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listCodeFiles, REPO_ROOT } from "./layout.ts";

/** The longest line a .ts file may have, in characters (as biome.json's lineWidth). */
const MAX_LINE = 120;

/**
 * Files (or folders, ending in "/") not checked yet: they are being rewritten on another branch and get
 * wrapped there. Empty this list once that work has landed.
 */
const NOT_CHECKED_YET: readonly string[] = [
  "bin/",
  "daemon/cni-server/",
  "daemon/flags.ts",
  "daemon/main.ts",
  "libcni/invoke/delegate.ts",
  "libcni/relay/",
  "libcni/skel/definition.ts",
  "libcni/skel/skel.ts",
  "linux/ffi/libc.ts",
  "linux/netns.ts",
  "linux/unix-socket.ts",
  "plugins/bridge/plugin.ts",
  "plugins/flannel/plugin.ts",
  "plugins/flannel/relay.ts",
  "plugins/shared/ipam.ts",
];

const notCheckedYet = (path: string): boolean =>
  NOT_CHECKED_YET.some((p) => (p.endsWith("/") ? path.startsWith(p) : path === p));

/** `path:line: N characters` for every line of `text` longer than MAX_LINE characters. */
function longLines(path: string, text: string): string[] {
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    const length = [...line].length;
    if (length > MAX_LINE) out.push(`${path}:${i + 1}: ${length} characters`);
  });
  return out;
}

describe("source style", () => {
  it(`has no line over ${MAX_LINE} characters in any TypeScript file (generated validators excluded)`, () => {
    const files = listCodeFiles(REPO_ROOT).filter(
      (f) => f.endsWith(".ts") && !f.includes("/generated/") && !notCheckedYet(f),
    );
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((f) => longLines(f, readFileSync(join(REPO_ROOT, f), "utf8")));
    expect(found, `\n${found.join("\n")}\n`).toEqual([]);
  });

  it("names the file and line of each long line, counting characters rather than bytes", () => {
    const ok = "x".repeat(MAX_LINE);
    const wide = "−".repeat(MAX_LINE); // three bytes each in UTF-8, one character
    const text = [ok, `${ok}y`, wide, "", `  ${ok}`].join("\n");
    expect(longLines("a/b.ts", text)).toEqual([
      `a/b.ts:2: ${MAX_LINE + 1} characters`,
      `a/b.ts:5: ${MAX_LINE + 2} characters`,
    ]);
  });

  it("skips exactly the listed files and folders", () => {
    expect(notCheckedYet("daemon/cni-server/server.ts")).toBe(true);
    expect(notCheckedYet("daemon/main.ts")).toBe(true);
    expect(notCheckedYet("daemon/main.kube.test.ts")).toBe(false);
    expect(notCheckedYet("libcni/skel/skel.test.ts")).toBe(false);
    expect(notCheckedYet("plugins/bridge/bin/x.ts")).toBe(false);
  });
});
