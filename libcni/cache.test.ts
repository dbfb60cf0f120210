import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeCacheEntry, encodeCacheEntry, ResultCache } from "./cache.ts";
import { fromJsonTree } from "./invoke/gojson.ts";
import { parseResult } from "./types/index.ts";

const GOLDEN = resolve(import.meta.dirname, "testdata/cache");
const FILE = "golden-cnitool-db28bd44764cc50ae6d9-eth0";
const goFile = join(GOLDEN, "go-libcni-1.1.2/results", FILE);
const headFile = join(GOLDEN, "libcni-head/results", FILE);
const listBytes = new Uint8Array(readFileSync(join(GOLDEN, "golden.conflist")));
const goldenJson = JSON.parse(readFileSync(goFile, "utf8")) as { result: unknown };
const result = parseResult(goldenJson.result);
const rt = {
  containerId: "cnitool-db28bd44764cc50ae6d9",
  netns: "/run/netns/golden-pod",
  ifName: "eth0",
  args: [
    ["K8S_POD_NAME", "web-1"],
    ["IgnoreUnknown", "1"],
  ] as const,
  capabilityArgs: {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    mac: "c2:11:22:33:44:55",
    zeta: { b: 1, a: 2 },
  },
};

describe("cache file format", () => {
  it("writes exactly the bytes Go libcni 1.1.2 wrote (it has no netns field)", () => {
    const text = encodeCacheEntry({
      containerId: rt.containerId,
      config: listBytes,
      ifName: "eth0",
      networkName: "golden",
      cniArgs: rt.args,
      capabilityArgs: rt.capabilityArgs,
      result,
    });
    expect(text).toBe(readFileSync(goFile, "utf8"));
  });

  it("writes current Go libcni's format, netns after networkName", () => {
    const text = encodeCacheEntry({
      containerId: rt.containerId,
      config: listBytes,
      ifName: "eth0",
      networkName: "golden",
      netns: rt.netns,
      cniArgs: rt.args,
      capabilityArgs: rt.capabilityArgs,
      result,
    });
    expect(text).toBe(readFileSync(headFile, "utf8"));
  });

  it("omits empty netns, cniArgs and capabilityArgs like Go's omitempty", () => {
    const text = encodeCacheEntry({
      containerId: "c",
      config: new Uint8Array([123, 125]),
      ifName: "eth0",
      networkName: "n",
      netns: "",
      cniArgs: [],
      capabilityArgs: {},
    });
    expect(text).toBe('{"kind":"cniCacheV1","containerId":"c","config":"e30=","ifName":"eth0","networkName":"n"}');
  });

  it("decodes Go's field names case-insensitively and rejects wrong types", () => {
    expect(decodeCacheEntry('{"KIND":"cniCacheV1","ContainerID":"c","IFNAME":"eth0","networkname":"n"}')).toMatchObject(
      { kind: "cniCacheV1", containerId: "c", ifName: "eth0", networkName: "n" },
    );
    expect(decodeCacheEntry('{"kind":1}')).toBeUndefined();
    expect(decodeCacheEntry('{"kind":"cniCacheV1","config":"not base64!"}')).toBeUndefined();
    expect(decodeCacheEntry("[]")).toBeUndefined();
  });
});

