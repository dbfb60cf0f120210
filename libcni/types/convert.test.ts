import { describe, expect, it } from "vitest";
import { SPEC_VERSIONS, type SpecVersion } from "../version.ts";
import { CONVERTERS, convertResult, toResult100 } from "./convert.ts";
import { formatResult } from "./format.ts";
import {
  familyOf,
  type AnyResult,
  type Result020,
  type Result040,
  type Result100,
  type ResultFamily,
} from "./result.ts";
import { isCniError } from "./error.ts";

// One sample result per family, at any version of that family.
const SAMPLE: Record<ResultFamily, (v: string) => AnyResult> = {
  "020": (v) =>
    ({
      cniVersion: v,
      ip4: { ip: "10.1.2.3/24", gateway: "10.1.2.1", routes: [{ dst: "0.0.0.0/0", gw: "10.1.2.1" }] },
      ip6: { ip: "2001:db8::3/64", routes: [{ dst: "::/0" }] },
      dns: { nameservers: ["8.8.8.8"] },
    }) as Result020,
  "040": (v) =>
    ({
      cniVersion: v,
      interfaces: [{ name: "eth0", mac: "0a:58:0a:01:02:03", sandbox: "/var/run/netns/pod" }],
      ips: [
        { version: "4", interface: 0, address: "10.1.2.3/24", gateway: "10.1.2.1" },
        { version: "6", address: "2001:db8::3/64" },
      ],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "2001:db8::/32", gw: "2001:db8::1", scope: 0 }],
      dns: { domain: "example.org" },
    }) as Result040,
  "100": (v) =>
    ({
      cniVersion: v,
      interfaces: [
        { name: "cni0", mac: "0a:58:0a:f4:01:01", mtu: 1450 },
        { name: "eth0", mac: "0a:58:0a:f4:01:05", mtu: 1450, sandbox: "/var/run/netns/pod", pciID: "0000:00:1f.6" },
      ],
      ips: [
        { address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 },
        { address: "fd00:10:244:1::5/64", gateway: "fd00:10:244:1::1", interface: 1 },
        { address: "10.244.2.7/24" },
      ],
      routes: [
        { dst: "0.0.0.0/0", gw: "10.244.1.1" },
        { dst: "10.244.0.0/16", mtu: 1400, table: 0 },
        { dst: "::/0", gw: "fd00:10:244:1::1", priority: 100 },
      ],
      dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] },
    }) as Result100,
};

// Expected printed output per (from family, to family); object literals are written in the exact
// key order the reference prints (1.x: sorted keys; 0.x: struct order), `v` is the target version.
const EXPECTED: Record<`${ResultFamily}->${ResultFamily}`, (v: string) => object> = {
  "020->020": (v) => ({
    cniVersion: v,
    ip4: { ip: "10.1.2.3/24", gateway: "10.1.2.1", routes: [{ dst: "0.0.0.0/0", gw: "10.1.2.1" }] },
    ip6: { ip: "2001:db8::3/64", routes: [{ dst: "::/0" }] },
    dns: { nameservers: ["8.8.8.8"] },
  }),
  "020->040": (v) => ({
    cniVersion: v,
    ips: [
      { version: "4", address: "10.1.2.3/24", gateway: "10.1.2.1" },
      { version: "6", address: "2001:db8::3/64" },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.1.2.1" }, { dst: "::/0" }],
    dns: { nameservers: ["8.8.8.8"] },
  }),
  "020->100": (v) => ({
    cniVersion: v,
    dns: { nameservers: ["8.8.8.8"] },
    ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1" }, { address: "2001:db8::3/64" }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.1.2.1" }, { dst: "::/0" }],
  }),
  "040->020": (v) => ({
    cniVersion: v,
    ip4: { ip: "10.1.2.3/24", gateway: "10.1.2.1", routes: [{ dst: "0.0.0.0/0" }] },
    ip6: { ip: "2001:db8::3/64", routes: [{ dst: "2001:db8::/32", gw: "2001:db8::1" }] },
    dns: { domain: "example.org" },
  }),
  "040->040": (v) => ({
    cniVersion: v,
    interfaces: [{ name: "eth0", mac: "0a:58:0a:01:02:03", sandbox: "/var/run/netns/pod" }],
    ips: [
      { version: "4", interface: 0, address: "10.1.2.3/24", gateway: "10.1.2.1" },
      { version: "6", address: "2001:db8::3/64" },
    ],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "2001:db8::/32", gw: "2001:db8::1", scope: 0 }],
    dns: { domain: "example.org" },
  }),
  "040->100": (v) => ({
    cniVersion: v,
    dns: { domain: "example.org" },
    interfaces: [{ mac: "0a:58:0a:01:02:03", name: "eth0", sandbox: "/var/run/netns/pod" }],
    ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1", interface: 0 }, { address: "2001:db8::3/64" }],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "2001:db8::/32", gw: "2001:db8::1", scope: 0 }],
  }),
  "100->020": (v) => ({
    cniVersion: v,
    ip4: {
      ip: "10.244.1.5/24",
      gateway: "10.244.1.1",
      routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }, { dst: "10.244.0.0/16" }],
    },
    ip6: { ip: "fd00:10:244:1::5/64", gateway: "fd00:10:244:1::1", routes: [{ dst: "::/0", gw: "fd00:10:244:1::1" }] },
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] },
  }),
  "100->040": (v) => ({
    cniVersion: v,
    interfaces: [
      { name: "cni0", mac: "0a:58:0a:f4:01:01" },
      { name: "eth0", mac: "0a:58:0a:f4:01:05", sandbox: "/var/run/netns/pod" },
    ],
    ips: [
      { version: "4", interface: 1, address: "10.244.1.5/24", gateway: "10.244.1.1" },
      { version: "6", interface: 1, address: "fd00:10:244:1::5/64", gateway: "fd00:10:244:1::1" },
      { version: "4", address: "10.244.2.7/24" },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "10.244.1.1" },
      { dst: "10.244.0.0/16", mtu: 1400, table: 0 },
      { dst: "::/0", gw: "fd00:10:244:1::1", priority: 100 },
    ],
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] },
  }),
  "100->100": (v) => ({
    cniVersion: v,
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] },
    interfaces: [
      { mac: "0a:58:0a:f4:01:01", mtu: 1450, name: "cni0" },
      { mac: "0a:58:0a:f4:01:05", mtu: 1450, name: "eth0", pciID: "0000:00:1f.6", sandbox: "/var/run/netns/pod" },
    ],
    ips: [
      { address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 },
      { address: "fd00:10:244:1::5/64", gateway: "fd00:10:244:1::1", interface: 1 },
      { address: "10.244.2.7/24" },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "10.244.1.1" },
      { dst: "10.244.0.0/16", mtu: 1400, table: 0 },
      { dst: "::/0", gw: "fd00:10:244:1::1", priority: 100 },
    ],
  }),
};

