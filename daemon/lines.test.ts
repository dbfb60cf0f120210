import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { forEachLine } from "./lines.ts";

function feed(chunks: string[], stopAt = Number.POSITIVE_INFINITY): Promise<string[]> {
  const s = new PassThrough();
  const got: string[] = [];
  forEachLine(s as unknown as IncomingMessage, (l) => (got.push(l), got.length < stopAt));
  for (const c of chunks) s.write(c);
  s.end();
  return new Promise((r) => s.on("end", () => r(got)).resume());
}

describe("forEachLine", () => {
  it("joins lines split across chunks and skips blank ones", async () => {
    expect(await feed(['{"a":', '1}\n\n  {"b"', ":2}\n", '{"c":3}\n'])).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });
  it("keeps an unterminated last line back and stops feeding when told to", async () => {
    expect(await feed(["x\ny\nz"])).toEqual(["x", "y"]);
    expect(await feed(["1\n2\n3\n", "4\n"], 2)).toEqual(["1", "2"]);
  });
});