describe("ResultCache", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-cache-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "writes <dir>/results/<net>-<cid>-<ifname> byte-identical to Go, " + "dir 0700 and file 0600, no temp files left",
    () => {
      const cache = new ResultCache(dir);
      cache.write("golden", listBytes, rt, result);
      const file = join(dir, "results", FILE);
      expect(readFileSync(file, "utf8")).toBe(readFileSync(headFile, "utf8"));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, "results")).mode & 0o777).toBe(0o700);
      expect(readdirSync(join(dir, "results"))).toEqual([FILE]);
    },
  );

  it("replaces an existing entry atomically", () => {
    const cache = new ResultCache(dir);
    cache.write("golden", listBytes, rt, result);
    cache.write("golden", new TextEncoder().encode("{}"), rt, result);
    expect(JSON.parse(readFileSync(join(dir, "results", FILE), "utf8"))).toMatchObject({ config: "e30=" });
    expect(readdirSync(join(dir, "results"))).toEqual([FILE]);
  });

  it("reads the result Go libcni wrote, converted to the requested version", () => {
    const cache = new ResultCache(join(GOLDEN, "go-libcni-1.1.2"));
    expect(cache.readResult("golden", rt, "1.0.0")).toEqual(result);
    expect(cache.readResult("golden", rt, "1.1.0")?.cniVersion).toBe("1.1.0");
    expect(cache.readResult("golden", rt, "0.4.0")).toMatchObject({
      cniVersion: "0.4.0",
      ips: [{ version: "4", address: "10.244.1.5/24" }],
    });
  });

  it("reads the config, CNI_ARGS and capability args Go libcni cached", () => {
    const got = new ResultCache(join(GOLDEN, "go-libcni-1.1.2")).readConfig("golden", {
      containerId: rt.containerId,
      netns: "",
      ifName: "eth0",
    });
    expect(got?.config).toEqual(listBytes);
    expect(got?.rt.args).toEqual(rt.args);
    expect(fromJsonTree(new Map(Object.entries(got?.rt.capabilityArgs ?? {})) as never)).toEqual(rt.capabilityArgs);
  });

  it("reads a legacy bare-result file and converts it", () => {
    const cache = new ResultCache(join(GOLDEN, "legacy"));
    expect(cache.readResult("golden", rt, "0.4.0")?.cniVersion).toBe("0.4.0");
    expect(cache.readResult("golden", rt, "1.0.0")).toMatchObject({
      cniVersion: "1.0.0",
      ips: [{ address: "10.244.1.5/24", interface: 0 }],
    });
  });

  it("returns nothing when nothing is cached", () => {
    expect(new ResultCache(dir).readResult("golden", rt, "1.0.0")).toBeUndefined();
    expect(new ResultCache(dir).readConfig("golden", rt)).toBeUndefined();
  });

  it("fails on a cache file that is not JSON", () => {
    mkdirSync(join(dir, "results"));
    writeFileSync(join(dir, "results", FILE), "{garbage");
    expect(() => new ResultCache(dir).readResult("golden", rt, "1.0.0")).toThrow(/^cached result is not JSON/);
  });

  it("fails when the cached result cannot be converted to the config version", () => {
    mkdirSync(join(dir, "results"));
    writeFileSync(
      join(dir, "results", FILE),
      '{"kind":"cniCacheV1","containerId":"c","ifName":"eth0","networkName":"golden","result":{"cniVersion":"1.0.0"}}',
    );
    expect(() => new ResultCache(dir).readResult("golden", rt, "0.2.0")).toThrow(
      /^failed to convert cached result to config version "0.2.0": cannot convert: no valid IP addresses/,
    );
  });

  it("requires network name, container ID and interface name for a path", () => {
    expect(() => new ResultCache(dir).path("", { containerId: "x", ifName: "eth0" })).toThrow(
      'cache file path requires network name (""), container ID ("x"), and interface name ("eth0")',
    );
  });

  it("deleting a missing entry is not an error", () => {
    expect(() => new ResultCache(dir).delete("golden", rt)).not.toThrow();
  });

  it("reports a cache it cannot write, saying what to fix", () => {
    writeFileSync(join(dir, "results"), "a file where the directory should be");
    expect(() => new ResultCache(dir).write("golden", listBytes, rt, result)).toThrow(
      /^failed to set network "golden" cached result: .*CNI_CACHE_DIR/,
    );
  });
});

describe("cached attachments", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-cache-"));
    cpSync(join(GOLDEN, "libcni-head"), dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, text: string): void => writeFileSync(join(dir, "results", name), text);

  it("lists cniCacheV1 entries sorted by file name, with their netns, args and config", () => {
    const cache = new ResultCache(dir);
    cache.write("another", listBytes, { containerId: "c2", netns: "/run/netns/two", ifName: "eth1" }, result);
    const list = cache.attachments();
    expect(list.map((a) => [a.network, a.containerId, a.ifName, a.netns])).toEqual([
      ["another", "c2", "eth1", "/run/netns/two"],
      ["golden", rt.containerId, "eth0", rt.netns],
    ]);
    expect(list[1]?.config).toEqual(listBytes);
    expect(list[1]?.cniArgs).toEqual(rt.args);
  });

  it("skips legacy files, undecodable files and entries without ifName or network", () => {
    put("legacy-c-eth0", '{"cniVersion":"0.4.0"}');
    put("junk-c-eth0", "nope");
    put("noif-c-eth0", '{"kind":"cniCacheV1","containerId":"c","networkName":"noif"}');
    expect(new ResultCache(dir).attachments().map((a) => a.network)).toEqual(["golden"]);
  });

  it("filters by container ID, by file name and by content", () => {
    const cache = new ResultCache(dir);
    cache.write("n", listBytes, { containerId: "other", netns: "", ifName: "eth0" }, result);
    put(
      `liar-${rt.containerId}-eth0`,
      '{"kind":"cniCacheV1","containerId":"someone-else","ifName":"eth0","networkName":"liar"}',
    );
    expect(cache.attachments(rt.containerId).map((a) => a.network)).toEqual(["golden"]);
  });

  it("reads attachments Go libcni 1.1.2 cached (no netns)", () => {
    expect(new ResultCache(join(GOLDEN, "go-libcni-1.1.2")).attachments()).toMatchObject([
      { network: "golden", netns: "" },
    ]);
  });

  it("has no attachments when there is no cache directory", () => {
    expect(new ResultCache(join(dir, "nope")).attachments()).toEqual([]);
  });
});
