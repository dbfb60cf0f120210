import { describe, expect, it } from "vitest";
import { NlWriter } from "./attrs.ts";
import { encodeMessage } from "./message.ts";
import { bridgeVlanDumpRequest, bridgeVlanRequest, decodeBridgeVlans } from "./bridge-vlan.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("bridge VLAN netlink requests", () => {
  it("encodes `bridge vlan add vid 100 pvid untagged master` for ifindex 7 like iproute2", () => {
    const msg = encodeMessage(bridgeVlanRequest("add", 7, { vid: 100, pvid: true, untagged: true }, "veth0"), 5, 1);
    expect(hex(msg)).toBe(
      "34000000" +
        "1300" +
        "0500" +
        "01000000" +
        "00000000" + // nlmsghdr: len 52, RTM_SETLINK, flags, seq 1, pid 0
        "07000000" +
        "07000000" +
        "00000000" +
        "00000000" + // ifinfomsg: AF_BRIDGE, index 7
        "14001a00" + // IFLA_AF_SPEC, len 20
        "06000000" +
        "01000000" + // IFLA_BRIDGE_FLAGS = MASTER (u16, padded)
        "08000200" +
        "0600" +
        "6400", // IFLA_BRIDGE_VLAN_INFO {flags PVID|UNTAGGED, vid 100}
    );
  });

  it("uses RTM_DELLINK to delete and asks the dump for VLAN info", () => {
    expect(bridgeVlanRequest("del", 3, { vid: 1, pvid: false, untagged: false }, "x").type).toBe(17);
    const dump = encodeMessage(bridgeVlanDumpRequest(), 0x301, 2);
    expect(hex(dump.subarray(32))).toBe("08001d0002000000"); // IFLA_EXT_MASK = RTEXT_FILTER_BRVLAN
  });

  it("decodes the VLANs of one port from a dump", () => {
    const body = (index: number, vlans: [number, number][]) => {
      const w = new NlWriter();
      w.u8(7).u8(0).u16(0).i32(index).u32(0).u32(0);
      w.nested(26, () => {
        for (const [flags, vid] of vlans) {
          const at = w.begin(2);
          w.u16(flags).u16(vid);
          w.end(at);
        }
      });
      return { type: 16, flags: 0, seq: 1, pid: 0, body: w.finish() };
    };
    const msgs = [
      body(3, [[6, 1]]),
      body(7, [
        [6, 100],
        [0, 200],
      ]),
    ];
    expect(decodeBridgeVlans(msgs, 7)).toEqual([
      { vid: 100, pvid: true, untagged: true },
      { vid: 200, pvid: false, untagged: false },
    ]);
  });
});
