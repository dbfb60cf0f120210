// The udp backend's kernel side: the TUN device (flannel0) with its address, MTU and cluster route
// over rtnetlink, the UDP socket, and the forwarder worker on both. Offloads are used where the
// kernel has them: a vnet-header TUN device with checksum + TCPv4 segmentation offload, UDP_SEGMENT
// sends and UDP_GRO receives; each falls back on its own (WEFT_UDP_OFFLOAD=off turns all off).
import * as libc from "../../../linux/ffi/libc.ts";
import type { NetlinkClient } from "../../../linux/netlink/client.ts";
import {
  openRawIpSocket,
  openTun,
  openUdpSocket,
  setTunOffload,
  SOL_UDP,
  trySetsockoptInt,
  TUN_F_CSUM,
  TUN_F_TSO4,
  UDP_GRO,
  UDP_SEGMENT,
  type TunDevice,
} from "../../../linux/tun.ts";
import { parseCidr } from "../../../net/prefix.ts";
import type { Forwarder } from "./forwarder.ts";
import type { ForwarderStats } from "./protocol.ts";
import { ipv4ToU32, type PeerRoute } from "./table.ts";
import type { UdpDataPath, UdpDeviceSpec, UdpKernel } from "./udp-backend.ts";

/** Socket buffers forced on the forwarder's socket: room for a few 64 KiB bursts per peer. */
const SOCKET_BUFFER = 4 << 20;

function openTunWithOffload(name: string, want: boolean): { tun: TunDevice; offload: boolean } {
  if (want) {
    const tun = openTun(name, { vnetHdr: true });
    try {
      setTunOffload(tun.fd, TUN_F_CSUM | TUN_F_TSO4);
      return { tun, offload: true };
    } catch {
      libc.close(tun.fd);
    }
  }
  return { tun: openTun(name), offload: false };
}

class KernelUdpDataPath implements UdpDataPath {
  private stopped = false;

  constructor(
    private readonly nl: NetlinkClient,
    private readonly spec: UdpDeviceSpec,
    private readonly tun: TunDevice,
    private readonly sock: number,
    private readonly icmp: number | undefined,
    private readonly fwd: Forwarder,
    readonly index: number,
    readonly offloads: string,
  ) {}

  get name(): string {
    return this.tun.name;
  }

  get done(): Promise<void> {
    return this.fwd.done;
  }

  setRoutes(routes: readonly PeerRoute[]): Promise<void> {
    return this.fwd.setRoutes(routes);
  }

  stats(): Promise<ForwarderStats> {
    return this.fwd.stats();
  }

  repair(): { repaired: number; present: boolean } {
    const link = this.nl.findLink(this.tun.name);
    if (!link || link.index !== this.index) return { repaired: 0, present: false };
    return { repaired: configure(this.nl, this.index, this.spec), present: true };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.fwd.stop();
    } finally {
      libc.close(this.sock);
      if (this.icmp !== undefined) libc.close(this.icmp);
      // the last descriptor of a non-persistent TUN device: the kernel removes flannel0 with its
      // address and route, as when flanneld's udp backend exits
      libc.close(this.tun.fd);
    }
  }
}

/**
 * Make the device match the spec: the /32 as its only IPv4 address (no connected route), its MTU,
 * up, and the cluster network routed into it. Returns the number of changes.
 */
function configure(nl: NetlinkClient, index: number, s: UdpDeviceSpec): number {
  let changes = 0;
  const want = parseCidr(s.address);
  let present = false;
  for (const a of nl.listAddrs({ dev: index, family: 4 })) {
    const have = parseCidr(`${a.ip}/${a.prefixLen}`);
    if (have && want && have.ip === want.ip && have.prefix === want.prefix) present = true;
    else {
      nl.deleteAddr(index, `${a.ip}/${a.prefixLen}`);
      changes++;
    }
  }
  if (!present) {
    nl.addAddr(index, s.address);
    changes++;
  }
  const link = nl.getLink(index);
  if (link.mtu !== s.mtu) {
    nl.setMtu(index, s.mtu);
    changes++;
  }
  if (!link.up) {
    nl.setLinkUp(index);
    changes++;
  }
  const routed = nl
    .listRoutes({ family: 4, dev: index })
    .some((r) => r.dst === s.network && r.oif === index && r.gateway === undefined);
  if (!routed) {
    // an explicit route, as flannel adds: a route for the network may already exist elsewhere
    nl.replaceRoute({ dst: s.network, oif: index, scope: "universe" });
    changes++;
  }
  return changes;
}

export class KernelUdp implements UdpKernel {
  constructor(
    private readonly nl: NetlinkClient,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async start(spec: UdpDeviceSpec, routes: readonly PeerRoute[]): Promise<UdpDataPath> {
    const want = (this.env["WEFT_UDP_OFFLOAD"] ?? "on") !== "off";
    const bindIp = ipv4ToU32(spec.bindIp);
    const tunAddr = ipv4ToU32(spec.address.split("/")[0] ?? "");
    if (bindIp === undefined || tunAddr === undefined)
      throw new Error(`udp backend: bad addresses ${spec.bindIp} / ${spec.address}`);
    const { tun, offload } = openTunWithOffload(spec.name, want);
    let sock = -1;
    let icmp: number | undefined;
    try {
      const index = this.nl.getLink(tun.name).index;
      configure(this.nl, index, spec);
      sock = openUdpSocket({ ip: bindIp, port: spec.port, bufferBytes: SOCKET_BUFFER });
      const udpGso = want && trySetsockoptInt(sock, SOL_UDP, UDP_SEGMENT, 0);
      const udpGro = want && trySetsockoptInt(sock, SOL_UDP, UDP_GRO, 1);
      icmp = openRawIpSocket();
      // loaded with the first udp device only: node:worker_threads stays out of other backends' daemons
      const { startForwarder } = await import("./forwarder.ts");
      const fwd = await startForwarder({
        tunFd: tun.fd,
        sockFd: sock,
        icmpFd: icmp ?? -1,
        tunAddr,
        mtu: spec.mtu,
        port: spec.port,
        tunOffload: offload,
        udpGso,
        udpGro,
        routes,
      });
      const offloads =
        [offload ? "TUN TSO+csum" : "", udpGso ? "UDP GSO" : "", udpGro ? "UDP GRO" : ""].filter(Boolean).join(", ") ||
        "none";
      return new KernelUdpDataPath(this.nl, spec, tun, sock, icmp, fwd, index, offloads);
    } catch (e) {
      if (sock >= 0) libc.close(sock);
      if (icmp !== undefined) libc.close(icmp);
      libc.close(tun.fd);
      throw e;
    }
  }
}
