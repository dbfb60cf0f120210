import { describe, expect, it } from "vitest";
import { CniError } from "../../libcni/types/error.ts";
import { Errno } from "../../linux/errno.ts";
import type { FakeNetns } from "../../linux/testing/fake-netns.ts";
import { bridgeAdd } from "./add.ts";
import { chainName } from "./ipmasq.ts";
import { harness, POD } from "./testing/fake-deps.ts";

const conf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.1.0",
  name: "mynet",
  type: "bridge",
  bridge: "cni0",
  isDefaultGateway: true,
  ipam: { type: "host-local" },
  ...extra,
});

/** The netlink requests that changed something about link `name` (created, set, addressed, deleted). */
function changesTo(ns: FakeNetns, name: string): string[] {
  const index = ns.link(name)?.index;
  const reads = new Set(["getLink", "findLink", "listLinks", "listAddrs", "listRoutes", "listBridgeVlans", "close"]);
  return ns.nl.calls
    .filter((c) => !reads.has(c.method))
    .filter((c) => {
      const target = c.args[0];
      const named = typeof target === "object" && target !== null ? (target as { name?: unknown }).name : target;
      return named === name || named === index;
    })
    .map((c) => `${c.method} ${JSON.stringify(c.args.slice(1))}`);
}

/** The VLANs of bridge port `name`. */
const vlansOf = (ns: FakeNetns, name: string) => ns.nl.vlans.get(ns.link(name)?.index ?? -1);

async function expectCni(p: Promise<unknown>, code: number, msg: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(code);
    expect((e as CniError).msg).toMatch(msg);
    return;
  }
  throw new Error("expected a failure");
}

