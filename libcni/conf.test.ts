import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  confFromBytes,
  confListFromBytes,
  confListFromConf,
  confListFromFile,
  loadConf,
  loadConfList,
} from "./conf.ts";

const list = (o: Record<string, unknown>): string => JSON.stringify({ name: "net", plugins: [{ type: "noop" }], ...o });
const dec = new TextDecoder();

describe("conflist parsing", () => {
  it("reads name, version, flags and plugins, keeping the bytes as given", () => {
    const text =
      '{"cniVersion":"1.0.0","name":"net","disableCheck":true,"plugins":[{"type":"bridge",' +
      '"name":"b","capabilities":{"portMappings":true}},{"type":"portmap"}]}';
    const l = confListFromBytes(text);
    expect(l.name).toBe("net");
    expect(l.cniVersion).toBe("1.0.0");
    expect([l.disableCheck, l.disableGC, l.loadOnlyInlinedPlugins]).toEqual([true, false, false]);
    expect(l.plugins.map((p) => [p.type, p.name, p.capabilities])).toEqual([
      ["bridge", "b", { portMappings: true }],
      ["portmap", "", {}],
    ]);
    expect(dec.decode(l.bytes)).toBe(text);
  });

  it.each([
    ["no name", '{"plugins":[{"type":"x"}]}', /^error parsing configuration list: no name; add a top-level "name"/],
    ["a non-string name", '{"name":5}', /^error parsing configuration list: invalid name type float64/],
    ["plugins not a list", '{"name":"n","plugins":{}}', /^error parsing configuration list: invalid 'plugins' type/],
    ["an empty plugins list", '{"name":"n","plugins":[]}', /^error parsing configuration list: no plugins in list/],
    [
      "a plugin without type",
      '{"name":"n","plugins":[{"name":"x"}]}',
      /^failed to parse plugin config 0: error parsing configuration: missing 'type'/,
    ],
    [
      "a second plugin without type",
      '{"name":"n","plugins":[{"type":"a"},{}]}',
      /^failed to parse plugin config 1: error parsing configuration: missing 'type'/,
    ],
    [
      "a non-boolean capability",
      '{"name":"n","plugins":[{"type":"a","capabilities":{"mac":"yes"}}]}',
      /capability "mac" must be true or false/,
    ],
    ["malformed JSON", '{"name":', /^error parsing configuration list: /],
  ])("rejects %s", (_label, text, msg) => {
    expect(() => confListFromBytes(text)).toThrow(msg);
  });

  it("uses malformed-JSON code 6 and bad-config code 7", () => {
    expect(() => confListFromBytes("{")).toThrow(expect.objectContaining({ code: 6 }));
    expect(() => confListFromBytes("{}")).toThrow(expect.objectContaining({ code: 7 }));
  });

  it("matches plugin keys case-insensitively, like Go's struct decoding", () => {
    expect(
      confListFromBytes('{"name":"n","plugins":[{"Type":"bridge","Capabilities":{"mac":true}}]}').plugins[0],
    ).toMatchObject({ type: "bridge", capabilities: { mac: true } });
  });
});

describe("version selection", () => {
  it.each([
    ["picks the highest supported of cniVersions", { cniVersions: ["0.4.0", "1.0.0", "0.3.1"] }, "1.0.0"],
    ["ignores versions above 1.1.0", { cniVersions: ["1.0.0", "1.1.0", "1.2.0", "4.0.0"] }, "1.1.0"],
    ["merges cniVersion into cniVersions", { cniVersion: "1.1.0", cniVersions: ["0.4.0"] }, "1.1.0"],
    ["uses cniVersions over a lower cniVersion", { cniVersion: "0.4.0", cniVersions: ["1.0.0"] }, "1.0.0"],
    [
      "ignores a too-new cniVersion when cniVersions is present",
      { cniVersion: "1.2.0", cniVersions: ["1.0.0"] },
      "1.0.0",
    ],
    ["gives an empty version for an empty list and no cniVersion", { cniVersions: [] }, ""],
    ["uses cniVersion verbatim without cniVersions", { cniVersion: "1.2.3" }, "1.2.3"],
  ])("%s", (_label, o, want) => {
    expect(confListFromBytes(list(o)).cniVersion).toBe(want);
  });

  it("rejects an invalid cniVersions entry", () => {
    expect(() => confListFromBytes(list({ cniVersions: ["1.0.0", "1.0.f"] }))).toThrow(
      /^error parsing configuration list: invalid cniVersions entry 1\.0\.f at index 1/,
    );
    expect(() => confListFromBytes(list({ cniVersions: "1.0.0" }))).toThrow(/invalid type for cniVersions/);
  });
});

describe("boolean flags accept booleans and true/false strings", () => {
  it.each([
    [true, true],
    ["true", true],
    ["TRUE", true],
    ["false", false],
    ["False", false],
  ])("disableCheck %j -> %j", (v, want) => {
    expect(confListFromBytes(list({ disableCheck: v })).disableCheck).toBe(want);
  });

  it("rejects any other string, naming the key", () => {
    expect(() => confListFromBytes(list({ disableCheck: "yes" }))).toThrow(
      /^error parsing configuration list: invalid value "yes" for disableCheck/,
    );
    expect(() => confListFromBytes(list({ disableGC: 1 }))).toThrow(/invalid type float64 for disableGC/);
  });
});

