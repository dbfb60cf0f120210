import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CniConfig, type CniRuntime } from "./api.ts";
import { confFromBytes, confListFromBytes, type RuntimeConf } from "./conf.ts";
import { RecordingExec } from "./testing/recording-exec.ts";
import { formatResult } from "./types/index.ts";
import { NoopScratch, PLUGIN_DIR } from "./testing/plugins.ts";

const rt: RuntimeConf = {
  containerId: "some-container-id",
  netns: "/some/netns/path",
  ifName: "eth0",
  args: [["FOO", "BAR"]],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80 }] },
};
const r100 = (addr: string): Record<string, unknown> => ({ cniVersion: "1.0.0", ips: [{ address: addr }] });

function list(
  version: string,
  plugins: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): ReturnType<typeof confListFromBytes> {
  return confListFromBytes(JSON.stringify({ cniVersion: version, name: "some-list", ...extra, plugins }));
}
const three = (v = "1.0.0", extra: Record<string, unknown> = {}) =>
  list(v, [{ type: "noop", name: "first" }, { type: "noop2" }, { type: "noop3" }], extra);

let dir: string;
let exec: RecordingExec;
let cni: CniConfig;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "weft-api-"));
  exec = new RecordingExec();
  cni = new CniConfig({ path: ["/opt/cni/bin", "/usr/lib/cni"], cacheDir: dir, exec, baseEnv: { HOME: "/root" } });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const cacheFile = (net = "some-list", r: RuntimeConf = rt): string =>
  join(dir, "results", `${net}-${r.containerId}-${r.ifName}`);

