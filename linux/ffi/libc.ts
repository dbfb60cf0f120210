/**
 * The only module that imports `bun:ffi`: thin, typed wrappers over libc calls.
 * Every wrapper throws `SyscallError{errno, code, op}` on failure. The library is opened
 * lazily on first use (about 0.2 ms) so roles that never touch the kernel pay nothing.
 */
import { dlopen, ptr, read as peek, toArrayBuffer, type Pointer } from "bun:ffi";
import { SyscallError } from "../errors.ts";
import { Errno } from "../errno.ts";

const SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i32" },
  recvfrom: { args: ["i32", "ptr", "u64", "i32", "ptr", "ptr"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  linkat: { args: ["i32", "ptr", "i32", "ptr", "i32"], returns: "i32" },
  fstatfs: { args: ["i32", "ptr"], returns: "i32" },
  setns: { args: ["i32", "i32"], returns: "i32" },
  unshare: { args: ["i32"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  connect: { args: ["i32", "ptr", "u32"], returns: "i32" },
  listen: { args: ["i32", "i32"], returns: "i32" },
  accept4: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
  sendmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
  recvmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  pipe2: { args: ["ptr", "i32"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  shutdown: { args: ["i32", "i32"], returns: "i32" },
  getpid: { args: [], returns: "i32" },
  gettid: { args: [], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  eventfd: { args: ["u32", "i32"], returns: "i32" },
  calloc: { args: ["u64", "u64"], returns: "ptr" },
  free: { args: ["ptr"], returns: "void" },
} as const;

/**
 * Packet I/O for a forwarding loop, bound separately: ssize_t results declared i32 (the low half of
 * the register), so no BigInt is made per call (every length these calls move is far below 2 GiB),
 * and buffers passed as native addresses.
 */
const PACKET_SYMBOLS = {
  read: { args: ["i32", "ptr", "u64"], returns: "i32" },
  write: { args: ["i32", "ptr", "u64"], returns: "i32" },
  writev: { args: ["i32", "ptr", "i32"], returns: "i32" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i32" },
  recvmmsg: { args: ["i32", "ptr", "u32", "i32", "ptr"], returns: "i32" },
  sendmmsg: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
} as const;

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let lib: Lib | undefined;
let errnoPtr: ReturnType<Lib["__errno_location"]> | undefined;

function L(): Lib {
  if (lib === undefined) {
    lib = dlopen("libc.so.6", SYMBOLS).symbols;
    errnoPtr = lib.__errno_location();
  }
  return lib;
}

type PacketLib = ReturnType<typeof dlopen<typeof PACKET_SYMBOLS>>["symbols"];
let packetLib: PacketLib | undefined;

function P(): PacketLib {
  if (packetLib === undefined) {
    L(); // the errno pointer
    packetLib = dlopen("libc.so.6", PACKET_SYMBOLS).symbols;
  }
  return packetLib;
}

/** errno of the last failed call on this thread (the pointer is thread-local and cached). */
function errno(): number {
  if (errnoPtr === null || errnoPtr === undefined) return 0;
  return peek.i32(errnoPtr as Parameters<typeof peek.i32>[0], 0);
}

function check(rc: number, op: string | (() => string)): number {
  if (rc < 0) throw new SyscallError(errno(), typeof op === "string" ? op : op());
  return rc;
}

/** Retry a call while it fails with EINTR (one place for it). */
function retryEintr(call: () => number): number {
  for (;;) {
    const rc = call();
    if (rc >= 0 || errno() !== Errno.EINTR) return rc;
  }
}

/**
 * The address of a buffer's first byte, for structures that hold pointers (msghdr, iovec). The
 * caller keeps the buffer referenced until the call that uses the address returns.
 */
export function addressOf(buf: Uint8Array): bigint {
  return BigInt(ptr(buf));
}

function cstr(s: string): Uint8Array {
  return Buffer.from(`${s}\0`, "utf8");
}

export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_CLOEXEC = 0o2000000;
export const O_NOFOLLOW = 0o400000;
export const O_WRONLY = 1;
/** O_TMPFILE as open(2) wants it (it includes O_DIRECTORY). */
export const O_TMPFILE = 0o20200000;
export const AT_FDCWD = -100;
export const AT_SYMLINK_FOLLOW = 0x400;
export const CLONE_NEWNET = 0x40000000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export function socket(domain: number, type: number, protocol: number): number {
  return check(L().socket(domain, type, protocol), `socket(${domain}, ${type}, ${protocol})`);
}

export function bind(fd: number, addr: Uint8Array): void {
  check(L().bind(fd, addr, addr.byteLength), "bind");
}

/** getsockname into `addr`; returns the address length the kernel wrote. */
export function getsockname(fd: number, addr: Uint8Array): number {
  const len = new Uint32Array([addr.byteLength]);
  check(L().getsockname(fd, addr, len), "getsockname");
  return len[0] ?? 0;
}

export function setsockopt(fd: number, level: number, name: number, value: Uint8Array): void {
  check(L().setsockopt(fd, level, name, value, value.byteLength), `setsockopt(${level}, ${name})`);
}

/** sendto with EINTR retry; `addr` may be null for connected sockets. */
export function sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number {
  const l = L();
  return check(
    retryEintr(() => l.sendto(fd, buf, buf.byteLength, flags, addr, addr?.byteLength ?? 0)),
    "sendto",
  );
}

/** recv into `buf` with EINTR retry; returns the byte count (with MSG_TRUNC: the real length). */
export function recv(fd: number, buf: Uint8Array, flags: number): number {
  const l = L();
  return check(
    retryEintr(() => l.recvfrom(fd, buf, buf.byteLength, flags, null, null)),
    "recv",
  );
}

export function close(fd: number): void {
  check(L().close(fd), `close(${fd})`);
}

export function open(path: string, flags: number, mode = 0o644): number {
  return check(
    retryEintr(() => L().open(cstr(path), flags | O_CLOEXEC, mode)),
    () => `open ${path}`,
  );
}

/** linkat(2): a new name `newPath` for `oldPath` (paths relative to the cwd); EEXIST when the name is taken. */
export function linkat(oldPath: string, newPath: string, flags: number): void {
  check(L().linkat(AT_FDCWD, cstr(oldPath), AT_FDCWD, cstr(newPath), flags), () => `linkat ${newPath}`);
}

/** f_type of the filesystem holding `fd` (first field of struct statfs on 64-bit Linux). */
export function fstatfsType(fd: number): number {
  const buf = new BigInt64Array(16); // struct statfs is 120 bytes on x86_64 and arm64
  check(L().fstatfs(fd, buf), `fstatfs(${fd})`);
  return Number(buf[0] ?? 0n);
}

export function setns(fd: number, nstype: number): void {
  check(L().setns(fd, nstype), `setns(${fd})`);
}

export function unshare(flags: number): void {
  check(L().unshare(flags), "unshare");
}

/** flock; with LOCK_NB a held lock throws SyscallError code EAGAIN (EWOULDBLOCK). */
export function flock(fd: number, op: number): void {
  check(
    retryEintr(() => L().flock(fd, op)),
    `flock(${fd}, ${op})`,
  );
}

/** connect with EINTR retry. */
export function connect(fd: number, addr: Uint8Array): void {
  const l = L();
  check(
    retryEintr(() => l.connect(fd, addr, addr.byteLength)),
    "connect",
  );
}

export function listen(fd: number, backlog: number): void {
  check(L().listen(fd, backlog), "listen");
}

/** accept4 (no peer address); EAGAIN on a non-blocking socket with nothing pending. */
export function accept4(fd: number, flags: number): number {
  const l = L();
  return check(
    retryEintr(() => l.accept4(fd, null, null, flags)),
    "accept4",
  );
}

/** sendmsg of a prepared struct msghdr (see linux/unix-socket.ts); returns the bytes sent. */
export function sendmsg(fd: number, msghdr: Uint8Array, flags: number): number {
  const l = L();
  return check(
    retryEintr(() => Number(l.sendmsg(fd, msghdr, flags))),
    "sendmsg",
  );
}

/** recvmsg into a prepared struct msghdr; returns the bytes received (0 at end of stream). */
export function recvmsg(fd: number, msghdr: Uint8Array, flags: number): number {
  const l = L();
  return check(
    retryEintr(() => Number(l.recvmsg(fd, msghdr, flags))),
    "recvmsg",
  );
}

/** getsockopt into `value`; returns the length the kernel wrote. */
export function getsockopt(fd: number, level: number, name: number, value: Uint8Array): number {
  const len = new Uint32Array([value.byteLength]);
  check(L().getsockopt(fd, level, name, value, len), `getsockopt(${level}, ${name})`);
  return len[0] ?? 0;
}

/** poll over a packed array of struct pollfd; returns the number of ready entries (0: timeout). */
export function poll(fds: Uint8Array, count: number, timeoutMs: number): number {
  const l = L();
  return check(
    retryEintr(() => l.poll(fds, count, timeoutMs)),
    "poll",
  );
}

/** A pipe: [read end, write end]. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  check(L().pipe2(fds, flags), "pipe2");
  return [fds[0] ?? -1, fds[1] ?? -1];
}

/** read(2) with EINTR retry; EAGAIN on a non-blocking fd with nothing to read. */
export function read(fd: number, buf: Uint8Array): number {
  const l = L();
  return check(
    retryEintr(() => Number(l.read(fd, buf, buf.byteLength))),
    "read",
  );
}

/** write(2) with EINTR retry; returns the bytes written. */
export function write(fd: number, buf: Uint8Array): number {
  const l = L();
  return check(
    retryEintr(() => Number(l.write(fd, buf, buf.byteLength))),
    "write",
  );
}

export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const O_NONBLOCK = 0o4000;

/** fcntl with an int argument. */
export function fcntl(fd: number, cmd: number, arg: number): number {
  return check(L().fcntl(fd, cmd, arg), `fcntl(${fd}, ${cmd})`);
}

/** A new descriptor for the same open file (close-on-exec). */
export function dup(fd: number): number {
  return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

export function shutdown(fd: number, how: number): void {
  check(L().shutdown(fd, how), "shutdown");
}

export function getpid(): number {
  return L().getpid();
}

export function gettid(): number {
  return L().gettid();
}

/** ioctl with a pointer argument (struct ifreq and the like). */
export function ioctl(fd: number, request: number, arg: Uint8Array | null, what: string): void {
  check(
    retryEintr(() => L().ioctl(fd, request, arg)),
    what,
  );
}

/** ioctl with an integer argument passed by value (TUNSETOFFLOAD and the like). */
export function ioctlValue(fd: number, request: number, value: number, what: string): void {
  check(
    retryEintr(() => L().ioctl(fd, request, value as Pointer)),
    what,
  );
}

export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

export function eventfd(initval: number, flags: number): number {
  return check(L().eventfd(initval, flags), "eventfd");
}

/**
 * Memory outside the JS heap, for buffers whose address the kernel keeps between calls (iovecs,
 * message headers, packet arenas): a garbage collection never moves it. `buffer` views it; the
 * memory lives until {@link freeNative}.
 */
export interface NativeBuffer {
  readonly addr: number;
  readonly buffer: ArrayBuffer;
}

export function allocNative(size: number): NativeBuffer {
  const p = L().calloc(1, size);
  if (p === null) throw new SyscallError(Errno.ENOMEM, `calloc(${size})`);
  return { addr: Number(p), buffer: toArrayBuffer(p, 0, size) };
}

export function freeNative(b: NativeBuffer): void {
  L().free(b.addr as Pointer);
}

// Raw packet I/O for a hot loop: addresses are NativeBuffer addresses (plus offsets), results are
// the syscall's return value or -errno; nothing is allocated or thrown per call.

function rawResult(rc: number): number {
  return rc < 0 ? -errno() : rc;
}

export function rawRead(fd: number, addr: number, len: number): number {
  return rawResult(P().read(fd, addr as Pointer, len));
}

export function rawWrite(fd: number, addr: number, len: number): number {
  return rawResult(P().write(fd, addr as Pointer, len));
}

export function rawWritev(fd: number, iov: number, count: number): number {
  return rawResult(P().writev(fd, iov as Pointer, count));
}

/** poll(2) over `count` struct pollfd at `fds`; EINTR comes back as -EINTR. */
export function rawPoll(fds: number, count: number, timeoutMs: number): number {
  return rawResult(P().poll(fds as Pointer, count, timeoutMs));
}

export function rawRecvmmsg(fd: number, msgs: number, count: number, flags: number): number {
  return rawResult(P().recvmmsg(fd, msgs as Pointer, count, flags, null));
}

export function rawSendto(fd: number, buf: number, len: number, flags: number, addr: number, addrLen: number): number {
  return rawResult(L().sendto(fd, buf as Pointer, len, flags, addr as Pointer, addrLen));
}

export function rawSendmmsg(fd: number, msgs: number, count: number, flags: number): number {
  return rawResult(P().sendmmsg(fd, msgs as Pointer, count, flags));
}
