/**
 * The kernel WireGuard device's generic netlink messages (family "wireguard", version 1):
 * WG_CMD_SET_DEVICE requests, split over several messages when the peers do not fit in one, and
 * the WG_CMD_GET_DEVICE dump, whose messages are coalesced back into one device. Attribute
 * numbers and layouts are those of include/uapi/linux/wireguard.h. Every nested attribute carries
 * NLA_F_NESTED: the kernel parses peers and allowed IPs with strict validation. Pure module.
 */
import { Attrs, NlWriter } from "../netlink/attrs.ts";
import { AF_INET, AF_INET6 } from "../netlink/constants.ts";
import { genlMessage, genlRequest } from "../netlink/genetlink.ts";
import { bytesText, ipBytes, prefixText } from "../../net/ip.ts";
import type { NlMessage, NlRequest } from "../netlink/message.ts";
import { encodeKey, isZeroKey, WG_KEY_LEN } from "./key.ts";
import {
  joinEndpoint,
  splitEndpoint,
  type WgDeviceConfig,
  type WgDeviceState,
  type WgPeerConfig,
  type WgPeerState,
} from "./types.ts";

export const WG_GENL_NAME = "wireguard";
export const WG_GENL_VERSION = 1;
export const WG_CMD = { GET_DEVICE: 0, SET_DEVICE: 1 } as const;
export const WGDEVICE_F_REPLACE_PEERS = 1;
export const WGDEVICE_A = {
  IFINDEX: 1,
  IFNAME: 2,
  PRIVATE_KEY: 3,
  PUBLIC_KEY: 4,
  FLAGS: 5,
  LISTEN_PORT: 6,
  FWMARK: 7,
  PEERS: 8,
} as const;
export const WGPEER_F = { REMOVE_ME: 1, REPLACE_ALLOWEDIPS: 2, UPDATE_ONLY: 4 } as const;
export const WGPEER_A = {
  PUBLIC_KEY: 1,
  PRESHARED_KEY: 2,
  FLAGS: 3,
  ENDPOINT: 4,
  PERSISTENT_KEEPALIVE_INTERVAL: 5,
  LAST_HANDSHAKE_TIME: 6,
  RX_BYTES: 7,
  TX_BYTES: 8,
  ALLOWEDIPS: 9,
  PROTOCOL_VERSION: 10,
} as const;
export const WGALLOWEDIP_A = { FAMILY: 1, IPADDR: 2, CIDR_MASK: 3 } as const;

/**
 * Largest message body a set request is split at. wg(8) sends one page per message; the kernel
 * takes more, but small messages keep every request well inside any socket buffer.
 */
export const WG_SET_MESSAGE_LIMIT = 8192;

const ZERO_KEY = new Uint8Array(WG_KEY_LEN);

function keyBytes(key: string, what: string): Uint8Array {
  const b = Buffer.from(key, "base64");
  if (b.byteLength !== WG_KEY_LEN) throw new Error(`${what} ${JSON.stringify(key)} is not a 32-byte base64 key`);
  return new Uint8Array(b);
}

/** struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) of an endpoint; the port in network order. */
export function encodeSockaddr(endpoint: string): Uint8Array {
  const ep = splitEndpoint(endpoint);
  if (!ep) throw new Error(`endpoint ${JSON.stringify(endpoint)} is not host:port or [v6]:port`);
  const ip = ipBytes(ep.host);
  const out = new Uint8Array(ip.byteLength === 4 ? 16 : 28);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, ip.byteLength === 4 ? AF_INET : AF_INET6, true);
  dv.setUint16(2, ep.port, false);
  out.set(ip, ip.byteLength === 4 ? 4 : 8);
  return out;
}

/** Endpoint text of a sockaddr_in / sockaddr_in6; undefined for another family or a short buffer. */
export function decodeSockaddr(b: Uint8Array): string | undefined {
  if (b.byteLength < 4) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET && b.byteLength >= 8) return joinEndpoint(bytesText(b.subarray(4, 8)), port);
  if (family === AF_INET6 && b.byteLength >= 24) return joinEndpoint(bytesText(b.subarray(8, 24)), port);
  return undefined;
}

function writeAllowedIp(w: NlWriter, cidr: string): void {
  const c = prefixText(cidr);
  const ip = ipBytes(c.ip);
  w.nested(
    0,
    () => {
      w.attrU16(WGALLOWEDIP_A.FAMILY, ip.byteLength === 4 ? AF_INET : AF_INET6);
      w.attr(WGALLOWEDIP_A.IPADDR, ip);
      w.attrU8(WGALLOWEDIP_A.CIDR_MASK, c.prefixLen);
    },
    true,
  );
}

