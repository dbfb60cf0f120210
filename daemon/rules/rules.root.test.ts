// The rules applied for real, in a netns of ours, with the machine's iptables and nft.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";
import { execaRunner, type CommandRunner } from "../../linux/command.ts";
import { TrafficManager } from "./traffic.ts";

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