describe("ADD", () => {
  it("passes only the capabilities that are enabled in the config and supplied by the runtime", async () => {
    const l = list("1.0.0", [
      { type: "noop", capabilities: { portMappings: true, somethingElse: true, noCapability: false } },
    ]);
    await cni.addNetworkList(l, {
      ...rt,
      capabilityArgs: { portMappings: [{ hostPort: 1 }], somethingElse: ["x"], noCapability: 1, notAdded: true },
    });
    expect(exec.lastCall?.config?.["runtimeConfig"]).toEqual({ portMappings: [{ hostPort: 1 }], somethingElse: ["x"] });
  });

  it("adds no runtimeConfig at all when no capability overlaps", async () => {
    await cni.addNetworkList(list("1.0.0", [{ type: "noop", capabilities: { other: true } }]), rt);
    expect(exec.lastCall?.config).not.toHaveProperty("runtimeConfig");
  });

  it("runs every plugin with ADD in order, chaining prevResult, and returns the last result", async () => {
    exec
      .on("noop", "ADD", { result: r100("10.0.0.1/24") })
      .on("noop2", "ADD", { result: r100("10.0.0.2/24") })
      .on("noop3", "ADD", { result: r100("10.0.0.3/24") });
    const result = await cni.addNetworkList(three(), rt);
    expect(exec.commands()).toEqual(["ADD noop", "ADD noop2", "ADD noop3"]);
    expect(exec.calls.map((c) => c.config?.["prevResult"])).toEqual([
      undefined,
      r100("10.0.0.1/24"),
      r100("10.0.0.2/24"),
    ]);
    for (const c of exec.calls) expect(c.config).toMatchObject({ name: "some-list", cniVersion: "1.0.0" });
    expect(result).toEqual(r100("10.0.0.3/24"));
    expect(exec.calls[0]?.env).toEqual({
      HOME: "/root",
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "some-container-id",
      CNI_NETNS: "/some/netns/path",
      CNI_ARGS: "FOO=BAR",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
    });
    expect(exec.calls[0]?.path).toBe("/opt/cni/bin/noop");
  });

  it("sends Go libcni's bytes: keys sorted, compact, the user's numbers as written", async () => {
    const l = confListFromBytes(
      '{"cniVersion":"1.0.0","name":"golden","plugins":[{ "type": "noop", "capabilities": ' +
        '{ "portMappings": true, "mac": false }, "big": 12345678901234567890 }]}',
    );
    await cni.addNetworkList(l, {
      ...rt,
      capabilityArgs: {
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
        mac: "c2:11:22:33:44:55",
      },
    });
    expect(exec.lastCall?.stdin).toBe(
      '{"big":12345678901234567890,"capabilities":{"mac":false,"portMappings":true},' +
        '"cniVersion":"1.0.0","name":"golden","runtimeConfig":{"portMappings":[{"containerPort":80,' +
        '"hostPort":8080,"protocol":"tcp"}]},"type":"noop"}',
    );
  });

  it("writes the cache file after the whole chain succeeded", async () => {
    exec.on("noop3", "ADD", { result: r100("10.0.0.3/24") });
    const l = three();
    await cni.addNetworkList(l, rt);
    const cached = JSON.parse(readFileSync(cacheFile(), "utf8")) as Record<string, unknown>;
    expect(cached).toMatchObject({
      kind: "cniCacheV1",
      containerId: "some-container-id",
      networkName: "some-list",
      ifName: "eth0",
      netns: "/some/netns/path",
      cniArgs: [["FOO", "BAR"]],
      capabilityArgs: rt.capabilityArgs,
      result: r100("10.0.0.3/24"),
    });
    expect(Buffer.from(cached["config"] as string, "base64")).toEqual(Buffer.from(l.bytes));
  });

  it("keeps separate cache files per interface", async () => {
    await cni.addNetworkList(three(), rt);
    await cni.addNetworkList(three(), { ...rt, ifName: "eth1" });
    expect(readdirSync(join(dir, "results")).sort()).toEqual([
      "some-list-some-container-id-eth0",
      "some-list-some-container-id-eth1",
    ]);
  });

  it("names the failing plugin, keeps its code, runs no DEL and caches nothing", async () => {
    exec.on("noop2", "ADD", { error: { code: 11, msg: "busy", details: "retry" } });
    const err = await cni.addNetworkList(three(), rt).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 11, message: 'plugin type="noop2" failed (add): busy; retry' });
    expect(exec.commands()).toEqual(["ADD noop", "ADD noop2"]);
    expect(existsSync(cacheFile())).toBe(false);
  });

  it("includes the plugin's own name in the error when it has one", async () => {
    exec.on("noop", "ADD", { error: { code: 7, msg: "bad" } });
    await expect(cni.addNetworkList(three(), rt)).rejects.toThrow('plugin type="noop" name="first" failed (add): bad');
  });

  it("fails when the result cache cannot be written", async () => {
    writeFileSync(join(dir, "results"), "");
    await expect(cni.addNetworkList(three(), rt)).rejects.toThrow(/^failed to set network "some-list" cached result/);
  });

  it("fails for a missing plugin binary before running anything", async () => {
    const c = new CniConfig({ path: ["/opt/cni/bin"], cacheDir: dir, exec: new RecordingExec({ plugins: ["noop"] }) });
    await expect(c.addNetworkList(three(), rt)).rejects.toThrow(
      'plugin type="noop2" failed (add): failed to find plugin "noop2" in path [/opt/cni/bin]',
    );
  });

  it.each([
    ["an empty containerID", { containerId: "" }, "missing containerID"],
    ["a bad containerID", { containerId: "some-%%container" }, "invalid characters in containerID"],
    ["an empty ifname", { ifName: "" }, "interface name is empty"],
    ["a 16-character ifname", { ifName: "0123456789abcdef" }, "interface name is too long"],
    ["ifname .", { ifName: "." }, "interface name is . or .."],
    ["ifname ..", { ifName: ".." }, "interface name is . or .."],
    ["an ifname with /", { ifName: "a/b" }, "interface name contains / or : or whitespace characters"],
    ["an ifname with :", { ifName: "a:b" }, "interface name contains / or : or whitespace characters"],
    ["an ifname with a space", { ifName: "a b" }, "interface name contains / or : or whitespace characters"],
  ])("rejects %s before exec", async (_label, change, msg) => {
    await expect(cni.addNetworkList(three(), { ...rt, ...change })).rejects.toThrow(msg);
    expect(exec.calls).toHaveLength(0);
  });

  it.each([
    ["empty", "", "missing network name:"],
    ["with bad characters", "some;list", "invalid characters found in network name"],
  ])("rejects a network name that is %s before exec", async (_label, name, msg) => {
    const l = confListFromBytes(JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "noop" }] }));
    await expect(cni.addNetworkList(l, rt)).rejects.toThrow(msg);
    expect(exec.calls).toHaveLength(0);
  });
});

