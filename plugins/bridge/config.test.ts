import { describe, expect, it } from "vitest";
import { CniError } from "../../libcni/types/error.ts";
import { checkForAdd, parseBridgeConf } from "./config.ts";

function codeAndMsg(f: () => unknown): [number, string] {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return [e.code, e.msg];
    throw e;
  }
  throw new Error("expected a CniError");
}

describe("bridge config", () => {
  it("applies the reference defaults: cni0, all flags off, mtu 0, layer 2 without ipam", () => {
    const c = parseBridgeConf({ name: "n", type: "bridge" });
    expect(c).toMatchObject({
      bridge: "cni0",
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      vlan: 0,
      preserveDefaultVlan: false,
      ipamType: "",
      dns: undefined,
      mac: undefined,
    });
    expect(c.vlanTrunk).toBeUndefined();
  });

  it("turns isGateway on when isDefaultGateway is set", () => {
    expect(parseBridgeConf({ isDefaultGateway: true }).isGateway).toBe(true);
  });

  it("reads keys case-insensitively like Go", () => {
    const c = parseBridgeConf({ Bridge: "br9", IPMASQ: true, ipam: { Type: "host-local" } });
    expect([c.bridge, c.ipMasq, c.ipamType]).toEqual(["br9", true, "host-local"]);
  });

  it("picks the pod MAC from runtimeConfig.mac over args.cni.mac over CNI_ARGS MAC (checklist 66)", () => {
    const args = "MAC=02:00:00:00:00:01";
    expect(parseBridgeConf({}, args).mac).toBe("02:00:00:00:00:01");
    expect(parseBridgeConf({ args: { cni: { mac: "02:00:00:00:00:02" } } }, args).mac).toBe("02:00:00:00:00:02");
    expect(
      parseBridgeConf(
        { args: { cni: { mac: "02:00:00:00:00:02" } }, RuntimeConfig: { mac: "02-00-00-00-00-0A" } },
        args,
      ).mac,
    ).toBe("02:00:00:00:00:0a");
  });

  it("refuses unknown CNI_ARGS keys unless IgnoreUnknown is set, and malformed pairs (code 4)", () => {
    expect(codeAndMsg(() => parseBridgeConf({}, "FOO=bar"))).toEqual([4, 'ARGS: unknown args ["FOO=bar"]']);
    expect(parseBridgeConf({}, "IgnoreUnknown=1;FOO=bar;MAC=02:00:00:00:00:03").mac).toBe("02:00:00:00:00:03");
    expect(codeAndMsg(() => parseBridgeConf({}, "MAC"))).toEqual([4, 'ARGS: invalid pair "MAC"']);
  });

  it("refuses a MAC that is not six bytes, naming where it came from", () => {
    expect(codeAndMsg(() => parseBridgeConf({ runtimeConfig: { mac: "zz" } }))).toEqual([
      7,
      'invalid MAC address "zz" in runtimeConfig.mac',
    ]);
  });

  it.each([
    [-100, "invalid VLAN ID -100 (must be between 0 and 4094)"],
    [5000, "invalid VLAN ID 5000 (must be between 0 and 4094)"],
  ])("refuses vlan %d with the reference message (checklist 70)", (vlan, msg) => {
    expect(codeAndMsg(() => parseBridgeConf({ vlan }))).toEqual([7, msg]);
  });

  it.each([
    [[{ minID: 0, maxID: 10 }], "incorrect trunk minID parameter"],
    [[{ minID: 1, maxID: 5000 }], "incorrect trunk maxID parameter"],
    [[{ minID: 10, maxID: 5 }], "minID is greater than maxID in trunk parameter"],
    [[{ maxID: 5 }], "minID and maxID should be configured simultaneously, minID is missing"],
    [[{ minID: 5 }], "minID and maxID should be configured simultaneously, maxID is missing"],
    [[{ id: 0 }], "incorrect trunk id parameter"],
  ])("refuses vlanTrunk %j: %s", (vlanTrunk, msg) => {
    expect(codeAndMsg(() => parseBridgeConf({ vlanTrunk }))).toEqual([7, msg]);
  });

  it("collects trunk VIDs sorted and unique", () => {
    expect(parseBridgeConf({ vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 202 }, { id: 201 }] }).vlanTrunk).toEqual([
      101, 200, 201, 202,
    ]);
  });

  it("keeps config dns only when a field is set; an empty list counts as set", () => {
    expect(parseBridgeConf({ dns: {} }).dns).toBeUndefined();
    expect(parseBridgeConf({ dns: { nameservers: [] } }).dns).toEqual({ nameservers: [] });
    expect(parseBridgeConf({ dns: { domain: "x.local", search: ["a"] } }).dns).toEqual({
      domain: "x.local",
      search: ["a"],
    });
  });

  it("refuses mistyped keys with code 7 naming the key", () => {
    expect(codeAndMsg(() => parseBridgeConf({ ipMasq: "yes" }))).toEqual([
      7,
      "failed to load netconf: 'ipMasq' must be true or false, got string",
    ]);
    expect(codeAndMsg(() => parseBridgeConf({ mtu: 1500.5 }))).toEqual([
      7,
      "failed to load netconf: 'mtu' must be an integer, got number",
    ]);
  });

  it("refuses on ADD: IPAM with disableContainerInterface, hairpin with promisc, an unknown ipMasqBackend", () => {
    expect(
      codeAndMsg(() => checkForAdd(parseBridgeConf({ ipam: { type: "host-local" }, disableContainerInterface: true }))),
    ).toEqual([7, "cannot use IPAM when DisableContainerInterface flag is set"]);
    expect(codeAndMsg(() => checkForAdd(parseBridgeConf({ hairpinMode: true, promiscMode: true })))).toEqual([
      7,
      "cannot set hairpin mode and promiscuous mode at the same time",
    ]);
    expect(
      codeAndMsg(() =>
        checkForAdd(parseBridgeConf({ ipMasq: true, ipMasqBackend: "pf", ipam: { type: "host-local" } })),
      ),
    ).toEqual([7, 'unknown ipmasq backend "pf"']);
  });

  it(
    "checks the mtu range on ADD only, so DEL works with any mtu, as the " +
      "reference (found by the differential fuzz: our DEL failed with code 7)",
    () => {
      for (const mtu of [67, 70000]) {
        const c = parseBridgeConf({ mtu });
        expect(c.mtu).toBe(mtu);
        expect(codeAndMsg(() => checkForAdd(c))).toEqual([7, `invalid mtu ${mtu}`]);
      }
      expect(() => checkForAdd(parseBridgeConf({ mtu: 68 }))).not.toThrow();
    },
  );
});
