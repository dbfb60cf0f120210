import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, chmodSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureSink, NoopScratch, PLUGIN_DIR } from "../testing/plugins.ts";
import { isCniError } from "../types/error.ts";
import { RawExec } from "./raw-exec.ts";

const noop = join(PLUGIN_DIR, "noop");
const conf = '{"cniVersion":"1.0.0","name":"net","type":"noop"}';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("RawExec runs plugin processes", () => {
  let s: NoopScratch;
  beforeEach(() => {
    s = new NoopScratch();
  });
  afterEach(() => s.dispose());

  it("passes stdin and exactly the given environment, and returns stdout", async () => {
    const out = await new RawExec().execPlugin({
      path: noop,
      stdin: conf,
      env: { ...s.env(), PATH: process.env["PATH"] ?? "", CNI_COMMAND: "ADD", CNI_IFNAME: "eth0" },
    });
    expect(JSON.parse(out)).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }], dns: {} });
    const [call] = s.calls();
    expect(call?.stdin).toBe(conf);
    expect(call?.env).toEqual({ CNI_COMMAND: "ADD", CNI_IFNAME: "eth0" });
  });

  it("copies the plugin's stderr to the caller's sink on success", async () => {
    s.setScript({ ADD: { stdout: { cniVersion: "1.0.0" }, stderr: "log line\n" } });
    const sink = captureSink();
    await new RawExec({ stderr: sink }).execPlugin({
      path: noop,
      stdin: conf,
      env: { ...s.env(), PATH: process.env["PATH"] ?? "", CNI_COMMAND: "ADD" },
    });
    expect(sink.text()).toBe("log line\n");
  });

  it("turns error JSON on stdout into that error", async () => {
    s.setScript({ ADD: { stdout: { code: 11, msg: "try again", details: "lock held" }, exit: 1 } });
    const err = await new RawExec()
      .execPlugin({ path: noop, stdin: conf, env: { ...s.env(), PATH: process.env["PATH"] ?? "", CNI_COMMAND: "ADD" } })
      .catch((e: unknown) => e);
    expect(isCniError(err) && [err.code, err.msg, err.details]).toEqual([11, "try again", "lock held"]);
  });

  it("reports stderr when a plugin fails without stdout", async () => {
    const err = await new RawExec()
      .execPlugin({ path: join(PLUGIN_DIR, "stderr-only"), stdin: conf, env: { CNI_COMMAND: "ADD" } })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('netplugin failed: "something broke: no bridge\\n": exit status 3');
  });

  it("says it cannot parse a failed plugin's garbage output", async () => {
    const err = await new RawExec()
      .execPlugin({ path: join(PLUGIN_DIR, "garbage"), stdin: conf, env: { CNI_COMMAND: "ADD" } })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^netplugin failed but error parsing its diagnostic message "this is not JSON \{\\n": /,
    );
  });

  it("kills a plugin that outlives the timeout and says which plugin and after how long", async () => {
    const pidfile = join(s.dir, "pid");
    const started = Date.now();
    const err = await new RawExec({ timeoutMs: 300 })
      .execPlugin({
        path: join(PLUGIN_DIR, "sleep"),
        stdin: conf,
        env: { PATH: process.env["PATH"] ?? "", SLEEP_PIDFILE: pidfile },
      })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((err as Error).message).toMatch(
      new RegExp(
        String.raw`^netplugin failed with no error message: signal: killed; ` +
          String.raw`plugin .*\/sleep was still running after 300ms and was killed \(SIGKILL\)`,
      ),
    );
    const pid = Number(readFileSync(pidfile, "utf8"));
    expect(alive(pid)).toBe(false);
  });

  it("a per-call timeout overrides the exec's default", async () => {
    const err = await new RawExec({ timeoutMs: 60_000 })
      .execPlugin({
        path: join(PLUGIN_DIR, "sleep"),
        stdin: "",
        env: { PATH: process.env["PATH"] ?? "" },
        timeoutMs: 1000,
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toContain("was still running after 1s");
  });

  it("retries while the binary is busy being written (text file busy)", async () => {
    const copy = join(s.dir, "busy");
    copyFileSync(noop, copy);
    chmodSync(copy, 0o755);
    const fd = openSync(copy, "r+");
    setTimeout(() => closeSync(fd), 150);
    const out = await new RawExec({ busyDelayMs: 100 }).execPlugin({
      path: copy,
      stdin: conf,
      env: { PATH: process.env["PATH"] ?? "", CNI_COMMAND: "VERSION" },
    });
    expect(JSON.parse(out)).toMatchObject({ cniVersion: "1.1.0" });
  });

  it("explains a plugin that is not executable", async () => {
    const f = join(s.dir, "noexec");
    writeFileSync(f, "#!/bin/sh\n");
    chmodSync(f, 0o644);
    const err = await new RawExec().execPlugin({ path: f, stdin: "", env: {} }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `netplugin failed with no error message: fork/exec ${f}: ` +
        "permission denied (make the plugin executable: chmod +x)",
    );
  });
});

describe("RawExec under Bun (the binary's runtime)", () => {
  it(
    "kills on timeout, reports stderr, retries a busy binary, " +
      "passes stdin and exactly the env, and explains failures",
    () => {
      const bun = resolve(import.meta.dirname, "../../node_modules/.bin/bun");
      const out = JSON.parse(
        execFileSync(bun, [resolve(import.meta.dirname, "../testing/bun-exec-driver.ts")], {
          encoding: "utf8",
          timeout: 30_000,
        }),
      ) as Record<string, unknown>;
      expect(out["timeout"]).toMatch(
        /^netplugin failed with no error message: signal: killed; plugin .*\/sleep was still running after 300ms/,
      );
      expect(out["elapsed"]).toBeLessThan(5000);
      expect(out["alive"]).toBe(false);
      expect(out["stderrOnly"]).toBe('netplugin failed: "something broke: no bridge\\n": exit status 3');
      expect(out["version"]).toMatchObject({ cniVersion: "1.1.0" });
      expect(out["busyOut"]).toBe("ok");
      expect(out["add"]).toEqual({
        out: { cniVersion: "1.0.0" },
        stdin: '{"cniVersion":"1.0.0","name":"net","type":"noop"}',
        env: { CNI_COMMAND: "ADD", CNI_IFNAME: "eth0" },
        stderr: "log line\n",
      });
      expect(out["garbage"]).toMatch(
        /^netplugin failed but error parsing its diagnostic message "this is not JSON \{\\n": /,
      );
      expect(out["notExecutable"]).toMatch(
        new RegExp(
          String.raw`^netplugin failed with no error message: fork\/exec .*noexec: permission denied ` +
            String.raw`\(make the plugin executable: chmod \+x\)$`,
        ),
      );
    },
  );
});
