/**
 * Root-test driver (bun): exercises withNetns against the netns at argv[2] and prints one JSON
 * object of observations: namespace identities before/inside/after (readlink of
 * /proc/thread-self/ns/net), sysctl values read inside, and how failures are reported.
 */
import { readlinkSync } from "node:fs";
import { withNetns, openNetns, isNetns } from "../netns.ts";
import { procSysctl } from "../sysctl.ts";
import { openNetlink } from "../netlink/open.ts";

const target = process.argv[2] ?? "";
const other = process.argv[3] ?? "";
const here = (): string => readlinkSync("/proc/thread-self/ns/net");
const errorOf = (f: () => unknown): { name: string; message: string } | null => {
  try {
    f();
    return null;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
};

const before = here();
const inside = withNetns(target, () => here());
const afterOk = here();
const thrown = errorOf(() =>
  withNetns(target, () => {
    throw new Error("boom");
  }),
);
const afterThrow = here();
const promise = errorOf(() => withNetns(target, (() => Promise.resolve(1)) as () => never));
const afterPromise = here();
const nested = withNetns(target, () => ({ outer: here(), inner: withNetns(other, () => here()), back: here() }));
const afterNested = here();
const ns = openNetns(target);
const byHandle = withNetns(ns, () => here());
ns.close();
const sysctlInside = withNetns(target, () => procSysctl.get("net.ipv4.ip_forward"));
const sysctlOutside = procSysctl.get("net.ipv4.ip_forward");
withNetns(target, () => procSysctl.set("net/ipv4/conf/all/arp_notify", 1));
// A netlink socket opened inside keeps talking to that netns after we left.
const nl = openNetlink({ netns: target });
const linksSeen = nl.listLinks().map((l) => l.name);
nl.close();
const missing = errorOf(() => withNetns(`${target}-missing`, () => 1));
const notNs = errorOf(() => withNetns("/etc/hostname", () => 1));

process.stdout.write(
  `${JSON.stringify({
    before,
    inside,
    afterOk,
    thrown,
    afterThrow,
    promise,
    afterPromise,
    nested,
    afterNested,
    byHandle,
    sysctlInside,
    sysctlOutside,
    linksSeen,
    missing,
    notNs,
    isNetns: [isNetns(target), isNetns(`${target}-missing`), isNetns("/etc/hostname")],
    final: here(),
  })}\n`,
);
