/**
 * Bridge VLAN netlink requests (what `bridge vlan add/del/show` sends): RTM_SETLINK / RTM_DELLINK with
 * family AF_BRIDGE and IFLA_AF_SPEC holding IFLA_BRIDGE_FLAGS (MASTER: act on the port's bridge) and
 * IFLA_BRIDGE_VLAN_INFO {flags, vid};
 * the VLAN table is a RTM_GETLINK dump with IFLA_EXT_MASK = RTEXT_FILTER_BRVLAN.
 * Pure: no FFI.
 */
import { Attrs, type NlWriter } from "./attrs.ts";
import { AF_BRIDGE, IFLA, RTM } from "./constants.ts";
import type { NlMessage, NlRequest } from "./message.ts";

/** One VLAN of a bridge port. */
export interface BridgeVlan {
  readonly vid: number;
  /** Untagged frames entering the port get this VID. */
  readonly pvid: boolean;
  /** Frames leave the port untagged. */
  readonly untagged: boolean;
}

const IFLA_BRIDGE_FLAGS = 0;
const IFLA_BRIDGE_VLAN_INFO = 2;
const BRIDGE_FLAGS_MASTER = 1;
const BRIDGE_VLAN_INFO_PVID = 2;
const BRIDGE_VLAN_INFO_UNTAGGED = 4;
const RTEXT_FILTER_BRVLAN = 2;
const IFINFOMSG_LEN = 16;

function ifinfomsg(w: NlWriter, index: number): void {
  w.u8(AF_BRIDGE).u8(0).u16(0).i32(index).u32(0).u32(0);
}

/** Add (RTM_SETLINK) or delete (RTM_DELLINK) one VID on bridge port `index`. */
export function bridgeVlanRequest(op: "add" | "del", index: number, v: BridgeVlan, label: string): NlRequest {
  const flags = (v.pvid ? BRIDGE_VLAN_INFO_PVID : 0) | (v.untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0);
  return {
    type: op === "add" ? RTM.SETLINK : RTM.DELLINK,
    flags: 0,
    op: `${op === "add" ? "RTM_SETLINK" : "RTM_DELLINK"} bridge vlan ${v.vid} ${label}`,
    fill: (w) => {
      ifinfomsg(w, index);
      w.nested(IFLA.AF_SPEC, () => {
        w.attrU16(IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_MASTER);
        const at = w.begin(IFLA_BRIDGE_VLAN_INFO);
        w.u16(flags).u16(v.vid);
        w.end(at);
      });
    },
  };
}

/** Dump every bridge port with its VLANs. */
export function bridgeVlanDumpRequest(): NlRequest {
  return {
    type: RTM.GETLINK,
    flags: 0,
    op: "RTM_GETLINK bridge vlan dump",
    fill: (w) => {
      ifinfomsg(w, 0);
      w.attrU32(IFLA.EXT_MASK, RTEXT_FILTER_BRVLAN);
    },
  };
}

/** VLANs of the port `index` found in a dump. */
export function decodeBridgeVlans(msgs: readonly NlMessage[], index: number): BridgeVlan[] {
  const out: BridgeVlan[] = [];
  for (const m of msgs) {
    if (m.body.byteLength < IFINFOMSG_LEN) continue;
    const dv = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    if (dv.getInt32(4, true) !== index) continue;
    const spec = Attrs.parse(m.body, IFINFOMSG_LEN).nested(IFLA.AF_SPEC);
    for (const info of spec?.all(IFLA_BRIDGE_VLAN_INFO) ?? []) {
      if (info.byteLength < 4) continue;
      const iv = new DataView(info.buffer, info.byteOffset, info.byteLength);
      const flags = iv.getUint16(0, true);
      out.push({
        vid: iv.getUint16(2, true),
        pvid: (flags & BRIDGE_VLAN_INFO_PVID) !== 0,
        untagged: (flags & BRIDGE_VLAN_INFO_UNTAGGED) !== 0,
      });
    }
  }
  return out;
}