describe("loading from a directory", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-conf-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const put = (f: string, o: unknown): void =>
    writeFileSync(join(dir, f), typeof o === "string" ? o : JSON.stringify(o));

  it("prefers the .conflist over a .conf with the same network name", () => {
    put("10-a.conf", { cniVersion: "0.4.0", name: "net", type: "fromconf" });
    put("20-a.conflist", { cniVersion: "1.0.0", name: "net", plugins: [{ type: "fromlist" }] });
    expect(loadConfList(dir, "net").plugins.map((p) => p.type)).toEqual(["fromlist"]);
  });

  it("takes the first matching conflist in sorted order", () => {
    put("b.conflist", { name: "net", plugins: [{ type: "second" }] });
    put("a.conflist", { name: "net", plugins: [{ type: "first" }] });
    expect(loadConfList(dir, "net").plugins[0]?.type).toBe("first");
  });

  it("falls back to a .conf, upconverted into a one-plugin list with Go's bytes", () => {
    put(
      "10-a.conf",
      '{"type":"bridge","name":"net","cniVersion":"0.4.0",' +
        '"ipam":{"type":"host-local","subnet":"10.1.0.0/16"},"mtu":1400}',
    );
    const l = loadConfList(dir, "net");
    expect([l.name, l.cniVersion, l.plugins.map((p) => p.type)]).toEqual(["net", "0.4.0", ["bridge"]]);
    expect(dec.decode(l.bytes)).toBe(
      '{"cniVersion":"0.4.0","name":"net","plugins":[{"cniVersion":"0.4.0",' +
        '"ipam":{"subnet":"10.1.0.0/16","type":"host-local"},"mtu":1400,"name":"net","type":"bridge"}]}',
    );
  });

  it("also finds .json single-plugin configs", () => {
    put("a.json", { name: "net", type: "j" });
    expect(loadConf(dir, "net").plugin.type).toBe("j");
  });

  it("aborts on a malformed file and names it", () => {
    put("a.conflist", "{nope");
    put("b.conflist", { name: "net", plugins: [{ type: "x" }] });
    expect(() => loadConfList(dir, "net")).toThrow(
      new RegExp(`^error parsing configuration list: .*in ${join(dir, "a.conflist")}`),
    );
  });

  it("says no configurations exist in an empty or missing directory", () => {
    expect(() => loadConfList(dir, "net")).toThrow(`no net configurations found in ${dir}`);
    expect(() => loadConfList(join(dir, "missing"), "net")).toThrow(/^no net configurations found in/);
  });

  it("says which network names it did find when the name is unknown", () => {
    put("a.conflist", { name: "other", plugins: [{ type: "x" }] });
    put("b.conf", { name: "third", type: "y" });
    expect(() => loadConfList(dir, "net")).toThrow(
      `no net configuration with name "net" in ${dir}; networks found there: "other", "third"`,
    );
  });

  it("appends <dir>/<name>/*.conf plugins after the inlined ones, sorted", () => {
    put("a.conflist", { name: "net", cniVersion: "1.0.0", plugins: [{ type: "inline" }] });
    mkdirSync(join(dir, "net"));
    put("net/20-b.conf", { type: "second" });
    put("net/10-a.conf", { type: "first" });
    put("net/ignored.json", { type: "nope" });
    expect(loadConfList(dir, "net").plugins.map((p) => p.type)).toEqual(["inline", "first", "second"]);
  });

  it("loads only inlined plugins when loadOnlyInlinedPlugins is true", () => {
    put("a.conflist", { name: "net", loadOnlyInlinedPlugins: true, plugins: [{ type: "inline" }] });
    mkdirSync(join(dir, "net"));
    put("net/10-a.conf", { type: "first" });
    expect(loadConfList(dir, "net").plugins.map((p) => p.type)).toEqual(["inline"]);
  });

  it("requires plugins when loadOnlyInlinedPlugins is true", () => {
    expect(() => confListFromBytes('{"name":"n","loadOnlyInlinedPlugins":true}')).toThrow(
      /loadOnlyInlinedPlugins` is true, and no 'plugins' key/,
    );
  });

  it("builds a list only from <dir>/<name>/*.conf when it has no plugins key", () => {
    put("a.conflist", { name: "net", cniVersion: "1.1.0" });
    mkdirSync(join(dir, "net"));
    put("net/10-a.conf", { type: "only" });
    expect(confListFromFile(join(dir, "a.conflist")).plugins.map((p) => p.type)).toEqual(["only"]);
  });

  it("fails with no plugin configs found when neither source has plugins", () => {
    put("a.conflist", { name: "net" });
    expect(() => confListFromFile(join(dir, "a.conflist"))).toThrow(/^no plugin configs found/);
  });
});

describe("single configs", () => {
  it("upconverts keeping number literals exactly", () => {
    const l = confListFromConf(confFromBytes('{"name":"n","type":"t","vni":18446744073709551615}'));
    expect(dec.decode(l.bytes)).toBe(
      '{"cniVersion":"","name":"n","plugins":[{"name":"n","type":"t","vni":18446744073709551615}]}',
    );
  });
});
