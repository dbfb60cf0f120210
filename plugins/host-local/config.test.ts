import { describe, expect, it } from "vitest";
import { loadIpamConfig, validAttachments } from "./config.ts";
import { formatIP } from "./ip.ts";
import { rangeSetString } from "./range.ts";
import { caughtCniError as failure } from "../../libcni/testing/caught.ts";

const net = (ipam: unknown, extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.0.0",
  name: "mynet",
  ipam,
  ...extra,
});
const ranges = (...sets: unknown[][]) => ({ type: "host-local", ranges: sets });

describe("config decoding", () => {
  it("fills defaults and keeps every key", () => {
    const c = loadIpamConfig(
      net({
        ...ranges([{ subnet: "10.1.2.0/24" }]),
        routes: [{ dst: "0.0.0.0/0" }, { dst: "10.0.0.0/8", gw: "10.1.2.1" }],
        dataDir: "/tmp/x",
        resolvConf: "/etc/r",
      }),
      "",
    );
    expect(c).toMatchObject({
      name: "mynet",
      cniVersion: "1.0.0",
      dataDir: "/tmp/x",
      resolvConf: "/etc/r",
      requestedIPs: [],
    });
    expect(c.ranges.map(rangeSetString)).toEqual(["10.1.2.1-10.1.2.254"]);
    expect(c.routes).toEqual([{ dst: "0.0.0.0/0" }, { dst: "10.0.0.0/8", gw: "10.1.2.1" }]);
  });

  it("matches keys case-insensitively like Go's encoding/json", () => {
    const c = loadIpamConfig(
      {
        CNIVersion: "0.4.0",
        Name: "mynet",
        IPAM: { Ranges: [[{ Subnet: "10.1.2.0/24", RANGESTART: "10.1.2.10" }]], DATADIR: "/d" },
        RuntimeConfig: { IPs: ["10.1.2.20"] },
      },
      "",
    );
    expect(c.ranges.map(rangeSetString)).toEqual(["10.1.2.10-10.1.2.254"]);
    expect(c.dataDir).toBe("/d");
    expect(c.requestedIPs.map(formatIP)).toEqual(["10.1.2.20"]);
  });

  it(
    "orders ranges runtimeConfig.ipRanges, legacy subnet, " + "ipam.ranges, and ignores legacy keys without a subnet",
    () => {
      const c = loadIpamConfig(
        net(
          { subnet: "10.1.4.0/24", ranges: [[{ subnet: "10.1.2.0/24" }]] },
          { runtimeConfig: { ipRanges: [[{ subnet: "10.1.9.0/24" }]] } },
        ),
        "",
      );
      expect(c.ranges.map(rangeSetString)).toEqual([
        "10.1.9.1-10.1.9.254",
        "10.1.4.1-10.1.4.254",
        "10.1.2.1-10.1.2.254",
      ]);
      const orphan = loadIpamConfig(net({ rangeStart: "10.9.9.9", ranges: [[{ subnet: "10.1.2.0/24" }]] }), "");
      expect(orphan.ranges).toHaveLength(1);
    },
  );

  it("gathers requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips in that order without duplicates", () => {
    const c = loadIpamConfig(
      net(ranges([{ subnet: "10.1.2.0/24" }], [{ subnet: "2001:db8::/64" }]), {
        args: { cni: { ips: ["2001:db8::5", "10.1.2.7"] } },
        runtimeConfig: { ips: ["10.1.2.7/24"] },
      }),
      "IP=10.1.2.6",
    );
    expect(c.requestedIPs.map(formatIP)).toEqual(["10.1.2.6", "2001:db8::5", "10.1.2.7"]);
  });

  it("re-prints routes the way Go re-encodes them", () => {
    const c = loadIpamConfig(
      net({
        ...ranges([{ subnet: "10.1.2.0/24" }]),
        routes: [{ dst: "2001:DB8:2:0::/64", gw: "2001:db8:3:0::1", mtu: 0, table: 0, priority: 5 }],
      }),
      "",
    );
    expect(c.routes).toEqual([{ dst: "2001:db8:2::/64", gw: "2001:db8:3::1", table: 0, priority: 5 }]);
  });
});

