// The rules applied for real, in a netns of ours, with the machine's iptables and nft.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";
import { execaRunner, type CommandRunner } from "../../linux/command.ts";
import { TrafficManager } from "./traffic.ts";
import { detectIptablesMode } from "../../linux/iptables-mode.ts";
import { chainName, IpMasq } from "../../plugins/bridge/ipmasq.ts";

const v4 = { family: 4 as const, network: "10.244.0.0/16", pod: "10.244.1.0/24" };
const v6 = { family: 6 as const, network: "fd00:10:244::/56", pod: "fd00:10:244:1::/64" };

describe("masquerade and forward rules in a real netns", () => {
  const topo = new Topology();
  let ns = "";
  let inNs: CommandRunner;
  beforeAll(async () => {
    ns = await topo.netns("rules");
    inNs = { run: (cmd, args, input) => execaRunner.run("ip", ["netns", "exec", ns, cmd, ...args], input) };
  });
  afterAll(() => topo.cleanup());

  it("iptables mode installs flanneld's chains, is idempotent, and resync repairs a deleted rule", async () => {
    const tm = new TrafficManager(inNs, {
      mode: "iptables",
      families: [v4],
      masquerade: true,
      forward: true,
      fullyRandom: true,
    });
    await tm.init();
    await tm.init();
    const nat = (await run("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-S"])).stdout;
    expect(nat.match(/-A POSTROUTING .*-j FLANNEL-POSTRTG/g)).toHaveLength(1);
    expect(nat.match(/-A FLANNEL-POSTRTG /g)).toHaveLength(6);
    expect(nat).toContain("--random-fully");
    const filter = (await run("ip", ["netns", "exec", ns, "iptables", "-S"])).stdout;
    expect(filter).toContain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
    await run("ip", [
      "netns",
      "exec",
      ns,
      "iptables",
      "-t",
      "nat",
      "-D",
      "FLANNEL-POSTRTG",
      "-s",
      "10.244.1.0/24",
      "-d",
      "10.244.0.0/16",
      "-m",
      "comment",
      "--comment",
      "flanneld masq",
      "-j",
      "RETURN",
    ]);
    expect(await tm.resync()).toBe(1);
    expect(await tm.resync()).toBe(0);
  });

  it("switching to nftables mode removes the iptables chains and creates the flannel-ipv4 table", async () => {
    const tm = new TrafficManager(inNs, {
      mode: "nftables",
      families: [v4],
      masquerade: true,
      forward: true,
      fullyRandom: true,
    });
    await tm.init();
    const nat = (await run("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-S"])).stdout;
    expect(nat).not.toContain("FLANNEL-POSTRTG");
    const table = (await run("ip", ["netns", "exec", ns, "nft", "list", "table", "ip", "flannel-ipv4"])).stdout;
    expect(table).toContain("chain postrtg");
    expect(table).toContain("masquerade fully-random");
    await run("ip", ["netns", "exec", ns, "nft", "delete", "table", "ip", "flannel-ipv4"]);
    expect(await tm.resync()).toBe(1);
  });

  it(
    "dual stack: ip6tables gets the same chains for the IPv6 " +
      "family, then nftables mode moves both families to ip/ip6 tables",
    async () => {
      const ipt = new TrafficManager(inNs, {
        mode: "iptables",
        families: [v4, v6],
        masquerade: true,
        forward: true,
        fullyRandom: false,
      });
      await ipt.init();
      const nat6 = (await run("ip", ["netns", "exec", ns, "ip6tables", "-t", "nat", "-S"])).stdout;
      expect(nat6.match(/-A POSTROUTING .*-j FLANNEL-POSTRTG/g)).toHaveLength(1);
      expect(nat6).toContain(
        '-A FLANNEL-POSTRTG -s fd00:10:244:1::/64 -d fd00:10:244::/56 -m comment --comment "flanneld masq" -j RETURN',
      );
      expect(nat6).toContain(
        '-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE',
      );
      expect((await run("ip", ["netns", "exec", ns, "ip6tables", "-S", "FLANNEL-FWD"])).stdout).toContain(
        "-A FLANNEL-FWD -d fd00:10:244::/56",
      );
      await run("ip", ["netns", "exec", ns, "ip6tables", "-t", "nat", "-F", "FLANNEL-POSTRTG"]);
      expect(await ipt.resync()).toBe(1);
      const nft = new TrafficManager(inNs, {
        mode: "nftables",
        families: [v4, v6],
        masquerade: true,
        forward: true,
        fullyRandom: true,
      });
      await nft.init();
      expect((await run("ip", ["netns", "exec", ns, "ip6tables", "-t", "nat", "-S"])).stdout).not.toContain(
        "FLANNEL-POSTRTG",
      );
      const t6 = (await run("ip", ["netns", "exec", ns, "nft", "list", "table", "ip6", "flannel-ipv6"])).stdout;
      expect(t6).toContain("ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random");
      expect(t6).toContain("chain forward");
      expect((await run("ip", ["netns", "exec", ns, "nft", "list", "table", "ip", "flannel-ipv4"])).stdout).toContain(
        "chain postrtg",
      );
    },
  );
});