describe("CHECK", () => {
  it("refuses configs older than 0.4.0", async () => {
    await expect(cni.checkNetworkList(three("0.3.1"), rt)).rejects.toThrow(
      'configuration version "0.3.1" does not support the CHECK command',
    );
    expect(exec.calls).toHaveLength(0);
  });

  it("runs nothing when disableCheck is true", async () => {
    await cni.checkNetworkList(three("1.0.0", { disableCheck: true }), rt);
    expect(exec.calls).toHaveLength(0);
  });

  it("runs every plugin in order with the cached result as prevResult", async () => {
    exec.on("noop3", "ADD", { result: r100("10.0.0.3/24") });
    await cni.addNetworkList(three(), rt);
    exec.calls.length = 0;
    await cni.checkNetworkList(three(), rt);
    expect(exec.commands()).toEqual(["CHECK noop", "CHECK noop2", "CHECK noop3"]);
    for (const c of exec.calls) expect(c.config?.["prevResult"]).toEqual(r100("10.0.0.3/24"));
  });

  it("fails on an invalid cached result", async () => {
    mkdirSync(join(dir, "results"));
    writeFileSync(cacheFile(), "{bad json");
    await expect(cni.checkNetworkList(three(), rt)).rejects.toThrow(
      /^failed to get network "some-list" cached result: /,
    );
  });

  it("returns the first plugin error as it is", async () => {
    exec.on("noop2", "CHECK", { error: { code: 7, msg: "eth0 has no address" } });
    await expect(cni.checkNetworkList(three(), rt)).rejects.toMatchObject({ code: 7, message: "eth0 has no address" });
    expect(exec.commands()).toEqual(["CHECK noop", "CHECK noop2"]);
  });
});

describe("DEL", () => {
  it("runs the plugins in reverse order with the cached result (0.4.0 and later)", async () => {
    exec.on("noop3", "ADD", { result: r100("10.0.0.3/24") });
    await cni.addNetworkList(three(), rt);
    exec.calls.length = 0;
    await cni.delNetworkList(three(), rt);
    expect(exec.commands()).toEqual(["DEL noop3", "DEL noop2", "DEL noop"]);
    for (const c of exec.calls) expect(c.config?.["prevResult"]).toEqual(r100("10.0.0.3/24"));
    expect(existsSync(cacheFile())).toBe(false);
  });

  it("sends no prevResult for configs older than 0.4.0", async () => {
    await cni.addNetworkList(three("0.3.1"), rt);
    exec.calls.length = 0;
    await cni.delNetworkList(three("0.3.1"), rt);
    expect(exec.commands()).toEqual(["DEL noop3", "DEL noop2", "DEL noop"]);
    for (const c of exec.calls) expect(c.config).not.toHaveProperty("prevResult");
  });

  it("a second DEL succeeds without prevResult", async () => {
    await cni.addNetworkList(three(), rt);
    await cni.delNetworkList(three(), rt);
    exec.calls.length = 0;
    await cni.delNetworkList(three(), rt);
    expect(exec.calls).toHaveLength(3);
    for (const c of exec.calls) expect(c.config).not.toHaveProperty("prevResult");
  });

  it.each([
    ["is not JSON", "{bad"],
    [
      "holds a result in an unknown version",
      '{"kind":"cniCacheV1","containerId":"c","ifName":"eth0",' +
        '"networkName":"some-list","result":{"cniVersion":"9.9.9"}}',
    ],
  ])("tolerates a cache file that %s, and removes it", async (_label, text) => {
    mkdirSync(join(dir, "results"));
    writeFileSync(cacheFile(), text);
    await cni.delNetworkList(three(text.startsWith("{bad") ? "1.0.0" : "0.4.0"), rt);
    expect(exec.calls.every((c) => c.config?.["prevResult"] === undefined)).toBe(true);
    expect(existsSync(cacheFile())).toBe(false);
  });

  it("stops at a failing plugin, names it, and keeps the cache", async () => {
    await cni.addNetworkList(three(), rt);
    exec.calls.length = 0;
    exec.on("noop2", "DEL", { error: { code: 5, msg: "io" } });
    await expect(cni.delNetworkList(three(), rt)).rejects.toMatchObject({
      code: 5,
      message: 'plugin type="noop2" failed (delete): io',
    });
    expect(exec.commands()).toEqual(["DEL noop3", "DEL noop2"]);
    expect(existsSync(cacheFile())).toBe(true);
  });
});

