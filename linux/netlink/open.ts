/** Open kernel-backed netlink clients and event monitors, in the current netns or inside another one. */
import { withNetns, type NetnsHandle } from "../netns.ts";
import { RtnetlinkClient, type NetlinkClient } from "./client.ts";
import { KernelTransport, type KernelTransportOptions } from "./kernel-transport.ts";
import { NetlinkMonitor, groupsOf, type MonitorTopic } from "./monitor.ts";
import { NetlinkSocket } from "./socket.ts";

/** Options for {@link openNetlink}. */
export interface OpenNetlinkOptions extends Omit<KernelTransportOptions, "groups"> {
  /** Open the socket inside this netns (path or open Netns); it then always talks to that netns. */
  readonly netns?: string | NetnsHandle;
}

/** A NetlinkClient on a new NETLINK_ROUTE socket. Close it when done. */
export function openNetlink(opts: OpenNetlinkOptions = {}): NetlinkClient {
  const make = (): NetlinkClient => new RtnetlinkClient(new NetlinkSocket(new KernelTransport(opts)));
  return opts.netns === undefined ? make() : withNetns(opts.netns, make);
}

/** Options for {@link openMonitor}. */
export interface OpenMonitorOptions extends OpenNetlinkOptions {
  /** What to hear about. */
  readonly topics: readonly MonitorTopic[];
}

/** A NetlinkMonitor joined to the topics' multicast groups. Close it when done. */
export function openMonitor(opts: OpenMonitorOptions): NetlinkMonitor {
  const make = (): NetlinkMonitor =>
    new NetlinkMonitor(new KernelTransport({ ...opts, groups: groupsOf(opts.topics) }));
  return opts.netns === undefined ? make() : withNetns(opts.netns, make);
}
