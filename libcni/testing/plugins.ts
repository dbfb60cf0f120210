// Helpers for tests that run the test-double plugins in libcni/testdata/plugins/.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const PLUGIN_DIR = resolve(import.meta.dirname, "../testdata/plugins");

export interface RecordedPluginCall {
  readonly type: string;
  readonly command: string;
  readonly env: Record<string, string>;
  readonly stdin: string;
}

/** A scratch dir with a record file and a script file for the noop plugin. */
export class NoopScratch {
  readonly dir = mkdtempSync(join(tmpdir(), "weft-noop-"));
  readonly record = join(this.dir, "calls.jsonl");
  readonly script = join(this.dir, "script.json");

  /** Environment to hand to the plugin (merge into the base env). */
  env(): Record<string, string> {
    return { NOOP_RECORD: this.record, NOOP_SCRIPT: this.script };
  }

  setScript(s: Record<string, { stdout?: unknown; stderr?: string; exit?: number; sleepMs?: number }>): void {
    writeFileSync(this.script, JSON.stringify(s));
  }

  calls(): RecordedPluginCall[] {
    if (!existsSync(this.record)) return [];
    return readFileSync(this.record, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as RecordedPluginCall);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function captureSink(): { write(s: string): boolean; text(): string } {
  let buf = "";
  return {
    write(s: string) {
      buf += s;
      return true;
    },
    text: () => buf,
  };
}