const PAIRS: [SpecVersion, SpecVersion][] = SPEC_VERSIONS.flatMap((from) =>
  SPEC_VERSIONS.map((to): [SpecVersion, SpecVersion] => [from, to]),
);

describe("convertResult", () => {
  it("has one converter for each of the 9 family pairs and nothing else", () => {
    expect(Object.keys(CONVERTERS).sort()).toEqual([
      "020->020",
      "020->040",
      "020->100",
      "040->020",
      "040->040",
      "040->100",
      "100->020",
      "100->040",
      "100->100",
    ]);
  });

  it.each(PAIRS)("converts a %s result to %s and prints what the reference prints", (from, to) => {
    const ff = familyOf(from);
    const tf = familyOf(to);
    if (!ff || !tf) throw new Error("unknown family");
    const source = SAMPLE[ff](from);
    const before = JSON.stringify(source);
    const out = convertResult(source, to);
    expect(out.cniVersion).toBe(to);
    expect(formatResult(out)).toBe(JSON.stringify(EXPECTED[`${ff}->${tf}`](to), null, 4));
    expect(JSON.stringify(source)).toBe(before);
  });

  it.each(SPEC_VERSIONS)("returns the very same object when converting a %s result to its own version", (v) => {
    const ff = familyOf(v);
    if (!ff) throw new Error("unknown family");
    const r = SAMPLE[ff](v);
    expect(convertResult(r, v)).toBe(r);
  });

  it("treats an empty target version as 0.1.0", () => {
    expect(convertResult(SAMPLE["100"]("1.1.0"), "").cniVersion).toBe("0.1.0");
  });

  it.each(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])(
    "refuses to turn a %s result without IPs into 0.1.0/0.2.0",
    (from) => {
      const r = { cniVersion: from, interfaces: [{ name: "eth0" }], routes: [{ dst: "0.0.0.0/0" }] } as AnyResult;
      for (const to of ["0.1.0", "0.2.0"]) {
        let err: unknown;
        try {
          convertResult(r, to);
        } catch (e) {
          err = e;
        }
        expect(isCniError(err) && err.msg).toBe("cannot convert: no valid IP addresses");
      }
    },
  );

  it("refuses unknown versions on either side with the reference message", () => {
    expect(() => convertResult(SAMPLE["100"]("1.1.0"), "9.9.9")).toThrow(
      "no converter for CNI result version 1.1.0 to 9.9.9",
    );
    expect(() => convertResult({ cniVersion: "0.5.0" } as unknown as AnyResult, "1.1.0")).toThrow(
      "no converter for CNI result version 0.5.0 to 1.1.0",
    );
  });

  it("drops every v4 address after the first when going to 0.2.0 (one address per family)", () => {
    const out = convertResult(SAMPLE["100"]("1.1.0"), "0.2.0") as Result020;
    expect(out.ip4?.ip).toBe("10.244.1.5/24");
  });

  it("upconverts anything to a 1.1.0 result with toResult100", () => {
    const r = toResult100(SAMPLE["020"]("0.2.0"));
    expect(r.cniVersion).toBe("1.1.0");
    expect(r.ips).toEqual([{ address: "10.1.2.3/24", gateway: "10.1.2.1" }, { address: "2001:db8::3/64" }]);
    expect(r.interfaces).toBeUndefined();
  });

  it("keeps a 1.0.0 -> 1.1.0 -> 1.0.0 round trip identical", () => {
    const r = SAMPLE["100"]("1.0.0");
    expect(convertResult(convertResult(r, "1.1.0"), "1.0.0")).toEqual(r);
  });
});
