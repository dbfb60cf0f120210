import { describe, expect, it } from "vitest";
import {
  checkNetworkConfig,
  ConfigError,
  parseNetworkConfig,
  SUPPORTED_BACKENDS,
  UnsupportedBackendError,
  type NetworkConfig,
} from "./config.ts";
import { formatIp } from "../net/prefix.ts";

const W = "net-conf.json";
const parse = (o: unknown) => parseNetworkConfig(JSON.stringify(o), W);
const check = (o: unknown) => checkNetworkConfig(parse(o), W);
const v4range = (c: NetworkConfig) => [c.subnetLen, formatIp(4, c.subnetMin ?? 0n), formatIp(4, c.subnetMax ?? 0n)];

describe("network config parsing", () => {
  it("parses the kube-flannel net-conf.json with reference defaults", () => {
    const c = parse({ Network: "10.244.0.0/16", Backend: { Type: "vxlan" } });
    expect(c.enableIPv4).toBe(true);
    expect(c.enableIPv6).toBe(false);
    expect(c.enableNFTables).toBe(false);
    expect(c.backend).toMatchObject({
      type: "vxlan",
      vni: 1,
      port: 0,
      mtu: 0,
      gbp: false,
      learning: false,
      directRouting: false,
    });
    expect(c.backendDefaulted).toBe(false);
  });

  it("matches keys case-insensitively like Go and lower-cases the backend type", () => {
    const c = parse({
      network: "10.5.0.0/16",
      subnetlen: 26,
      BACKEND: { type: "Host-GW" },
      enableipv6: true,
      ipv6network: "fc00::/48",
    });
    expect(c.network?.prefix).toBe(16);
    expect(c.subnetLen).toBe(26);
    expect(c.backend.type).toBe("host-gw");
    expect(c.enableIPv6).toBe(true);
  });

  it("reads the last of two keys that differ only in case, as flanneld's Go decoder does", () => {
    const c = parseNetworkConfig(
      '{"Network":"10.244.0.0/16","network":"10.7.0.0/16","SubnetLen":24,"subnetLen":26}',
      W,
    );
    expect(c.network && formatIp(4, c.network.ip)).toBe("10.7.0.0");
    expect(c.subnetLen).toBe(26);
  });

  it("reads the vxlan keys", () => {
    const c = parse({
      Network: "10.0.0.0/8",
      Backend: { Type: "vxlan", VNI: 42, Port: 4789, MTU: 9000, GBP: true, Learning: true, DirectRouting: true },
    });
    expect(c.backend).toMatchObject({ vni: 42, port: 4789, mtu: 9000, gbp: true, learning: true, directRouting: true });
  });

  it("defaults a missing Backend to vxlan and flags it (the reference would pick udp)", () => {
    const c = parse({ Network: "10.244.0.0/16" });
    expect(c.backend.type).toBe("vxlan");
    expect(c.backendDefaulted).toBe(true);
  });

  it("masks a Network written with host bits", () => {
    expect(formatIp(4, parse({ Network: "10.244.3.7/16", Backend: { Type: "vxlan" } }).network?.ip ?? 0n)).toBe(
      "10.244.0.0",
    );
  });

  it.each([
    [
      { Network: "10.244.0.0/16", Backend: { Type: "ipsec" } },
      "Backend.Type",
      /"Backend.Type" is "ipsec", which weft does not support: use one of "vxlan", "host-gw", .*"wireguard"/,
    ],
    [
      { Network: "10.244.0.0/16", Backend: {} },
      "Backend.Type",
      /"Backend.Type" is missing: set it to one of "vxlan", "host-gw"/,
    ],
    [{ Network: "10.244.0.0/16", Backend: "vxlan" }, "Backend", /"Backend" must be an object/],
    [
      { Network: "10.244.0.0/16", Backend: { Type: "vxlan", VNI: -1 } },
      "Backend.VNI",
      /"Backend.VNI" must be a whole number from 0 to 16777215, got -1/,
    ],
    [
      { Network: "10.244.0.0/16", Backend: { Type: "vxlan", Port: "8472" } },
      "Backend.Port",
      /"Backend.Port" must be a whole number/,
    ],
    [{ Network: "10.244.0.0/16", Backend: { Type: "vxlan", MTU: 100 } }, "Backend.MTU", /at least 576/],
    [
      { Network: "10.244.0.0/16", Backend: { Type: "vxlan", GBP: "yes" } },
      "Backend.GBP",
      /"Backend.GBP" must be true or false/,
    ],
    [{ Backend: { Type: "vxlan" } }, "Network", /"Network" is missing: set the IPv4 cluster CIDR/],
    [
      { Network: "10.244.0.0", Backend: { Type: "vxlan" } },
      "Network",
      /"Network" must be an IPv4 CIDR like "10.244.0.0\/16", got "10.244.0.0"/,
    ],
    [{ Network: "fc00::/48", Backend: { Type: "vxlan" } }, "Network", /must be an IPv4 CIDR/],
    [
      { Network: "10.244.0.0/16", EnableIPv6: true },
      "IPv6Network",
      /"IPv6Network" is missing while "EnableIPv6" is true/,
    ],
    [{ EnableIPv4: false, EnableIPv6: false }, "EnableIPv4", /enable at least one family/],
    [{ Network: "10.244.0.0/16", SubnetMin: "10.244.1" }, "SubnetMin", /"SubnetMin" must be an IPv4 address/],
    [{ Network: "10.244.0.0/16", EnableIPv4: "true" }, "EnableIPv4", /must be true or false/],
    [
      { Network: "10.244.0.0/16", SubnetLen: "24" },
      "SubnetLen",
      /"SubnetLen" must be a whole number from 0 to 32, got "24"/,
    ],
    [
      { Network: "10.244.0.0/16", SubnetLen: 33 },
      "SubnetLen",
      /"SubnetLen" must be a whole number from 0 to 32, got 33/,
    ],
    [
      { Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "10.0.0.0/8" },
      "IPv6Network",
      /"IPv6Network" must be an IPv6 CIDR like "fc00::\/48"/,
    ],
    [
      { Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48", IPv6SubnetMin: "10.1.1.1" },
      "IPv6SubnetMin",
      /"IPv6SubnetMin" must be an IPv6 address/,
    ],
    [
      { Network: "10.244.0.0/16", Backend: { Type: "vxlan", Learning: 1 } },
      "Backend.Learning",
      /"Backend.Learning" must be true or false, got 1/,
    ],
    [
      { Network: "10.244.0.0/16", Backend: { Type: "vxlan", DirectRouting: "false" } },
      "Backend.DirectRouting",
      /must be true or false/,
    ],
    [{ Network: "10.244.0.0/16", Backend: { Type: 7 } }, "Backend.Type", /"Backend.Type" is missing/],
  ])("rejects %j naming key %s", (doc, key, msg) => {
    let err: unknown;
    try {
      parse(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message.startsWith(`${W}: `)).toBe(true);
  });

  it.each(["ipsec", "tencent-vpc", "IPSec", "bogus"])(
    "rejects Backend.Type %s as unsupported, naming every supported type",
    (type) => {
      let err: unknown;
      try {
        parse({ Network: "10.244.0.0/16", Backend: { Type: type } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnsupportedBackendError);
      expect((err as ConfigError).key).toBe("Backend.Type");
      expect((err as Error).message).toContain(
        `"Backend.Type" is "${type}", which weft does not support: use ` +
          `one of ${SUPPORTED_BACKENDS.map((t) => `"${t}"`).join(", ")}`,
      );
    },
  );

  it("accepts every supported Backend.Type in any case", () => {
    for (const t of SUPPORTED_BACKENDS)
      expect(parse({ Network: "10.244.0.0/16", Backend: { Type: t.toUpperCase() } }).backend.type).toBe(t);
  });

  it("rejects text that is not JSON or not an object", () => {
    expect(() => parseNetworkConfig("{", W)).toThrow(/net-conf.json: not valid JSON/);
    expect(() => parseNetworkConfig("[]", W)).toThrow(/must be a JSON object/);
  });
});

describe("CheckNetworkConfig defaults and validation", () => {
  it("gives a /16 network /24 subnets from .1.0 to .255.0", () => {
    expect(v4range(check({ Network: "10.244.0.0/16" }))).toEqual([24, "10.244.1.0", "10.244.255.0"]);
  });

  it("uses prefix+2 for networks smaller than /22 and /24 up to /22", () => {
    expect(v4range(check({ Network: "10.0.0.0/22" }))).toEqual([24, "10.0.1.0", "10.0.3.0"]);
    expect(v4range(check({ Network: "10.0.0.0/23" }))).toEqual([25, "10.0.0.128", "10.0.1.128"]);
    expect(v4range(check({ Network: "10.0.0.0/28" }))).toEqual([30, "10.0.0.4", "10.0.0.12"]);
  });

  it("keeps explicit SubnetLen/Min/Max that are valid", () => {
    expect(
      v4range(check({ Network: "10.0.0.0/8", SubnetLen: 20, SubnetMin: "10.16.0.0", SubnetMax: "10.32.0.0" })),
    ).toEqual([20, "10.16.0.0", "10.32.0.0"]);
  });

  it("fills IPv6 defaults (/64 for /48)", () => {
    const c = check({ Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
    expect([c.ipv6SubnetLen, formatIp(6, c.ipv6SubnetMin ?? 0n), formatIp(6, c.ipv6SubnetMax ?? 0n)]).toEqual([
      64,
      "fc00:0:0:1::",
      "fc00:0:0:ffff::",
    ]);
    const small = check({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/120" });
    expect(small.ipv6SubnetLen).toBe(122);
  });

  it.each([
    [{ Network: "10.0.0.0/29" }, "Network", /too small: the minimum useful network prefix is \/28/],
    [{ Network: "10.0.0.0/16", SubnetLen: 31 }, "SubnetLen", /"SubnetLen" is 31: it must be at most 30/],
    [{ Network: "10.0.0.0/16", SubnetLen: 17 }, "SubnetLen", /at least four subnets, so use SubnetLen ≥ 18/],
    [
      { Network: "10.0.0.0/16", SubnetMin: "10.1.0.0" },
      "SubnetMin",
      /"SubnetMin" 10.1.0.0 is outside "Network" 10.0.0.0\/16/,
    ],
    [{ Network: "10.0.0.0/16", SubnetMax: "11.0.0.0" }, "SubnetMax", /"SubnetMax" 11.0.0.0 is outside/],
    [
      { Network: "10.0.0.0/16", SubnetMin: "10.0.1.5" },
      "SubnetMin",
      /"SubnetMin" 10.0.1.5 is not on a SubnetLen \(\/24\) boundary/,
    ],
    [{ Network: "10.0.0.0/16", SubnetMax: "10.0.9.128" }, "SubnetMax", /not on a SubnetLen \(\/24\) boundary/],
    [{ Network: "10.0.0.0/16", SubnetMin: "10.0.9.0", SubnetMax: "10.0.3.0" }, "SubnetMin", /is above "SubnetMax"/],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/125" },
      "IPv6Network",
      /minimum useful network prefix is \/124/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetLen: 127 },
      "IPv6SubnetLen",
      /at most 126/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetLen: 49 },
      "IPv6SubnetLen",
      /IPv6SubnetLen ≥ 50/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMin: "fc01::" },
      "IPv6SubnetMin",
      /outside "IPv6Network"/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMax: "fc00:0:0:5::1" },
      "IPv6SubnetMax",
      /not on a IPv6SubnetLen \(\/64\) boundary/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMax: "fc01::" },
      "IPv6SubnetMax",
      /"IPv6SubnetMax" fc01:: is outside "IPv6Network" fc00::\/48/,
    ],
    [
      { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMin: "fc00:0:0:1::8" },
      "IPv6SubnetMin",
      /not on a IPv6SubnetLen/,
    ],
    [
      {
        EnableIPv6: true,
        EnableIPv4: false,
        IPv6Network: "fc00::/48",
        IPv6SubnetMin: "fc00:0:0:9::",
        IPv6SubnetMax: "fc00:0:0:2::",
      },
      "IPv6SubnetMin",
      /is above "IPv6SubnetMax"/,
    ],
  ])("rejects %j naming key %s", (doc, key, msg) => {
    let err: unknown;
    try {
      check(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as Error).message).toMatch(msg);
  });
});
