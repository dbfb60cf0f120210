import { describe, expect, it } from "vitest";
import { Attrs } from "./attrs.ts";
import { IFA, IFA_F_NODAD, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM } from "./constants.ts";
import { addAddrRequest, decodeAddress, deleteAddrRequest } from "./addr.ts";
import { encodeMessage, splitMessages, type NlRequest } from "./message.ts";
import { kernelMessage } from "../testing/kernel-messages.ts";

function body(r: NlRequest): Uint8Array {
  const bytes = encodeMessage(r, 0, 1);
  const [m] = splitMessages(bytes, bytes.byteLength);
  if (!m) throw new Error("no message");
  return m.body;
}

describe("address messages", () => {
  it("decodes a kernel IPv4 address with its broadcast and label", () => {
    expect(decodeAddress(kernelMessage("addr4", RTM.NEWADDR))).toMatchObject({
      family: 4,
      ip: "192.0.2.1",
      prefixLen: 24,
      broadcast: "192.0.2.255",
      label: "vb1",
      scope: 0,
      permanent: true,
    });
  });

  it("decodes a kernel IPv6 address added without DAD", () => {
    const a = decodeAddress(kernelMessage("addr6", RTM.NEWADDR));
    expect(a).toMatchObject({ family: 6, ip: "fd00:10::1", prefixLen: 64, tentative: false });
    expect(a.flags & IFA_F_NODAD).toBe(IFA_F_NODAD);
  });

  it("adds IPv4 with IFA_LOCAL, IFA_ADDRESS and a computed broadcast; replace uses NLM_F_REPLACE", () => {
    const r = addAddrRequest(3, { cidr: "10.244.1.1/24" }, false, "cni0");
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect(r.op).toBe("RTM_NEWADDR 10.244.1.1/24 dev cni0");
    const b = body(r);
    expect([b[0], b[1], b[3]]).toEqual([2, 24, 0]);
    const a = Attrs.parse(b, 8);
    expect([...(a.get(IFA.LOCAL) ?? [])]).toEqual([10, 244, 1, 1]);
    expect([...(a.get(IFA.BROADCAST) ?? [])]).toEqual([10, 244, 1, 255]);
    expect(addAddrRequest(3, { cidr: "10.244.1.1/24" }, true, "cni0").flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
  });

  it("omits the broadcast for /31 and /32 and when told 'none', and uses a given one", () => {
    expect(Attrs.parse(body(addAddrRequest(3, { cidr: "10.244.1.0/32" }, false, "x")), 8).has(IFA.BROADCAST)).toBe(
      false,
    );
    expect(
      Attrs.parse(body(addAddrRequest(3, { cidr: "10.244.1.1/24", broadcast: "none" }, false, "x")), 8).has(
        IFA.BROADCAST,
      ),
    ).toBe(false);
    expect([
      ...(Attrs.parse(body(addAddrRequest(3, { cidr: "10.244.1.1/24", broadcast: "10.244.1.7" }, false, "x")), 8).get(
        IFA.BROADCAST,
      ) ?? []),
    ]).toEqual([10, 244, 1, 7]);
  });

  it("gives loopback addresses host scope and sets IPv6 NODAD", () => {
    expect(body(addAddrRequest(1, { cidr: "127.0.0.1/8" }, false, "lo"))[3]).toBe(254);
    const b = body(addAddrRequest(1, { cidr: "fd00::2/64", noDad: true }, false, "eth0"));
    expect([b[0], b[1], b[2]]).toEqual([10, 64, IFA_F_NODAD]);
  });

  it("deletes by address and prefix", () => {
    const b = body(deleteAddrRequest(3, "10.244.1.1/24", "cni0"));
    expect([b[0], b[1]]).toEqual([2, 24]);
    expect([...(Attrs.parse(b, 8).get(IFA.LOCAL) ?? [])]).toEqual([10, 244, 1, 1]);
  });
});
