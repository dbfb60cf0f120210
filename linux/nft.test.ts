import { describe, expect, it } from "vitest";
import { CommandError, RecordingRunner } from "./command.ts";
import { Nft, chainsOf, nftQuote, parseNftJson, rulesOf, tablesOf } from "./nft.ts";

const listing = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "ip", name: "flannel-ipv4", handle: 3 } },
    { chain: { family: "ip", table: "flannel-ipv4", name: "postrtg", handle: 2, type: "nat", hook: "postrouting", prio: 100, policy: "accept" } },
    { rule: { family: "ip", table: "flannel-ipv4", chain: "postrtg", handle: 5, comment: "flanneld masq", expr: [{ masquerade: null }] } },
  ],
});

describe("nft", () => {
  it("parses nft -j output into tables, chains and rules, dropping metainfo", () => {
    const objs = parseNftJson(listing);
    expect(objs).toHaveLength(3);
    expect(tablesOf(objs)).toEqual([{ family: "ip", name: "flannel-ipv4", handle: 3 }]);
    expect(chainsOf(objs)).toEqual([{ family: "ip", table: "flannel-ipv4", name: "postrtg", handle: 2, type: "nat", hook: "postrouting", prio: 100 }]);
    expect(rulesOf(objs)).toEqual([{ family: "ip", table: "flannel-ipv4", chain: "postrtg", handle: 5, comment: "flanneld masq", expr: [{ masquerade: null }] }]);
  });

  it("rejects output without an nftables array", () => {
    expect(() => parseNftJson('{"x":1}')).toThrow(TypeError);
    expect(parseNftJson("")).toEqual([]);
  });

  it("applies scripts on stdin with -f -, and -c -f - to check only", async () => {
    const r = new RecordingRunner();
    const nft = new Nft({ runner: r });
    await nft.apply("add table ip t\n");
    await nft.apply("add table ip t\n", { check: true });
    expect(r.calls).toEqual([
      { cmd: "nft", args: ["-f", "-"], input: "add table ip t\n" },
      { cmd: "nft", args: ["-c", "-f", "-"], input: "add table ip t\n" },
    ]);
  });

  it("reports a failed script with nft's own message", async () => {
    const nft = new Nft({ runner: new RecordingRunner(() => ({ exitCode: 1, stderr: "Error: syntax error, unexpected newline" })) });
    await expect(nft.apply("add tabel\n")).rejects.toThrow(CommandError);
    await expect(nft.apply("add tabel\n")).rejects.toThrow(/syntax error/);
  });

  it("treats a missing table as absent and deletes only existing tables", async () => {
    let exists = false;
    const r = new RecordingRunner((c) => {
      if (c.args[1] === "list") return exists ? { stdout: listing } : { exitCode: 1, stderr: "Error: No such file or directory; did you mean table 'x'?" };
      return {};
    });
    const nft = new Nft({ runner: r });
    expect(await nft.tableExists("ip", "flannel-ipv4")).toBe(false);
    expect(await nft.rules("ip", "flannel-ipv4")).toEqual([]);
    expect(await nft.deleteTable("ip", "flannel-ipv4")).toBe(false);
    exists = true;
    expect((await nft.rules("ip", "flannel-ipv4", "postrtg")).map((x) => x.handle)).toEqual([5]);
    expect(await nft.deleteTable("ip", "flannel-ipv4")).toBe(true);
    expect(r.calls.at(-1)).toEqual({ cmd: "nft", args: ["-f", "-"], input: "delete table ip flannel-ipv4\n" });
  });

  it("quotes comment strings and refuses quotes inside them", () => {
    expect(nftQuote("flanneld masq")).toBe('"flanneld masq"');
    expect(() => nftQuote('a"b')).toThrow(TypeError);
  });
});
