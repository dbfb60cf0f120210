import { describe, expect, it } from "vitest";
import { parseNetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import { formatLeaseAttrs, type Lease, type LeaseAttrs } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import type { BackendNetwork } from "../dataplane.ts";
import { FakeNetOps } from "../testing/fake-netops.ts";
import { routeBackend } from "./route-backend.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const DUAL = { Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "fd00:10:244::/56", IPv6SubnetLen: 64 };
const V6ONLY = { EnableIPv4: false, EnableIPv6: true, IPv6Network: "fd00:10:244::/56" };

function ext(over: Partial<ExternalInterface> = {}): ExternalInterface {
  return {
    name: "eth0",
    index: 2,
    mtu: 1500,
    ipv4: "192.0.2.11",
    ipv6: "2001:db8:0:1::11",
    publicIP: "192.0.2.11",
    publicIPv6: "2001:db8:0:1::11",
    ...over,
  };
}
const V4_ONLY_IFACE: ExternalInterface = {
  name: "eth0",
  index: 2,
  mtu: 1500,
  ipv4: "192.0.2.11",
  publicIP: "192.0.2.11",
};
const V6_ONLY_IFACE: ExternalInterface = {
  name: "eth0",
  index: 2,
  mtu: 1500,
  ipv6: "2001:db8:0:1::11",
  publicIPv6: "2001:db8:0:1::11",
};

async function register(
  type: "vxlan" | "host-gw",
  conf: Record<string, unknown>,
  o: { iface?: ExternalInterface; previousAttrs?: LeaseAttrs; backend?: object; maxMtu?: number } = {},
) {
  const dp = new FakeNetOps();
  dp.addLink("eth0");
  dp.maxMtu = o.maxMtu;
  const config = parseNetworkConfig(JSON.stringify({ ...conf, Backend: { Type: type, ...o.backend } }), "test");
  let published: LeaseAttrs | undefined;
  const log = memoryLogger();
  const nw: BackendNetwork = await routeBackend(type, dp, log).register({
    config,
    extIface: o.iface ?? ext(),
    acquire: async (attrs) => {
      published = attrs;
      const lease: Lease = {
        ...(config.enableIPv4 ? { subnet: net("10.244.1.0/24") } : {}),
        ...(config.enableIPv6 ? { subnetV6: net("fd00:10:244:1::/64") } : {}),
        attrs,
      };
      return lease;
    },
    ...(o.previousAttrs ? { previousAttrs: o.previousAttrs } : {}),
    log: memoryLogger(),
    signal: new AbortController().signal,
  });
  return { dp, nw, published, log };
}

describe("vxlan backend registration", () => {
  it(
    "dual stack: creates flannel.1 and flannel-v6.1 before leasing " +
      "and publishes PublicIPv6 and BackendV6Data like flanneld",
    async () => {
      const { dp, published } = await register("vxlan", DUAL);
      const v4 = dp.links.get("flannel.1");
      const v6 = dp.links.get("flannel-v6.1");
      expect(v4?.spec?.localIp).toBe("192.0.2.11");
      expect(v6?.spec?.localIp).toBe("2001:db8:0:1::11");
      expect(JSON.parse(formatLeaseAttrs(published ?? { PublicIP: "" }))).toEqual({
        PublicIP: "192.0.2.11",
        PublicIPv6: "2001:db8:0:1::11",
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: v4?.mac },
        BackendV6Data: { VNI: 1, VtepMAC: v6?.mac },
      });
      expect(v4?.addrs).toEqual(["10.244.1.0/32"]);
      expect(v6?.addrs).toEqual(["fd00:10:244:1::/128"]);
    },
  );

  it("dual stack: the pod MTU is the smaller of the two overlays (IPv6 vxlan: underlay - 70)", async () => {
    const { nw, dp } = await register("vxlan", DUAL);
    expect(dp.links.get("flannel.1")?.spec?.mtu).toBe(1450);
    expect(dp.links.get("flannel-v6.1")?.spec?.mtu).toBe(1430);
    expect(nw.mtu).toBe(1430);
  });

  it("IPv6 only: no flannel.1, PublicIP 0.0.0.0, only BackendV6Data", async () => {
    const { dp, nw, published } = await register("vxlan", V6ONLY, { iface: V6_ONLY_IFACE });
    expect(dp.links.has("flannel.1")).toBe(false);
    expect(dp.links.has("flannel-v6.1")).toBe(true);
    expect(published?.PublicIP).toBe("0.0.0.0");
    expect(published?.BackendData).toBeUndefined();
    expect(published?.BackendV6Data).toEqual({ VNI: 1, VtepMAC: dp.links.get("flannel-v6.1")?.mac });
    expect(nw.mtu).toBe(1430);
  });

  it("publishes --public-ipv6 as PublicIPv6 while the VTEP stays on the interface address", async () => {
    const { dp, published } = await register("vxlan", DUAL, { iface: ext({ publicIPv6: "2001:db8:ffff::1" }) });
    expect(published?.PublicIPv6).toBe("2001:db8:ffff::1");
    expect(dp.links.get("flannel-v6.1")?.spec?.localIp).toBe("2001:db8:0:1::11");
  });

  it("keeps each family's previous VtepMAC across restarts", async () => {
    const prev: LeaseAttrs = {
      PublicIP: "192.0.2.11",
      BackendData: { VNI: 1, VtepMAC: "0E:2A:00:00:00:04" },
      BackendV6Data: { VNI: 1, VtepMAC: "0e:2a:00:00:00:06" },
    };
    const { dp } = await register("vxlan", DUAL, { previousAttrs: prev });
    expect(dp.links.get("flannel.1")?.mac).toBe("0e:2a:00:00:00:04");
    expect(dp.links.get("flannel-v6.1")?.mac).toBe("0e:2a:00:00:00:06");
  });

  it("programs both families from one batch of dual-stack lease events", async () => {
    const { dp, nw } = await register("vxlan", DUAL);
    const peer: Lease = {
      subnet: net("10.244.2.0/24"),
      subnetV6: net("fd00:10:244:2::/64"),
      attrs: {
        PublicIP: "192.0.2.12",
        PublicIPv6: "2001:db8:0:1::12",
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:04:02" },
        BackendV6Data: { VNI: 1, VtepMAC: "0e:00:00:00:06:02" },
      },
    };
    await nw.handleEvents([{ type: "added", lease: peer }]);
    await new Promise((r) => setImmediate(r));
    expect([...dp.routes.keys()].sort()).toEqual(["10.244.2.0/24", "fd00:10:244:2::/64"]);
    expect([...dp.fdb.values()].map((f) => f.dst).sort()).toEqual(["192.0.2.12", "2001:db8:0:1::12"]);
  });

  it("warns when the only IPv6 address is link-local (flanneld falls back to it silently)", async () => {
    const { log, dp } = await register("vxlan", DUAL, { iface: ext({ ipv6: "fe80::11", publicIPv6: "fe80::11" }) });
    expect(log.lines.some((l) => l.includes("link-local") && l.includes("fe80::11"))).toBe(true);
    expect(dp.links.get("flannel-v6.1")?.spec?.localIp).toBe("fe80::11");
  });

  it("refuses EnableIPv6 on an interface without an IPv6 address, naming the interface", async () => {
    await expect(register("vxlan", DUAL, { iface: V4_ONLY_IFACE })).rejects.toThrow(
      /interface eth0 has no IPv6 address/,
    );
  });
});

