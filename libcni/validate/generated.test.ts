import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateValidators } from "../../scripts/gen-validators.ts";

describe("compiled validators", () => {
  it("are exactly what scripts/gen-validators.ts generates from the schemas (regenerate and commit on change)", () => {
    const files = generateValidators();
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(readFileSync(f.path, "utf8"), f.path).toBe(f.content);
  });

  it("need no ajv at run time", () => {
    const js = readFileSync(new URL("./generated/validators.js", import.meta.url), "utf8");
    expect(js).not.toMatch(/\brequire\(|from "ajv|import\(/);
  });
});