/** One peer as a nested attribute (type 0 | NLA_F_NESTED), or just its key and `ips` (a continuation). */
function encodePeer(p: WgPeerConfig, ips: readonly string[], first: boolean): Uint8Array {
  const w = new NlWriter(128);
  w.nested(
    0,
    () => {
      w.attr(WGPEER_A.PUBLIC_KEY, keyBytes(p.publicKey, "peer public key"));
      if (first) {
        const flags =
          (p.remove ? WGPEER_F.REMOVE_ME : 0) |
          (p.replaceAllowedIps ? WGPEER_F.REPLACE_ALLOWEDIPS : 0) |
          (p.updateOnly ? WGPEER_F.UPDATE_ONLY : 0);
        if (flags) w.attrU32(WGPEER_A.FLAGS, flags);
        if (p.presharedKey !== undefined)
          w.attr(
            WGPEER_A.PRESHARED_KEY,
            p.presharedKey === null ? ZERO_KEY : keyBytes(p.presharedKey, "pre-shared key"),
          );
        if (p.endpoint !== undefined) w.attr(WGPEER_A.ENDPOINT, encodeSockaddr(p.endpoint));
        if (p.persistentKeepalive !== undefined)
          w.attrU16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, p.persistentKeepalive);
      }
      if (ips.length > 0) w.nested(WGPEER_A.ALLOWEDIPS, () => ips.forEach((ip) => writeAllowedIp(w, ip)), true);
    },
    true,
  );
  return w.finish();
}

/** Allowed IPs one peer fragment carries at most (a /128 entry takes 36 bytes). */
const IPS_PER_FRAGMENT = 128;

/** Every peer as one or more encoded fragments: the first with all fields, the rest key + allowed IPs. */
function peerFragments(peers: readonly WgPeerConfig[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of peers) {
    const ips = p.allowedIps ?? [];
    out.push(encodePeer(p, ips.slice(0, IPS_PER_FRAGMENT), true));
    for (let i = IPS_PER_FRAGMENT; i < ips.length; i += IPS_PER_FRAGMENT)
      out.push(encodePeer(p, ips.slice(i, i + IPS_PER_FRAGMENT), false));
  }
  return out;
}

/**
 * WG_CMD_SET_DEVICE for the device `ifname`: one message, or several of at most `limit` bytes
 * (after the nlmsghdr) when the peers do not fit in one. Device fields and WGDEVICE_F_REPLACE_PEERS
 * go in the first message only, later ones carry the name and further peers, as
 * include/uapi/linux/wireguard.h asks.
 */
export function setDeviceRequests(
  familyId: number,
  ifname: string,
  cfg: WgDeviceConfig,
  limit = WG_SET_MESSAGE_LIMIT,
): NlRequest[] {
  const fragments = peerFragments(cfg.peers ?? []);
  // genlmsghdr, IFNAME and the PEERS header in every message; the device fields (flags, key, port,
  // fwmark: at most 60 bytes) in the first
  const base = 4 + ((4 + ifname.length + 1 + 3) & ~3) + 4;
  const batches: Uint8Array[][] = [[]];
  let size = base + 60;
  for (const f of fragments) {
    const cur = batches[batches.length - 1] ?? [];
    if (cur.length > 0 && size + f.byteLength > limit) {
      batches.push([f]);
      size = base + f.byteLength;
    } else {
      cur.push(f);
      size += f.byteLength;
    }
  }
  return batches.map((peers, i) =>
    genlRequest({
      family: familyId,
      cmd: WG_CMD.SET_DEVICE,
      version: WG_GENL_VERSION,
      op: `WG_CMD_SET_DEVICE ${ifname}${batches.length > 1 ? ` (${i + 1}/${batches.length})` : ""}`,
      fill: (w) => {
        w.attrStr(WGDEVICE_A.IFNAME, ifname);
        if (i === 0) {
          if (cfg.replacePeers) w.attrU32(WGDEVICE_A.FLAGS, WGDEVICE_F_REPLACE_PEERS);
          if (cfg.privateKey !== undefined)
            w.attr(
              WGDEVICE_A.PRIVATE_KEY,
              cfg.privateKey === null ? ZERO_KEY : keyBytes(cfg.privateKey, "private key"),
            );
          if (cfg.listenPort !== undefined) w.attrU16(WGDEVICE_A.LISTEN_PORT, cfg.listenPort);
          if (cfg.fwmark !== undefined) w.attrU32(WGDEVICE_A.FWMARK, cfg.fwmark);
        }
        if (peers.length > 0) w.nested(WGDEVICE_A.PEERS, () => peers.forEach((p) => w.bytes(p)), true);
      },
    }),
  );
}

