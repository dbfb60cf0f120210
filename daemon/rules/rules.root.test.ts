// The rules applied for real, in a netns of ours, with the machine's iptables and nft.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../netns-fixtures/sh.ts";
import { Topology } from "../../netns-fixtures/topology.ts";
import { execaRunner, type CommandRunner } from "../../linux/command.ts";
import { TrafficManager } from "./traffic.ts";

const v4 = { family: 4 as const, network: "10.244.0.0/16", pod: "10.244.1.0/24" };

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
    const tm = new TrafficManager(inNs, { mode: "iptables", families: [v4], masquerade: true, forward: true, fullyRandom: true });
    await tm.init();
    await tm.init();
    const nat = (await run("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-S"])).stdout;
    expect(nat.match(/-A POSTROUTING .*-j FLANNEL-POSTRTG/g)).toHaveLength(1);
    expect(nat.match(/-A FLANNEL-POSTRTG /g)).toHaveLength(6);
    expect(nat).toContain("--random-fully");
    const filter = (await run("ip", ["netns", "exec", ns, "iptables", "-S"])).stdout;
    expect(filter).toContain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
    await run("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-D", "FLANNEL-POSTRTG", "-s", "10.244.1.0/24", "-d", "10.244.0.0/16", "-m", "comment", "--comment", "flanneld masq", "-j", "RETURN"]);
    expect(await tm.resync()).toBe(1);
    expect(await tm.resync()).toBe(0);
  });

  it("switching to nftables mode removes the iptables chains and creates the flannel-ipv4 table", async () => {
    const tm = new TrafficManager(inNs, { mode: "nftables", families: [v4], masquerade: true, forward: true, fullyRandom: true });
    await tm.init();
    const nat = (await run("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-S"])).stdout;
    expect(nat).not.toContain("FLANNEL-POSTRTG");
    const table = (await run("ip", ["netns", "exec", ns, "nft", "list", "table", "ip", "flannel-ipv4"])).stdout;
    expect(table).toContain("chain postrtg");
    expect(table).toContain("masquerade fully-random");
    await run("ip", ["netns", "exec", ns, "nft", "delete", "table", "ip", "flannel-ipv4"]);
    expect(await tm.resync()).toBe(1);
  });
});
