import { describe, expect, it } from "vitest";
import { parseSubnetEnv, type SubnetEnv } from "../../net/subnet-env.ts";
import { CniError } from "../../libcni/types/error.ts";
import { sortedJson } from "../shared/conf.ts";
import { DEFAULT_DATA_DIR, DEFAULT_SUBNET_FILE, parseFlannelConf } from "./config.ts";
import { buildDelegate, buildIpam } from "./delegate.ts";

const V4 = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";
const V4_TWO =
  "FLANNEL_NETWORK=10.1.0.0/16,192.168.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";
const V6 = "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";
const DUAL = V4 + "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\n";

const env = (text: string): SubnetEnv => parseSubnetEnv(text, "/run/flannel/subnet.env");
const input = { name: "cni-flannel", type: "flannel", subnetFile: "/x/subnet.env", dataDir: "/x/data" };

describe("flannel delegate config (checklist 73-76)", () => {
  it("builds the reference's delegate for an IPv4 lease from an input without cniVersion", () => {
    const d = buildDelegate(parseFlannelConf(input), env(V4));
    expect(d).toEqual({
      ipMasq: false,
      ipam: { ranges: [[{ subnet: "10.1.17.0/24" }]], routes: [{ dst: "10.1.0.0/16" }], type: "host-local" },
      isGateway: true,
      mtu: 1472,
      name: "cni-flannel",
      type: "bridge",
    });
    expect(Object.hasOwn(d, "cniVersion")).toBe(false);
  });

  it("prints the delegate with sorted keys, byte-identical to the reference's saved file", () => {
    const d = buildDelegate(parseFlannelConf(input), env(V4));
    expect(sortedJson(d)).toBe(
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],' +
        '"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
    );
  });

  it("adds one route per FLANNEL_NETWORK entry, in file order", () => {
    const d = buildDelegate(parseFlannelConf(input), env(V4_TWO));
    expect(d["ipam"]).toEqual({
      type: "host-local",
      ranges: [[{ subnet: "10.1.17.0/24" }]],
      routes: [{ dst: "10.1.0.0/16" }, { dst: "192.168.0.0/16" }],
    });
  });

  it("builds an IPv6-only delegate from FLANNEL_IPV6_*", () => {
    const d = buildDelegate(parseFlannelConf({ ...input, cniVersion: "1.0.0" }), env(V6));
    expect(d).toEqual({
      cniVersion: "1.0.0",
      ipMasq: false,
      ipam: { ranges: [[{ subnet: "fc00::/64" }]], routes: [{ dst: "fc00::/48" }], type: "host-local" },
      isGateway: true,
      mtu: 1472,
      name: "cni-flannel",
      type: "bridge",
    });
  });

  it("builds a dual-stack delegate with the IPv4 range first and both networks routed", () => {
    const d = buildDelegate(parseFlannelConf({ ...input, cniVersion: "1.1.0" }), env(DUAL));
    expect(d["ipam"]).toEqual({
      type: "host-local",
      ranges: [[{ subnet: "10.1.17.0/24" }], [{ subnet: "fc00::/64" }]],
      routes: [{ dst: "10.1.0.0/16" }, { dst: "fc00::/48" }],
    });
    expect(d["cniVersion"]).toBe("1.1.0");
  });

  it("sets ipMasq true when flanneld does not masquerade (FLANNEL_IPMASQ=false)", () => {
    const d = buildDelegate(parseFlannelConf(input), env(V4.replace("IPMASQ=true", "IPMASQ=false")));
    expect(d["ipMasq"]).toBe(true);
  });

  it("lets user delegate keys win for type, ipMasq, mtu and isGateway and passes others through", () => {
    const d = buildDelegate(
      parseFlannelConf({
        ...input,
        delegate: { ipMasq: true, mtu: 1400, isGateway: false, hairpinMode: true, bridge: "kube0" },
      }),
      env(V4),
    );
    expect(d).toMatchObject({
      ipMasq: true,
      mtu: 1400,
      isGateway: false,
      hairpinMode: true,
      bridge: "kube0",
      type: "bridge",
    });
  });

  it("does not add isGateway for a delegate type other than bridge", () => {
    const d = buildDelegate(parseFlannelConf({ ...input, delegate: { type: "ipvlan", master: "eth0" } }), env(V4));
    expect(d).toEqual({
      ipMasq: false,
      ipam: { ranges: [[{ subnet: "10.1.17.0/24" }]], routes: [{ dst: "10.1.0.0/16" }], type: "host-local" },
      master: "eth0",
      mtu: 1472,
      name: "cni-flannel",
      type: "ipvlan",
    });
  });

  it("keeps the user's ipam type and unknown keys, puts flannel routes after user routes and replaces ranges", () => {
    const ipam = buildIpam(
      {
        type: "my-ipam",
        dataDir: "/var/lib/x",
        ranges: [[{ subnet: "1.2.3.0/24" }]],
        routes: [{ dst: "10.96.0.0/12" }, { dst: "0.0.0.0/0", gw: "10.1.17.1" }],
      },
      env(V4),
    );
    expect(ipam).toEqual({
      type: "my-ipam",
      dataDir: "/var/lib/x",
      ranges: [[{ subnet: "10.1.17.0/24" }]],
      routes: [{ dst: "10.96.0.0/12" }, { dst: "0.0.0.0/0", gw: "10.1.17.1" }, { dst: "10.1.0.0/16" }],
    });
  });

  it("defaults the ipam type to host-local when the user ipam has none", () => {
    expect(buildIpam({ dataDir: "/d" }, env(V4))["type"]).toBe("host-local");
  });

  it("re-encodes user routes like the reference route type: canonical addresses, zero fields dropped", () => {
    const ipam = buildIpam(
      { routes: [{ dst: "2001:DB8::/32", gw: "2001:db8:0:0::1", mtu: 0, priority: 5, table: 0, extra: "x" }] },
      env(V4),
    );
    expect(ipam["routes"]).toEqual([
      { dst: "2001:db8::/32", gw: "2001:db8::1", priority: 5, table: 0 },
      { dst: "10.1.0.0/16" },
    ]);
  });

  it("refuses ipam.routes entries that are not routes, naming the entry (code 7)", () => {
    const bad = (routes: unknown) => () => buildIpam({ routes }, env(V4));
    expect(bad("10.0.0.0/8")).toThrow(/failed to parse ipam.routes: 'ipam.routes' must be an array/);
    expect(bad([{ dst: "nope" }])).toThrow(/ipam.routes\[0\].dst must be a CIDR/);
    expect(bad([{ gw: "10.0.0.1" }])).toThrow(/ipam.routes\[0\].dst/);
    expect(bad([{ dst: "10.0.0.0/8", gw: "x" }])).toThrow(/ipam.routes\[0\].gw must be an IP address/);
    try {
      bad([{ dst: "10.0.0.0/8", mtu: "9000" }])();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      expect((e as CniError).code).toBe(7);
      expect((e as CniError).msg).toMatch(
        /^failed to assemble Delegate IPAM: failed to read IPAM routes: .*mtu must be an integer/,
      );
    }
  });

  it("copies runtimeConfig verbatim into the delegate, replacing a delegate runtimeConfig", () => {
    const rc = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] };
    const d = buildDelegate(
      parseFlannelConf({ ...input, runtimeConfig: rc, delegate: { RuntimeConfig: { x: 1 } } }),
      env(V4),
    );
    expect(d["runtimeConfig"]).toEqual(rc);
    expect(Object.hasOwn(d, "RuntimeConfig")).toBe(false);
  });

  it.each([
    [{ name: "x" }, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    [{ Name: "x" }, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    [{ ipam: {} }, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"],
    [{ type: 5 }, "'delegate' dictionary, if present, must have (string) 'type' field"],
  ])("refuses delegate %j with code 7", (delegate, msg) => {
    try {
      buildDelegate(parseFlannelConf({ ...input, delegate }), env(V4));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      expect((e as CniError).code).toBe(7);
      expect((e as CniError).msg).toBe(msg);
    }
  });

  it("does not change the input config objects", () => {
    const conf = parseFlannelConf({ ...input, delegate: { hairpinMode: true }, ipam: { routes: [] } });
    const before = JSON.stringify(conf);
    buildDelegate(conf, env(V4));
    expect(JSON.stringify(conf)).toBe(before);
  });
});

describe("flannel netconf", () => {
  it("defaults subnetFile to /run/flannel/subnet.env and dataDir to /var/lib/cni/flannel", () => {
    const c = parseFlannelConf({ name: "n", type: "flannel" });
    expect(c.subnetFile).toBe(DEFAULT_SUBNET_FILE);
    expect(c.dataDir).toBe(DEFAULT_DATA_DIR);
    expect(DEFAULT_SUBNET_FILE).toBe("/run/flannel/subnet.env");
    expect(DEFAULT_DATA_DIR).toBe("/var/lib/cni/flannel");
  });

  it("matches keys case-insensitively like Go's decoder", () => {
    const c = parseFlannelConf({ name: "n", SubnetFile: "/a", DATADIR: "/b" });
    expect([c.subnetFile, c.dataDir]).toEqual(["/a", "/b"]);
  });

  it.each([
    ["delegate", "x", "'delegate' must be an object, got string"],
    ["ipam", [], "'ipam' must be an object, got array"],
    ["subnetFile", 3, "'subnetFile' must be a string, got number"],
    ["runtimeConfig", true, "'runtimeConfig' must be an object, got boolean"],
  ])("refuses a mistyped %s with code 7 naming the key", (key, value, msg) => {
    try {
      parseFlannelConf({ name: "n", [key]: value });
      expect.unreachable();
    } catch (e) {
      expect((e as CniError).code).toBe(7);
      expect((e as CniError).msg).toBe(`failed to load flannel netconf file: ${msg}`);
    }
  });
});
