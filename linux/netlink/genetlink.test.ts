import { describe, expect, it } from "vitest";
import { NlWriter } from "./attrs.ts";
import { NLM_F_REQUEST } from "./constants.ts";
import {
  CTRL_ATTR,
  CTRL_ATTR_MCAST_GRP,
  decodeFamily,
  genlMessage,
  getFamilyRequest,
  GENL_ID_CTRL,
} from "./genetlink.ts";
import { encodeMessage, splitMessages } from "./message.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("generic netlink", () => {
  it("asks the controller (type 0x10) for a family by name, laid out as genetlink.h says", () => {
    const msg = encodeMessage(getFamilyRequest("wireguard"), NLM_F_REQUEST, 7);
    expect(hex(msg)).toBe(
      [
        "24000000", // nlmsg_len 36
        "1000", // nlmsg_type GENL_ID_CTRL
        "0100", // NLM_F_REQUEST
        "07000000", // seq
        "00000000", // pid
        "03020000", // genlmsghdr: cmd CTRL_CMD_GETFAMILY (3), version 2, reserved
        "0e000200", // CTRL_ATTR_FAMILY_NAME, length 14
        Buffer.from("wireguard\0").toString("hex"),
        "0000", // padding to 4 bytes
      ].join(""),
    );
  });

  it("decodes the controller's answer: id, version, header size, max attribute, multicast groups", () => {
    const w = new NlWriter();
    w.u32(0).u16(GENL_ID_CTRL).u16(0).u32(7).u32(0);
    w.u8(1).u8(2).u16(0); // CTRL_CMD_NEWFAMILY
    w.attrStr(CTRL_ATTR.FAMILY_NAME, "wireguard")
      .attrU16(CTRL_ATTR.FAMILY_ID, 0x1f)
      .attrU32(CTRL_ATTR.VERSION, 1)
      .attrU32(CTRL_ATTR.HDRSIZE, 0)
      .attrU32(CTRL_ATTR.MAXATTR, 8);
    w.nested(
      CTRL_ATTR.MCAST_GROUPS,
      () => w.nested(1, () => w.attrStr(CTRL_ATTR_MCAST_GRP.NAME, "config").attrU32(CTRL_ATTR_MCAST_GRP.ID, 9), true),
      true,
    );
    w.patchU32(0, w.length);
    const [m] = splitMessages(w.finish(), w.length);
    if (!m) throw new Error("no message");
    expect(decodeFamily(m)).toEqual({
      id: 0x1f,
      name: "wireguard",
      version: 1,
      hdrSize: 0,
      maxAttr: 8,
      mcastGroups: { config: 9 },
    });
    expect(genlMessage(m).cmd).toBe(1);
  });

  it("refuses a reply without a family id", () => {
    const w = new NlWriter();
    w.u32(0).u16(GENL_ID_CTRL).u16(0).u32(1).u32(0).u8(1).u8(2).u16(0).attrStr(CTRL_ATTR.FAMILY_NAME, "x");
    w.patchU32(0, w.length);
    const [m] = splitMessages(w.finish(), w.length);
    if (!m) throw new Error("no message");
    expect(() => decodeFamily(m)).toThrow(/without a family id/);
  });
});
