/**
 * Network namespaces for unit tests, each one a RecordingNetlink with its MemorySysctl: what a kernel
 * adapter reaches through netlink sockets, netns fds, setns and /proc/sys, with nothing but these two
 * fakes underneath. `open(path)` hands out a NetnsHandle whose fd the netlink fakes resolve (veth
 * peers created with `netnsFd` land in that netns), `enter(ns, fn)` switches which /proc/sys
 * `sysctl` shows while `fn` runs, like setns on the calling thread.
 */
import { NetnsNotFoundError, SyscallError } from "../errors.ts";
import { Errno } from "../errno.ts";
import type { Link } from "../netlink/link.ts";
import type { NetnsHandle } from "../netns.ts";
import type { Sysctl } from "../sysctl.ts";
import { MemorySysctl } from "./memory-sysctl.ts";
import { RecordingNetlink } from "./recording-client.ts";

/** /proc/sys of a fresh netns: forwarding off, and the defaults new interfaces copy (conf/default). */
export const FRESH_NETNS_SYSCTLS: Readonly<Record<string, string>> = {
  "net/ipv4/ip_forward": "0",
  "net/ipv4/conf/all/forwarding": "0",
  "net/ipv4/conf/default/forwarding": "0",
  "net/ipv4/conf/default/arp_notify": "0",
  "net/ipv6/conf/all/forwarding": "0",
  "net/ipv6/conf/all/disable_ipv6": "0",
  "net/ipv6/conf/default/forwarding": "0",
  "net/ipv6/conf/default/accept_ra": "1",
  "net/ipv6/conf/default/accept_dad": "1",
  "net/ipv6/conf/default/enhanced_dad": "1",
  "net/ipv6/conf/default/disable_ipv6": "0",
  "net/ipv6/conf/default/keep_addr_on_down": "0",
};

/** One fake network namespace. */
export class FakeNetns {
  readonly sysctl: MemorySysctl;
  readonly nl: RecordingNetlink;
  constructor(
    readonly path: string,
    world: (fd: number) => RecordingNetlink | undefined,
    sysctls: Readonly<Record<string, string>>,
  ) {
    this.sysctl = new MemorySysctl(sysctls);
    this.nl = new RecordingNetlink(world, this.sysctl);
  }
  /** The link named `name` (not recorded as a call). */
  link(name: string): Link | undefined {
    return this.nl.linkNamed(name);
  }
  /** The addresses of link `name` as "ip/prefix", in the order they were added. */
  addrs(name: string): string[] {
    const index = this.link(name)?.index;
    return this.nl.addrs.filter((a) => a.index === index).map((a) => `${a.ip}/${a.prefixLen}`);
  }
}

export class FakeNetnsWorld {
  /** The netns this process runs in. */
  readonly root: FakeNetns;
  private readonly byPath = new Map<string, FakeNetns>();
  private readonly byFd = new Map<number, FakeNetns>();
  private nextFd = 100;
  private current: FakeNetns;
  /** /proc/sys of the netns the (fake) thread is in: the root's, or the entered one's. */
  readonly sysctl: Sysctl = {
    get: (key) => this.current.sysctl.get(key),
    set: (key, value) => this.current.sysctl.set(key, value),
  };

  constructor() {
    this.root = new FakeNetns("/proc/1/ns/net", (fd) => this.byFd.get(fd)?.nl, FRESH_NETNS_SYSCTLS);
    this.current = this.root;
  }

  /** Create a netns at `path` (`ip netns add`). */
  add(path: string, sysctls: Readonly<Record<string, string>> = {}): FakeNetns {
    const ns = new FakeNetns(path, (fd) => this.byFd.get(fd)?.nl, { ...FRESH_NETNS_SYSCTLS, ...sysctls });
    this.byPath.set(path, ns);
    return ns;
  }

  /** Remove the path (`ip netns del`): it can no longer be opened; handles already open stay valid. */
  remove(path: string): void {
    this.byPath.delete(path);
  }

  /** How many handles are open (not closed yet). */
  get openHandles(): number {
    return this.byFd.size;
  }

  /** Open a netns path as openNetns does: NetnsNotFoundError (code ENOENT) when it does not exist. */
  open(path: string): NetnsHandle {
    const ns = this.byPath.get(path);
    if (!ns) throw new NetnsNotFoundError(path);
    const fd = this.nextFd++;
    this.byFd.set(fd, ns);
    return {
      path,
      fd,
      close: () => {
        this.byFd.delete(fd);
      },
    };
  }

  /** Run `fn` with the thread inside `ns` (its /proc/sys in `sysctl`), then come back. */
  enter<T>(ns: NetnsHandle, fn: () => T): T {
    const target = this.byFd.get(ns.fd);
    if (!target) throw new SyscallError(Errno.EBADF, `setns ${ns.path}`);
    const previous = this.current;
    this.current = target;
    try {
      return fn();
    } finally {
      this.current = previous;
    }
  }

  /** The netlink fake of the root netns, or of the netns open at `ns`. */
  netlink(ns?: NetnsHandle): RecordingNetlink {
    if (ns === undefined) return this.root.nl;
    const target = this.byFd.get(ns.fd);
    if (!target) throw new SyscallError(Errno.EBADF, `netlink socket in ${ns.path}`);
    return target.nl;
  }
}
