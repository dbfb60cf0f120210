import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fromJsonTree } from "../invoke/gojson.ts";
import { containerIdFor, parseCapArgs, parseCniArgs, pluginPath, setupRuntimeConfig } from "./runtime-conf.ts";

describe("cnitool runtime arguments", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-cnitool-"));
    writeFileSync(
      join(dir, "10-net.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "net", plugins: [{ type: "noop" }] }),
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const setup = (env: Record<string, string>, over: Partial<Parameters<typeof setupRuntimeConfig>[0]> = {}) =>
    setupRuntimeConfig({
      network: "net",
      netns: "/run/netns/golden-pod",
      ifnameFlag: "",
      env: { NETCONFPATH: dir, ...env },
      cwd: "/",
      ...over,
    });

  it("derives the container ID from the sha512 of the absolute netns path, like the reference", async () => {
    // Value written by the Go cnitool for this path (libcni/testdata/cache).
    expect(await containerIdFor("/run/netns/golden-pod")).toBe("cnitool-db28bd44764cc50ae6d9");
  });

  it("makes a relative netns path absolute from the working directory", async () => {
    const { rt } = await setup({}, { netns: "ns/../pod", cwd: "/var/run/netns" });
    expect(rt.netns).toBe("/var/run/netns/pod");
    expect(rt.containerId).toBe(await containerIdFor("/var/run/netns/pod"));
  });

  it("takes the interface from the flag, else CNI_IFNAME, else eth0", async () => {
    expect((await setup({ CNI_IFNAME: "net1" }, { ifnameFlag: "eth7" })).rt.ifName).toBe("eth7");
    expect((await setup({ CNI_IFNAME: "net1" })).rt.ifName).toBe("net1");
    expect((await setup({ CNI_IFNAME: "" })).rt.ifName).toBe("eth0");
    expect((await setup({})).rt.ifName).toBe("eth0");
  });

  it("loads the network from NETCONFPATH", async () => {
    expect((await setup({})).list.plugins.map((p) => p.type)).toEqual(["noop"]);
    await expect(setup({ NETCONFPATH: join(dir, "none") })).rejects.toThrow(/^no net configurations found in .*none/);
  });

  it("parses CNI_ARGS pairs and rejects malformed ones", async () => {
    expect(parseCniArgs("K8S_POD_NAME=web;IgnoreUnknown=1")).toEqual([
      ["K8S_POD_NAME", "web"],
      ["IgnoreUnknown", "1"],
    ]);
    for (const bad of ["A", "A=", "=B", "A=B=C", "A=B;"])
      expect(() => parseCniArgs(bad)).toThrow(/^invalid CNI_ARGS pair/);
    expect((await setup({ CNI_ARGS: "A=B" })).rt.args).toEqual([["A", "B"]]);
    expect((await setup({})).rt).not.toHaveProperty("args");
  });

  it("parses CAP_ARGS as a JSON object and says what is wrong otherwise", () => {
    const caps = parseCapArgs('{"portMappings":[{"hostPort":8080}],"mac":"c2:11:22:33:44:55"}') ?? {};
    expect(fromJsonTree(new Map(Object.entries(caps)) as never)).toEqual({
      portMappings: [{ hostPort: 8080 }],
      mac: "c2:11:22:33:44:55",
    });
    expect(() => parseCapArgs("{nope")).toThrow(/^invalid CAP_ARGS: .*; CAP_ARGS must be a JSON object/);
    expect(() => parseCapArgs("[1]")).toThrow(/^invalid CAP_ARGS: expected a JSON object/);
    expect(parseCapArgs("null")).toBeUndefined();
  });

  it("splits CNI_PATH on ':'", () => {
    expect(pluginPath({ CNI_PATH: "/opt/cni/bin::/usr/lib/cni" })).toEqual(["/opt/cni/bin", "/usr/lib/cni"]);
    expect(pluginPath({})).toEqual([]);
  });
});
