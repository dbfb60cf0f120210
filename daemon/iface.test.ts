import { describe, expect, it } from "vitest";
import { InterfaceError, selectInterface, type IfaceSources, type SelectOptions } from "./iface.ts";

const files: Record<string, string> = {
  "/proc/net/route":
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
    "eth1\t00000000\t010200C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n" +
    "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
  "/proc/net/ipv6_route": "",
  "/sys/class/net/eth0/mtu": "1500\n",
  "/sys/class/net/eth0/ifindex": "2\n",
  "/sys/class/net/eth1/mtu": "9000\n",
  "/sys/class/net/eth1/ifindex": "3\n",
  "/sys/class/net/dummy0/mtu": "0\n",
};
const src: IfaceSources = {
  interfaces: () => ({
    lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }],
    eth0: [
      { address: "169.254.3.3", family: "IPv4", internal: false },
      { address: "192.0.2.10", family: "IPv4", internal: false },
      { address: "fe80::1", family: "IPv6", internal: false },
    ],
    eth1: [{ address: "198.51.100.10", family: "IPv4", internal: false }],
    dummy0: [{ address: "203.0.113.1", family: 4, internal: false }],
  }),
  readFile: (p) => {
    const v = files[p];
    if (v === undefined) throw new Error(`ENOENT ${p}`);
    return v;
  },
};
const base: SelectOptions = {
  iface: [],
  ifaceRegex: [],
  ifaceCanReach: "",
  publicIp: "",
  publicIpv6: "",
  ipv4: true,
  ipv6: false,
};

describe("external interface selection", () => {
  it("uses the lowest-metric default route's interface and its global IPv4 address", () => {
    expect(selectInterface(base, src)).toEqual({
      name: "eth0",
      index: 2,
      mtu: 1500,
      ipv4: "192.0.2.10",
      ipv6: "fe80::1",
      publicIP: "192.0.2.10",
      publicIPv6: "fe80::1",
    });
  });

  it("tries --iface names and IPs in order, first match wins", () => {
    expect(selectInterface({ ...base, iface: ["nope", "198.51.100.10", "eth0"] }, src).name).toBe("eth1");
    expect(selectInterface({ ...base, iface: ["eth0"] }, src).mtu).toBe(1500);
  });

  it("matches --iface-regex against addresses before names", () => {
    expect(selectInterface({ ...base, ifaceRegex: ["^198\\.51\\."] }, src).name).toBe("eth1");
    expect(selectInterface({ ...base, ifaceRegex: ["^eth1$"] }, src).name).toBe("eth1");
  });

  it("advertises a --public-ip that is on no interface (NAT) from the default route's interface", () => {
    const e = selectInterface({ ...base, publicIp: "203.0.113.50" }, src);
    expect([e.name, e.ipv4, e.publicIP]).toEqual(["eth0", "192.0.2.10", "203.0.113.50"]);
  });

  it("uses the interface holding --public-ip when one does, as flanneld", () => {
    const e = selectInterface({ ...base, publicIp: "198.51.100.10" }, src);
    expect([e.name, e.ipv4, e.publicIP]).toEqual(["eth1", "198.51.100.10", "198.51.100.10"]);
  });

  it("uses the matched address, not the first one, when --iface names an IP", () => {
    expect(selectInterface({ ...base, iface: ["169.254.3.3"] }, src).ipv4).toBe("169.254.3.3");
  });

  it("picks the interface of the most specific route to --iface-can-reach", () => {
    // 198.51.100.0/24 on eth1
    const routes = `${files["/proc/net/route"]}eth1\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`;
    const withRoute = { ...src, readFile: (p: string) => (p === "/proc/net/route" ? routes : src.readFile(p)) };
    expect(selectInterface({ ...base, ifaceCanReach: "198.51.100.77" }, withRoute).name).toBe("eth1");
    expect(selectInterface({ ...base, ifaceCanReach: "192.0.2.99" }, withRoute).name).toBe("eth0");
    // the default route, of lower metric
    expect(selectInterface({ ...base, ifaceCanReach: "8.8.8.8" }, withRoute).name).toBe("eth0");
  });

  it("explains what to change when nothing fits", () => {
    expect(() => selectInterface({ ...base, iface: ["wlan9"] }, src)).toThrow(
      /no interface matches --iface \["wlan9"\].*eth0/,
    );
    expect(() => selectInterface({ ...base, iface: ["dummy0"] }, src)).toThrow(/reports no MTU/);
    expect(() => selectInterface({ ...base, ifaceRegex: ["("] }, src)).toThrow(/not a valid regular expression/);
    expect(() => selectInterface({ ...base, publicIp: "banana" }, src)).toThrow(InterfaceError);
    expect(() => selectInterface({ ...base, ifaceCanReach: "not-an-ip" }, src)).toThrow(
      /--iface-can-reach=not-an-ip is not an IP/,
    );
    expect(() => selectInterface({ ...base, ipv4: false, ipv6: true }, src)).toThrow(/no default route/);
  });
});
