/**
 * Generic netlink (NETLINK_GENERIC): the 4-byte genlmsghdr after the nlmsghdr, requests to a
 * family by its numeric id, and the controller's CTRL_CMD_GETFAMILY that turns a family name
 * ("wireguard") into that id. Numbers from include/uapi/linux/genetlink.h. Pure module.
 */
import { Attrs, type NlWriter } from "./attrs.ts";
import type { NlMessage, NlRequest } from "./message.ts";

/** Protocol number of generic netlink sockets (socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)). */
export const NETLINK_GENERIC = 16;
/** The controller family has a fixed id (GENL_ID_CTRL = NLMSG_MIN_TYPE). */
export const GENL_ID_CTRL = 0x10;
/** sizeof(struct genlmsghdr): cmd u8, version u8, reserved u16. */
export const GENL_HDRLEN = 4;
export const CTRL_CMD_GETFAMILY = 3;
/** Version the controller speaks (any version is accepted for GETFAMILY). */
export const CTRL_VERSION = 2;
export const CTRL_ATTR = {
  FAMILY_ID: 1,
  FAMILY_NAME: 2,
  VERSION: 3,
  HDRSIZE: 4,
  MAXATTR: 5,
  OPS: 6,
  MCAST_GROUPS: 7,
} as const;
export const CTRL_ATTR_MCAST_GRP = { NAME: 1, ID: 2 } as const;

/** A generic netlink family as the controller describes it. */
export interface GenlFamily {
  readonly id: number;
  readonly name: string;
  readonly version: number;
  /** Size of the family's own header after genlmsghdr (0 for most, WireGuard included). */
  readonly hdrSize: number;
  readonly maxAttr: number;
  /** Multicast group name -> id. */
  readonly mcastGroups: Readonly<Record<string, number>>;
}

/** A request to `family` (its numeric id) running `cmd`; `fill` writes the attributes. */
export function genlRequest(o: {
  readonly family: number;
  readonly cmd: number;
  readonly version: number;
  readonly flags?: number;
  readonly op: string;
  readonly fill?: (w: NlWriter) => void;
}): NlRequest {
  return {
    type: o.family,
    flags: o.flags ?? 0,
    op: o.op,
    fill: (w) => {
      w.u8(o.cmd).u8(o.version).u16(0);
      o.fill?.(w);
    },
  };
}

/** CTRL_CMD_GETFAMILY by name; the kernel answers one CTRL_CMD_NEWFAMILY message, or ENOENT. */
export function getFamilyRequest(name: string): NlRequest {
  return genlRequest({
    family: GENL_ID_CTRL,
    cmd: CTRL_CMD_GETFAMILY,
    version: CTRL_VERSION,
    op: `CTRL_CMD_GETFAMILY ${name}`,
    fill: (w) => w.attrStr(CTRL_ATTR.FAMILY_NAME, name),
  });
}

/** CTRL_CMD_GETFAMILY without a name, sent as a dump: every family the kernel has. */
export function dumpFamiliesRequest(): NlRequest {
  return genlRequest({
    family: GENL_ID_CTRL,
    cmd: CTRL_CMD_GETFAMILY,
    version: CTRL_VERSION,
    op: "CTRL_CMD_GETFAMILY dump",
  });
}

/** The genlmsghdr and the attributes of a received generic netlink message. */
export function genlMessage(m: NlMessage): { readonly cmd: number; readonly version: number; readonly attrs: Attrs } {
  if (m.body.byteLength < GENL_HDRLEN)
    throw new Error(`generic netlink message of type ${m.type} is shorter than its header`);
  return { cmd: m.body[0] ?? 0, version: m.body[1] ?? 0, attrs: Attrs.parse(m.body, GENL_HDRLEN) };
}

/** Decode the controller's answer to {@link getFamilyRequest}. */
export function decodeFamily(m: NlMessage): GenlFamily {
  const { attrs } = genlMessage(m);
  const id = attrs.u16(CTRL_ATTR.FAMILY_ID);
  const name = attrs.str(CTRL_ATTR.FAMILY_NAME);
  if (id === undefined || name === undefined) throw new Error("CTRL_CMD_GETFAMILY reply without a family id or name");
  const groups: Record<string, number> = {};
  const nest = attrs.nested(CTRL_ATTR.MCAST_GROUPS);
  if (nest) {
    for (const g of nest.list) {
      const ga = Attrs.parse(g.data);
      const gname = ga.str(CTRL_ATTR_MCAST_GRP.NAME);
      const gid = ga.u32(CTRL_ATTR_MCAST_GRP.ID);
      if (gname !== undefined && gid !== undefined) groups[gname] = gid;
    }
  }
  return {
    id,
    name,
    version: attrs.u32(CTRL_ATTR.VERSION) ?? 0,
    hdrSize: attrs.u32(CTRL_ATTR.HDRSIZE) ?? 0,
    maxAttr: attrs.u32(CTRL_ATTR.MAXATTR) ?? 0,
    mcastGroups: groups,
  };
}
