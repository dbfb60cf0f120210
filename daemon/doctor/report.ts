/** The doctor's output: a table for people, JSON for tools. Pure. */
import type { CheckResult } from "./check.ts";

const MARK = { ok: "ok", warn: "WARN", fail: "FAIL", skip: "skip" } as const;

/** Wrap `text` at spaces to `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.length > 0 ? lines : [""];
}

/** One row per check: status, title, what was found; under a failed or warned row, the fix. */
export function formatTable(results: readonly CheckResult[], width = 100, note?: string): string {
  const titleWidth = Math.min(28, Math.max(...results.map((r) => r.title.length), 5));
  const textWidth = Math.max(30, width - titleWidth - 8);
  const pad = " ".repeat(titleWidth + 8);
  const out: string[] = note ? [...wrap(note, width), ""] : [];
  for (const r of results) {
    const [first = "", ...rest] = wrap(r.summary, textWidth);
    out.push(`${MARK[r.status].padEnd(5)} ${r.title.padEnd(titleWidth)}  ${first}`);
    for (const l of rest) out.push(`${pad}${l}`);
    if (r.fix) {
      const [f1 = "", ...frest] = wrap(`fix: ${r.fix}`, textWidth);
      out.push(`${pad}${f1}`);
      for (const l of frest) out.push(`${pad}     ${l}`);
    }
  }
  const count = (s: CheckResult["status"]) => results.filter((r) => r.status === s).length;
  out.push("", `${count("ok")} ok, ${count("warn")} warnings, ${count("fail")} failed, ${count("skip")} skipped`);
  return `${out.join("\n")}\n`;
}

export function formatJson(results: readonly CheckResult[], flags?: { from: string; args: readonly string[] }): string {
  const failed = results.filter((r) => r.status === "fail").length;
  return `${JSON.stringify({ ok: failed === 0, failed, ...(flags ? { flags } : {}), checks: results }, null, 2)}\n`;
}
