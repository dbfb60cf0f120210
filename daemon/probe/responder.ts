/**
 * flanneld's side of the node probe (protocol.ts): a UDP socket on the health port number that
 * answers `weft doctor` on other nodes. It answers only senders inside the cluster's own addresses
 * (the pod networks, which is where overlay probes come from; a peer's public address; loopback),
 * never with more bytes than it got, and at most {@link MAX_REPLIES_PER_SECOND} times a second.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { containsIp, parseIp, type IpNet } from "../../net/prefix.ts";
import { describeLease, type Lease } from "../lease.ts";
import { errorMessage, type Logger } from "../log.ts";
import { decodeRequest, encodeReply } from "./protocol.ts";

export const MAX_REPLIES_PER_SECOND = 200;

export interface ResponderOptions {
  /** --healthz-ip: "0.0.0.0" listens on every IPv4 and IPv6 address. */
  readonly host: string;
  /** --healthz-port (UDP). */
  readonly port: number;
  /** This node's lease and what it tells about itself. */
  readonly self: { readonly lease: Lease; readonly backend: string; readonly version: string };
  /** The peers' leases as the daemon knows them now. */
  readonly peers: () => Iterable<Lease>;
  /** The cluster networks (Network, IPv6Network). */
  readonly networks: readonly IpNet[];
  readonly log: Logger;
  /** Milliseconds, for the rate limit. @default performance.now */
  readonly now?: () => number;
}

export interface ProbeResponder {
  /** The UDP port bound (the asked one, or the kernel's pick for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Whether `address` (a sender) is one of the cluster's own addresses. */
export function allowedSender(address: string, o: Pick<ResponderOptions, "self" | "peers" | "networks">): boolean {
  const a = parseIp(address);
  if (!a) return false;
  if (a.family === 4 && a.ip >> 24n === 127n) return true;
  if (a.family === 6 && a.ip === 1n) return true;
  if (o.networks.some((n) => containsIp(n, a.family, a.ip))) return true;
  const same = (s: string | undefined) => {
    const b = s === undefined ? undefined : parseIp(s);
    return b !== undefined && b.family === a.family && b.ip === a.ip;
  };
  if (same(o.self.lease.attrs.PublicIP) || same(o.self.lease.attrs.PublicIPv6)) return true;
  for (const p of o.peers()) if (same(p.attrs.PublicIP) || same(p.attrs.PublicIPv6)) return true;
  return false;
}

function knows(from: string, o: Pick<ResponderOptions, "self" | "peers">): boolean | null {
  if (from === "") return null;
  if (describeLease(o.self.lease) === from) return true;
  for (const p of o.peers()) if (describeLease(p) === from) return true;
  return false;
}

function bind(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

/** Listen and answer until closed. Fails when the port is taken on the given address. */
export async function startProbeResponder(o: ResponderOptions): Promise<ProbeResponder> {
  const now = o.now ?? (() => performance.now());
  let windowStart = now();
  let answered = 0;
  const sockets: Socket[] = [];
  const onMessage = (socket: Socket) => (msg: Buffer, rinfo: RemoteInfo) => {
    const req = decodeRequest(msg);
    if (!req || !allowedSender(rinfo.address, o)) return;
    const t = now();
    if (t - windowStart >= 1000) (windowStart = t), (answered = 0);
    if (answered >= MAX_REPLIES_PER_SECOND) return;
    answered++;
    const attrs = o.self.lease.attrs;
    const reply = encodeReply(
      {
        id: req.id,
        subnet: describeLease(o.self.lease),
        knowsSender: knows(req.from, o),
        publicIP: attrs.PublicIP !== "0.0.0.0" ? attrs.PublicIP : (attrs.PublicIPv6 ?? ""),
        backend: o.self.backend,
        version: o.self.version,
      },
      msg.byteLength,
    );
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  };
  const open = async (type: "udp4" | "udp6", host: string) => {
    const s = createSocket({ type, ...(type === "udp6" ? { ipv6Only: true } : {}) });
    s.on("message", onMessage(s));
    try {
      await bind(s, host, o.port);
    } catch (e) {
      s.close();
      throw e;
    }
    s.on("error", (e) => o.log.warn("probe responder socket error", { error: errorMessage(e) }));
    sockets.push(s);
  };
  const any = o.host === "0.0.0.0" || o.host === "";
  const family = parseIp(o.host)?.family ?? 4;
  try {
    await open(any || family === 4 ? "udp4" : "udp6", any ? "0.0.0.0" : o.host);
  } catch (e) {
    throw new Error(
      `the node probe cannot listen on UDP ${o.host}:${o.port} (${errorMessage(e)}): ` +
        "free the port or change --healthz-port",
    );
  }
  // IPv6 probes on a node without IPv6 (or with it disabled) are simply not answered.
  if (any) await open("udp6", "::").catch(() => undefined);
  return {
    port: sockets[0]?.address().port ?? o.port,
    close: async () => {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
