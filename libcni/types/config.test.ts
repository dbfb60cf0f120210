import { describe, expect, it } from "vitest";
import { decodeNetConf, decodeNetConfList, getField } from "./config.ts";
import { caughtCniError as caught } from "../testing/caught.ts";

describe("getField", () => {
  it(
    "reads the last key equal ignoring case, exact or not, " + "like Go's decoder (checked with Go 1.19 encoding/json)",
    () => {
      expect(getField({ cniVersion: "1.0.0", CNIVERSION: "0.4.0" }, "cniVersion")).toBe("0.4.0");
      expect(getField({ CNIVERSION: "0.4.0", cniVersion: "1.0.0" }, "cniVersion")).toBe("1.0.0");
      expect(getField({ CNIVersion: "0.3.1", cniversion: "0.4.0" }, "cniVersion")).toBe("0.4.0");
      expect(getField({ RuntimeConfig: { mac: "x" } }, "runtimeConfig")).toEqual({ mac: "x" });
      expect(getField({ name: "n" }, "type")).toBeUndefined();
    },
  );
});

describe("decodeNetConf", () => {
  it("spells known keys canonically at every level and keeps all other keys", () => {
    const c = decodeNetConf({
      CNIVersion: "1.0.0",
      Name: "net",
      TYPE: "bridge",
      IPAM: { Type: "host-local", ranges: [[{ subnet: "10.1.0.0/16" }]] },
      bridge: "cni0",
      isGateway: true,
    });
    expect(c).toEqual({
      cniVersion: "1.0.0",
      name: "net",
      type: "bridge",
      ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/16" }]] },
      bridge: "cni0",
      isGateway: true,
    });
  });

  it("fills absent name, type and cniVersion with empty strings and treats null as absent", () => {
    expect(decodeNetConf({ name: null })).toEqual({ cniVersion: "", name: "", type: "" });
    expect(decodeNetConf("null")).toEqual({ cniVersion: "", name: "", type: "" });
  });

  it("accepts JSON text and keeps runtimeConfig, args, prevResult and valid-attachments", () => {
    const c = decodeNetConf(
      '{"name":"n","runtimeConfig":{"portMappings":[]},"args":{"cni":{"ips":["10.1.2.3"]}},' +
        '"prevResult":{"cniVersion":"1.0.0"},"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}',
    );
    expect(c.runtimeConfig).toEqual({ portMappings: [] });
    expect(c.args).toEqual({ cni: { ips: ["10.1.2.3"] } });
    expect(c.prevResult).toEqual({ cniVersion: "1.0.0" });
    expect(c["cni.dev/valid-attachments"]).toEqual([{ containerID: "a", ifname: "eth0" }]);
  });

  it.each([
    [{ name: 5 }, '"name" must be a string, got 5'],
    [{ ipam: { type: 5 } }, '"ipam.type" must be a string, got 5'],
    [{ capabilities: { portMappings: "yes" } }, '"capabilities.portMappings" must be a boolean, got "yes"'],
    [{ dns: { nameservers: "8.8.8.8" } }, '"dns.nameservers" must be an array, got "8.8.8.8"'],
    [{ runtimeConfig: [] }, '"runtimeConfig" must be an object, got an array'],
  ])("rejects %j with code 7 naming the field", (raw, msg) => {
    const e = caught(() => decodeNetConf(raw));
    expect([e.code, e.msg]).toEqual([7, msg]);
  });

  it("rejects invalid JSON text with code 6 and non-objects with code 7", () => {
    expect(caught(() => decodeNetConf("{")).code).toBe(6);
    expect(caught(() => decodeNetConf("[]")).code).toBe(7);
  });
});

describe("decodeNetConfList", () => {
  const plugin = { type: "bridge", bridge: "cni0" };

  it("decodes a list with its plugins and keeps the raw object", () => {
    const raw = {
      cniVersion: "1.0.0",
      name: "k8s",
      plugins: [plugin, { Type: "portmap", capabilities: { portMappings: true } }],
    };
    const l = decodeNetConfList(raw);
    expect(l.name).toBe("k8s");
    expect(l.cniVersion).toBe("1.0.0");
    expect([l.disableCheck, l.disableGC, l.loadOnlyInlinedPlugins]).toEqual([false, false, false]);
    expect(l.plugins.map((p) => p.type)).toEqual(["bridge", "portmap"]);
    expect(l.plugins[1]?.capabilities).toEqual({ portMappings: true });
    expect(l.raw).toBe(raw);
  });

  it.each([
    [true, true],
    ["true", true],
    ["TRUE", true],
    ["false", false],
    [false, false],
  ])("accepts disableCheck/disableGC/loadOnlyInlinedPlugins = %j as %s", (v, want) => {
    const l = decodeNetConfList({
      name: "n",
      disableCheck: v,
      disableGC: v,
      loadOnlyInlinedPlugins: v,
      plugins: [plugin],
    });
    expect([l.disableCheck, l.disableGC, l.loadOnlyInlinedPlugins]).toEqual([want, want, want]);
  });

  it("rejects any other bool string, and non-bool non-string values, naming the key", () => {
    const e = caught(() => decodeNetConfList({ name: "n", disableCheck: "maybe" }));
    expect([e.code, e.msg]).toEqual([7, 'error parsing configuration list: invalid value "maybe" for disableCheck']);
    expect(caught(() => decodeNetConfList({ name: "n", disableGC: 1 })).msg).toBe(
      'error parsing configuration list: "disableGC" must be a boolean or the string "true"/"false", got 1',
    );
  });

  it("selects the version from cniVersions", () => {
    expect(decodeNetConfList({ name: "n", cniVersion: "0.4.0", cniVersions: ["1.0.0", "1.5.0"] }).cniVersion).toBe(
      "1.0.0",
    );
    expect(decodeNetConfList({ name: "n", cniVersions: [] }).cniVersion).toBe("");
    expect(caught(() => decodeNetConfList({ name: "n", cniVersions: ["1.0.f"] })).code).toBe(7);
  });

  it("reads the list's top-level keys with their exact names, as the reference does", () => {
    expect(caught(() => decodeNetConfList({ Name: "n" })).msg).toBe("error parsing configuration list: no name");
  });

  it.each([
    [
      { name: "n", loadOnlyInlinedPlugins: true },
      "error parsing configuration list: `loadOnlyInlinedPlugins` is true, and no 'plugins' key",
    ],
    [{ name: "n", plugins: [] }, "error parsing configuration list: no plugins in list"],
    [{ name: "n", plugins: {} }, 'error parsing configuration list: "plugins" must be an array, got an object'],
    [{ name: 3 }, 'error parsing configuration list: "name" must be a string, got 3'],
    [
      { name: "n", plugins: [{ bridge: "x" }] },
      "failed to parse plugin config 0: error parsing configuration: missing 'type'",
    ],
    [
      { name: "n", plugins: [plugin, { type: "x", ipam: [] }] },
      'failed to parse plugin config 1: "ipam" must be an object, got an array',
    ],
  ])("rejects %j with the reference wording", (raw, msg) => {
    const e = caught(() => decodeNetConfList(raw));
    expect([e.code, e.msg]).toEqual([7, msg]);
  });

  it("allows a list without plugins when they may come from files", () => {
    expect(decodeNetConfList({ name: "n" }).plugins).toEqual([]);
  });
});
