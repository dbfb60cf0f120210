/**
 * Network namespaces: open one (typed errors for "missing" vs "not a netns") and run a
 * synchronous callback inside it. setns() moves only the calling thread, which is the JS
 * thread; sync node:fs calls and netlink sockets created in the callback belong to the
 * entered netns. Async work would resume on the same thread but after we left, so the type
 * rejects Promise-returning callbacks and the runtime checks again.
 */
import * as libc from "./ffi/libc.ts";
import { NetnsNotFoundError, NetnsRestoreError, NotNetnsError, SyscallError } from "./errors.ts";

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/** A callback result that is not a Promise (or other thenable). */
export type Sync<T> = T extends PromiseLike<unknown> ? never : T;

/** An open network namespace as callers hold it: its `fd` is what IFLA_NET_NS_FD and setns want. */
export interface NetnsHandle {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

/** An open network namespace; its `fd` is what IFLA_NET_NS_FD wants. Close when done. */
export class Netns implements NetnsHandle {
  private closed = false;
  constructor(
    readonly path: string,
    readonly fd: number,
  ) {}
  close(): void {
    if (!this.closed) {
      this.closed = true;
      libc.close(this.fd);
    }
  }
}

/**
 * Open a netns path (`/var/run/netns/x`, `/proc/<pid>/ns/net`).
 * @throws NetnsNotFoundError when the path does not exist; NotNetnsError when it is not a netns.
 */
export function openNetns(path: string): Netns {
  let fd: number;
  try {
    fd = libc.open(path, libc.O_RDONLY);
  } catch (e) {
    if (e instanceof SyscallError && e.code === "ENOENT") throw new NetnsNotFoundError(path);
    throw e;
  }
  return adopt(path, fd);
}

/**
 * The netns `path` names, from an fd someone else opened on it (a runtime passing it over a unix
 * socket): a duplicate of `fd`, checked as {@link openNetns} checks, with the same errors. `errno`
 * is what opening the path failed with when no fd came (ENOENT: NetnsNotFoundError).
 */
export function netnsFromFd(path: string, fd: number | undefined, errno = 0): Netns {
  if (fd === undefined) {
    if (errno === 0 || errno === 2) throw new NetnsNotFoundError(path);
    throw new SyscallError(errno, `open ${path}`);
  }
  return adopt(path, libc.dup(fd));
}

/** Take over an open fd as the netns at `path`: closed and refused when it is not a netns. */
function adopt(path: string, fd: number): Netns {
  try {
    const type = libc.fstatfsType(fd);
    if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC) throw new NotNetnsError(path, type);
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  return new Netns(path, fd);
}

/** The netns the thread is in outside any withNetns (opened once), and the one it is in now. */
let originFd = -1;
let currentFd = -1;

function origin(): number {
  if (originFd < 0) {
    originFd = libc.open("/proc/thread-self/ns/net", libc.O_RDONLY);
    currentFd = originFd;
  }
  return originFd;
}

/**
 * Run `fn` inside the network namespace `target` (a path or an open Netns) and always return
 * to the previous namespace, also when `fn` throws. Nesting is allowed.
 * @throws NetnsNotFoundError / NotNetnsError for a bad path, NetnsRestoreError if returning fails.
 */
export function withNetns<T>(target: string | NetnsHandle, fn: () => Sync<T>): T {
  origin();
  const ns = typeof target === "string" ? openNetns(target) : target;
  const previous = currentFd;
  try {
    try {
      libc.setns(ns.fd, libc.CLONE_NEWNET);
    } catch (e) {
      throw e instanceof SyscallError ? new SyscallError(e.errno, `setns ${ns.path}`) : e;
    }
    currentFd = ns.fd;
    try {
      const result = fn();
      if (typeof (result as { then?: unknown } | null)?.then === "function") {
        throw new TypeError("withNetns: the callback returned a Promise; it must be synchronous");
      }
      return result as T;
    } finally {
      try {
        libc.setns(previous, libc.CLONE_NEWNET);
        currentFd = previous;
      } catch (e) {
        throw new NetnsRestoreError(e);
      }
    }
  } finally {
    if (typeof target === "string") ns.close();
  }
}

/** True when `path` exists and is a network namespace. */
export function isNetns(path: string): boolean {
  try {
    openNetns(path).close();
    return true;
  } catch (e) {
    if (e instanceof NetnsNotFoundError || e instanceof NotNetnsError) return false;
    throw e;
  }
}

/** Path naming the calling thread's current netns (e.g. to compare with `readlink`). */
export function threadNetnsPath(): string {
  return `/proc/${libc.getpid()}/task/${libc.gettid()}/ns/net`;
}
