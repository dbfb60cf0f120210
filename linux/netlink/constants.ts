/** rtnetlink numbers (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h, neighbour.h). Pure data. */

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** In NLMSG_ERROR replies: the original payload was not echoed / TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

const RTM_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]),
);
/** "RTM_NEWLINK" for 16, used in error messages. */
export function rtmName(type: number): string {
  return RTM_NAMES[type] ?? `RTM_${type}`;
}

export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  PROTINFO: 12,
  TXQLEN: 13,
  OPERSTATE: 16,
  LINKINFO: 18,
  NET_NS_PID: 19,
  IFALIAS: 20,
  AF_SPEC: 26,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  PROMISCUITY: 30,
  LINK_NETNSID: 37,
  MIN_MTU: 50,
  MAX_MTU: 51,
  PERM_ADDRESS: 54,
} as const;

export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_BRPORT = { STATE: 1, COST: 3, MODE: 4, LEARNING: 8, ISOLATED: 33 } as const;
export const IFLA_VXLAN = {
  ID: 1,
  GROUP: 2,
  LINK: 3,
  LOCAL: 4,
  TTL: 5,
  TOS: 6,
  LEARNING: 7,
  AGEING: 8,
  PROXY: 11,
  L2MISS: 13,
  L3MISS: 14,
  PORT: 15,
  GROUP6: 16,
  LOCAL6: 17,
  GBP: 23,
} as const;

/** IFLA_IPTUN_*: attributes of ipip (and sit) tunnels inside IFLA_INFO_DATA. */
export const IFLA_IPTUN = {
  LINK: 1,
  LOCAL: 2,
  REMOTE: 3,
  TTL: 4,
  TOS: 5,
  PROTO: 9,
  PMTUDISC: 10,
  ENCAP_TYPE: 15,
  ENCAP_FLAGS: 16,
  ENCAP_SPORT: 17,
  ENCAP_DPORT: 18,
  COLLECT_METADATA: 19,
  FWMARK: 20,
} as const;

export const OPERSTATES = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"] as const;

export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  METRICS: 8,
  MULTIPATH: 9,
  TABLE: 15,
  VIA: 18,
  PREF: 20,
} as const;
export const RTAX_MTU = 2;
export const RTAX_ADVMSS = 8;

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
export const RT_SCOPE = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export const RTN = {
  unspec: 0,
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
} as const;
export const RTPROT = { unspec: 0, redirect: 1, kernel: 2, boot: 3, static: 4, dhcp: 16 } as const;
export const RTNH_F_ONLINK = 0x4;
export const RTM_F_CLONED = 0x200;

export const NDA = { DST: 1, LLADDR: 2, VLAN: 5, PORT: 6, VNI: 7, IFINDEX: 8, MASTER: 9 } as const;
export const NUD = {
  incomplete: 0x01,
  reachable: 0x02,
  stale: 0x04,
  delay: 0x08,
  probe: 0x10,
  failed: 0x20,
  noarp: 0x40,
  permanent: 0x80,
} as const;
export const NTF_SELF = 0x02;
export const NTF_MASTER = 0x04;
