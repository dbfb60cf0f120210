/**
 * What flanneld's /metrics and `weft doctor` read of the IPAM plugin's state on this node: the
 * host-local data directory's reservations and the size of the address pool of a subnet. The
 * daemon does not import plugins/: the composition root (bin/) hands in an {@link IpamView} built
 * on host-local's own store code.
 */

/** One reserved address and its holder, as host-local records it. */
export interface IpamReservation {
  readonly ip: string;
  readonly containerID: string;
  /** undefined for a legacy record that holds only the container ID. */
  readonly ifname: string | undefined;
}

/** One network's directory under the data dir (`<dataDir>/<network>`). */
export interface IpamNetworkDir {
  readonly network: string;
  readonly dir: string;
  readonly reservations: readonly IpamReservation[];
}

export interface IpamView {
  /** Every network directory under `dataDir` with its reservations; none when the dir does not exist. */
  networks(dataDir: string): IpamNetworkDir[];
  /** How many addresses host-local hands out from `subnet` (a CIDR) with its default range and gateway. */
  poolSize(subnet: string): number;
}

/** host-local's default data directory. */
export const DEFAULT_IPAM_DATA_DIR = "/var/lib/cni/networks";