describe("config errors (checklist 57): code 7, reference text, a hint in details", () => {
  it.each([
    ["no ipam", net(undefined), "IPAM config missing 'ipam' key"],
    ["null ipam", net(null), "IPAM config missing 'ipam' key"],
    ["no ranges", net({ type: "host-local" }), "no IP ranges specified"],
    ["empty ranges", net(ranges()), "no IP ranges specified"],
    ["empty set", net(ranges([])), "invalid range set 0: empty range set"],
    [
      "mixed families",
      net(ranges([{ subnet: "10.1.2.0/24" }, { subnet: "2001:db8::/64" }])),
      "invalid range set 0: mixed address families",
    ],
    [
      "too small",
      net(ranges([{ subnet: "10.1.2.0/24" }], [{ subnet: "192.0.2.0/31" }])),
      "invalid range set 1: Network 192.0.2.0/31 too small to allocate from",
    ],
    [
      "host bits",
      net(ranges([{ subnet: "192.0.2.5/24" }])),
      "invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 192.0.2.0",
    ],
    [
      "start outside",
      net(ranges([{ subnet: "192.0.2.0/24", rangeStart: "192.0.3.0" }])),
      "invalid range set 0: RangeStart 192.0.3.0 not in network 192.0.2.0/24",
    ],
    [
      "end outside",
      net(ranges([{ subnet: "192.0.2.0/24", rangeEnd: "192.0.3.0" }])),
      "invalid range set 0: RangeEnd 192.0.3.0 not in network 192.0.2.0/24",
    ],
    [
      "overlap in set",
      net(ranges([{ subnet: "10.1.2.0/24" }, { subnet: "10.1.2.0/25" }])),
      "invalid range set 0: subnets 10.1.2.1-10.1.2.254 and 10.1.2.1-10.1.2.126 overlap",
    ],
    [
      "overlap across sets",
      net(ranges([{ subnet: "10.1.2.0/24" }], [{ subnet: "10.1.2.0/25" }])),
      "range set 0 overlaps with 1",
    ],
    [
      "overlap with legacy",
      net({ subnet: "10.1.2.0/24", ranges: [[{ subnet: "10.1.2.0/24" }]] }),
      "range set 0 overlaps with 1",
    ],
    [
      "missing subnet",
      net(ranges([{ rangeStart: "10.1.2.5" }])),
      'invalid range set 0: subnet is missing: every range needs a "subnet" such as "10.1.2.0/24"',
    ],
    ["bad subnet", net(ranges([{ subnet: "10.1.2.0" }])), "invalid CIDR address: 10.1.2.0"],
    [
      "bad rangeStart",
      net(ranges([{ subnet: "10.1.2.0/24", rangeStart: "10.1.2.x" }])),
      "invalid IP address: 10.1.2.x",
    ],
    [
      "bad requested ip",
      net(ranges([{ subnet: "10.1.2.0/24" }]), { args: { cni: { ips: ["nope"] } } }),
      "invalid IP address nope",
    ],
    [
      "empty requested ip",
      net(ranges([{ subnet: "10.1.2.0/24" }]), { runtimeConfig: { ips: [""] } }),
      'cannot understand ip: ""',
    ],
    [
      "ranges not a list",
      net({ ranges: "10.1.2.0/24" }),
      "ipam.ranges must be a list of range sets (lists of {subnet, rangeStart, rangeEnd, gateway}), got string",
    ],
    [
      "set not a list",
      net({ ranges: [{ subnet: "10.1.2.0/24" }] }),
      "ipam.ranges[0] must be a list of {subnet, rangeStart, rangeEnd, gateway}, got object",
    ],
    [
      "dataDir not a string",
      net({ ...ranges([{ subnet: "10.1.2.0/24" }]), dataDir: 5 }),
      "ipam.dataDir must be a string, got number",
    ],
    [
      "route without dst",
      net({ ...ranges([{ subnet: "10.1.2.0/24" }]), routes: [{ gw: "10.1.2.1" }] }),
      "ipam.routes[0].dst is missing",
    ],
    [
      "runtimeConfig not an object",
      net(ranges([{ subnet: "10.1.2.0/24" }]), { runtimeConfig: [] }),
      "runtimeConfig must be an object, got array",
    ],
  ])("%s", (_label, conf, msg) => {
    const e = failure(() => loadIpamConfig(conf, ""));
    expect(e.code).toBe(7);
    expect(e.msg).toBe(msg);
  });

  it.each(["0.1.0", "0.2.0"])("rejects two IPv4 range sets for cniVersion %s", (v) => {
    const e = failure(() =>
      loadIpamConfig(net(ranges([{ subnet: "10.1.2.0/24" }], [{ subnet: "10.1.3.0/24" }]), { cniVersion: v }), ""),
    );
    expect(e.msg).toBe(`CNI version ${v} does not support more than 1 address per family`);
  });

  it("allows one IPv4 and one IPv6 set for 0.2.0", () => {
    expect(
      loadIpamConfig(
        net(ranges([{ subnet: "10.1.2.0/24" }], [{ subnet: "2001:db8::/64" }]), { cniVersion: "0.2.0" }),
        "",
      ).ranges,
    ).toHaveLength(2);
  });
});

