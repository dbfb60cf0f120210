/**
 * Unix stream sockets with descriptor passing (SCM_RIGHTS) and peer credentials (SO_PEERCRED), over
 * libc: what the CNI relay between the flannel exec and flanneld needs and Bun's socket API does not
 * offer. Layouts are those of LP64 Linux (x86_64, arm64): struct msghdr 56 bytes, iovec 16, cmsghdr
 * 16 + data, sockaddr_un 110, pollfd 8.
 */
import { existsSync, lstatSync, unlinkSync, chmodSync } from "node:fs";
import { SyscallError } from "./errors.ts";
import { Errno } from "./errno.ts";
import * as libc from "./ffi/libc.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SO_PEERCRED = 17;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SUN_PATH_MAX = 107;

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

/** struct sockaddr_un for a filesystem path; throws TypeError when the path is too long. */
export function unixAddress(path: string): Uint8Array {
  const name = Buffer.from(path, "utf8");
  if (name.byteLength > SUN_PATH_MAX) {
    throw new TypeError(`unix socket path is ${name.byteLength} bytes, at most ${SUN_PATH_MAX} fit: ${path}`);
  }
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  return addr;
}

/** A connected stream socket to `path` (close-on-exec; non-blocking when asked). */
export function connectUnix(path: string, o: { readonly nonblocking?: boolean } = {}): number {
  const addr = unixAddress(path);
  const fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  try {
    libc.connect(fd, addr);
    if (o.nonblocking) setNonblocking(fd);
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

/**
 * A listening stream socket at `path` with the given file mode. A socket file already there is
 * replaced when nothing accepts on it any more (a previous run that died); a live listener or a
 * file that is not a socket is an error naming the path.
 */
export function listenUnix(path: string, o: { readonly mode: number; readonly backlog: number }): number {
  const addr = unixAddress(path);
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket())
      throw new Error(`${path} exists and is not a socket: remove it or choose another path`);
    if (socketAlive(path)) throw new Error(`${path}: another process is serving on this socket`);
    unlinkSync(path);
  }
  const fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  try {
    libc.bind(fd, addr);
    chmodSync(path, o.mode);
    libc.listen(fd, o.backlog);
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

/** True when something accepts connections on the socket at `path`. */
export function socketAlive(path: string): boolean {
  try {
    libc.close(connectUnix(path));
    return true;
  } catch (e) {
    if (e instanceof SyscallError && (e.errno === Errno.ECONNREFUSED || e.errno === Errno.ENOENT)) return false;
    throw e;
  }
}

export function setNonblocking(fd: number): void {
  libc.fcntl(fd, libc.F_SETFL, libc.fcntl(fd, libc.F_GETFL, 0) | libc.O_NONBLOCK);
}

/** A new connection on a listening socket, non-blocking and close-on-exec; undefined when none is pending. */
export function acceptNonblocking(listenFd: number): number | undefined {
  try {
    return libc.accept4(listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === Errno.EAGAIN) return undefined;
    throw e;
  }
}

/**
 * The buffers a msghdr points into while a sendmsg/recvmsg runs. The kernel reaches them only through
 * raw addresses, which the garbage collector does not see: a local variable that is not read after the
 * call does not keep them alive once the JIT has optimised the function (a `void [bufs]` after the call
 * is dead code to it), and a collection during the call's own allocations would hand the kernel freed
 * memory. A store into this module-level slot is a side effect no compiler may drop.
 */
const pinned: { current: readonly unknown[] } = { current: [] };

function msghdr(iov: Uint8Array, control: Uint8Array | undefined): Uint8Array {
  const m = new Uint8Array(56);
  const v = new DataView(m.buffer);
  v.setBigUint64(16, libc.addressOf(iov), true);
  v.setBigUint64(24, 1n, true);
  if (control) {
    v.setBigUint64(32, libc.addressOf(control), true);
    v.setBigUint64(40, BigInt(control.byteLength), true);
  }
  return m;
}

function iovec(buf: Uint8Array): Uint8Array {
  const iov = new Uint8Array(16);
  const v = new DataView(iov.buffer);
  v.setBigUint64(0, libc.addressOf(buf), true);
  v.setBigUint64(8, BigInt(buf.byteLength), true);
  return iov;
}

/**
 * Send `data` (or as much of it as the socket takes), with `passFd` attached as SCM_RIGHTS when
 * given. Returns the bytes sent; never raises SIGPIPE (EPIPE is thrown instead).
 */
export function sendWithFd(fd: number, data: Uint8Array, passFd?: number): number {
  if (data.byteLength === 0) throw new TypeError("sendWithFd: nothing to send");
  const iov = iovec(data);
  let control: Uint8Array | undefined;
  if (passFd !== undefined) {
    control = new Uint8Array(24);
    const c = new DataView(control.buffer);
    c.setBigUint64(0, 20n, true); // CMSG_LEN(sizeof(int))
    c.setInt32(8, SOL_SOCKET, true);
    c.setInt32(12, SCM_RIGHTS, true);
    c.setInt32(16, passFd, true);
  }
  const m = msghdr(iov, control);
  pinned.current = [data, iov, control, m];
  try {
    return libc.sendmsg(fd, m, MSG_NOSIGNAL);
  } finally {
    pinned.current = [];
  }
}

/** Send all of `data`, blocking (the fd must be blocking), with `passFd` on the first segment. */
export function sendAll(fd: number, data: Uint8Array, passFd?: number): void {
  let off = sendWithFd(fd, data, passFd);
  while (off < data.byteLength) off += sendWithFd(fd, data.subarray(off));
}

/**
 * Receive into `buf`; descriptors that came with the bytes (SCM_RIGHTS, close-on-exec) are returned
 * in `fds`, and the caller owns them. `n` is 0 at the end of the stream. EAGAIN is thrown on a
 * non-blocking socket with nothing to read.
 */
export function recvWithFds(fd: number, buf: Uint8Array): { n: number; fds: number[] } {
  const control = new Uint8Array(64);
  const iov = iovec(buf);
  const m = msghdr(iov, control);
  pinned.current = [buf, iov, control, m];
  let n: number;
  try {
    n = libc.recvmsg(fd, m, MSG_CMSG_CLOEXEC);
  } finally {
    pinned.current = [];
  }
  const hv = new DataView(m.buffer);
  const controlLen = Number(hv.getBigUint64(40, true));
  const fds: number[] = [];
  const cv = new DataView(control.buffer);
  for (let at = 0; at + 16 <= controlLen; ) {
    const len = Number(cv.getBigUint64(at, true));
    if (len < 16) break;
    if (cv.getInt32(at + 8, true) === SOL_SOCKET && cv.getInt32(at + 12, true) === SCM_RIGHTS) {
      for (let p = at + 16; p + 4 <= at + len; p += 4) fds.push(cv.getInt32(p, true));
    }
    at += (len + 7) & ~7;
  }
  return { n, fds };
}

/** The credentials of the process at the other end of a unix socket (SO_PEERCRED). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const cred = new Uint8Array(12);
  libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred);
  const v = new DataView(cred.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}

/** Pack fds and events into struct pollfd entries. */
export function pollFds(entries: readonly { readonly fd: number; readonly events: number }[]): Uint8Array {
  const b = new Uint8Array(entries.length * 8);
  const v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    v.setInt32(i * 8, e.fd, true);
    v.setInt16(i * 8 + 4, e.events, true);
  });
  return b;
}

/** The revents of entry `i` after poll. */
export function revents(b: Uint8Array, i: number): number {
  return new DataView(b.buffer, b.byteOffset).getInt16(i * 8 + 6, true);
}
