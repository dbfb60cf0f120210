// Messages between the udp backend (daemon thread) and its forwarder worker: types, and the zero
// counters both sides start from.
import type { PeerRoute } from "./table.ts";

/** What the worker is started with (workerData). File descriptors belong to the daemon thread. */
export interface ForwarderInit {
  readonly tunFd: number;
  readonly sockFd: number;
  /** eventfd the daemon thread writes to after posting a message, to wake the worker's poll */
  readonly wakeFd: number;
  /**
   * raw IPv4 socket (IPPROTO_RAW) the ICMP net-unreachable answers are sent on, as the host's own
   * output, or -1 to drop such packets without an answer
   */
  readonly icmpFd: number;
  /** the TUN device's address (host order): source of ICMP net-unreachable answers */
  readonly tunAddr: number;
  /** the TUN device's MTU */
  readonly mtu: number;
  /** UDP port of every peer (flannel sends to its own Backend.Port on every node) */
  readonly port: number;
  /** the TUN device has virtio-net headers with checksum + TCPv4 segmentation offload */
  readonly tunOffload: boolean;
  /** sends may carry UDP_SEGMENT (many datagrams per send) */
  readonly udpGso: boolean;
  /** the socket has UDP_GRO on (received datagrams come coalesced) */
  readonly udpGro: boolean;
  readonly routes: readonly PeerRoute[];
}

export type ToWorker =
  | { readonly type: "routes"; readonly routes: readonly PeerRoute[]; readonly gen: number }
  | { readonly type: "stats"; readonly id: number }
  | { readonly type: "stop" };

/** Counters since the worker started. */
export interface ForwarderStats {
  /** IP packets sent to peers (after segmentation) and sendmmsg calls */
  readonly txPackets: number;
  readonly txCalls: number;
  /** packets read from the TUN device (super-packets count once) */
  readonly tunReads: number;
  /** IP packets received from peers, and writes to the TUN device (merged segments write once) */
  readonly rxPackets: number;
  readonly tunWrites: number;
  /** packets no lease covers, and the ICMP net-unreachable answers sent for them */
  readonly noRoute: number;
  readonly unreachableSent: number;
  readonly ttlExpired: number;
  readonly malformed: number;
  readonly sendErrors: number;
  readonly writeErrors: number;
  readonly readErrors: number;
  /** errno of the last failed send / TUN write / TUN read, 0 if none */
  readonly lastSendErrno: number;
  readonly lastWriteErrno: number;
  readonly lastReadErrno: number;
  /** generation of the route table in use and its size */
  readonly routesGen: number;
  readonly routes: number;
}

/** The counters the worker keeps (the route table's generation and size come from the table). */
export type ForwarderCounters = { -readonly [K in Exclude<keyof ForwarderStats, "routesGen" | "routes">]: number };

/** Every counter at zero: a forwarder before its first packet. */
export function zeroCounters(): ForwarderCounters {
  return {
    txPackets: 0,
    txCalls: 0,
    tunReads: 0,
    rxPackets: 0,
    tunWrites: 0,
    noRoute: 0,
    unreachableSent: 0,
    ttlExpired: 0,
    malformed: 0,
    sendErrors: 0,
    writeErrors: 0,
    readErrors: 0,
    lastSendErrno: 0,
    lastWriteErrno: 0,
    lastReadErrno: 0,
  };
}

export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "routes-applied"; readonly gen: number }
  | { readonly type: "stats"; readonly id: number; readonly stats: ForwarderStats }
  | { readonly type: "stopped"; readonly stats: ForwarderStats };
