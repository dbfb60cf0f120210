import { describe, expect, it } from "vitest";
import { isCniError } from "../types/error.ts";
import { delegateEnv, exitText, goQuote, pluginEnv, pluginFailure } from "./exec.ts";

describe("plugin environment", () => {
  it("adds every CNI_* variable on top of the inherited environment, the CNI values winning", () => {
    const env = pluginEnv(
      { HOME: "/root", CNI_COMMAND: "DEL", CNI_IFNAME: "old", UNSET: undefined },
      {
        command: "ADD",
        containerId: "c1",
        netns: "/run/netns/x",
        ifName: "eth0",
        pluginArgs: [
          ["K", "V"],
          ["IP", "10.0.0.2"],
        ],
        path: ["/opt/cni/bin", "/usr/lib/cni"],
      },
    );
    expect(env).toEqual({
      HOME: "/root",
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/run/netns/x",
      CNI_ARGS: "K=V;IP=10.0.0.2",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
    });
  });

  it("sets the CNI variables it was not given to empty strings, replacing inherited ones", () => {
    const env = pluginEnv({ CNI_NETNS: "/inherited", CNI_ARGS: "A=B" }, { command: "GC", path: ["/bin"] });
    expect(env["CNI_NETNS"]).toBe("");
    expect(env["CNI_ARGS"]).toBe("");
    expect(env["CNI_CONTAINERID"]).toBe("");
  });

  it("delegation keeps the whole inherited environment and replaces only CNI_COMMAND", () => {
    const base = {
      CNI_COMMAND: "ADD",
      CNI_NETNS: "/run/netns/p",
      CNI_PATH: "/opt/cni/bin",
      CNI_ARGS: "X=1",
      OTHER: "o",
    };
    expect(delegateEnv(base, "DEL")).toEqual({ ...base, CNI_COMMAND: "DEL" });
  });
});

describe("a failed plugin's output becomes a CniError", () => {
  it("uses the error JSON printed on stdout (code, msg, details)", () => {
    const e = pluginFailure({
      stdout: '{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"ipam.subnet"}',
      stderr: "log",
      exitCode: 1,
    });
    expect(isCniError(e)).toBe(true);
    expect(e.code).toBe(7);
    expect(e.msg).toBe("bad config");
    expect(e.details).toBe("ipam.subnet");
    expect(e.message).toBe("bad config; ipam.subnet");
  });

  it("reads the error keys case-insensitively, as Go does", () => {
    const e = pluginFailure({ stdout: '{"Code":11,"MSG":"busy"}', stderr: "", exitCode: 1 });
    expect([e.code, e.msg]).toEqual([11, "busy"]);
  });

  it("says there is no error message when stdout and stderr are both empty", () => {
    expect(pluginFailure({ stdout: "", stderr: "", exitCode: 2 }).message).toBe(
      "netplugin failed with no error message: exit status 2",
    );
    expect(pluginFailure({ stdout: "", stderr: "", exitCode: null, signal: "SIGKILL" }).message).toBe(
      "netplugin failed with no error message: signal: killed",
    );
  });

  it("quotes stderr when stdout is empty", () => {
    expect(pluginFailure({ stdout: "", stderr: 'no "cni0"\n', exitCode: 1 }).message).toBe(
      'netplugin failed: "no \\"cni0\\"\\n": exit status 1',
    );
  });

  it("says it could not parse the diagnostic when stdout is not an error object", () => {
    const e = pluginFailure({ stdout: "oops {", stderr: "", exitCode: 1 });
    expect(e.message).toMatch(/^netplugin failed but error parsing its diagnostic message "oops \{": /);
    expect(pluginFailure({ stdout: "[1]", stderr: "", exitCode: 1 }).message).toMatch(
      /^netplugin failed but error parsing its diagnostic message "\[1\]": /,
    );
    expect(pluginFailure({ stdout: '{"code":"7"}', stderr: "", exitCode: 1 }).message).toMatch(
      /"code" must be a non-negative integer/,
    );
  });

  it("writes exit texts the way Go does", () => {
    expect(exitText({ exitCode: 0 })).toBe("exit status 0");
    expect(exitText({ exitCode: null, signal: "SIGSEGV" })).toBe("signal: segmentation fault");
    expect(exitText({ exitCode: null, signal: "SIGUSR1" })).toBe("signal: SIGUSR1");
  });

  it("quotes like Go's %q", () => {
    expect(goQuote('a"b\\c\n\u0001é')).toBe('"a\\"b\\\\c\\n\\x01é"');
  });
});