describe("config errors come in the reference's order when a config has several problems", () => {
  const r24 = [{ subnet: "10.1.2.0/24" }];
  it.each([
    [
      "a bad route dst before bad CNI_ARGS",
      net({ ...ranges(r24), routes: [{ dst: "x" }] }),
      "FOO=1",
      "invalid CIDR address: x",
    ],
    [
      "a bad subnet before bad CNI_ARGS",
      net(ranges([{ subnet: "10.1.2.0/33" }])),
      "FOO=1",
      "invalid CIDR address: 10.1.2.0/33",
    ],
    [
      "a bad args.cni.ips entry before a missing ipam",
      net(undefined, { args: { cni: { ips: ["x"] } } }),
      "",
      "invalid IP address x",
    ],
    ["a missing ipam before bad CNI_ARGS", net(undefined), "FOO=1", "IPAM config missing 'ipam' key"],
    [
      "bad CNI_ARGS before an invalid range",
      net(ranges([{ subnet: "10.1.2.0/31" }])),
      "FOO=1",
      'ARGS: unknown args ["FOO=1"]',
    ],
    [
      "bad CNI_ARGS before an empty requested IP",
      net(ranges(r24), { args: { cni: { ips: [""] } } }),
      "FOO=1",
      'ARGS: unknown args ["FOO=1"]',
    ],
    [
      "an empty requested IP before an invalid range",
      net(ranges([{ subnet: "10.1.2.0/31" }]), { runtimeConfig: { ips: [""] } }),
      "",
      'cannot understand ip: ""',
    ],
  ])("%s", (_label, conf, cniArgs, msg) => {
    expect(failure(() => loadIpamConfig(conf, cniArgs)).msg).toBe(msg);
  });
});

describe("GC attachments", () => {
  it("reads cni.dev/valid-attachments, falling back to cni.dev/attachments", () => {
    expect(validAttachments({ "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }] })).toEqual([
      { containerID: "a", ifname: "eth0" },
    ]);
    expect(validAttachments({ "cni.dev/attachments": [] })).toEqual([]);
  });
  it("refuses a missing or malformed list", () => {
    expect(failure(() => validAttachments({})).code).toBe(7);
    expect(failure(() => validAttachments({ "cni.dev/valid-attachments": [{ containerID: "a" }] })).code).toBe(7);
  });
});
