// Namespaces, underlay, nodes and pods for tests and the demo. Every name carries a per-run prefix,
// everything created is recorded, and cleanup() removes it all, also on failure and on process exit.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ipJson, run, runIn } from "./sh.ts";

const REGISTRY = "/run/weft-test";

/** A short per-run prefix: link names must stay within 15 characters. */
export function runPrefix(): string {
  return `w${randomBytes(2).toString("hex")}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove namespaces left by test runs whose process died (crash, SIGKILL). */
export async function sweepStale(): Promise<string[]> {
  mkdirSync(REGISTRY, { recursive: true });
  const swept: string[] = [];
  for (const prefix of readdirSync(REGISTRY)) {
    const pid = Number(readFileSync(`${REGISTRY}/${prefix}`, "utf8"));
    if (pidAlive(pid)) continue;
    const { stdout } = await run("ip", ["netns", "list"]);
    for (const line of stdout.split("\n")) {
      const ns = line.split(" ")[0];
      if (ns && ns.startsWith(`${prefix}-`)) {
        await run("ip", ["netns", "del", ns], { allowFail: true });
        swept.push(ns);
      }
    }
    await deleteRootLinks(prefix);
    rmSync(`${REGISTRY}/${prefix}`, { force: true });
  }
  return swept;
}

async function deleteRootLinks(prefix: string): Promise<void> {
  const links = await ipJson<{ ifname: string }[]>(undefined, ["link", "show"]);
  for (const l of links)
    if (l.ifname.startsWith(prefix)) await run("ip", ["link", "del", l.ifname], { allowFail: true });
}

export interface NodeSpec {
  /** netns name of the node */
  readonly ns: string;
  /** underlay address, 192.0.2.x */
  readonly ip: string;
  /** IPv6 underlay address (2001:db8:0:1::x, documentation range) when the underlay is dual stack */
  readonly ip6?: string;
  /** underlay interface name inside the node */
  readonly dev: string;
}

export class Topology {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private onExit = (): void => this.cleanupSync();

  constructor(prefix = runPrefix()) {
    this.prefix = prefix;
    mkdirSync(REGISTRY, { recursive: true });
    writeFileSync(`${REGISTRY}/${prefix}`, String(process.pid));
    process.once("exit", this.onExit);
  }

  /** `<prefix>-<name>` */
  name(name: string): string {
    return `${this.prefix}-${name}`;
  }

  async netns(name: string): Promise<string> {
    const ns = this.name(name);
    await run("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /**
   * An underlay: a bridge in its own netns and one node netns per address, each linked by a veth
   * (`eth0` in the node), addressed 192.0.2.<10+i>/24, forwarding on. With `ipv6`, each node also
   * gets 2001:db8:0:1::<10+i>/64 (documentation range, no DAD so it is usable at once) and IPv6
   * forwarding.
   */
  async underlay(nodes: number, opts: { readonly mtu?: number; readonly ipv6?: boolean } = {}): Promise<NodeSpec[]> {
    const ul = await this.netns("ul");
    await run("ip", ["-n", ul, "link", "add", "br0", "type", "bridge"]);
    await run("ip", ["-n", ul, "link", "set", "br0", "up"]);
    const out: NodeSpec[] = [];
    for (let i = 1; i <= nodes; i++) {
      const ns = await this.netns(`n${i}`);
      const ip = `192.0.2.${10 + i}`;
      await run("ip", ["-n", ul, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      await run("ip", ["-n", ul, "link", "set", `p${i}`, "master", "br0", "up"]);
      if (opts.mtu) {
        await run("ip", ["-n", ul, "link", "set", `p${i}`, "mtu", String(opts.mtu)]);
        await run("ip", ["-n", ns, "link", "set", "eth0", "mtu", String(opts.mtu)]);
      }
      await run("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
      await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await runIn(ns, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
      if (opts.ipv6) {
        const ip6 = `2001:db8:0:1::${10 + i}`;
        await run("ip", ["-n", ns, "addr", "add", `${ip6}/64`, "dev", "eth0", "nodad"]);
        await runIn(ns, "sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]);
        out.push({ ns, ip, ip6, dev: "eth0" });
        continue;
      }
      out.push({ ns, ip, dev: "eth0" });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    process.removeListener("exit", this.onExit);
    for (const ns of this.namespaces.splice(0).reverse()) await run("ip", ["netns", "del", ns], { allowFail: true });
    await deleteRootLinks(this.prefix);
    rmSync(`${REGISTRY}/${this.prefix}`, { force: true });
  }

  /** Last resort on process exit: synchronous, best effort. */
  private cleanupSync(): void {
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync("ip", ["netns", "del", ns]);
    rmSync(`${REGISTRY}/${this.prefix}`, { force: true });
  }
}
