import { describe, expect, it } from "vitest";
import { LinkNotFoundError, NetlinkError } from "../errors.ts";
import { Errno } from "../errno.ts";
import { MemorySysctl } from "./memory-sysctl.ts";
import { RecordingNetlink } from "./recording-client.ts";

function world(): { host: RecordingNetlink; pod: RecordingNetlink } {
  const fds = new Map<number, RecordingNetlink>();
  const host = new RecordingNetlink((fd) => fds.get(fd));
  const pod = new RecordingNetlink((fd) => fds.get(fd));
  fds.set(10, host);
  fds.set(11, pod);
  return { host, pod };
}

describe("RecordingNetlink (fake)", () => {
  it("places a veth peer in the netns named by its fd and links the two ends", () => {
    const { host, pod } = world();
    pod.createVeth({ name: "eth0", mtu: 1450, peer: { name: "veth1", netnsFd: 10 } });
    const c = pod.getLink("eth0");
    const h = host.getLink("veth1");
    expect([c.parentIndex, h.parentIndex]).toEqual([h.index, c.index]);
    expect(h.mtu).toBe(1450);
    expect(pod.calls.map((x) => x.method)).toEqual(["createVeth", "getLink"]);
  });

  it("answers like the kernel: EEXIST for duplicates, LinkNotFoundError for missing links", () => {
    const { host } = world();
    host.createBridge({ name: "cni0" });
    expect(() => host.createBridge({ name: "cni0" })).toThrow(NetlinkError);
    expect(() => host.setLinkUp("nope")).toThrow(LinkNotFoundError);
    host.addAddr("cni0", "10.244.1.1/24");
    expect(() => host.addAddr("cni0", "10.244.1.1/24")).toThrow(/EEXIST/);
    expect(() => host.deleteAddr("cni0", "10.244.9.1/24")).toThrow(/EADDRNOTAVAIL/);
    expect(() => host.deleteRoute({ dst: "10.9.0.0/16" })).toThrow(/ESRCH/);
  });

  it("adds the prefix route of an address and answers route lookups by longest prefix", () => {
    const { host } = world();
    host.createVeth({ name: "v0", peer: { name: "v1" } });
    host.addAddr("v0", "192.0.2.1/24");
    host.addRoute({ dst: "10.244.2.0/24", gateway: "192.0.2.2", dev: "v0" });
    expect(host.listRoutes().map((r) => r.dst)).toEqual(["192.0.2.0/24", "10.244.2.0/24"]);
    expect(host.getRouteTo("10.244.2.9")).toMatchObject({ gateway: "192.0.2.2" });
    expect(host.getRouteTo("192.0.2.7").gateway).toBeUndefined();
    expect(() => host.getRouteTo("198.51.100.1")).toThrow(/ENETUNREACH/);
  });

  it("enslaves to bridges only, keeps hairpin, and deleting a veth removes its peer and state", () => {
    const { host, pod } = world();
    host.createBridge({ name: "cni0" });
    pod.createVeth({ name: "eth0", peer: { name: "veth1", netnsFd: 10 } });
    host.setMaster("veth1", "cni0");
    host.setHairpin("veth1", true);
    expect(host.getLink("veth1").bridgePort).toEqual({ hairpin: true });
    host.deleteLink("veth1");
    expect(pod.findLink("eth0")).toBeUndefined();
    host.createVeth({ name: "a", peer: { name: "b" } });
    host.setNetns("b", 11);
    pod.deleteLink("b");
    expect(host.findLink("a")).toBeUndefined();
  });

  it("replaces neighbours and FDB entries in place and appends FDB entries per destination", () => {
    const { host } = world();
    host.createVxlan({ name: "flannel.1", vni: 1 });
    host.replaceNeigh({ dev: "flannel.1", ip: "10.244.2.0", mac: "aa:aa:aa:aa:aa:01" });
    host.replaceNeigh({ dev: "flannel.1", ip: "10.244.2.0", mac: "aa:aa:aa:aa:aa:02" });
    expect(host.listNeighs().map((n) => n.mac)).toEqual(["aa:aa:aa:aa:aa:02"]);
    host.appendFdb({ dev: "flannel.1", mac: "00:00:00:00:00:00", dst: "192.0.2.1" });
    host.appendFdb({ dev: "flannel.1", mac: "00:00:00:00:00:00", dst: "192.0.2.2" });
    host.replaceFdb({ dev: "flannel.1", mac: "aa:aa:aa:aa:aa:02", dst: "192.0.2.3" });
    expect(host.listFdb({ dev: "flannel.1" }).map((n) => n.ip)).toEqual(["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    host.deleteFdb({ dev: "flannel.1", mac: "00:00:00:00:00:00", dst: "192.0.2.1" });
    expect(host.listFdb()).toHaveLength(2);
  });

  it("reports a veth end that is up while its peer is down as lowerlayerdown, like the kernel", () => {
    const { host, pod } = world();
    pod.createVeth({ name: "eth0", peer: { name: "veth1", netnsFd: 10 } });
    host.setLinkUp("veth1");
    expect(host.getLink("veth1").operState).toBe("lowerlayerdown");
    pod.setLinkUp("eth0");
    expect([host.getLink("veth1").operState, pod.getLink("eth0").operState]).toEqual(["up", "up"]);
    pod.setLinkDown("eth0");
    expect([host.getLink("veth1").operState, pod.getLink("eth0").operState]).toEqual(["lowerlayerdown", "down"]);
  });

  it("gives a new bridge port VLAN 1 as PVID untagged; a new PVID takes the flag, the old VID stays", () => {
    const { host } = world();
    host.createBridge({ name: "cni0" });
    host.createVeth({ name: "v0", peer: { name: "v1" } });
    expect(() => host.addBridgeVlan("v0", { vid: 7, pvid: true, untagged: true })).toThrow(/EOPNOTSUPP/);
    host.setMaster("v0", "cni0");
    expect(host.listBridgeVlans("v0")).toEqual([{ vid: 1, pvid: true, untagged: true }]);
    host.addBridgeVlan("v0", { vid: 7, pvid: true, untagged: true });
    host.addBridgeVlan("v0", { vid: 8, pvid: false, untagged: false });
    expect(host.listBridgeVlans("v0")).toEqual([
      { vid: 1, pvid: false, untagged: true },
      { vid: 7, pvid: true, untagged: true },
      { vid: 8, pvid: false, untagged: false },
    ]);
    expect(() => host.deleteBridgeVlan("v0", 9)).toThrow(/ENOENT/);
    host.setMaster("v0", null);
    expect(host.listBridgeVlans("v0")).toEqual([]);
    expect(host.getLink("v0").masterIndex).toBeUndefined();
  });

  it("keeps each link's conf/<name> entries in its netns's /proc/sys, copied from conf/default", () => {
    const sys = new MemorySysctl({ "net/ipv6/conf/default/accept_ra": "1", "net/ipv4/conf/default/arp_notify": "0" });
    const other = new MemorySysctl({ "net/ipv6/conf/default/accept_ra": "2" });
    const fds = new Map<number, RecordingNetlink>();
    const host = new RecordingNetlink((fd) => fds.get(fd), sys);
    const pod = new RecordingNetlink((fd) => fds.get(fd), other);
    fds.set(11, pod);
    expect(sys.get("net/ipv6/conf/lo/accept_ra")).toBe("1");
    host.createBridge({ name: "br.5" });
    expect(sys.keysUnder("net/ipv6/conf/br.5")).toEqual(["net/ipv6/conf/br.5/accept_ra"]);
    expect(sys.get("net/ipv4/conf/br.5/arp_notify")).toBe("0");
    sys.set("net/ipv6/conf/br.5/accept_ra", "0");
    host.rename("br.5", "br6");
    expect(sys.get("net/ipv6/conf/br6/accept_ra")).toBe("0");
    expect(() => sys.get("net/ipv6/conf/br.5/accept_ra")).toThrow(/ENOENT/);
    host.createVeth({ name: "a", peer: { name: "b" } });
    host.setNetns("b", 11);
    expect(() => sys.get("net/ipv6/conf/b/accept_ra")).toThrow(/ENOENT/);
    expect(other.get("net/ipv6/conf/b/accept_ra")).toBe("2");
    host.deleteLink("a");
    expect(() => other.get("net/ipv6/conf/b/accept_ra")).toThrow(/ENOENT/);
    expect(() => sys.get("net/ipv6/conf/a/accept_ra")).toThrow(/ENOENT/);
  });

  it("fails the next call of a method with the errno a test asks for, once", () => {
    const { host } = world();
    host.failNext("createBridge", Errno.ENOBUFS);
    expect(() => host.createBridge({ name: "cni0" })).toThrow(
      expect.objectContaining({ code: "ENOBUFS", errno: Errno.ENOBUFS }),
    );
    expect(host.linkNamed("cni0")).toBeUndefined();
    host.createBridge({ name: "cni0" });
    expect(host.linkNamed("cni0")?.kind).toBe("bridge");
    expect(host.calls.map((c) => c.method)).toEqual(["createBridge", "createBridge"]);
  });
});
