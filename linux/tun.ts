/**
 * TUN devices and UDP sockets for a userspace packet forwarder. openTun creates (or attaches to)
 * a layer-3 TUN device without the packet-information prefix; with `vnetHdr` every packet read or
 * written carries a virtio-net header, which setTunOffload needs before the kernel hands over
 * checksum-partial and TCP-segmentation (TSO) super-packets. A non-persistent TUN device disappears
 * with its last file descriptor. Errors name the device or address and the fix.
 */
import * as libc from "./ffi/libc.ts";
import { SyscallError } from "./errors.ts";
import { Errno } from "./errno.ts";

const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const O_NONBLOCK = 0o4000;
const IFNAMSIZ = 16;

/** TUNSETOFFLOAD flags: checksum offload and TCPv4 segmentation. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;

export interface TunDevice {
  readonly fd: number;
  /** the name the kernel gave (the requested one, or the first free of a "%d" pattern) */
  readonly name: string;
  readonly vnetHdr: boolean;
}

/** Open /dev/net/tun and attach it to the TUN device `name` (created if absent); the fd is non-blocking. */
export function openTun(name: string, opts: { readonly vnetHdr?: boolean } = {}): TunDevice {
  if (Buffer.byteLength(name) >= IFNAMSIZ)
    throw new Error(`TUN device name "${name}" is longer than ${IFNAMSIZ - 1} bytes`);
  let fd: number;
  try {
    fd = libc.open("/dev/net/tun", libc.O_RDWR | O_NONBLOCK);
  } catch (e) {
    if (e instanceof SyscallError && e.code === "ENOENT") {
      throw new Error(
        "/dev/net/tun does not exist: load the tun module (modprobe tun) or give the container the device",
      );
    }
    throw e;
  }
  const ifr = new Uint8Array(40);
  ifr.set(Buffer.from(name, "utf8"));
  const flags = IFF_TUN | IFF_NO_PI | (opts.vnetHdr ? IFF_VNET_HDR : 0);
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, flags, true);
  try {
    libc.ioctl(fd, TUNSETIFF, ifr, `TUNSETIFF ${name}`);
  } catch (e) {
    libc.close(fd);
    if (e instanceof SyscallError && e.errno === Errno.EBUSY) {
      throw new Error(
        `TUN device ${name} is held open by another process (is another flanneld running?): ` +
          "stop it or delete the device",
      );
    }
    if (e instanceof SyscallError && e.errno === Errno.EINVAL) {
      throw new Error(`${name} exists but is not a TUN device this flanneld can attach to: delete it (${e.message})`);
    }
    throw e;
  }
  const end = ifr.indexOf(0);
  return {
    fd,
    name: Buffer.from(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end)).toString("utf8"),
    vnetHdr: opts.vnetHdr ?? false,
  };
}

/** Tell the kernel which offloads the reader of a vnet-header TUN device handles (TUN_F_*). */
export function setTunOffload(fd: number, flags: number): void {
  libc.ioctlValue(fd, TUNSETOFFLOAD, flags, "TUNSETOFFLOAD");
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
export const SOL_UDP = 17;
/** UDP generic segmentation offload: a send of many equal datagrams in one call (Linux 4.18+). */
export const UDP_SEGMENT = 103;
/** UDP generic receive offload: datagrams of one flow received together (Linux 5.0+). */
export const UDP_GRO = 104;

/** struct sockaddr_in for `ip` (host-order number) and `port`. */
export function sockaddrIn(ip: number, port: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port);
  dv.setUint32(4, ip >>> 0);
  return b;
}

function intOpt(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

export interface UdpSocketOptions {
  /** local address (host-order number); 0 = any */
  readonly ip: number;
  readonly port: number;
  /** socket buffer sizes to force (root); 0 keeps the defaults */
  readonly bufferBytes?: number;
}

/** A blocking IPv4 UDP socket bound to ip:port (receive with MSG_DONTWAIT). Errors say what to fix. */
export function openUdpSocket(o: UdpSocketOptions): number {
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    if (o.bufferBytes) {
      libc.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, intOpt(o.bufferBytes));
      libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, intOpt(o.bufferBytes));
    }
    try {
      libc.bind(fd, sockaddrIn(o.ip, o.port));
    } catch (e) {
      const where = `${[o.ip >>> 24, (o.ip >>> 16) & 255, (o.ip >>> 8) & 255, o.ip & 255].join(".")}:${o.port}`;
      if (e instanceof SyscallError && e.errno === Errno.EADDRINUSE) {
        throw new Error(
          `UDP ${where} is already in use (is another flanneld running?): stop it or set a free "Backend.Port"`,
        );
      }
      throw new Error(`cannot bind UDP ${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

const SOCK_RAW = 3;
const IPPROTO_RAW = 255;

/**
 * A raw IPv4 socket for sending whole packets the caller built (IPPROTO_RAW: header included),
 * routed as the host's own output; undefined without CAP_NET_RAW.
 */
export function openRawIpSocket(): number | undefined {
  try {
    return libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  } catch (e) {
    if (e instanceof SyscallError && (e.errno === Errno.EPERM || e.errno === Errno.EACCES)) return undefined;
    throw e;
  }
}

/** Try an integer socket option; false when the kernel does not know it (older kernels). */
export function trySetsockoptInt(fd: number, level: number, name: number, value: number): boolean {
  try {
    libc.setsockopt(fd, level, name, intOpt(value));
    return true;
  } catch (e) {
    if (e instanceof SyscallError) return false;
    throw e;
  }
}
