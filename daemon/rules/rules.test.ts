import { describe, expect, it } from "vitest";
import { forwardRules, IptablesRules, masqRules, restorePayload } from "./iptables-rules.ts";
import { nftScript } from "./nft-rules.ts";
import { RecordingRunner } from "../../linux/testing/recording-runner.ts";
import { TrafficManager, trafficFamilies } from "./traffic.ts";
import { parseNetworkConfig } from "../config.ts";
import { parseCidr } from "../../net/prefix.ts";

const v4 = { family: 4 as const, network: "10.244.0.0/16", pod: "10.244.1.0/24" };

describe("flanneld iptables rules", () => {
  it("builds the masquerade chain in flanneld's order with its comments", () => {
    const rules = masqRules({ ...v4, fullyRandom: true }).map((r) => `${r.table} ${r.chain} ${r.rule.join(" ")}`);
    expect(rules).toEqual([
      "nat POSTROUTING -m comment --comment flanneld masq -j FLANNEL-POSTRTG",
      "nat FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment flanneld masq -j RETURN",
      "nat FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment flanneld masq -j RETURN",
      "nat FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment flanneld masq -j RETURN",
      "nat FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment flanneld masq -j RETURN",
      "nat FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m " +
        "comment --comment flanneld masq -j MASQUERADE --random-fully",
      "nat FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m " +
        "comment --comment flanneld masq -j MASQUERADE --random-fully",
    ]);
  });

  it("uses ff00::/8 for IPv6 and drops --random-fully when disabled", () => {
    const rules = masqRules({ family: 6, network: "fc00::/48", pod: "fc00:0:0:1::/64", fullyRandom: false });
    expect(rules[5]?.rule).toEqual([
      "-s",
      "fc00::/48",
      "!",
      "-d",
      "ff00::/8",
      "-m",
      "comment",
      "--comment",
      "flanneld masq",
      "-j",
      "MASQUERADE",
    ]);
  });

  it("writes one restore payload that recreates our chain and re-appends the jump only once", () => {
    const rules = [...masqRules({ ...v4, fullyRandom: false }), ...forwardRules(v4.network)];
    const nat = restorePayload("nat", rules, true).split("\n");
    expect(nat[0]).toBe("*nat");
    expect(nat[1]).toBe(":FLANNEL-POSTRTG - [0:0]");
    expect(nat[2]).toBe('-D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
    expect(nat.filter((l) => l.startsWith("-A POSTROUTING"))).toHaveLength(1);
    expect(nat.at(-2)).toBe("COMMIT");
    const filter = restorePayload("filter", rules, false);
    expect(filter).not.toContain("-D ");
    expect(filter).toContain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
  });

  it("ensure() checks the jump, then feeds iptables-restore --noflush per table", async () => {
    const rec = new RecordingRunner((c) => (c.cmd === "iptables" && c.args.includes("-C") ? { exitCode: 1 } : {}));
    await new IptablesRules(rec, 4).ensure([...masqRules({ ...v4, fullyRandom: false }), ...forwardRules(v4.network)]);
    const restores = rec.calls.filter((c) => c.cmd === "iptables-restore");
    expect(restores.map((c) => c.input?.split("\n")[0])).toEqual(["*nat", "*filter"]);
    expect(restores.every((c) => c.args.join(" ") === "--noflush --wait")).toBe(true);
  });

  it("ensure() drives the commands of the node's iptables mode (iptables-legacy, ip6tables-nft, ...)", async () => {
    const rec = new RecordingRunner();
    await new IptablesRules(rec, 4, "legacy").ensure(masqRules({ ...v4, fullyRandom: false }));
    await new IptablesRules(rec, 6, "nft").ensure(forwardRules("fd00:10:244::/56"));
    expect([...new Set(rec.calls.map((c) => c.cmd))]).toEqual([
      "iptables-legacy",
      "iptables-legacy-restore",
      "ip6tables-nft",
      "ip6tables-nft-restore",
    ]);
  });

  it("ensure() reports the failing table and the stderr of iptables-restore", async () => {
    const rec = new RecordingRunner((c) =>
      c.cmd === "iptables-restore" ? { exitCode: 2, stderr: "line 3 failed" } : {},
    );
    await expect(new IptablesRules(rec, 4).ensure(masqRules({ ...v4, fullyRandom: false }))).rejects.toThrow(
      /iptables-restore \(table nat\) failed: line 3 failed/,
    );
  });
});

describe("flanneld nftables rules", () => {
  it("replaces the table atomically and fixes the mark mask and 4th rule", () => {
    const s = nftScript({ ...v4, fullyRandom: true, masquerade: true, forward: true });
    expect(s.split("\n").slice(0, 3)).toEqual([
      "add table ip flannel-ipv4",
      "delete table ip flannel-ipv4",
      "table ip flannel-ipv4 {",
    ]);
    expect(s).toContain("meta mark & 0x4000 == 0x4000 return");
    expect(s).toContain("ip saddr != 10.244.0.0/16 ip daddr 10.244.1.0/24 return");
    expect(s).toContain("ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random");
    expect(s).toContain("type filter hook forward priority filter");
  });
  it("omits chains that are switched off", () => {
    const s = nftScript({ ...v4, fullyRandom: false, masquerade: false, forward: true });
    expect(s).not.toContain("postrtg");
    expect(s).toContain("chain forward");
  });
});

describe("traffic manager", () => {
  it("in iptables mode removes the nftables tables first, then installs", async () => {
    const rec = new RecordingRunner();
    await new TrafficManager(rec, {
      mode: "iptables",
      families: [v4],
      masquerade: true,
      forward: true,
      fullyRandom: true,
    }).init();
    expect(rec.calls[0]).toEqual({ cmd: "nft", args: ["delete", "table", "ip", "flannel-ipv4"] });
    expect(rec.calls.some((c) => c.cmd === "iptables-restore")).toBe(true);
  });
  it("resync reinstalls only when a rule is missing", async () => {
    let missing = true;
    const rec = new RecordingRunner((c) =>
      c.cmd === "iptables" && c.args.includes("-C") ? { exitCode: missing ? 1 : 0 } : {},
    );
    const tm = new TrafficManager(rec, {
      mode: "iptables",
      families: [v4],
      masquerade: true,
      forward: true,
      fullyRandom: false,
    });
    expect(await tm.resync()).toBe(1);
    missing = false;
    expect(await tm.resync()).toBe(0);
  });
});

describe("traffic rules for IPv6", () => {
  const v6 = { family: 6 as const, network: "fd00:10:244::/56", pod: "fd00:10:244:1::/64" };
  const cfg = parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "fd00:10:244::/56" }),
    "test",
  );
  const n = (s: string) => {
    const x = parseCidr(s);
    if (!x) throw new Error(s);
    return x;
  };

  it(
    "derives one rule family per enabled family from the config " +
      "and the lease, and the previous subnet.env's per family",
    () => {
      const lease = {
        subnet: n("10.244.1.0/24"),
        subnetV6: n("fd00:10:244:1::/64"),
        attrs: { PublicIP: "192.0.2.11" },
      };
      const r = trafficFamilies({
        config: cfg,
        lease,
        previous: {
          network: "10.244.0.0/16",
          subnet: "10.244.7.0/24",
          ipv6Network: "fd00:10:244::/56",
          ipv6Subnet: "fd00:10:244:7::/64",
        },
      });
      expect(r.families).toEqual([v4, v6]);
      expect(r.previous).toEqual([
        { family: 4, network: "10.244.0.0/16", pod: "10.244.7.0/24" },
        { family: 6, network: "fd00:10:244::/56", pod: "fd00:10:244:7::/64" },
      ]);
      const v6only = parseNetworkConfig(
        JSON.stringify({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fd00:10:244::/56" }),
        "test",
      );
      expect(
        trafficFamilies({
          config: v6only,
          lease: { subnetV6: n("fd00:10:244:1::/64"), attrs: { PublicIP: "0.0.0.0" } },
        }).families,
      ).toEqual([v6]);
    },
  );

  it(
    "in iptables mode drives ip6tables-restore for the " + "IPv6 family and removes the ip6 flannel-ipv6 table",
    async () => {
      const rec = new RecordingRunner((c) => (c.args.includes("-C") ? { exitCode: 1 } : {}));
      await new TrafficManager(rec, {
        mode: "iptables",
        families: [v4, v6],
        masquerade: true,
        forward: true,
        fullyRandom: false,
      }).init();
      expect(rec.calls.filter((c) => c.cmd === "nft").map((c) => c.args.join(" "))).toEqual([
        "delete table ip flannel-ipv4",
        "delete table ip6 flannel-ipv6",
      ]);
      const v6nat = rec.calls.find((c) => c.cmd === "ip6tables-restore" && c.input?.startsWith("*nat"));
      expect(v6nat?.input).toContain(
        '-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE',
      );
      expect(rec.calls.filter((c) => c.cmd === "ip6tables-restore").map((c) => c.input?.split("\n")[0])).toEqual([
        "*nat",
        "*filter",
      ]);
    },
  );

  it("removes the previous IPv6 subnet's rules at start when the v6 lease changed", async () => {
    const flushed = async (previousPod: string) => {
      const rec = new RecordingRunner((c) => (c.args.includes("-C") ? { exitCode: 1 } : {}));
      await new TrafficManager(rec, {
        mode: "iptables",
        families: [v6],
        masquerade: true,
        forward: false,
        fullyRandom: false,
      }).init([{ family: 6, network: v6.network, pod: previousPod }]);
      return rec.calls.some((c) => c.cmd === "ip6tables" && c.args.join(" ") === "-w 5 -t nat -F FLANNEL-POSTRTG");
    };
    expect(await flushed("fd00:10:244:7::/64")).toBe(true);
    expect(await flushed(v6.pod)).toBe(false);
  });

  it("in nftables mode removes the ip6tables rules and writes table ip6 flannel-ipv6 with ip6 matches", async () => {
    let present = 1;
    const rec = new RecordingRunner((c) => (c.args.includes("-C") ? { exitCode: present-- > 0 ? 0 : 1 } : {}));
    await new TrafficManager(rec, {
      mode: "nftables",
      families: [v6],
      masquerade: true,
      forward: true,
      fullyRandom: true,
    }).init();
    const script = rec.calls.find((c) => c.cmd === "nft" && c.args.join(" ") === "-f -")?.input ?? "";
    expect(script).toContain("table ip6 flannel-ipv6 {");
    expect(script).toContain("ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random");
    expect(script).toContain("ip6 saddr fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return");
    expect(
      rec.calls.some(
        (c) =>
          c.cmd === "ip6tables" &&
          c.args.join(" ") === "-w 5 -t nat -D POSTROUTING -m comment --comment flanneld masq -j FLANNEL-POSTRTG",
      ),
    ).toBe(true);
  });
});