describe("the node's iptables mode, legacy or nft, found and used in a real netns", () => {
  const topo = new Topology();
  afterAll(() => topo.cleanup());
  const runnerIn = (ns: string): CommandRunner => ({
    run: (cmd, args, input) => execaRunner.run("ip", ["netns", "exec", ns, cmd, ...args], input),
  });
  const save = async (ns: string, cmd: string, table: string) =>
    (await run("ip", ["netns", "exec", ns, cmd, "-t", table], { allowFail: true })).stdout;
  const manager = (r: CommandRunner, iptablesMode: "legacy" | "nft") =>
    new TrafficManager(r, {
      mode: "iptables",
      iptablesMode,
      families: [v4],
      masquerade: true,
      forward: true,
      fullyRandom: false,
    });

  it("a node whose kubelet uses legacy gets flanneld's chains and the bridge masquerade in legacy only", async () => {
    const ns = await topo.netns("legacy");
    await run("ip", ["netns", "exec", ns, "iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"]);
    const r = runnerIn(ns);
    const choice = await detectIptablesMode(r);
    expect(choice).toEqual({ mode: "legacy", reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-legacy" });
    const tm = manager(r, choice.mode);
    await tm.init();
    expect(await save(ns, "iptables-legacy-save", "nat")).toMatch(/-A POSTROUTING .*-j FLANNEL-POSTRTG/);
    expect(await save(ns, "iptables-legacy-save", "filter")).toContain("-A FLANNEL-FWD -s 10.244.0.0/16");
    expect(await save(ns, "iptables-nft-save", "nat")).not.toContain("FLANNEL");
    await run("ip", ["netns", "exec", ns, "iptables-legacy", "-t", "nat", "-F", "FLANNEL-POSTRTG"]);
    expect(await tm.resync()).toBe(1);
    expect((await save(ns, "iptables-legacy-save", "nat")).match(/-A FLANNEL-POSTRTG /g)).toHaveLength(6);
    const masq = new IpMasq(r, { iptablesMode: choice.mode });
    const pod = { network: "cbr0", ifName: "eth0", containerID: "cid-legacy", addresses: ["10.244.1.5/24"] };
    await masq.setup("iptables", pod);
    expect(await save(ns, "iptables-legacy-save", "nat")).toContain(`-A POSTROUTING -s 10.244.1.5/32 -m comment`);
    expect(await save(ns, "iptables-nft-save", "nat")).not.toContain(chainName("cbr0", "cid-legacy"));
    await masq.teardown(pod);
    expect(await save(ns, "iptables-legacy-save", "nat")).not.toContain(chainName("cbr0", "cid-legacy"));
  });

  it("a node whose kubelet uses nft gets them in nft only, even with stray legacy rules around", async () => {
    const ns = await topo.netns("nft");
    await run("ip", ["netns", "exec", ns, "iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"]);
    for (const port of ["22", "80", "443"])
      await run("ip", [
        "netns",
        "exec",
        ns,
        "iptables-legacy",
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        port,
        "-j",
        "ACCEPT",
      ]);
    const r = runnerIn(ns);
    const choice = await detectIptablesMode(r);
    expect(choice.mode).toBe("nft");
    await manager(r, choice.mode).init();
    expect(await save(ns, "iptables-nft-save", "nat")).toMatch(/-A POSTROUTING .*-j FLANNEL-POSTRTG/);
    expect(await save(ns, "iptables-legacy-save", "nat")).not.toContain("FLANNEL");
    const masq = new IpMasq(r, { iptablesMode: choice.mode });
    await masq.setup("iptables", {
      network: "cbr0",
      ifName: "eth0",
      containerID: "cid-nft",
      addresses: ["10.244.1.6/24"],
    });
    expect(await save(ns, "iptables-nft-save", "nat")).toContain(`-j ${chainName("cbr0", "cid-nft")}`);
  });

  it("without a kubelet, the mode holding the node's rules wins (legacy here), nft when none has any", async () => {
    const ns = await topo.netns("rules");
    const r = runnerIn(ns);
    expect(await detectIptablesMode(r)).toEqual({
      mode: "nft",
      reason: "no kubelet hint chain; 0 legacy rules, 0 nft rules",
    });
    await run("ip", ["netns", "exec", ns, "iptables-legacy", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
    expect(await detectIptablesMode(r)).toEqual({
      mode: "legacy",
      reason: "no kubelet hint chain; 1 legacy rules, 0 nft rules",
    });
  });
});
