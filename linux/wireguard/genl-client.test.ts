import { describe, expect, it } from "vitest";
import { NlWriter } from "../netlink/attrs.ts";
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTI } from "../netlink/constants.ts";
import { FakeTransport, datagram, doneMessage, errorMessage, rawMessage } from "../testing/fake-transport.ts";
import { CTRL_ATTR, GENL_ID_CTRL } from "../netlink/genetlink.ts";
import type { NlMessage } from "../netlink/message.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { WGDEVICE_A, WG_CMD } from "./genl.ts";
import { WireguardFamilyMissingError, WireguardGenl } from "./genl-client.ts";

const FAMILY = 0x22;
const key = (b: number) => Buffer.alloc(32, b).toString("base64");

function familyReply(seq: number): Uint8Array {
  const w = new NlWriter();
  w.u8(1)
    .u8(2)
    .u16(0)
    .attrStr(CTRL_ATTR.FAMILY_NAME, "wireguard")
    .attrU16(CTRL_ATTR.FAMILY_ID, FAMILY)
    .attrU32(CTRL_ATTR.VERSION, 1);
  return rawMessage(GENL_ID_CTRL, 0, seq, w.finish());
}

function deviceReply(seq: number): Uint8Array {
  const w = new NlWriter();
  w.u8(WG_CMD.GET_DEVICE)
    .u8(1)
    .u16(0)
    .attrStr(WGDEVICE_A.IFNAME, "flannel-wg")
    .attrU16(WGDEVICE_A.LISTEN_PORT, 51820)
    .attr(WGDEVICE_A.PUBLIC_KEY, Buffer.alloc(32, 4));
  return rawMessage(FAMILY, NLM_F_MULTI, seq, w.finish());
}

/** A kernel with (or without) the wireguard family. */
function kernel(hasWireguard: boolean): FakeTransport {
  return new FakeTransport((m: NlMessage) => {
    if (m.type === GENL_ID_CTRL) return [hasWireguard ? familyReply(m.seq) : errorMessage(m, 2)];
    if (m.type === FAMILY && m.flags & NLM_F_DUMP) return [datagram(deviceReply(m.seq), doneMessage(m.seq))];
    return [errorMessage(m, 0)];
  });
}

describe("WireguardGenl", () => {
  it("resolves the family once, then sends acked set requests to its id", () => {
    const t = kernel(true);
    const g = new WireguardGenl(new NetlinkSocket(t));
    g.setDevice("flannel-wg", { privateKey: key(1), listenPort: 51820 });
    g.setDevice("flannel-wg", { peers: [{ publicKey: key(2), remove: true }] });
    expect(t.sent.map((m) => m.type)).toEqual([GENL_ID_CTRL, FAMILY, FAMILY]);
    expect(t.sent.slice(1).every((m) => (m.flags & NLM_F_ACK) !== 0 && m.body[0] === WG_CMD.SET_DEVICE)).toBe(true);
  });

  it("reads a device with a dump request", async () => {
    const t = kernel(true);
    const dev = await new WireguardGenl(new NetlinkSocket(t)).control("flannel-wg").read();
    expect(dev).toMatchObject({ name: "flannel-wg", listenPort: 51820, publicKey: key(4), peers: [] });
    expect((t.sent[1]?.flags ?? 0) & NLM_F_DUMP).toBe(NLM_F_DUMP);
  });

  it("says the kernel has no WireGuard when the controller answers ENOENT", () => {
    const g = new WireguardGenl(new NetlinkSocket(kernel(false)));
    expect(() => g.setDevice("flannel-wg", {})).toThrow(WireguardFamilyMissingError);
    expect(() => g.resolve()).toThrow(/modprobe wireguard/);
  });
});
