import { describe, expect, it } from "vitest";
import { parseCidr } from "../../net/prefix.ts";
import { CONFLIST, FakeNode, NFT_SAVE, OWN, PEER, SUBNET_ENV } from "../testing/doctor-node.ts";
import { exitCode, type CheckResult } from "./check.ts";
import { runDoctor } from "./doctor.ts";

async function doctor(n: FakeNode): Promise<CheckResult[]> {
  return runDoctor(n.context());
}
function get(rs: readonly CheckResult[], id: string): CheckResult {
  const r = rs.find((x) => x.id === id);
  if (!r) throw new Error(`no ${id} in ${rs.map((x) => x.id).join(", ")}`);
  return r;
}
const failed = (rs: readonly CheckResult[]) => rs.filter((r) => r.status === "fail").map((r) => r.id);

describe("weft doctor over a fake node", () => {
  it("a healthy node passes every check and exits 0", async () => {
    const rs = await doctor(new FakeNode());
    expect(rs.filter((r) => r.status !== "ok").map((r) => `${r.id}: ${r.summary}`)).toEqual([]);
    expect(exitCode(rs)).toBe(0);
    expect(get(rs, "peer/10.244.2.0/24").summary).toContain("answers through flannel.1");
  });

  it("every failure carries a fix, and any failure makes the exit code 1", async () => {
    const n = new FakeNode();
    n.files.delete("/run/flannel/subnet.env");
    const rs = await doctor(n);
    expect(exitCode(rs)).toBe(1);
    for (const r of rs.filter((x) => x.status === "fail" || x.status === "warn")) expect(r.fix, r.id).toBeTruthy();
  });

  describe("store and subnet.env", () => {
    it("a store that cannot be reached fails and says which flags to give", async () => {
      const n = new FakeNode();
      n.storeError = "no etcd endpoint answered";
      const rs = await doctor(n);
      expect(get(rs, "store").summary).toContain("no etcd endpoint answered");
      expect(get(rs, "store").fix).toContain("--etcd-endpoints");
      expect(get(rs, "peers").status).toBe("skip");
    });

    it("subnet.env naming a subnet leased to another node says two nodes share it", async () => {
      const n = new FakeNode();
      n.leases = [{ ...OWN, attrs: { ...OWN.attrs, PublicIP: "192.0.2.99" } }, PEER];
      const r = get(await doctor(n), "subnet-env");
      expect(r.status).toBe("fail");
      expect(r.summary).toContain("leased to 192.0.2.99, not to this node");
    });

    it("FLANNEL_NETWORK that is not the config's Network fails", async () => {
      const n = new FakeNode();
      n.configText = '{"Network":"10.250.0.0/16","Backend":{"Type":"vxlan"}}';
      const r = get(await doctor(n), "subnet-env");
      expect(r.summary).toContain("FLANNEL_NETWORK is 10.244.0.0/16 but the network config says 10.250.0.0/16");
    });

    it("kube mode compares subnet.env with the node's podCIDR", async () => {
      const n = new FakeNode();
      const other = parseCidr("10.244.7.0/24");
      if (!other) throw new Error("cidr");
      n.kubeNode = { name: "n1", lease: { subnet: other, attrs: OWN.attrs } };
      const r = get(await doctor(n), "subnet-env");
      expect(r.status).toBe("fail");
      expect(r.summary).toBe("10.244.1.0/24 in subnet.env, but node n1's podCIDR is 10.244.7.0/24");
      n.kubeNode = { name: "n1", lease: undefined };
      expect(get(await doctor(n), "subnet-env").fix).toContain("--allocate-node-cidrs=true");
    });
  });

  describe("links", () => {
    it("Backend.MTU over the NIC: FLANNEL_MTU over the device the kernel kept at the NIC's limit", async () => {
      const n = new FakeNode();
      n.configText = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":9000}}';
      n.files.set("/run/flannel/subnet.env", SUBNET_ENV.replace("FLANNEL_MTU=1450", "FLANNEL_MTU=8950"));
      const r = get(await doctor(n), "mtu");
      expect(r.status).toBe("fail");
      expect(r.summary).toContain("FLANNEL_MTU=8950 is over flannel.1's MTU 1450 (Backend.MTU 9000");
      expect(r.fix).toContain("remove Backend.MTU");
    });

    it("a device bigger than the NIC allows for the encapsulation fails", async () => {
      const n = new FakeNode();
      n.nl.setMtu("flannel.1", 1480);
      expect(get(await doctor(n), "mtu").summary).toContain(
        "flannel.1 MTU 1480 + 50 bytes of encapsulation is over eth0's MTU 1500",
      );
    });

    it("a missing backend device fails and points at flanneld", async () => {
      const n = new FakeNode();
      n.nl.deleteLink("flannel.1");
      const r = get(await doctor(n), "mtu");
      expect(r.summary).toBe("flannel.1 does not exist");
    });

    it("cni0 with an address of another subnet says to delete it, naming the new gateway", async () => {
      const n = new FakeNode();
      n.nl.deleteAddr("cni0", "10.244.1.1/24");
      n.nl.addAddr("cni0", "10.244.9.1/24");
      const r = get(await doctor(n), "bridge");
      expect(r.summary).toContain("cni0 holds 10.244.9.1/24, outside this node's subnet 10.244.1.1/24");
      expect(r.fix).toContain("ip link delete cni0");
      expect(r.fix).toContain("creates it again with 10.244.1.1/24");
    });

    it("no cni0 yet is fine: the first pod creates it", async () => {
      const n = new FakeNode();
      n.nl.deleteLink("cni0");
      expect(get(await doctor(n), "bridge").status).toBe("ok");
    });
  });

  describe("host switches", () => {
    it("br_netfilter not loaded names the modprobe", async () => {
      const n = new FakeNode();
      n.sysctl.remove("net.bridge.bridge-nf-call-iptables");
      const r = get(await doctor(n), "br-netfilter");
      expect(r.status).toBe("fail");
      expect(r.fix).toContain("modprobe br_netfilter");
    });

    it("IPv6 clusters need IPv6 forwarding too", async () => {
      const n = new FakeNode();
      n.configText =
        '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';
      n.sysctl.add("net.ipv6.conf.all.forwarding", 0);
      expect(get(await doctor(n), "ip-forward").summary).toContain("net.ipv6.conf.all.forwarding=0");
    });

    it("strict rp_filter is fine while routes back leave by the interface traffic arrives on", async () => {
      const n = new FakeNode();
      n.sysctl.set("net/ipv4/conf/all/rp_filter", 1);
      const r = get(await doctor(n), "rp-filter");
      expect(r.status).toBe("ok");
      expect(r.summary).toContain("strict on cni0, flannel.1, but every route back leaves by the interface");
    });
  });

  describe("iptables", () => {
    const legacyKube = [
      "*mangle",
      ":PREROUTING ACCEPT [0:0]",
      ":KUBE-KUBELET-CANARY - [0:0]",
      "COMMIT",
      "*filter",
      ":FORWARD ACCEPT [0:0]",
      "-A FORWARD -j KUBE-FORWARD",
      "COMMIT",
      "",
    ].join("\n");

    it("flanneld's rules in nft while the kubelet's canary is in legacy: flannel#1317", async () => {
      const n = new FakeNode();
      n.saves.set("legacy", legacyKube);
      const r = get(await doctor(n), "iptables-mode");
      expect(r.summary).toBe(
        "flanneld's rules are in iptables-nft, but the host's (kube-proxy, kubelet) are in iptables-legacy",
      );
      expect(r.fix).toContain("set it to legacy, and restart flanneld");
    });

    it("the kubelet's chains in both backends: nft is the host's, as iptables-wrapper decides", async () => {
      const n = new FakeNode();
      n.saves.set("legacy", legacyKube);
      n.saves.set("nft", NFT_SAVE.replace("*filter", "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n*filter"));
      expect(get(await doctor(n), "iptables-mode")).toMatchObject({
        status: "ok",
        summary: "flanneld's rules in iptables-nft, as the host's",
      });
    });

    it("flanneld's chains in both backends name the leftover set", async () => {
      const n = new FakeNode();
      n.saves.set("legacy", NFT_SAVE);
      expect(get(await doctor(n), "iptables-mode").summary).toContain("in both iptables-legacy and iptables-nft");
    });

    it("no flannel chains at all says flanneld is not keeping them", async () => {
      const n = new FakeNode();
      n.saves.set("nft", "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n");
      expect(get(await doctor(n), "iptables-mode").summary).toContain("no FLANNEL-POSTRTG / FLANNEL-FWD chain");
    });

    it("a DROP policy where FLANNEL-FWD accepts the network passes; without the accepts it fails", async () => {
      const n = new FakeNode();
      n.saves.set("nft", NFT_SAVE.replace(":FORWARD ACCEPT", ":FORWARD DROP"));
      expect(get(await doctor(n), "forward").status).toBe("ok");
      n.saves.set("nft", NFT_SAVE.replace(":FORWARD ACCEPT", ":FORWARD DROP").replace(/-A FLANNEL-FWD .*\n/g, ""));
      const r = get(await doctor(n), "forward");
      expect(r.summary).toContain("iptables-nft FORWARD policy is DROP and nothing there accepts 10.244.0.0/16");
    });

    it("EnableNFTables: the flannel-ipv4 table must exist", async () => {
      const n = new FakeNode();
      n.configText = '{"Network":"10.244.0.0/16","EnableNFTables":true,"Backend":{"Type":"vxlan"}}';
      expect(get(await doctor(n), "iptables-mode").status).toBe("ok");
      n.nftTables.clear();
      expect(get(await doctor(n), "iptables-mode").summary).toContain("no nftables table ip flannel-ipv4");
    });
  });

  describe("CNI", () => {
    it("an older cniVersion is a warning: STATUS and GC are off", async () => {
      const n = new FakeNode();
      n.files.set("/etc/cni/net.d/10-flannel.conflist", JSON.stringify({ ...CONFLIST, cniVersion: "0.3.1" }));
      const r = get(await doctor(n), "cni-config");
      expect(r.status).toBe("warn");
      expect(r.fix).toContain('"cniVersion": "1.1.0"');
    });

    it("a first file that does not parse stops the runtime there", async () => {
      const n = new FakeNode();
      n.files.set("/etc/cni/net.d/05-broken.conf", "{not json");
      n.files.set("/etc/cni/net.d/README", "not a config");
      const r = get(await doctor(n), "cni-config");
      expect(r.status).toBe("fail");
      expect(r.summary).toMatch(/^the runtime reads the first file by name: 05-broken\.conf, which does not parse: /);
    });

    it("subnetFile of the conflist that is not flanneld's --subnet-file fails", async () => {
      const n = new FakeNode();
      const plugins = [{ ...CONFLIST.plugins[0], subnetFile: "/elsewhere/subnet.env" }, CONFLIST.plugins[1]];
      n.files.set("/etc/cni/net.d/10-flannel.conflist", JSON.stringify({ ...CONFLIST, plugins }));
      expect(get(await doctor(n), "cni-config").summary).toContain("reads subnetFile /elsewhere/subnet.env");
    });

    it("a chained plugin not speaking the config's version fails; a missing bridge runs in-process", async () => {
      const n = new FakeNode();
      n.executables.delete("/opt/cni/bin/bridge");
      n.versions.set("/opt/cni/bin/portmap", ["0.3.1", "0.4.0", "1.0.0"]);
      const r = get(await doctor(n), "cni-plugins");
      expect(r.summary).toBe("/opt/cni/bin/portmap does not support cniVersion 1.1.0 (it has 0.3.1, 0.4.0, 1.0.0)");
      n.versions.delete("/opt/cni/bin/portmap");
      expect(get(await doctor(n), "cni-plugins").summary).toContain("bridge (in-process)");
    });

    it("a reservation whose cached netns is gone is stale", async () => {
      const n = new FakeNode();
      n.files.delete("/var/run/netns/cni-1");
      const r = get(await doctor(n), "ipam");
      expect(r.summary).toContain("10.244.1.2 (container c1: netns /var/run/netns/cni-1 is gone)");
      expect(r.fix).toContain("rm /var/lib/cni/networks/cbr0/10.244.1.2");
    });

    it("a netns the doctor cannot see the directory of (flanneld's container) is not judged", async () => {
      const n = new FakeNode();
      n.files.delete("/var/run/netns/cni-1");
      n.files.delete("/var/run/netns");
      expect(get(await doctor(n), "ipam").status).toBe("ok");
      n.cache[0] = { containerId: "c1", network: "cbr0", ifName: "eth0", netns: "/proc/4242/ns/net" };
      expect(get(await doctor(n), "ipam").status).toBe("ok");
    });

    it("reservations outside this node's subnet are not this node's business", async () => {
      const n = new FakeNode();
      n.reservations.push({ ip: "10.99.0.5", containerID: "old", ifname: "eth0" });
      expect(get(await doctor(n), "ipam").summary).toMatch(/^1 of 253 addresses/);
    });

    it("a CNI server that answers STATUS with an error passes the message on", async () => {
      const n = new FakeNode();
      n.relayAnswer = {
        answered: true,
        exitCode: 1,
        stdout: JSON.stringify({
          code: 50,
          msg: "plugin not available",
          details: "flanneld has not written subnet.env",
        }),
      };
      expect(get(await doctor(n), "cni-server").summary).toContain(
        "plugin not available: flanneld has not written subnet.env",
      );
    });

    it("--cni-socket= turns the CNI server check off", async () => {
      const n = new FakeNode();
      n.flags = { ...n.flags, cniSocket: "" };
      expect(get(await doctor(n), "cni-server").status).toBe("skip");
    });
  });

  describe("flanneld and peers", () => {
    it("probes each peer through flannel.1 from this node's overlay address", async () => {
      const n = new FakeNode();
      await doctor(n);
      expect(n.probes).toContainEqual(
        expect.objectContaining({
          address: "10.244.2.0",
          bindAddress: "10.244.1.0",
          port: 8081,
          from: "10.244.1.0/24",
        }),
      );
    });

    it("a peer with no route via flannel.1 is reported unprogrammed, never probed by the default route", async () => {
      const n = new FakeNode();
      n.nl.deleteRoute({ dst: "10.244.2.0/24", dev: "flannel.1" });
      n.nl.addRoute({ dst: "default", gateway: "192.0.2.1", dev: "eth0" });
      const r = get(await doctor(n), "peer/10.244.2.0/24");
      expect(r.summary).toBe("10.244.2.0 is routed via eth0, not flannel.1: this node has not programmed the peer");
      expect(n.probes.some((p) => p.address === "10.244.2.0")).toBe(false);
    });

    it("a peer that answers on its public address but does not know our lease says so", async () => {
      const n = new FakeNode();
      n.probeAnswer = (o) =>
        o.address === "10.244.2.0"
          ? { ok: false, error: "no answer within 1500 ms" }
          : { ok: true, rttMs: 1, reply: { id: "x", subnet: "10.244.2.0/24", knowsSender: false } };
      const r = get(await doctor(n), "peer/10.244.2.0/24");
      expect(r.summary).toContain("it does not know this node's lease 10.244.1.0/24");
      expect(r.fix).toContain("the peer has not seen this node's lease");
    });

    it("host-gw has no overlay device: the peer's flanneld on its public address is the check", async () => {
      const n = new FakeNode();
      n.configText = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}';
      n.files.set("/run/flannel/subnet.env", SUBNET_ENV.replace("FLANNEL_MTU=1450", "FLANNEL_MTU=1500"));
      const r = get(await doctor(n), "peer/10.244.2.0/24");
      expect(r.summary).toBe("192.0.2.12: flanneld answers (host-gw: no overlay device to test)");
      expect(n.probes.map((p) => p.address)).not.toContain("10.244.2.0");
    });

    it("without --healthz-port the flanneld and peer checks are skipped and say why", async () => {
      const n = new FakeNode();
      n.flags = { ...n.flags, healthzPort: 0 };
      const rs = await doctor(n);
      expect(get(rs, "flanneld").status).toBe("skip");
      expect(get(rs, "peers").summary).toContain("--healthz-port is 0");
    });

    it("flanneld not ready names it", async () => {
      const n = new FakeNode();
      n.readyz = { status: 503, body: "flanneld is not ready yet" };
      expect(failed(await doctor(n))).toContain("flanneld");
    });
  });
});
