import { describe, expect, it } from "vitest";
import { LinkNotFoundError, NetlinkError } from "../errors.ts";
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
});