describe("bridge ADD", () => {
  it(
    "returns bridge, host veth and pod interface with MACs, " +
      "the IP on interface 2 and a default route (checklist 59-60)",
    async () => {
      const h = harness(["0a1b2c3d"]);
      const r = await bridgeAdd(h.call(conf()), h.deps);
      const br = h.host.link("cni0");
      expect(r).toEqual({
        cniVersion: "1.1.0",
        interfaces: [
          { name: "cni0", mac: br?.mac },
          { name: "veth0a1b2c3d", mac: h.host.link("veth0a1b2c3d")?.mac },
          { name: "eth0", mac: h.pod.link("eth0")?.mac, sandbox: POD },
        ],
        ips: [{ address: "10.1.2.2/24", gateway: "10.1.2.1", interface: 2 }],
        routes: [{ dst: "10.1.0.0/16" }, { dst: "0.0.0.0/0", gw: "10.1.2.1" }],
      });
      for (const i of r.interfaces ?? []) expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(h.host.addrs("cni0")).toEqual(["10.1.2.1/24"]);
      expect(h.host.sysctl.get("net/ipv4/ip_forward")).toBe("1");
      expect(h.pod.addrs("eth0")).toEqual(["10.1.2.2/24"]);
      expect(h.pod.nl.routes.map((x) => `${x.dst} ${x.gateway ?? ""}`)).toEqual([
        "10.1.2.0/24 ",
        "10.1.0.0/16 10.1.2.1",
        "0.0.0.0/0 10.1.2.1",
      ]);
      expect(h.host.link("veth0a1b2c3d")?.masterIndex).toBe(br?.index);
      // both ends up: the host port has carrier
      expect([h.host.link("veth0a1b2c3d")?.operState, h.pod.link("eth0")?.operState]).toEqual(["up", "up"]);
      expect(h.ipam.calls).toEqual(["ADD host-local"]);
      // every netns handle the command opened is closed again
      expect(h.kernel.openHandles).toBe(0);
    },
  );

  it(
    "turns off router advertisements on the host veth (accept_ra=0), " +
      "as the reference does (found by the differential fuzz)",
    async () => {
      const h = harness(["0a1b2c3d"]);
      await bridgeAdd(h.call(conf()), h.deps);
      expect(h.host.sysctl.get("net/ipv6/conf/veth0a1b2c3d/accept_ra")).toBe("0");
    },
  );

  it(
    "refuses a bridge name longer than 15 bytes as a config error with the reference's " +
      "message (we said 999 RTM_GETLINK ERANGE; found by the differential fuzz)",
    async () => {
      const h = harness(["0a1b2c3d"]);
      const name = "longbridgename0";
      await expectCni(
        bridgeAdd(h.call(conf({ bridge: `${name}x` })), h.deps),
        7,
        /^failed to create bridge "longbridgename0x": could not add "longbridgename0x": numerical result out of range$/,
      );
      // before the pod netns is opened, as the reference creates the bridge first
      await expectCni(
        bridgeAdd(h.call(conf({ bridge: `${name}x` }), { netns: "/run/netns/gone" }), h.deps),
        7,
        /numerical result out of range$/,
      );
      await bridgeAdd(h.call(conf({ bridge: name })), h.deps);
      expect(h.host.link(name)?.kind).toBe("bridge");
    },
  );

  it(
    "makes the bridge (promiscuous when asked) before it opens the pod netns, as the reference, " +
      "so a missing netns still leaves the bridge ready (found by the differential fuzz)",
    async () => {
      const h = harness(["0a1b2c3d"]);
      await expectCni(bridgeAdd(h.call(conf({ promiscMode: true }), { netns: "/run/netns/gone" }), h.deps), 3, /gone/);
      expect(h.host.link("cni0")?.promisc).toBe(true);
    },
  );

  it("creates the bridge with the configured MTU and the veth with MTU and requested MAC", async () => {
    const h = harness(["00000001"]);
    await bridgeAdd(h.call(conf({ mtu: 1400, runtimeConfig: { mac: "02:00:00:00:00:aa" } })), h.deps);
    expect(h.host.nl.calls).toContainEqual({ method: "createBridge", args: [{ name: "cni0", mtu: 1400 }] });
    const veth = h.host.nl.calls.find((c) => c.method === "createVeth")?.args[0];
    expect(veth).toMatchObject({ name: "veth00000001", mtu: 1400, peer: { name: "eth0", mac: "02:00:00:00:00:aa" } });
    expect([h.host.link("cni0")?.mtu, h.host.link("veth00000001")?.mtu, h.pod.link("eth0")?.mtu]).toEqual([
      1400, 1400, 1400,
    ]);
    expect(h.pod.link("eth0")?.mac).toBe("02:00:00:00:00:aa");
  });

  it("reuses an existing bridge without recreating it and refuses a non-bridge device of that name", async () => {
    const h = harness();
    h.host.nl.createBridge({ name: "cni0" });
    const idx = h.host.link("cni0")?.index;
    await bridgeAdd(h.call(conf()), h.deps);
    expect(h.host.link("cni0")?.index).toBe(idx);
    expect(h.host.nl.calls.filter((c) => c.method === "createBridge")).toHaveLength(1);
    const h2 = harness();
    h2.host.nl.createDummy({ name: "cni0" });
    await expectCni(bridgeAdd(h2.call(conf()), h2.deps), 7, /"cni0" already exists but is not a bridge/);
    expect(h2.ipam.calls).toEqual([]);
  });

  it(
    "sends nothing to an existing bridge that is already up " +
      "but the accept_ra sysctl, as the reference's end state",
    async () => {
      const h = harness();
      h.host.nl.createBridge({ name: "cni0" });
      h.host.nl.setLinkUp("cni0");
      h.host.nl.calls.splice(0);
      await bridgeAdd(h.call(conf()), h.deps);
      // the gateway address and the MAC pinned after it are the gateway's, not the bridge set-up's
      const toBridge = changesTo(h.host, "cni0").filter((c) => !c.startsWith("addAddr") && !/^setLink .*"mac"/.test(c));
      expect(toBridge).toEqual([]);
      expect(h.host.sysctl.writes.filter((w) => w.key.includes("cni0"))).toEqual([
        { key: "net/ipv6/conf/cni0/accept_ra", value: "0" },
      ]);
      const h2 = harness();
      h2.host.nl.createBridge({ name: "cni0" });
      h2.host.nl.calls.splice(0);
      await bridgeAdd(h2.call(conf()), h2.deps);
      expect(changesTo(h2.host, "cni0")).toContain('setLink [{"up":true}]');
      expect(h2.host.nl.calls.some((c) => c.method === "createBridge")).toBe(false);
      expect(h2.host.link("cni0")?.up).toBe(true);
    },
  );

  it("retries another host veth name when the random one is taken", async () => {
    const h = harness(["11111111", "22222222"]);
    h.host.nl.createVeth({ name: "veth11111111", peer: { name: "other" } });
    const r = await bridgeAdd(h.call(conf()), h.deps);
    expect(r.interfaces?.[1]?.name).toBe("veth22222222");
    expect(h.host.link("veth11111111")?.parentIndex).toBe(h.host.link("other")?.index);
  });

  it("refuses, changing nothing there, a namespace that holds another container's attachment", async () => {
    const h = harness(["11111111", "22222222"]);
    await bridgeAdd(h.call(conf(), { containerID: "pod-a" }), h.deps);
    h.files.set("/var/lib/cni/networks/mynet/10.1.2.2", "pod-a\r\neth0");
    const before = h.pod.nl.calls.length;
    await expectCni(
      bridgeAdd(h.call(conf(), { containerID: "pod-b", ifName: "eth1" }), h.deps),
      4,
      new RegExp(
        `^CNI_NETNS ${POD} is another container's network namespace: its eth0 on bridge cni0 carries ` +
          "10\\.1\\.2\\.2, reserved for container pod-a$",
      ),
    );
    expect(h.pod.link("eth1")).toBeUndefined();
    expect(
      h.pod.nl.calls.slice(before).every((c) => ["listLinks", "listAddrs", "findLink", "close"].includes(c.method)),
    ).toBe(true);
    expect(h.ipam.calls).toEqual(["ADD host-local"]);
    // the same container's second attachment is its own business
    await bridgeAdd(h.call(conf(), { containerID: "pod-a", ifName: "eth1" }), h.deps);
    expect(h.pod.link("eth1")).toBeDefined();
  });

  it(
    "fails a second ADD for the same interface with the " + "reference message and releases nothing it did not take",
    async () => {
      const h = harness(["11111111", "22222222"]);
      await bridgeAdd(h.call(conf()), h.deps);
      await expectCni(
        bridgeAdd(h.call(conf()), h.deps),
        4,
        /container veth name \("eth0"\) peer provided \("veth22222222"\) already exists/,
      );
      expect(h.ipam.calls).toEqual(["ADD host-local"]);
      expect(h.pod.link("eth0")).toBeDefined();
      // the kernel refused the pair as a whole: no host end of the second try is left
      expect(h.host.link("veth22222222")).toBeUndefined();
    },
  );

  it("a cni0 left with another subnet: the error names both subnets and how to remove the stale bridge", async () => {
    const h = harness(["0000000b"]);
    h.host.nl.createBridge({ name: "cni0" });
    h.host.nl.addAddr("cni0", "10.1.9.1/24");
    const err = await bridgeAdd(h.call(conf()), h.deps).then(
      () => undefined,
      (e: unknown) => e as CniError,
    );
    expect(err?.code).toBe(7);
    expect(err?.msg).toBe('failed to set bridge addr: "cni0" already has an IP address different from 10.1.2.1/24');
    expect(err?.details).toBe(
      '"cni0" has 10.1.9.1/24 (subnet 10.1.9.0/24), this network\'s gateway is 10.1.2.1/24 (subnet 10.1.2.0/24). ' +
        'If "cni0" is left from an earlier subnet of this node (a reset or a new podCIDR): drain the node, delete ' +
        "the bridge (ip link delete cni0) and the next pod gets a new one. If another network shares it: give " +
        "this network its own 'bridge', or set forceAddress to replace the address",
    );
  });

  it("undoes the veth pair and the IPAM allocation when a later step fails (checklist 67)", async () => {
    const h = harness(["0000000a"]);
    h.host.nl.createBridge({ name: "cni0" });
    h.host.nl.addAddr("cni0", "10.9.9.1/24");
    await expectCni(
      bridgeAdd(h.call(conf()), h.deps),
      7,
      /"cni0" already has an IP address different from 10\.1\.2\.1\/24/,
    );
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
    expect(h.host.link("veth0000000a")).toBeUndefined();
    expect(h.pod.link("eth0")).toBeUndefined();
    expect(h.kernel.openHandles).toBe(0);
  });

  it("deletes the veth pair again, before IPAM, when the kernel refuses to set its host end up", async () => {
    const h = harness(["00000001"]);
    h.host.nl.createBridge({ name: "cni0" });
    h.host.nl.setLinkUp("cni0");
    h.host.nl.failNext("setLink", Errno.ENOBUFS);
    await expectCni(
      bridgeAdd(h.call(conf()), h.deps),
      5,
      /^failed to connect "veth00000001" to bridge cni0: setLink .*ENOBUFS/,
    );
    expect(h.host.link("veth00000001")).toBeUndefined();
    expect(h.pod.link("eth0")).toBeUndefined();
    expect(h.ipam.calls).toEqual([]);
    expect(h.kernel.openHandles).toBe(0);
  });

  it("releases the IPAM allocation and deletes the pair when the kernel refuses a pod route", async () => {
    const h = harness(["00000001"]);
    h.pod.nl.failNext("appendRoute", Errno.ENETUNREACH);
    await expectCni(bridgeAdd(h.call(conf()), h.deps), 5, /ENETUNREACH/);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
    expect(h.host.link("veth00000001")).toBeUndefined();
    expect(h.pod.link("eth0")).toBeUndefined();
    expect(h.host.link("cni0")).toBeDefined();
  });

  it("replaces a different bridge address when forceAddress is set (checklist 65)", async () => {
    const h = harness();
    h.host.nl.createBridge({ name: "cni0" });
    h.host.nl.addAddr("cni0", "10.9.9.1/24");
    await bridgeAdd(h.call(conf({ forceAddress: true })), h.deps);
    expect(h.host.addrs("cni0")).toEqual(["10.1.2.1/24"]);
  });

  it("keeps a non-overlapping second IPv6 gateway next to the first", async () => {
    const h = harness();
    h.host.nl.createBridge({ name: "cni0" });
    h.host.nl.addAddr("cni0", "2001:db8:1::1/64");
    h.ipam.next = { cniVersion: "1.1.0", ips: [{ address: "2001:db8:2::2/64" }] };
    const r = await bridgeAdd(h.call(conf()), h.deps);
    expect(h.host.addrs("cni0")).toEqual(["2001:db8:1::1/64", "2001:db8:2::1/64"]);
    expect(r.routes).toEqual([{ dst: "::/0", gw: "2001:db8:2::1" }]);
    expect(h.host.sysctl.get("net/ipv6/conf/all/forwarding")).toBe("1");
    // written inside the pod's netns, not the host's
    expect(h.pod.sysctl.get("net/ipv6/conf/eth0/keep_addr_on_down")).toBe("1");
    expect(h.host.sysctl.writes.some((w) => w.key.includes("eth0"))).toBe(false);
  });

  it(
    "installs the reference iptables masquerade chain " + "for each pod address in one restore (checklist 68)",
    async () => {
      const h = harness();
      await bridgeAdd(h.call(conf({ ipMasq: true, ipMasqBackend: "iptables" })), h.deps);
      const chain = chainName("mynet", "cid1");
      expect(chain).toMatch(/^CNI-[0-9a-f]{24}$/);
      const comment = '-m comment --comment "name: \\"mynet\\" id: \\"cid1\\""';
      expect(h.iptables.chains.get(chain)).toEqual([
        `-A ${chain} -d 10.1.2.0/24 ${comment} -j ACCEPT`,
        `-A ${chain} ! -d 224.0.0.0/4 ${comment} -j MASQUERADE`,
      ]);
      expect(h.iptables.chains.get("POSTROUTING")).toEqual([`-A POSTROUTING -s 10.1.2.2/32 ${comment} -j ${chain}`]);
      expect(h.runner.calls.filter((c) => c.cmd === "iptables-restore")).toHaveLength(1);
    },
  );

  it("installs one commented nftables masquerade rule per address with ipMasqBackend nftables", async () => {
    const h = harness();
    await bridgeAdd(h.call(conf({ ipMasq: true, ipMasqBackend: "nftables" })), h.deps);
    const script = h.runner.calls.find((c) => c.cmd === "nft" && c.args[0] === "-f")?.input ?? "";
    expect(script).toContain(
      "add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority 100 ; }",
    );
    expect(script).toMatch(
      new RegExp(
        String.raw`add rule inet cni_plugins_masquerade masq_checks ` +
          String.raw`ip saddr == 10\.1\.2\.2 ip daddr != 10\.1\.2\.0\/24 ` +
          String.raw`masquerade comment "[0-9a-f]{16}-[0-9a-f]{16}, net: mynet, if: eth0, id: cid1"`,
      ),
    );
  });

  it("removes the masquerade rules it added when a later step fails", async () => {
    const h = harness();
    // the port never comes up (the pod's end loses its link-up request): fails after masquerade
    const setLink = h.pod.nl.setLink.bind(h.pod.nl);
    h.pod.nl.setLink = (ref, change) => setLink(ref, { ...change, ...(change.up ? { up: false } : {}) });
    await expectCni(
      bridgeAdd(h.call(conf({ ipMasq: true, ipMasqBackend: "iptables" })), h.deps),
      11,
      /bridge port in error state: lowerlayerdown/,
    );
    expect(h.iptables.chains.get("POSTROUTING")).toEqual([]);
    expect(h.iptables.chains.has(chainName("mynet", "cid1"))).toBe(false);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
  });

  it("brings eth0 up without addresses in layer-2 mode (ipam {})", async () => {
    const h = harness();
    const r = await bridgeAdd(h.call(conf({ ipam: {}, isDefaultGateway: false })), h.deps);
    expect(r.ips).toBeUndefined();
    expect(h.pod.link("eth0")?.up).toBe(true);
    expect(h.ipam.calls).toEqual([]);
  });

  it("uses the config dns over the IPAM dns when one of its fields is set", async () => {
    const h = harness();
    h.ipam.next = { ...h.ipam.next, dns: { nameservers: ["1.1.1.1"] } };
    const r = await bridgeAdd(
      h.call(conf({ dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] } })),
      h.deps,
    );
    expect(r.dns).toEqual({ nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] });
  });

  it("sets hairpin on the host port and promisc on the bridge when asked (checklist 61)", async () => {
    const h = harness(["00000001"]);
    await bridgeAdd(h.call(conf({ hairpinMode: true })), h.deps);
    expect(h.host.link("veth00000001")?.bridgePort?.hairpin).toBe(true);
    expect(h.host.link("cni0")?.promisc).toBe(false);
    const h2 = harness();
    await bridgeAdd(h2.call(conf({ promiscMode: true })), h2.deps);
    expect(h2.host.link("cni0")?.promisc).toBe(true);
  });

  it("says the netns does not exist with code 3 before touching IPAM", async () => {
    const h = harness();
    await expectCni(
      bridgeAdd(h.call(conf(), { netns: "/var/run/netns/nope" }), h.deps),
      3,
      /failed to open netns "\/var\/run\/netns\/nope"/,
    );
    expect(h.ipam.calls).toEqual([]);
  });

  it(
    "tags the pod port with vlan as PVID untagged after removing the " +
      "default VID, and gateways through <bridge>.<vlan> (checklist 70)",
    async () => {
      const h = harness(["00000001", "00000002"]);
      const r = await bridgeAdd(h.call(conf({ vlan: 100 })), h.deps);
      expect(h.host.nl.calls).toContainEqual({ method: "createBridge", args: [{ name: "cni0", vlanFiltering: true }] });
      expect(vlansOf(h.host, "veth00000001")).toEqual([{ vid: 100, pvid: true, untagged: true }]);
      expect(r.interfaces?.map((i) => i.name)).toEqual(["cni0", "veth00000001", "eth0", "cni0.100"]);
      expect(h.host.addrs("cni0.100")).toEqual(["10.1.2.1/24"]);
      expect(h.host.addrs("cni0")).toEqual([]);
      expect(vlansOf(h.host, "veth00000002")).toEqual([{ vid: 100, pvid: true, untagged: true }]);
      expect(h.host.link("veth00000002")?.masterIndex).toBe(h.host.link("cni0")?.index);
      expect(h.host.link("cni0.100")?.parentIndex).toBe(h.host.link("veth00000002")?.index);
    },
  );

  it("adds trunk VIDs tagged and VID 1 as PVID when there is no vlan; preserveDefaultVlan keeps VID 1", async () => {
    const h = harness(["00000001"]);
    await bridgeAdd(h.call(conf({ vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 201 }] })), h.deps);
    expect(vlansOf(h.host, "veth00000001")).toEqual([
      { vid: 101, pvid: false, untagged: false },
      { vid: 200, pvid: false, untagged: false },
      { vid: 201, pvid: false, untagged: false },
      { vid: 1, pvid: true, untagged: true },
    ]);
    const h2 = harness(["00000001"]);
    await bridgeAdd(h2.call(conf({ vlan: 7, preserveDefaultVlan: true, isDefaultGateway: false })), h2.deps);
    expect(vlansOf(h2.host, "veth00000001")).toEqual([
      { vid: 1, pvid: false, untagged: true },
      { vid: 7, pvid: true, untagged: true },
    ]);
    expect(h2.host.nl.calls.some((c) => c.method === "deleteBridgeVlan")).toBe(false);
  });

  it("installs the reference's nft bridge spoof-check for the host veth and pod MAC (checklist 72)", async () => {
    const h = harness(["00000007"]);
    const r = await bridgeAdd(h.call(conf({ macspoofchk: true })), h.deps);
    const script = h.runner.calls.find((c) => c.cmd === "nft" && c.args[0] === "-f")?.input ?? "";
    const mac = r.interfaces?.[2]?.mac;
    expect(script.split("\n")).toEqual([
      "add table bridge nat",
      "add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }",
      "add chain bridge nat cni-br-iface-cid1-eth0",
      "add chain bridge nat cni-br-iface-cid1-eth0-mac",
      "flush chain bridge nat cni-br-iface-cid1-eth0",
      "flush chain bridge nat cni-br-iface-cid1-eth0-mac",
      'add rule bridge nat PREROUTING iifname "veth00000007" ' +
        'jump cni-br-iface-cid1-eth0 comment "macspoofchk-cid1-eth0"',
      'add rule bridge nat cni-br-iface-cid1-eth0 jump cni-br-iface-cid1-eth0-mac comment "macspoofchk-cid1-eth0"',
      `add rule bridge nat cni-br-iface-cid1-eth0-mac ether saddr ${mac} return comment "macspoofchk-cid1-eth0"`,
      'add rule bridge nat cni-br-iface-cid1-eth0-mac drop comment "macspoofchk-cid1-eth0"',
      "",
    ]);
  });

  it("fails when IPAM returns no address, and releases it", async () => {
    const h = harness();
    h.ipam.next = { cniVersion: "1.1.0" };
    await expectCni(bridgeAdd(h.call(conf()), h.deps), 7, /IPAM plugin returned missing IP config/);
    expect(h.ipam.calls).toEqual(["ADD host-local", "DEL host-local"]);
  });
});
