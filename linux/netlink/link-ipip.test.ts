import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NlWriter } from "./attrs.ts";
import { IFLA, IFLA_INFO, IFLA_IPTUN, NLM_F_ACK, NLM_F_REQUEST, RTM } from "./constants.ts";
import { createIpipRequest, decodeLink, type IpipOptions } from "./link.ts";
import { encodeMessage, splitMessages } from "./message.ts";

/** iproute2's requests, captured with strace (see linux/testing/capture-iproute2-requests.ts). */
const captured = JSON.parse(
  readFileSync(new URL("./testdata/iproute2-requests.json", import.meta.url), "utf8"),
) as Record<string, { command: string; message: string }>;

/** Our request encoded with the flags the socket adds and the capture's sequence number and port id. */
function ours(o: IpipOptions, like: string): string {
  const [m] = splitMessages(Buffer.from(like, "hex"), like.length / 2);
  if (!m) throw new Error("bad capture");
  const r = createIpipRequest(o);
  return Buffer.from(encodeMessage(r, r.flags | NLM_F_REQUEST | NLM_F_ACK, m.seq, m.pid)).toString("hex");
}

describe("ipip link requests", () => {
  it(
    "flanneld's flannel.ipip request is byte for byte iproute2's `ip link add " +
      "flannel.ipip mtu 1480 type ipip local 192.0.2.1 ttl 0 tos 0 nopmtudisc`",
    () => {
      const cap = captured["ipipFlannel"];
      if (!cap) throw new Error("capture missing");
      expect(cap.command).toBe("ip link add flannel.ipip mtu 1480 type ipip local 192.0.2.1 ttl 0 tos 0 nopmtudisc");
      expect(
        ours({ name: "flannel.ipip", mtu: 1480, local: "192.0.2.1", ttl: 0, tos: 0, pmtudisc: false }, cap.message),
      ).toBe(cap.message);
    },
  );

  it(
    "writes remote, underlay device, ttl, tos and PMTU discovery where iproute2 " +
      "does (`... remote 192.0.2.9 local 192.0.2.1 dev lo ttl 64 tos 0x10`)",
    () => {
      const cap = captured["ipipFull"];
      if (!cap) throw new Error("capture missing");
      expect(
        ours(
          { name: "t0", remote: "192.0.2.9", local: "192.0.2.1", underlayIndex: 1, ttl: 64, tos: 0x10 },
          cap.message,
        ),
      ).toBe(cap.message);
    },
  );

  it("is a create-exclusive RTM_NEWLINK and refuses an IPv6 local address", () => {
    const r = createIpipRequest({ name: "flannel.ipip", local: "192.0.2.1" });
    expect([r.type, r.op]).toEqual([RTM.NEWLINK, "RTM_NEWLINK ipip flannel.ipip"]);
    expect(() => encodeMessage(createIpipRequest({ name: "x", local: "fd00::1" }), 0, 1)).toThrow(
      /ipip local address must be IPv4/,
    );
  });

  it("decodes an ipip link as the kernel reports it: local, any remote, underlay, ttl, tos, nopmtudisc", () => {
    // RTM_NEWLINK body laid out like the kernel's ipip fill_info (no ipip module here to capture one)
    const w = new NlWriter(256);
    w.u8(0).u8(0).u16(768).i32(7).u32(0x41).u32(0);
    w.attrStr(IFLA.IFNAME, "flannel.ipip");
    w.attrU32(IFLA.MTU, 1480);
    w.nested(IFLA.LINKINFO, () => {
      w.attrStr(IFLA_INFO.KIND, "ipip");
      w.nested(IFLA_INFO.DATA, () => {
        w.attrU32(IFLA_IPTUN.LINK, 0);
        w.attr(IFLA_IPTUN.LOCAL, new Uint8Array([192, 0, 2, 1]));
        w.attr(IFLA_IPTUN.REMOTE, new Uint8Array([0, 0, 0, 0]));
        w.attrU8(IFLA_IPTUN.TTL, 0);
        w.attrU8(IFLA_IPTUN.TOS, 0);
        w.attrU8(IFLA_IPTUN.PROTO, 4);
        w.attrU8(IFLA_IPTUN.PMTUDISC, 0);
        w.attrU32(IFLA_IPTUN.FWMARK, 0);
      });
    });
    const l = decodeLink({ type: RTM.NEWLINK, flags: 0, seq: 0, pid: 0, body: w.finish() });
    expect(l).toMatchObject({ name: "flannel.ipip", kind: "ipip", index: 7, mtu: 1480, up: true, type: 768 });
    expect(l.ipip).toEqual({ local: "192.0.2.1", ttl: 0, tos: 0, pmtudisc: false });
  });
});