/** WG_CMD_GET_DEVICE of `ifname` (sent as a dump, as the kernel requires). */
export function getDeviceRequest(familyId: number, ifname: string): NlRequest {
  return genlRequest({
    family: familyId,
    cmd: WG_CMD.GET_DEVICE,
    version: WG_GENL_VERSION,
    op: `WG_CMD_GET_DEVICE ${ifname}`,
    fill: (w) => w.attrStr(WGDEVICE_A.IFNAME, ifname),
  });
}

function u64(a: Attrs, type: number): bigint {
  const d = a.get(type);
  if (!d || d.byteLength < 8) return 0n;
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, true);
}

function decodeAllowedIp(d: Uint8Array): string | undefined {
  const a = Attrs.parse(d);
  const ip = a.get(WGALLOWEDIP_A.IPADDR);
  const mask = a.u8(WGALLOWEDIP_A.CIDR_MASK);
  if (!ip || mask === undefined || (ip.byteLength !== 4 && ip.byteLength !== 16)) return undefined;
  return `${bytesText(ip)}/${mask}`;
}

type MutablePeer = { -readonly [K in keyof WgPeerState]: WgPeerState[K] } & { allowedIps: string[] };

function decodePeer(d: Uint8Array): MutablePeer | undefined {
  const a = Attrs.parse(d);
  const pub = a.get(WGPEER_A.PUBLIC_KEY);
  if (!pub || pub.byteLength !== WG_KEY_LEN) return undefined;
  const psk = a.get(WGPEER_A.PRESHARED_KEY);
  const ep = a.get(WGPEER_A.ENDPOINT);
  const endpoint = ep ? decodeSockaddr(ep) : undefined;
  const hs = a.get(WGPEER_A.LAST_HANDSHAKE_TIME);
  const allowed: string[] = [];
  for (const x of a.nested(WGPEER_A.ALLOWEDIPS)?.list ?? []) {
    const ip = decodeAllowedIp(x.data);
    if (ip) allowed.push(ip);
  }
  return {
    publicKey: encodeKey(pub),
    ...(psk && psk.byteLength === WG_KEY_LEN && !isZeroKey(psk) ? { presharedKey: encodeKey(psk) } : {}),
    ...(endpoint ? { endpoint } : {}),
    persistentKeepalive: a.u16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL) ?? 0,
    lastHandshake:
      hs && hs.byteLength >= 8 ? Number(new DataView(hs.buffer, hs.byteOffset, 8).getBigInt64(0, true)) : 0,
    rxBytes: u64(a, WGPEER_A.RX_BYTES),
    txBytes: u64(a, WGPEER_A.TX_BYTES),
    allowedIps: allowed,
    protocolVersion: a.u32(WGPEER_A.PROTOCOL_VERSION) ?? 0,
  };
}

/**
 * One device from the messages of a WG_CMD_GET_DEVICE dump: device fields from the first, peers
 * from all, and a peer continued in the next message (same public key, adjacent) merged back.
 */
export function decodeDevice(msgs: readonly NlMessage[]): WgDeviceState {
  let dev:
    | { name?: string; index?: number; privateKey?: string; publicKey?: string; listenPort: number; fwmark: number }
    | undefined;
  const peers: MutablePeer[] = [];
  for (const m of msgs) {
    const { attrs } = genlMessage(m);
    if (!dev) {
      const name = attrs.str(WGDEVICE_A.IFNAME);
      const index = attrs.u32(WGDEVICE_A.IFINDEX);
      const priv = attrs.get(WGDEVICE_A.PRIVATE_KEY);
      const pub = attrs.get(WGDEVICE_A.PUBLIC_KEY);
      dev = {
        ...(name !== undefined ? { name } : {}),
        ...(index !== undefined ? { index } : {}),
        ...(priv && priv.byteLength === WG_KEY_LEN && !isZeroKey(priv) ? { privateKey: encodeKey(priv) } : {}),
        ...(pub && pub.byteLength === WG_KEY_LEN && !isZeroKey(pub) ? { publicKey: encodeKey(pub) } : {}),
        listenPort: attrs.u16(WGDEVICE_A.LISTEN_PORT) ?? 0,
        fwmark: attrs.u32(WGDEVICE_A.FWMARK) ?? 0,
      };
    }
    for (const x of attrs.nested(WGDEVICE_A.PEERS)?.list ?? []) {
      const p = decodePeer(x.data);
      if (!p) continue;
      const last = peers[peers.length - 1];
      if (last && last.publicKey === p.publicKey) last.allowedIps.push(...p.allowedIps);
      else peers.push(p);
    }
  }
  return { ...(dev ?? { listenPort: 0, fwmark: 0 }), peers };
}
