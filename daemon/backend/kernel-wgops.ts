// WgOps on the system: the kernel's WireGuard when it has one (RTM_NEWLINK kind "wireguard", then
// generic netlink), else, the way wg-quick falls back, Debian's wireguard-go run as a supervised
// child for the device and configured over its UAPI socket. Links, addresses and routes go
// through our netlink client; nothing shells out to ip or wg.
import { existsSync } from "node:fs";
import { NetlinkError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import type { NetlinkClient } from "../../linux/netlink/client.ts";
import type { WireguardGenl } from "../../linux/wireguard/genl-client.ts";
import type { WgDeviceConfig, WgDeviceState } from "../../linux/wireguard/types.ts";
import { uapiGet, uapiSet } from "../../linux/wireguard/uapi-client.ts";
import { UAPI_SOCKET_DIR, uapiSocketPath } from "../../linux/wireguard/uapi.ts";
import { describeExit, WireguardGo, type WireguardGoOptions } from "../../linux/wireguard/wireguard-go.ts";
import { errorMessage, type Logger } from "../log.ts";
import type { KRoute, NetOps } from "./netops.ts";
import type { WgOps } from "./wireguard-network.ts";

/** How long an orphaned wireguard-go may take to drop its socket once its device is deleted. */
const ORPHAN_EXIT_MS = 3000;

export class KernelWgOps implements WgOps {
  private readonly impls = new Map<string, "kernel" | "userspace">();
  private readonly procs = new Map<string, WireguardGo>();
  private lost: ((name: string, why: string) => void) | undefined;
  private genlClient: WireguardGenl | undefined;

  constructor(
    private readonly nl: NetlinkClient,
    private readonly netops: Pick<NetOps, "linkIndex" | "ensureAddress" | "listRoutes" | "replaceRoute">,
    private readonly openGenl: () => WireguardGenl,
    private readonly log: Logger,
    private readonly userspace: WireguardGoOptions = {},
  ) {}

  private genl(): WireguardGenl {
    this.genlClient ??= this.openGenl();
    return this.genlClient;
  }

  private socketPath(name: string): string {
    return uapiSocketPath(name, this.userspace.socketDir ?? UAPI_SOCKET_DIR);
  }

  async createDevice(name: string, mtu: number): Promise<{ index: number; impl: "kernel" | "userspace" }> {
    const existing = this.nl.findLink(name);
    if (existing) {
      this.log.warn(`"${name}" already exists; recreating device`, { dev: name, kind: existing.kind || "none" });
      await this.removeDevice(name);
      // a wireguard-go left by an earlier flanneld (killed) exits when its TUN goes, unlinking its socket
      const deadline = Date.now() + ORPHAN_EXIT_MS;
      while (existsSync(this.socketPath(name)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    }
    try {
      this.nl.createWireguard({ name, mtu });
      this.impls.set(name, "kernel");
      return { index: this.nl.getLink(name).index, impl: "kernel" };
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === Errno.EOPNOTSUPP))
        throw new Error(`could not create wireguard interface ${name}: ${errorMessage(e)}`);
    }
    this.log.info(
      'the kernel has no WireGuard (a "wireguard" link is not supported): ' +
        "running the userspace implementation wireguard-go",
      { dev: name, socket: this.socketPath(name) },
    );
    let p: WireguardGo;
    try {
      p = await WireguardGo.start(name, {
        ...this.userspace,
        onLine: (line) => this.log.warn("wireguard-go says", { dev: name, line }),
      });
    } catch (e) {
      throw new Error(
        `cannot create the WireGuard device ${name}: the kernel has no WireGuard and the userspace fallback ` +
          `failed (${errorMessage(e)}); load the kernel module (modprobe wireguard; built into Linux 5.6 and ` +
          "later) or install wireguard-go",
      );
    }
    this.procs.set(name, p);
    this.impls.set(name, "userspace");
    void p.exited.then((e) => {
      if (this.procs.get(name) !== p) return;
      this.procs.delete(name);
      if (!e.requested) this.lost?.(name, `${describeExit(e)}${e.output ? `: ${e.output}` : ""}`);
    });
    this.nl.setMtu(name, mtu);
    return { index: this.nl.getLink(name).index, impl: "userspace" };
  }

  private implOf(name: string): "kernel" | "userspace" {
    const impl = this.impls.get(name);
    if (!impl) throw new Error(`wireguard device ${name} was not created by this flanneld`);
    return impl;
  }

  async configure(name: string, cfg: WgDeviceConfig): Promise<void> {
    if (this.implOf(name) === "kernel") this.genl().setDevice(name, cfg);
    else await uapiSet(this.socketPath(name), cfg);
  }

  async read(name: string): Promise<WgDeviceState> {
    return this.implOf(name) === "kernel" ? this.genl().getDevice(name) : uapiGet(this.socketPath(name));
  }

  async removeDevice(name: string): Promise<void> {
    const p = this.procs.get(name);
    if (p) {
      this.procs.delete(name);
      const e = await p.stop();
      this.log.debug("wireguard-go stopped", { dev: name, exit: describeExit(e) });
    }
    const link = this.nl.findLink(name);
    if (link) this.nl.deleteLink(link.index);
    this.impls.delete(name);
  }

  onDeviceLost(cb: (name: string, why: string) => void): void {
    this.lost = cb;
  }

  linkIndex(name: string): number | undefined {
    return this.netops.linkIndex(name);
  }
  ensureAddress(ifindex: number, cidr: string, within: string): void {
    this.netops.ensureAddress(ifindex, cidr, within);
  }
  listRoutes(family: 4 | 6): KRoute[] {
    return this.netops.listRoutes(family);
  }
  replaceRoute(r: KRoute): void {
    this.netops.replaceRoute(r);
  }
}
