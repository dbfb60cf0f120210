import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listCodeFiles, REPO_ROOT } from "./layout.ts";

/** The longest line a .ts file may have, in characters (as biome.json's lineWidth). */
const MAX_LINE = 120;

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
    const files = listCodeFiles(REPO_ROOT).filter((f) => f.endsWith(".ts") && !f.includes("/generated/"));
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
});
