/**
 * Kernel change events (`ip monitor`): a netlink socket joined to RTMGRP_* groups, drained
 * without blocking so the JS thread stays free, e.g. for flanneld to notice its vxlan device
 * being deleted. When the kernel drops events (ENOBUFS) an `overrun` event tells the consumer
 * to list the state again. Pure module over a NetlinkTransport; open.ts opens the kernel one.
 */
import { SyscallError } from "../errors.ts";
import { Errno } from "../errno.ts";
import { decodeAddress, type Address } from "./addr.ts";
import { NLMSG_OVERRUN, RTM } from "./constants.ts";
import { decodeLink, type Link } from "./link.ts";
import { splitMessages } from "./message.ts";
import { decodeNeigh, type Neigh } from "./neigh.ts";
import { decodeRoute, type Route } from "./route.ts";
import type { NetlinkTransport } from "./socket.ts";

/** Multicast groups by topic. */
export const RTMGRP = {
  link: 0x1,
  neigh: 0x4,
  addr: 0x10 | 0x100,
  route: 0x40 | 0x400,
} as const;
export type MonitorTopic = keyof typeof RTMGRP;

export type NetEvent =
  | { readonly kind: "link"; readonly action: "new" | "del"; readonly link: Link }
  | { readonly kind: "addr"; readonly action: "new" | "del"; readonly addr: Address }
  | { readonly kind: "route"; readonly action: "new" | "del"; readonly route: Route }
  | { readonly kind: "neigh"; readonly action: "new" | "del"; readonly neigh: Neigh }
  | { readonly kind: "overrun" };

/** The groups bitmask for topics. */
export function groupsOf(topics: readonly MonitorTopic[]): number {
  return topics.reduce((g, t) => g | RTMGRP[t], 0);
}

function decode(type: number, m: Parameters<typeof decodeLink>[0]): NetEvent | undefined {
  switch (type) {
    case RTM.NEWLINK:
    case RTM.DELLINK:
      return { kind: "link", action: type === RTM.NEWLINK ? "new" : "del", link: decodeLink(m) };
    case RTM.NEWADDR:
    case RTM.DELADDR:
      return { kind: "addr", action: type === RTM.NEWADDR ? "new" : "del", addr: decodeAddress(m) };
    case RTM.NEWROUTE:
    case RTM.DELROUTE:
      return { kind: "route", action: type === RTM.NEWROUTE ? "new" : "del", route: decodeRoute(m) };
    case RTM.NEWNEIGH:
    case RTM.DELNEIGH:
      return { kind: "neigh", action: type === RTM.NEWNEIGH ? "new" : "del", neigh: decodeNeigh(m) };
    default:
      return undefined;
  }
}

export class NetlinkMonitor {
  private buf = new Uint8Array(64 * 1024);
  constructor(private readonly transport: NetlinkTransport) {}

  /** Every event queued right now, oldest first; never waits. */
  poll(): NetEvent[] {
    const out: NetEvent[] = [];
    for (;;) {
      let n: number;
      try {
        n = this.transport.recv(this.buf, true);
      } catch (e) {
        if (e instanceof SyscallError && e.errno === Errno.EAGAIN) return out;
        if (e instanceof SyscallError && e.errno === Errno.ENOBUFS) {
          out.push({ kind: "overrun" });
          continue;
        }
        throw e;
      }
      if (n > this.buf.byteLength) {
        this.buf = new Uint8Array(n);
        out.push({ kind: "overrun" });
        continue;
      }
      for (const m of splitMessages(this.buf.slice(0, n), n)) {
        if (m.type === NLMSG_OVERRUN) out.push({ kind: "overrun" });
        const ev = decode(m.type, m);
        if (ev) out.push(ev);
      }
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** Options for {@link watchEvents}. */
export interface WatchOptions {
  /** Pause between polls. @default 250 */
  readonly intervalMs?: number;
  /** Stop watching (the monitor is not closed). */
  readonly signal?: AbortSignal;
}

/** Poll `monitor` until `signal` aborts, handing each non-empty batch to `onEvents`. */
export async function watchEvents(
  monitor: NetlinkMonitor,
  onEvents: (events: NetEvent[]) => void | Promise<void>,
  opts: WatchOptions = {},
): Promise<void> {
  const interval = opts.intervalMs ?? 250;
  while (!opts.signal?.aborted) {
    const events = monitor.poll();
    if (events.length > 0) await onEvents(events);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, interval);
      opts.signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}
