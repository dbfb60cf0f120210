/**
 * The real netlink socket (NETLINK_ROUTE unless told otherwise). It belongs to the network
 * namespace of the calling thread at creation (open it inside `withNetns` to talk to another
 * netns) and keeps it for life.
 */
import * as libc from "../ffi/libc.ts";
import {
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVTIMEO,
} from "./constants.ts";
import type { NetlinkTransport } from "./socket.ts";

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_ROUTE = 0;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;

/** Options for the kernel socket. */
export interface KernelTransportOptions {
  /** Give up waiting for a reply after this long. @default 30000 */
  readonly timeoutMs?: number;
  /** SO_RCVBUF in bytes. @default 1048576 */
  readonly rcvbuf?: number;
  /** RTMGRP_* multicast groups to join (event monitors). @default 0 */
  readonly groups?: number;
  /** Netlink protocol: NETLINK_ROUTE (0) or e.g. NETLINK_GENERIC (16). @default 0 */
  readonly protocol?: number;
}

function u32(v: number): Uint8Array {
  return new Uint8Array(new Uint32Array([v]).buffer);
}

export class KernelTransport implements NetlinkTransport {
  private fd: number;
  /** sockaddr_nl of the kernel: family AF_NETLINK, pid 0, groups 0. */
  private static readonly KERNEL = new Uint8Array(new Uint16Array([AF_NETLINK, 0, 0, 0, 0, 0]).buffer);

  /** sockaddr_nl to bind: our pid left to the kernel, the groups to join. */
  private static local(groups: number): Uint8Array {
    const a = new Uint8Array(12);
    const dv = new DataView(a.buffer);
    dv.setUint16(0, AF_NETLINK, true);
    dv.setUint32(8, groups, true);
    return a;
  }

  constructor(opts: KernelTransportOptions = {}) {
    this.fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, opts.protocol ?? NETLINK_ROUTE);
    try {
      libc.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, u32(opts.rcvbuf ?? 1 << 20));
      const ms = opts.timeoutMs ?? 30_000;
      const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
      libc.setsockopt(this.fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer));
      // Both are best effort: extended ack texts and capped acks exist since Linux 4.12.
      try {
        libc.setsockopt(this.fd, SOL_NETLINK, NETLINK_EXT_ACK, u32(1));
        libc.setsockopt(this.fd, SOL_NETLINK, NETLINK_CAP_ACK, u32(1));
      } catch {
        /* older kernel: plain errors */
      }
      libc.bind(this.fd, KernelTransport.local(opts.groups ?? 0));
    } catch (e) {
      libc.close(this.fd);
      throw e;
    }
  }

  send(msg: Uint8Array): void {
    libc.sendto(this.fd, msg, 0, KernelTransport.KERNEL);
  }

  recv(buf: Uint8Array, dontWait = false): number {
    return libc.recv(this.fd, buf, MSG_TRUNC | (dontWait ? MSG_DONTWAIT : 0));
  }

  close(): void {
    if (this.fd >= 0) {
      libc.close(this.fd);
      this.fd = -1;
    }
  }
}
