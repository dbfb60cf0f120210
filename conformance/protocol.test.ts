// The CNI protocol as skel implements it (environment, stdin, VERSION, error JSON and codes) through
// real plugin executables, for each implementation.
import { describe, expect, it } from "vitest";
import { callPlugin } from "./exec.ts";
import { implsUnderTest, versionsOf, DIFFERENCES } from "./impls.ts";
import { join } from "node:path";

const hostLocalConf = (v: string) => ({
  cniVersion: v,
  name: "proto",
  type: "host-local",
  ipam: { type: "host-local", ranges: [[{ subnet: "10.244.200.0/24" }]], dataDir: "/tmp/weft-conformance-protocol" },
});

describe.each(implsUnderTest())("CNI protocol through the plugin binaries [$label]", (impl) => {
  const bin = (p: string) => join(impl.pluginDir, p);

  it("VERSION prints the supported versions without reading stdin", async () => {
    for (const p of ["bridge", "host-local", "loopback"]) {
      const r = await callPlugin({
        plugin: bin(p),
        command: "VERSION",
        omit: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.["supportedVersions"]).toEqual(versionsOf(impl));
      expect(r.json?.["cniVersion"]).toBe(impl.maxVersion);
      expect(r.stdout.endsWith("}\n")).toBe(true);
    }
  });

  it("reports every missing required variable at once with code 4", async () => {
    const r = await callPlugin({
      plugin: bin("host-local"),
      command: "ADD",
      conf: hostLocalConf("0.4.0"),
      omit: ["CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
    });
    expect(r.code).toBe(1);
    expect(r.json?.["code"]).toBe(4);
    expect(r.json?.["msg"]).toMatch(/^required env variables \[CNI_NETNS,CNI_IFNAME,CNI_PATH\] missing/);
  });

  it("DEL does not require CNI_NETNS", async () => {
    const r = await callPlugin({
      plugin: bin("host-local"),
      command: "DEL",
      conf: hostLocalConf("0.4.0"),
      omit: ["CNI_NETNS"],
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("refuses a containerID with invalid characters with code 4", async () => {
    const r = await callPlugin({
      plugin: bin("host-local"),
      command: "ADD",
      conf: hostLocalConf("0.4.0"),
      containerID: "some-%%container-id",
    });
    expect(r.json?.["code"]).toBe(4);
    expect(r.json?.["msg"]).toMatch(/^invalid characters in containerID/);
  });

  it.each([
    ["a-name-much-too-long", /^interface name is too long/],
    [".", /^interface name is \. or \.\./],
    ["eth/0", /^interface name contains \/ or : or whitespace characters/],
    ["eth 0", /^interface name contains \/ or : or whitespace characters/],
  ])("refuses interface name %j with code 4", async (ifName, msg) => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "ADD", conf: hostLocalConf("0.4.0"), ifName });
    expect(r.json?.["code"]).toBe(4);
    expect(r.json?.["msg"]).toMatch(msg);
  });

  it("refuses an unsupported config version with code 1 before doing anything", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "ADD", conf: hostLocalConf("4.3.2") });
    expect(r.json?.["code"]).toBe(1);
    expect(r.json?.["msg"]).toMatch(/^incompatible CNI versions/);
  });

  it("refuses CHECK below 0.4.0 with code 1", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "CHECK", conf: hostLocalConf("0.3.1") });
    expect(r.json?.["code"]).toBe(1);
    expect(r.json?.["msg"]).toMatch(/^config version does not allow CHECK/);
  });

  it("refuses an unparsable cniVersion with code 6 or 1", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "CHECK", conf: hostLocalConf("adsfsadf") });
    expect(r.json?.["code"]).toBe(6);
  });

  it("refuses a bad network name with code 7", async () => {
    const r = await callPlugin({
      plugin: bin("host-local"),
      command: "ADD",
      conf: { ...hostLocalConf("0.4.0"), name: "te%%st" },
    });
    expect(r.json?.["code"]).toBe(7);
  });

  it("refuses malformed JSON with code 6", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "ADD", stdin: "{not json" });
    expect(r.json?.["code"]).toBe(6);
    expect(r.json?.["msg"]).toMatch(/^error unmarshall network config/);
  });

  it("refuses an unknown CNI_COMMAND with code 4", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "NOPE", conf: hostLocalConf("0.4.0") });
    expect(r.json?.["code"]).toBe(4);
    expect(r.json?.["msg"]).toMatch(/^unknown CNI_COMMAND: NOPE/);
  });

  it("prints the about text on stderr and succeeds with no CNI_COMMAND", async () => {
    const r = await callPlugin({ plugin: bin("bridge"), command: "", omit: ["CNI_COMMAND"] });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/CNI protocol versions supported: 0\.1\.0, 0\.2\.0/);
  });

  it("errors are JSON on stdout with a 4-space indent and exit status 1", async () => {
    const r = await callPlugin({ plugin: bin("host-local"), command: "NOPE", conf: hostLocalConf("0.4.0") });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\{\n {4}"code": 4,\n {4}"msg": /);
  });

  it.runIf(impl.isOurs)("GC and STATUS are gated on 1.1.0 (weft only: " + DIFFERENCES.version110 + ")", async () => {
    const gc = await callPlugin({
      plugin: bin("host-local"),
      command: "GC",
      conf: hostLocalConf("1.0.0"),
      omit: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
    });
    expect(gc.json?.["code"]).toBe(1);
    expect(gc.json?.["msg"]).toMatch(/^config version does not allow GC/);
    const st = await callPlugin({
      plugin: bin("host-local"),
      command: "STATUS",
      conf: hostLocalConf("1.1.0"),
      omit: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
    });
    expect(st.code, st.stdout).toBe(0);
  });
});
