/**
 * The kernel WireGuard device over generic netlink: the "wireguard" family id resolved once with
 * CTRL_CMD_GETFAMILY, then WG_CMD_SET_DEVICE (acked, one request per message fragment) and
 * WG_CMD_GET_DEVICE (a dump). Over any NetlinkSocket, so unit tests drive it with a fake
 * transport; open.ts opens it on the kernel's NETLINK_GENERIC socket.
 */
import { NetlinkError } from "../errors.ts";
import { Errno } from "../errno.ts";
import { decodeFamily, getFamilyRequest, type GenlFamily } from "../netlink/genetlink.ts";
import type { NetlinkSocket } from "../netlink/socket.ts";
import { decodeDevice, getDeviceRequest, setDeviceRequests, WG_GENL_NAME } from "./genl.ts";
import type { WgControl, WgDeviceConfig, WgDeviceState } from "./types.ts";

/** The kernel has no "wireguard" generic netlink family (module not built or not loaded). */
export class WireguardFamilyMissingError extends Error {
  override readonly name = "WireguardFamilyMissingError";
  readonly code = "ENOENT";
  constructor() {
    super(
      `the kernel has no "${WG_GENL_NAME}" generic netlink family: ` +
        "WireGuard is not built in or its module is not loaded (modprobe wireguard)",
    );
  }
}

export class WireguardGenl {
  private family: GenlFamily | undefined;

  constructor(private readonly sock: NetlinkSocket) {}

  /** The family as the kernel describes it; WireguardFamilyMissingError when there is none. */
  resolve(): GenlFamily {
    if (this.family) return this.family;
    try {
      this.family = decodeFamily(this.sock.get(getFamilyRequest(WG_GENL_NAME)));
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.ENOENT) throw new WireguardFamilyMissingError();
      throw e;
    }
    return this.family;
  }

  setDevice(ifname: string, cfg: WgDeviceConfig): void {
    const id = this.resolve().id;
    for (const req of setDeviceRequests(id, ifname, cfg)) this.sock.ack(req);
  }

  getDevice(ifname: string): WgDeviceState {
    return decodeDevice(this.sock.dump(getDeviceRequest(this.resolve().id, ifname)));
  }

  /** WgControl of one device (the calls are synchronous underneath). */
  control(ifname: string): WgControl {
    return {
      configure: async (cfg) => this.setDevice(ifname, cfg),
      read: async () => this.getDevice(ifname),
    };
  }

  close(): void {
    this.sock.close();
  }
}
