import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { PLUGIN_DIR } from "../testing/plugins.ts";
import { RawExec } from "./raw-exec.ts";
import { RecordingExec } from "../testing/recording-exec.ts";
import {
  configVersion,
  decodePluginResult,
  decodeVersionInfo,
  execPluginWithResult,
  getVersionInfo,
} from "./result.ts";

const conf = (v?: string): string =>
  JSON.stringify({ ...(v === undefined ? {} : { cniVersion: v }), name: "n", type: "noop" });

describe("plugin results get a version", () => {
  it("keeps the version a result declares", () => {
    expect(decodePluginResult('{"cniVersion":"1.0.0","ips":[]}', conf("1.1.0")).cniVersion).toBe("1.0.0");
  });

  it.each([
    ["missing", "{}"],
    ["empty", '{"cniVersion":""}'],
  ])("assumes the config's version when the result's version is %s", (_label, out) => {
    expect(decodePluginResult(out, conf("0.4.0")).cniVersion).toBe("0.4.0");
  });

  it("assumes 0.1.0 when neither the result nor the config has a version", () => {
    expect(decodePluginResult("{}", conf()).cniVersion).toBe("0.1.0");
    expect(decodePluginResult("{}", conf("")).cniVersion).toBe("0.1.0");
  });

  it("tolerates a plugin printing null", () => {
    expect(decodePluginResult("null", conf("1.0.0")).cniVersion).toBe("1.0.0");
  });

  it("rejects output that is not JSON, showing it", () => {
    expect(() => decodePluginResult("ok", conf("1.0.0"))).toThrow(
      /^failed to unmarshal raw result: .*; plugin output was "ok"/,
    );
  });

  it("reads the config version, empty meaning 0.1.0", () => {
    expect(configVersion('{"cniVersion":"1.1.0"}')).toBe("1.1.0");
    expect(configVersion("{}")).toBe("0.1.0");
    expect(() => configVersion("{")).toThrow(/^decoding version from network config/);
  });

  it("runs ADD through an exec and returns the fixed-up result", async () => {
    const exec = new RecordingExec().on("noop", "ADD", { stdout: '{"ips":[{"address":"10.0.0.2/24"}]}' });
    const r = await execPluginWithResult(exec, { path: "/bin/noop", conf: conf("1.0.0"), env: { CNI_COMMAND: "ADD" } });
    expect(r.cniVersion).toBe("1.0.0");
  });
});

describe("VERSION probe", () => {
  it("sends VERSION with dummy NETNS, IFNAME and PATH and the current version on stdin", async () => {
    const exec = new RecordingExec().on("noop", "VERSION", {
      result: { cniVersion: "1.1.0", supportedVersions: ["1.0.0", "1.1.0"] },
    });
    const info = await getVersionInfo(exec, "/x/noop", { baseEnv: { HOME: "/root" } });
    expect(info).toEqual({ cniVersion: "1.1.0", supportedVersions: ["1.0.0", "1.1.0"] });
    expect(exec.lastCall?.env).toEqual({
      HOME: "/root",
      CNI_COMMAND: "VERSION",
      CNI_CONTAINERID: "",
      CNI_NETNS: "dummy",
      CNI_ARGS: "",
      CNI_IFNAME: "dummy",
      CNI_PATH: "dummy",
    });
    expect(exec.lastCall?.stdin).toBe('{"cniVersion":"1.1.0"}');
  });

  it("treats a plugin that does not know VERSION as supporting 0.1.0", async () => {
    const exec = new RecordingExec().on("old", "VERSION", { error: { code: 4, msg: "unknown CNI_COMMAND: VERSION" } });
    expect(await getVersionInfo(exec, "/x/old")).toEqual({ cniVersion: "0.1.0", supportedVersions: ["0.1.0"] });
  });

  it("passes on other VERSION failures", async () => {
    const exec = new RecordingExec().on("bad", "VERSION", {
      error: { code: 4, msg: "unknown CNI_COMMAND: VERSION", details: "x" },
    });
    await expect(getVersionInfo(exec, "/x/bad")).rejects.toThrow("unknown CNI_COMMAND: VERSION; x");
  });

  it("probes a real plugin process", async () => {
    const info = await getVersionInfo(new RawExec(), join(PLUGIN_DIR, "noop"));
    expect(info.supportedVersions).toContain("1.1.0");
  });

  it("decodes VERSION output by the reference rules", () => {
    expect(decodeVersionInfo('{"cniVersion":"0.2.0"}').supportedVersions).toEqual(["0.1.0", "0.2.0"]);
    expect(() => decodeVersionInfo('{"cniVersion":"0.3.0"}')).toThrow(
      "decoding version info: missing field supportedVersions",
    );
    expect(() => decodeVersionInfo('{"supportedVersions":["1.0.0"]}')).toThrow(
      "decoding version info: missing field cniVersion",
    );
    expect(() => decodeVersionInfo("nope")).toThrow(/^decoding version info: /);
  });
});