describe("validate", () => {
  it("fails when a plugin binary is missing", async () => {
    const c = new CniConfig({
      path: ["/opt/cni/bin"],
      cacheDir: dir,
      exec: new RecordingExec({ plugins: ["noop", "noop3"] }),
    });
    await expect(c.validateNetworkList(three())).rejects.toThrow(
      '[failed to find plugin "noop2" in path [/opt/cni/bin]]',
    );
  });

  it("lists every plugin that does not support the config version", async () => {
    exec.respond((c) =>
      c.command === "VERSION" ? { result: { cniVersion: "1.0.0", supportedVersions: ["0.4.0", "1.0.0"] } } : undefined,
    );
    await expect(cni.validateNetworkList(three("broken"))).rejects.toThrow(
      '[plugin noop does not support config version "broken" plugin noop2 does not support ' +
        'config version "broken" plugin noop3 does not support config version "broken"]',
    );
  });

  it("returns the union of enabled capabilities when all is well", async () => {
    exec.respond((c) =>
      c.command === "VERSION" ? { result: { cniVersion: "1.0.0", supportedVersions: ["1.0.0"] } } : undefined,
    );
    const l = list("1.0.0", [
      { type: "a", capabilities: { portMappings: true, mac: false } },
      { type: "b", capabilities: { portMappings: true, ips: true } },
    ]);
    expect((await cni.validateNetworkList(l)).sort()).toEqual(["ips", "portMappings"]);
    expect(exec.commands()).toEqual(["VERSION a", "VERSION b"]);
  });
});

