/**
 * Bytes each backend's encapsulation takes from the underlay MTU: the overlay device's MTU and
 * FLANNEL_MTU are the underlay's (or Backend.MTU's) minus these. Pure numbers, so the
 * control-plane-only data plane computes the same FLANNEL_MTU without loading a backend.
 */
import type { BackendType } from "../config.ts";

/** vxlan overhead: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD_V4 = 50;
/**
 * vxlan over IPv6: outer IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14). flanneld subtracts
 * 50 for both families; the kernel's own default for such a device is also underlay − 70.
 */
export const VXLAN_OVERHEAD_V6 = 70;
/** ipip: the outer IPv4 header. */
export const IPIP_OVERHEAD = 20;
/** udp: outer IPv4 header (20) + UDP header (8). */
export const UDP_ENCAP_OVERHEAD = 28;
/**
 * Bytes flanneld reserves per packet: outer IPv6 header (40; 20 with IPv4), UDP (8), WireGuard
 * type, receiver index and counter (16), authentication tag (16).
 */
export const WIREGUARD_OVERHEAD = 80;

/** What `type` takes from the underlay MTU (0 for the backends that do not encapsulate). */
export function encapOverhead(type: BackendType, ipv6: boolean): number {
  switch (type) {
    case "vxlan":
      return ipv6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4;
    case "ipip":
      return IPIP_OVERHEAD;
    case "udp":
      return UDP_ENCAP_OVERHEAD;
    case "wireguard":
      return WIREGUARD_OVERHEAD;
    default:
      return 0;
  }
}
