/** Open the kernel's WireGuard generic netlink interface, in the current netns or inside another one. */
import { withNetns, type Netns } from "../netns.ts";
import { NETLINK_GENERIC } from "../netlink/genetlink.ts";
import { KernelTransport } from "../netlink/kernel-transport.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { WireguardGenl } from "./genl-client.ts";

/** A WireguardGenl on a new NETLINK_GENERIC socket (the family is resolved on first use). Close it when done. */
export function openWireguardGenl(
  opts: { readonly netns?: string | Netns; readonly timeoutMs?: number } = {},
): WireguardGenl {
  const make = () =>
    new WireguardGenl(
      new NetlinkSocket(
        new KernelTransport({ protocol: NETLINK_GENERIC, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) }),
      ),
    );
  return opts.netns === undefined ? make() : withNetns(opts.netns, make);
}
