import { describe, expect, it } from "vitest";
import { SyscallError } from "../errors.ts";
import { NlWriter } from "./attrs.ts";
import { IFLA, RTM } from "./constants.ts";
import { datagram, rawMessage } from "../testing/fake-transport.ts";
import { NetlinkMonitor, groupsOf, watchEvents } from "./monitor.ts";
import type { NetlinkTransport } from "./socket.ts";

function linkMsg(type: number, index: number, name: string): Uint8Array {
  const w = new NlWriter();
  w.u8(0).u8(0).u16(1).i32(index).u32(0).u32(0).attrStr(IFLA.IFNAME, name);
  return rawMessage(type, 0, 0, w.finish());
}

/** Hands out queued datagrams or errno numbers, then EAGAIN. */
class Queue implements NetlinkTransport {
  closed = false;
  constructor(readonly items: (Uint8Array | number)[]) {}
  send(): void {}
  recv(buf: Uint8Array, dontWait?: boolean): number {
    if (!dontWait) throw new Error("monitor must not block");
    const next = this.items.shift();
    if (next === undefined) throw new SyscallError(11, "recv");
    if (typeof next === "number") throw new SyscallError(next, "recv");
    buf.set(next);
    return next.byteLength;
  }
  close(): void {
    this.closed = true;
  }
}

describe("NetlinkMonitor", () => {
  it("joins the multicast groups of its topics", () => {
    expect(groupsOf(["link"])).toBe(1);
    expect(groupsOf(["link", "addr", "route", "neigh"])).toBe(0x1 | 0x4 | 0x110 | 0x440);
  });

  it("drains every queued event without blocking and decodes new/del links", () => {
    const q = new Queue([datagram(linkMsg(RTM.NEWLINK, 5, "flannel.1")), linkMsg(RTM.DELLINK, 5, "flannel.1")]);
    const events = new NetlinkMonitor(q).poll();
    expect(events.map((e) => (e.kind === "link" ? `${e.action} ${e.link.name}` : e.kind))).toEqual([
      "new flannel.1",
      "del flannel.1",
    ]);
    expect(new NetlinkMonitor(q).poll()).toEqual([]);
  });

  it("reports lost events (ENOBUFS) as an overrun so the consumer can list again", () => {
    const events = new NetlinkMonitor(new Queue([105, linkMsg(RTM.DELLINK, 5, "x")])).poll();
    expect(events.map((e) => e.kind)).toEqual(["overrun", "link"]);
  });

  it("watches until aborted, handing over non-empty batches", async () => {
    const q = new Queue([linkMsg(RTM.DELLINK, 5, "flannel.1")]);
    const ac = new AbortController();
    const seen: string[] = [];
    await watchEvents(
      new NetlinkMonitor(q),
      (evs) => {
        for (const e of evs) if (e.kind === "link") seen.push(e.link.name);
        ac.abort();
      },
      { intervalMs: 1, signal: ac.signal },
    );
    expect(seen).toEqual(["flannel.1"]);
  });
});
