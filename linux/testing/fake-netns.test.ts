import { describe, expect, it } from "vitest";
import { NetnsNotFoundError } from "../errors.ts";
import { FakeNetnsWorld } from "./fake-netns.ts";

describe("FakeNetnsWorld (fake network namespaces)", () => {
  it("opens existing paths only, and a removed path no longer opens while open handles stay usable", () => {
    const w = new FakeNetnsWorld();
    w.add("/run/netns/a");
    expect(() => w.open("/run/netns/b")).toThrow(NetnsNotFoundError);
    const h = w.open("/run/netns/a");
    w.remove("/run/netns/a");
    expect(() => w.open("/run/netns/a")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    expect(w.netlink(h)).toBeDefined();
    expect(w.openHandles).toBe(1);
    h.close();
    expect(w.openHandles).toBe(0);
    expect(() => w.netlink(h)).toThrow(/EBADF/);
    expect(() => w.enter(h, () => 1)).toThrow(/EBADF/);
  });

  it("shows the entered netns's /proc/sys in `sysctl` while inside, the root's outside", () => {
    const w = new FakeNetnsWorld();
    const pod = w.add("/run/netns/pod", { "net/ipv4/ip_forward": "1" });
    const h = w.open(pod.path);
    expect(w.sysctl.get("net/ipv4/ip_forward")).toBe("0");
    expect(w.enter(h, () => w.sysctl.get("net/ipv4/ip_forward"))).toBe("1");
    expect(() =>
      w.enter(h, () => {
        w.sysctl.set("net/ipv6/conf/all/forwarding", "1");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(pod.sysctl.get("net/ipv6/conf/all/forwarding")).toBe("1");
    expect(w.root.sysctl.get("net/ipv6/conf/all/forwarding")).toBe("0");
    expect(w.sysctl.get("net/ipv4/ip_forward")).toBe("0");
  });

  it("lets a veth peer be created in another netns through an open handle's fd", () => {
    const w = new FakeNetnsWorld();
    const pod = w.add("/run/netns/pod");
    const h = w.open(pod.path);
    w.netlink().createVeth({ name: "veth1", peer: { name: "eth0", netnsFd: h.fd } });
    expect(pod.link("eth0")?.parentIndex).toBe(w.root.link("veth1")?.index);
    expect(pod.sysctl.get("net/ipv6/conf/eth0/accept_dad")).toBe("1");
    expect(w.netlink(h)).toBe(pod.nl);
  });
});
