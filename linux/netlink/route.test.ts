import { describe, expect, it } from "vitest";
import { Attrs } from "./attrs.ts";
import {
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTA,
  RTAX_ADVMSS,
  RTAX_MTU,
  RTM,
  RTNH_F_ONLINK,
} from "./constants.ts";
import { encodeMessage, splitMessages, type NlRequest } from "./message.ts";
import { decodeRoute, getRouteToRequest, routeRequest } from "./route.ts";
import { kernelMessage } from "../testing/kernel-messages.ts";

function parse(r: NlRequest): { hdr: number[]; flags: number; attrs: Attrs } {
  const bytes = encodeMessage(r, 0, 1);
  const [m] = splitMessages(bytes, bytes.byteLength);
  if (!m) throw new Error("no message");
  return {
    hdr: [...m.body.subarray(0, 8)],
    flags: new DataView(m.body.buffer, m.body.byteOffset).getUint32(8, true),
    attrs: Attrs.parse(m.body, 12),
  };
}

describe("route messages", () => {
  it("decodes flannel's kernel vxlan route: via the remote .0, onlink, boot protocol", () => {
    expect(decodeRoute(kernelMessage("routeOnlink", RTM.NEWROUTE))).toMatchObject({
      family: 4,
      dst: "10.244.3.0/24",
      gateway: "10.244.3.0",
      onlink: true,
      table: 254,
      protocol: 3,
      scope: 0,
      type: "unicast",
    });
  });

  it("decodes table, metric, MTU and advmss of a kernel route", () => {
    expect(decodeRoute(kernelMessage("routeMetrics", RTM.NEWROUTE))).toMatchObject({
      dst: "10.244.4.0/24",
      gateway: "192.0.2.3",
      table: 100,
      priority: 50,
      mtu: 1400,
      advmss: 1360,
    });
  });

  it("builds an onlink route via a gateway with iproute2 defaults: main table, boot protocol, universe scope", () => {
    const r = routeRequest({ dst: "10.244.2.0/24", gateway: "10.244.2.0", oif: 5, onlink: true }, "replace");
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    expect(r.op).toBe("RTM_NEWROUTE replace 10.244.2.0/24 via 10.244.2.0 oif 5");
    const p = parse(r);
    // family, dst_len, src_len, tos, table, protocol, scope, type
    expect(p.hdr).toEqual([2, 24, 0, 0, 254, 3, 0, 1]);
    expect(p.flags).toBe(RTNH_F_ONLINK);
    expect(p.attrs.u32(RTA.OIF)).toBe(5);
    expect([...(p.attrs.get(RTA.GATEWAY) ?? [])]).toEqual([10, 244, 2, 0]);
  });

  it("gives a device route without a gateway link scope, and a default route no RTA_DST", () => {
    expect(parse(routeRequest({ dst: "10.244.0.0/16", oif: 2 }, "add")).hdr[6]).toBe(253);
    const d = parse(routeRequest({ dst: "default", gateway: "fd00::1" }, "add"));
    expect(d.hdr[0]).toBe(10);
    expect(d.hdr[1]).toBe(0);
    expect(d.attrs.has(RTA.DST)).toBe(false);
  });

  it("puts tables above 255 in RTA_TABLE and MTU/advmss in RTA_METRICS", () => {
    const p = parse(
      routeRequest(
        { dst: "10.0.0.0/8", gateway: "192.0.2.1", table: 1000, mtu: 1400, advmss: 1360, priority: 7 },
        "add",
      ),
    );
    expect(p.hdr[4]).toBe(252);
    expect(p.attrs.u32(RTA.TABLE)).toBe(1000);
    expect(p.attrs.u32(RTA.PRIORITY)).toBe(7);
    expect(p.attrs.nested(RTA.METRICS)?.u32(RTAX_MTU)).toBe(1400);
    expect(p.attrs.nested(RTA.METRICS)?.u32(RTAX_ADVMSS)).toBe(1360);
  });

  it("builds blackhole routes and wildcard deletes (any protocol, type and scope)", () => {
    expect(parse(routeRequest({ dst: "10.244.5.0/24", type: "blackhole" }, "add")).hdr.slice(5)).toEqual([3, 0, 6]);
    const del = routeRequest({ dst: "10.244.5.0/24" }, "delete");
    expect(del.type).toBe(RTM.DELROUTE);
    expect(del.flags).toBe(0);
    expect(parse(del).hdr.slice(4)).toEqual([254, 0, 255, 0]);
    expect(routeRequest({ dst: "10.0.0.0/8" }, "add").flags).toBe(NLM_F_CREATE | NLM_F_EXCL);
  });

  it("asks for the route to one address with a full-length RTA_DST", () => {
    const p = parse(getRouteToRequest("192.0.2.7", { oif: 3 }));
    expect(p.hdr[1]).toBe(32);
    expect([...(p.attrs.get(RTA.DST) ?? [])]).toEqual([192, 0, 2, 7]);
    expect(p.attrs.u32(RTA.OIF)).toBe(3);
  });
});