describe("Backend.MTU and the MTU the device really has", () => {
  const V4 = { Network: "10.244.0.0/16" };

  it("a Backend.MTU over the interface's is refused with a warning: pods get the interface MTU - 50", async () => {
    const { dp, nw, log } = await register("vxlan", V4, { iface: V4_ONLY_IFACE, backend: { MTU: 9000 } });
    expect(dp.links.get("flannel.1")?.spec?.mtu).toBe(1450);
    expect(nw.mtu).toBe(1450);
    const warning = log.lines.find((l) => l.includes("level=warn"));
    expect(warning).toContain("Backend.MTU 9000 is larger than the MTU 1500 of eth0");
    expect(warning).toContain("using 1500; raise eth0's MTU first, or lower Backend.MTU");
  });

  it("host-gw: pods never get more than the interface's MTU either", async () => {
    const { nw, log } = await register("host-gw", V4, { iface: V4_ONLY_IFACE, backend: { MTU: 9000 } });
    expect(nw.mtu).toBe(1500);
    expect(log.lines.some((l) => l.includes("Backend.MTU 9000 is larger"))).toBe(true);
  });

  it("a smaller Backend.MTU is taken as is, without a warning", async () => {
    const { nw, log } = await register("vxlan", V4, { iface: V4_ONLY_IFACE, backend: { MTU: 1400 } });
    expect(nw.mtu).toBe(1350);
    expect(log.lines.filter((l) => l.includes("level=warn"))).toEqual([]);
  });

  it("a device the kernel clamped: FLANNEL_MTU is the device's real MTU, and flanneld says so", async () => {
    const { nw, log } = await register("vxlan", V4, { iface: V4_ONLY_IFACE, maxMtu: 1400 });
    expect(nw.mtu).toBe(1400);
    expect(log.lines.some((l) => l.includes("the kernel set flannel.1's MTU to 1400, not 1450: pods get 1400"))).toBe(
      true,
    );
  });
});

describe("host-gw backend registration", () => {
  it("dual stack: publishes both public addresses, no backend data, MTU of the underlay", async () => {
    const { nw, published, dp } = await register("host-gw", DUAL);
    expect(published).toEqual({ PublicIP: "192.0.2.11", PublicIPv6: "2001:db8:0:1::11", BackendType: "host-gw" });
    expect(nw.mtu).toBe(1500);
    expect(dp.links.size).toBe(1);
  });

  it("refuses a --public-ipv6 that is not the interface address (NAT)", async () => {
    await expect(register("host-gw", DUAL, { iface: ext({ publicIPv6: "2001:db8:ffff::1" }) })).rejects.toThrow(
      /public IPv6 \(2001:db8:ffff::1, --public-ipv6\)/,
    );
  });
});
