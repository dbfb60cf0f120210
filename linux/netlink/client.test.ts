import { describe, expect, it } from "vitest";
import { LinkNotFoundError } from "../errors.ts";
import { NlWriter } from "./attrs.ts";
import { RtnetlinkClient } from "./client.ts";
import { IFLA, NLM_F_DUMP, NLM_F_MULTI, RTA, RTM, RTM_F_CLONED } from "./constants.ts";
import { FakeTransport, datagram, doneMessage, errorMessage, rawMessage } from "../testing/fake-transport.ts";
import type { NlMessage } from "./message.ts";
import { NetlinkSocket } from "./socket.ts";

/** RTM_NEWLINK body for a link named `name` with `index`. */
function linkBody(index: number, name: string): Uint8Array {
  const w = new NlWriter();
  w.u8(0).u8(0).u16(1).i32(index).u32(0).u32(0).attrStr(IFLA.IFNAME, name).attrU32(IFLA.MTU, 1500);
  return w.finish();
}

function routeBody(dst: number[], len: number, table: number, flags = 0, oif = 2): Uint8Array {
  const w = new NlWriter();
  w.u8(2).u8(len).u8(0).u8(0).u8(table).u8(3).u8(0).u8(1).u32(flags);
  w.attr(RTA.DST, Uint8Array.from(dst)).attrU32(RTA.OIF, oif).attrU32(RTA.TABLE, table);
  return w.finish();
}

/** A tiny kernel: knows link eth0 (index 2), acks everything else, dumps three routes. */
function kernel(): FakeTransport {
  return new FakeTransport((m: NlMessage) => {
    if (m.type === RTM.GETLINK && !(m.flags & NLM_F_DUMP)) {
      const name = new TextDecoder().decode(m.body.subarray(20, 24));
      const index = new DataView(m.body.buffer, m.body.byteOffset).getInt32(4, true);
      if (name === "eth0" || index === 2) return [rawMessage(RTM.NEWLINK, 0, m.seq, linkBody(2, "eth0"))];
      return [errorMessage(m, 19)];
    }
    if (m.type === RTM.GETROUTE && m.flags & NLM_F_DUMP) {
      return [
        datagram(
          rawMessage(RTM.NEWROUTE, NLM_F_MULTI, m.seq, routeBody([10, 244, 1, 0], 24, 254)),
          rawMessage(RTM.NEWROUTE, NLM_F_MULTI, m.seq, routeBody([10, 244, 2, 0], 24, 100)),
          rawMessage(RTM.NEWROUTE, NLM_F_MULTI, m.seq, routeBody([10, 244, 3, 7], 32, 254, RTM_F_CLONED)),
          doneMessage(m.seq),
        ),
      ];
    }
    return [errorMessage(m, 0)];
  });
}

describe("RtnetlinkClient", () => {
  it("resolves a link name to its index before acting on it", () => {
    const t = kernel();
    new RtnetlinkClient(new NetlinkSocket(t)).addAddr("eth0", "10.244.1.2/24");
    expect(t.sent.map((m) => m.type)).toEqual([RTM.GETLINK, RTM.NEWADDR]);
    const newaddr = t.sent[1];
    expect(newaddr && new DataView(newaddr.body.buffer, newaddr.body.byteOffset).getUint32(4, true)).toBe(2);
  });

  it("acts on an index directly without a lookup", () => {
    const t = kernel();
    new RtnetlinkClient(new NetlinkSocket(t)).setLinkUp(2);
    expect(t.sent.map((m) => m.type)).toEqual([RTM.SETLINK]);
  });

  it("throws LinkNotFoundError for an unknown name and findLink returns undefined", () => {
    const c = new RtnetlinkClient(new NetlinkSocket(kernel()));
    expect(() => c.getLink("nope")).toThrow(LinkNotFoundError);
    expect(c.findLink("nope")).toBeUndefined();
    expect(c.findLink("eth0")?.index).toBe(2);
  });

  it("lists routes of the main table by default, all tables on request, never cloned ones", () => {
    const c = new RtnetlinkClient(new NetlinkSocket(kernel()));
    expect(c.listRoutes().map((r) => r.dst)).toEqual(["10.244.1.0/24"]);
    expect(c.listRoutes({ table: "all" }).map((r) => r.dst)).toEqual(["10.244.1.0/24", "10.244.2.0/24"]);
    expect(c.listRoutes({ table: 100 }).map((r) => r.table)).toEqual([100]);
    expect(c.listRoutes({ dev: "eth0" })).toHaveLength(1);
  });

  it("resolves `dev` of a route to RTA_OIF", () => {
    const t = kernel();
    new RtnetlinkClient(new NetlinkSocket(t)).replaceRoute({
      dst: "10.244.2.0/24",
      gateway: "10.244.2.0",
      dev: "eth0",
      onlink: true,
    });
    const req = t.sent[1];
    expect(req?.type).toBe(RTM.NEWROUTE);
    expect(Buffer.from(req?.body ?? []).includes(Buffer.from([8, 0, RTA.OIF, 0, 2, 0, 0, 0]))).toBe(true);
  });
});
