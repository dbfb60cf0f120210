/**
 * Backend.MTU against the external interface. Every encapsulated (vxlan, wireguard) or routed
 * (host-gw) pod packet leaves through that interface, so a Backend.MTU above its MTU cannot be
 * carried: the kernel clamps a vxlan device to what fits, and a host-gw or wireguard pod MTU above
 * it loses large packets. flanneld then goes on with the interface's MTU and says so (a warning,
 * not an error: the config has one safe reading, and an error would crash-loop every node).
 */
export interface MtuChoice {
  /** the MTU the overlay is computed from: Backend.MTU, or the interface's when that is larger */
  readonly mtu: number;
  /** set when Backend.MTU was larger than the interface's */
  readonly warning?: { readonly msg: string; readonly fields: Readonly<Record<string, string | number>> };
}

export function underlayMtu(backendMtu: number, iface: { readonly name: string; readonly mtu: number }): MtuChoice {
  if (backendMtu <= 0) return { mtu: iface.mtu };
  if (backendMtu <= iface.mtu) return { mtu: backendMtu };
  return {
    mtu: iface.mtu,
    warning: {
      msg:
        `Backend.MTU ${backendMtu} is larger than the MTU ${iface.mtu} of ${iface.name}, which every pod packet ` +
        `leaving the node has to fit in: using ${iface.mtu}; raise ${iface.name}'s MTU first, or lower Backend.MTU`,
      fields: { backend_mtu: backendMtu, iface: iface.name, iface_mtu: iface.mtu },
    },
  };
}
