import { describe, expect, it } from "vitest";
import { RecordingRunner } from "../../linux/testing/recording-runner.ts";
import { chainName, IpMasq } from "./ipmasq.ts";
import { FakeIptables } from "./testing/fake-iptables.ts";

/** The fake nat table behind the commands of one iptables mode (`iptables-legacy`, ...). */
function legacyNode(): { runner: RecordingRunner; iptables: FakeIptables } {
  const iptables = new FakeIptables();
  const runner = new RecordingRunner(
    (c) => iptables.answer(c.cmd.replace("-legacy", ""), c.args, c.input) ?? { exitCode: 127 },
  );
  return { runner, iptables };
}

const target = { network: "mynet", ifName: "eth0", containerID: "cid1", addresses: ["10.1.2.2/24"] };

describe("bridge masquerade in the node's iptables mode", () => {
  it("uses the plain iptables commands by default, as the reference plugin does", async () => {
    const runner = new RecordingRunner((c) => new FakeIptables().answer(c.cmd, c.args, c.input) ?? {});
    await new IpMasq(runner, { path: ["/usr/sbin"], exists: () => true }).setup("iptables", target);
    expect([...new Set(runner.calls.map((c) => c.cmd))]).toEqual(["iptables", "iptables-restore"]);
  });

  it("writes and removes the chain with iptables-legacy when flanneld found the node in legacy mode", async () => {
    const { runner } = legacyNode();
    const masq = new IpMasq(runner, { path: ["/usr/sbin"], exists: () => true, iptablesMode: "legacy" });
    await masq.setup("iptables", target);
    await masq.teardown(target);
    // (teardown also looks for nftables rules of the container, as the reference does)
    const cmds = new Set(runner.calls.map((c) => c.cmd).filter((c) => c !== "nft"));
    expect([...cmds]).toEqual(["iptables-legacy", "iptables-legacy-restore"]);
    const restores = runner.calls.filter((c) => c.cmd === "iptables-legacy-restore").map((c) => c.input ?? "");
    expect(restores[0]).toContain(`-A POSTROUTING -s 10.1.2.2 -j ${chainName("mynet", "cid1")}`);
    expect(restores[1]).toContain(`-X ${chainName("mynet", "cid1")}`);
  });

  it("counts iptables as available only when the mode's command is installed", () => {
    const masq = new IpMasq(new RecordingRunner(), {
      path: ["/usr/sbin"],
      exists: (f) => f === "/usr/sbin/iptables-nft" || f === "/usr/sbin/nft",
      iptablesMode: "legacy",
    });
    expect(masq.available("iptables")).toBe(false);
    expect(masq.defaultBackend()).toBe("nftables");
  });
});
