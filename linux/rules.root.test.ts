// iptables and nft wrappers against the real tools, inside a netns made here (a runner that
// prefixes `ip netns exec`), so the host's rules are never touched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execaRunner, type CommandRunner } from "./command.ts";
import { Iptables } from "./iptables.ts";
import { Nft } from "./nft.ts";
import { Namespaces, runPrefix, sh } from "./test-drivers/harness.ts";

const nss = new Namespaces(runPrefix());
let ns = "";
const inNs: CommandRunner = { run: (cmd, args, input) => execaRunner.run("ip", ["netns", "exec", ns, cmd, ...args], input) };

beforeAll(async () => {
  ns = (await nss.add("r")).name;
});
afterAll(async () => {
  await nss.cleanup();
});

describe("iptables on the real binary", () => {
  it("creates, fills, checks, lists, restores and deletes a chain like flanneld's", async () => {
    const ipt = new Iptables({ runner: inNs });
    await ipt.ensureChain("nat", "FLANNEL-POSTRTG");
    await ipt.ensureChain("nat", "FLANNEL-POSTRTG");
    expect(await ipt.chainExists("nat", "FLANNEL-POSTRTG")).toBe(true);
    const rule = ["-s", "10.244.0.0/16", "-d", "10.244.0.0/16", "-m", "comment", "--comment", "flanneld masq", "-j", "RETURN"];
    await ipt.appendUnique("nat", "FLANNEL-POSTRTG", rule);
    await ipt.appendUnique("nat", "FLANNEL-POSTRTG", rule);
    await ipt.append("nat", "POSTROUTING", ["-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG"]);
    expect(await ipt.exists("nat", "FLANNEL-POSTRTG", rule)).toBe(true);
    expect(await ipt.exists("nat", "NO-SUCH-CHAIN", rule)).toBe(false);
    expect(await ipt.listRules("nat", "FLANNEL-POSTRTG")).toEqual(['-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN']);
    await ipt.restore("*nat\n-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully\nCOMMIT\n");
    expect(await ipt.listRules("nat", "FLANNEL-POSTRTG")).toHaveLength(2);
    const saved = await sh("ip", ["netns", "exec", ns, "iptables-save", "-t", "nat"]);
    expect(saved).toContain("-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully");
    expect(await ipt.deleteIfExists("nat", "POSTROUTING", ["-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG"])).toBe(true);
    await ipt.deleteChain("nat", "FLANNEL-POSTRTG");
    await ipt.deleteChain("nat", "FLANNEL-POSTRTG");
    expect(await ipt.chainExists("nat", "FLANNEL-POSTRTG")).toBe(false);
    expect(await ipt.hasRandomFully()).toBe(true);
  });

  it("drives ip6tables for family 6", async () => {
    const ipt = new Iptables({ family: 6, runner: inNs });
    await ipt.clearChain("filter", "FLANNEL-FWD");
    await ipt.append("filter", "FLANNEL-FWD", ["-s", "fd00:10::/56", "-j", "ACCEPT"]);
    expect(await ipt.listRules("filter", "FLANNEL-FWD")).toEqual(["-A FLANNEL-FWD -s fd00:10::/56 -j ACCEPT"]);
    await ipt.deleteChain("filter", "FLANNEL-FWD");
  });
});

describe("nft on the real binary", () => {
  it("applies a table with chains and rules in one transaction, lists it as JSON and deletes it", async () => {
    const nft = new Nft({ runner: inNs });
    expect(await nft.available()).toBe(true);
    expect(await nft.tableExists("ip", "flannel-ipv4")).toBe(false);
    await nft.apply(
      [
        "add table ip flannel-ipv4",
        "add chain ip flannel-ipv4 postrtg { type nat hook postrouting priority srcnat ; }",
        'add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random comment "flanneld masq"',
        "",
      ].join("\n"),
    );
    const rules = await nft.rules("ip", "flannel-ipv4", "postrtg");
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ family: "ip", table: "flannel-ipv4", chain: "postrtg", comment: "flanneld masq" });
    expect(await nft.accepts("add rule ip flannel-ipv4 postrtg masquerade fully-random\n")).toBe(true);
    expect(await nft.accepts("add rule ip flannel-ipv4 nochain masquerade\n")).toBe(false);
    await expect(nft.apply("add rule ip flannel-ipv4 nochain masquerade\n")).rejects.toThrow(/nft -f - exited with status 1/);
    await nft.deleteRule("ip", "flannel-ipv4", "postrtg", rules[0]?.handle ?? -1);
    expect(await nft.rules("ip", "flannel-ipv4")).toEqual([]);
    expect(await nft.deleteTable("ip", "flannel-ipv4")).toBe(true);
    expect(await nft.deleteTable("ip", "flannel-ipv4")).toBe(false);
  });
});