describe("GC", () => {
  const two = (extra: Record<string, unknown> = {}) => list("1.1.0", [{ type: "noop" }, { type: "noop2" }], extra);

  it("does nothing when disableGC is true", async () => {
    await cni.addNetworkList(two(), rt);
    exec.calls.length = 0;
    await cni.gcNetworkList(two({ disableGC: true }));
    expect(exec.calls).toHaveLength(0);
  });

  it("keeps valid attachments and sends GC with cni.dev/valid-attachments (and the legacy key)", async () => {
    await cni.addNetworkList(two(), rt);
    exec.calls.length = 0;
    await cni.gcNetworkList(two(), { validAttachments: [{ containerID: rt.containerId, ifname: "eth0" }] });
    expect(exec.commands()).toEqual(["GC noop", "GC noop2"]);
    const att = [{ containerID: "some-container-id", ifname: "eth0" }];
    expect(exec.calls[0]?.config).toMatchObject({
      name: "some-list",
      cniVersion: "1.1.0",
      "cni.dev/valid-attachments": att,
      "cni.dev/attachments": att,
    });
    expect(exec.calls[0]?.env).toMatchObject({
      CNI_COMMAND: "GC",
      CNI_CONTAINERID: "",
      CNI_NETNS: "",
      CNI_IFNAME: "",
      CNI_ARGS: "",
      CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
    });
  });

  it("DELs stale attachments with their cached netns, args and capabilities, then GCs with []", async () => {
    await cni.addNetworkList(two(), rt);
    exec.calls.length = 0;
    await cni.gcNetworkList(two(), { validAttachments: [] });
    expect(exec.commands()).toEqual(["DEL noop2", "DEL noop", "GC noop", "GC noop2"]);
    expect(exec.calls[0]?.env).toMatchObject({
      CNI_CONTAINERID: "some-container-id",
      CNI_NETNS: "/some/netns/path",
      CNI_ARGS: "FOO=BAR",
      CNI_IFNAME: "eth0",
    });
    expect(exec.calls[2]?.config?.["cni.dev/valid-attachments"]).toEqual([]);
    expect(existsSync(cacheFile())).toBe(false);
  });

  it("without args treats every attachment as stale and injects no attachment keys", async () => {
    await cni.addNetworkList(two(), rt);
    exec.calls.length = 0;
    await cni.gcNetworkList(two());
    expect(exec.commands()).toEqual(["DEL noop2", "DEL noop", "GC noop", "GC noop2"]);
    expect(exec.calls[2]?.config).not.toHaveProperty("cni.dev/valid-attachments");
  });

  it("leaves other networks' attachments alone and skips GC before 1.1.0", async () => {
    await cni.addNetworkList(list("1.0.0", [{ type: "noop" }]), rt);
    await cni.addNetworkList(confListFromBytes('{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"x"}]}'), rt);
    exec.calls.length = 0;
    await cni.gcNetworkList(list("1.0.0", [{ type: "noop" }]));
    expect(exec.commands()).toEqual(["DEL noop"]);
    expect(existsSync(cacheFile("other"))).toBe(true);
  });

  it("keeps going after errors and reports them all", async () => {
    await cni.addNetworkList(two(), rt);
    exec.calls.length = 0;
    exec.on("noop2", undefined, { error: { code: 11, msg: "later" } });
    const err = (await cni.gcNetworkList(two(), { validAttachments: [] }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      "failed to delete stale attachment some-container-id eth0: plugin " +
        `type="noop2" failed (delete): later\nfailed to GC plugin noop2: later`,
    );
    expect(exec.commands()).toEqual(["DEL noop2", "GC noop", "GC noop2"]);
  });
});

describe("STATUS", () => {
  const two = (v = "1.1.0") => list(v, [{ type: "noop" }, { type: "noop2" }]);

  it("sends STATUS to every plugin in order", async () => {
    await cni.getStatusNetworkList(two());
    expect(exec.commands()).toEqual(["STATUS noop", "STATUS noop2"]);
    expect(exec.calls[0]?.config).toEqual({ type: "noop", name: "some-list", cniVersion: "1.1.0" });
  });

  it("returns the first error with its code and stops", async () => {
    exec.on("noop", "STATUS", { error: { code: 50, msg: "plugin not available" } });
    await expect(cni.getStatusNetworkList(two())).rejects.toMatchObject({ code: 50, message: "plugin not available" });
    expect(exec.commands()).toEqual(["STATUS noop"]);
  });

  it("does nothing for configs older than 1.1.0", async () => {
    await cni.getStatusNetworkList(two("1.0.0"));
    expect(exec.calls).toHaveLength(0);
  });
});

describe("single-plugin networks and helpers", () => {
  const net = confFromBytes('{"cniVersion":"1.0.0","name":"single","type":"noop"}');

  it("adds, checks and deletes a single network with its own cache entry", async () => {
    exec.on("noop", "ADD", { result: r100("10.0.0.7/24") });
    await cni.addNetwork(net, rt);
    expect(existsSync(cacheFile("single"))).toBe(true);
    await cni.checkNetwork(net, rt);
    await cni.delNetwork(net, rt);
    expect(exec.commands()).toEqual(["ADD noop", "CHECK noop", "DEL noop"]);
    expect(exec.calls[1]?.config?.["prevResult"]).toEqual(r100("10.0.0.7/24"));
    expect(existsSync(cacheFile("single"))).toBe(false);
  });

  it("reads back the cached result, config and attachments", async () => {
    exec.on("noop3", "ADD", { result: r100("10.0.0.3/24") });
    const l = three();
    await cni.addNetworkList(l, rt);
    expect(await cni.getNetworkListCachedResult(l, rt)).toEqual(r100("10.0.0.3/24"));
    expect((await cni.getNetworkListCachedConfig(l, rt))?.rt.args).toEqual([["FOO", "BAR"]]);
    expect((await cni.getCachedAttachments("some-container-id")).map((a) => a.network)).toEqual(["some-list"]);
  });

  it("asks a plugin for its versions", async () => {
    exec.on("noop", "VERSION", { result: { cniVersion: "1.1.0", supportedVersions: ["1.1.0"] } });
    expect(await cni.getVersionInfo("noop")).toEqual({ cniVersion: "1.1.0", supportedVersions: ["1.1.0"] });
  });
});

describe("with real plugin processes", () => {
  let s: NoopScratch;
  beforeEach(() => {
    s = new NoopScratch();
  });
  afterEach(() => s.dispose());

  it("ADD, CHECK and DEL through the test-double plugin", async () => {
    const real: CniRuntime = new CniConfig({
      path: [PLUGIN_DIR],
      cacheDir: dir,
      baseEnv: { PATH: process.env["PATH"] ?? "", ...s.env() },
    });
    const l = list("1.0.0", [{ type: "noop" }]);
    const result = await real.addNetworkList(l, rt);
    expect(result).toMatchObject({ cniVersion: "1.0.0", ips: [{ address: "10.1.2.3/24" }] });
    await real.checkNetworkList(l, rt);
    await real.delNetworkList(l, rt);
    expect(s.calls().map((c) => c.command)).toEqual(["ADD", "CHECK", "DEL"]);
    expect(JSON.parse(s.calls()[1]?.stdin ?? "{}")).toMatchObject({ prevResult: JSON.parse(formatResult(result)) });
  });
});
